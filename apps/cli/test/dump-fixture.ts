import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MiB, PAGE_SIZE, PhysicalMemory, type PhysRange, type TruthManifest } from '@efikdump/core';
import {
  createGptImage,
  ESP_TYPE_GUID,
  OFFLINE_DUMP_PARTITION_TYPE_GUID,
  writeOfflineDump,
  type OfflineDumpResult,
} from '@efikdump/firmware-uefi';

/** A self-signed RSA certificate (DER) and its private key (PEM file), made by openssl. */
export function makeCertificate(dir: string, name: string): { cert: Uint8Array; keyPath: string } {
  const keyPath = join(dir, `${name}.key.pem`);
  const certPath = join(dir, `${name}.cert.der`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-outform',
      'DER',
      '-out',
      certPath,
      '-subj',
      `/CN=efikdump ${name}`,
      '-days',
      '1',
    ],
    { stdio: 'ignore' },
  );
  return { cert: new Uint8Array(readFileSync(certPath)), keyPath };
}

/**
 * The truth for a firmware-written dump: every `stride`-th frame of `ram` outside `redact` (SHA-256
 * or zero), and the redacted ranges as excluded (they must be absent from the extracted vmcore).
 */
export function truthFor(memory: PhysicalMemory, ram: readonly PhysRange[], redact: readonly PhysRange[], stride: number): TruthManifest {
  const pages: { paddr: number; sha256: string }[] = [];
  const zeroPages: number[] = [];
  const redacted = (a: number): boolean => redact.some((r) => a >= r.start && a < r.end);
  for (const r of ram) {
    for (let paddr = r.start; paddr < r.end; paddr += stride * PAGE_SIZE) {
      if (redacted(paddr)) continue;
      const pfn = paddr / PAGE_SIZE;
      if (memory.isZeroPage(pfn)) zeroPages.push(paddr);
      else pages.push({ paddr, sha256: memory.pageSha256(pfn) });
    }
  }
  return {
    format: 'efikdump-truth/1',
    pageSize: PAGE_SIZE,
    pages,
    zeroPages,
    excluded: redact.map((r) => [r.start, r.end] as [number, number]),
  };
}

export interface FirmwareDumpFixture {
  image: string;
  truth: string;
  result: OfflineDumpResult;
}

/** Simulated RAM → an offline dump written by the firmware writer into a fresh GPT image. */
export async function firmwareDump(
  dir: string,
  name: string,
  ram: PhysRange[],
  redact: PhysRange[],
  cert: Uint8Array | undefined,
  stride: number,
  partitionBytes?: number,
): Promise<FirmwareDumpFixture> {
  const memory = new PhysicalMemory({ ram, seed: 42 });
  const ramBytes = ram.reduce((s, r) => s + r.end - r.start, 0);
  const image = join(dir, `${name}.img`);
  createGptImage(
    image,
    ramBytes + 48 * MiB,
    [
      { typeGuid: ESP_TYPE_GUID, name: 'EFI system partition', sizeBytes: 16 * MiB },
      { typeGuid: OFFLINE_DUMP_PARTITION_TYPE_GUID, name: 'offline crash dump', sizeBytes: partitionBytes ?? ramBytes + 8 * MiB },
    ],
    1,
  );
  const result = await writeOfflineDump({
    image,
    memory,
    ddrRanges: ram,
    redact,
    variables: cert
      ? { useCapability: 1, encryptionAlgorithm: 1, encryptionPublicKey: cert, osData: 0xc0ffeen }
      : { useCapability: 1, osData: 0xc0ffeen },
    systemInformation: { vendor: 'EFKD', platform: 'SIMX64', architecture: 1 },
    dumpReason: [0x1e, 0, 0, 0],
  });
  const truth = join(dir, `${name}.truth.json`);
  writeFileSync(truth, JSON.stringify(truthFor(memory, ram, redact, stride)));
  return { image, truth, result };
}
