import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AtomicFile, IoError, MiB, pageAlignUp, type DumpSealer } from '@efikdump/core';
import { PROFILES_DIR } from '../profiles/firmware-profiles';
import { readExactly } from './gpt-image';
import { OFFLINE_DUMP_ALGORITHM } from './offline-dump-config.codec';
import {
  encodeRawDumpHeader,
  encodeRawDumpSection,
  RAW_DUMP_MAJOR,
  RAW_DUMP_MINOR,
  rawDumpHeadersBytes,
  RawDumpFlags,
  SectionFlags,
  SectionType,
} from './raw-dump.codec';
import {
  createDumpMac,
  CTR_IV_BYTES,
  deriveMacKey,
  ENC_DUMP_HEADER_BYTES,
  encodeEncDumpHeader,
  encodeEncDumpKeyInfo,
  encodeMacTrailer,
  keyInfoBlockSize,
  OffcdCtr,
} from './enc-dump.codec';
import { encodeEnvelopedData, loadRsaCertificate } from './cms-envelope';

/** SV_SPECIFIC section names of a sealed vmcore file, by the inner file's format. */
export const SEALED_VMCORE_SECTION = { elf: 'vmcore-elf', kdump: 'vmcore-kdump' } as const;
export type SealedFormat = keyof typeof SEALED_VMCORE_SECTION;

/**
 * Wraps a finished dump file (ELF or kdump-compressed) in the same Enc_Dmp! container the
 * firmware writer produces — one SV_SPECIFIC section holding the file — encrypted to
 * `certificate` and closed by the MAC trailer: what a capture kernel, which has a public key but
 * no secret, can write. `efikdump dump extract` opens it like a dump partition.
 */
export function sealDumpFile(
  input: string,
  output: string,
  format: SealedFormat,
  certificate: Uint8Array,
  random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n)),
): { bytes: number } {
  let fd: number;
  try {
    fd = openSync(input, 'r');
  } catch (e) {
    throw new IoError(`cannot open: ${(e as Error).message}`, { file: input });
  }
  const file = new AtomicFile(output);
  try {
    const size = fstatSync(fd).size;
    const key = random(16);
    const iv = random(CTR_IV_BYTES);
    const cms = encodeEnvelopedData(key, certificate, random);
    const keyInfo = encodeEncDumpKeyInfo({
      blockSize: keyInfoBlockSize(cms.length),
      algorithm: OFFLINE_DUMP_ALGORITHM.aes128Ctr,
      iv,
      encryptedKeyCms: cms,
    });
    const rawDumpOffset = ENC_DUMP_HEADER_BYTES + keyInfo.length;
    const prefix = Buffer.concat([
      encodeEncDumpHeader({ headerSize: ENC_DUMP_HEADER_BYTES, keyInfoOffset: ENC_DUMP_HEADER_BYTES, rawDumpOffset }),
      keyInfo,
    ]);
    const dataOffset = pageAlignUp(rawDumpHeadersBytes(1));
    const dumpSize = dataOffset + size;
    const head = new Uint8Array(dataOffset);
    head.set(
      encodeRawDumpHeader({
        major: RAW_DUMP_MAJOR,
        minor: RAW_DUMP_MINOR,
        flags: RawDumpFlags.dumpValid,
        osData: 0n,
        cpuContext: 0n,
        resetTrigger: 0,
        dumpSize,
        totalDumpSizeRequired: dumpSize,
        sectionsCount: 1,
      }),
      0,
    );
    head.set(
      encodeRawDumpSection({
        flags: SectionFlags.valid,
        major: RAW_DUMP_MAJOR,
        minor: RAW_DUMP_MINOR,
        type: SectionType.svSpecific,
        offset: dataOffset,
        size,
        information: { kind: 'none' },
        name: SEALED_VMCORE_SECTION[format],
      }),
      rawDumpHeadersBytes(0),
    );
    const ctr = new OffcdCtr(key, iv);
    const mac = createDumpMac(deriveMacKey(key, iv)).update(prefix);
    file.writeAt(prefix, 0);
    const emit = (data: Uint8Array, rawOffset: number): void => {
      ctr.xorCtr(data, rawOffset);
      mac.update(data);
      file.writeAt(data, rawDumpOffset + rawOffset);
    };
    emit(head, 0);
    for (let p = 0; p < size; p += MiB) emit(readExactly(fd, input, p, Math.min(MiB, size - p)), dataOffset + p);
    file.writeAt(encodeMacTrailer(new Uint8Array(mac.digest())), rawDumpOffset + dumpSize);
    file.commit();
    return { bytes: file.size };
  } catch (e) {
    file.abort();
    throw e;
  } finally {
    closeSync(fd);
  }
}

/**
 * The Enc_Dmp! container as a `DumpSealer` (core's contract), registered by this package so that
 * any dump writer asked to encrypt (`encrypt: true`) seals its file the way `convert --encrypt-to`
 * does. The default certificate is the demonstration one the encrypted offline-dump design uses.
 */
export const OFFCD_DUMP_SEALER: DumpSealer = {
  description: 'Enc_Dmp! container, AES-128-CTR, key wrapped (RSAES-OAEP) to the certificate, HMAC-SHA256 trailer',
  defaultCertificate: join(PROFILES_DIR, 'offline-dump', 'demo-cert.der'),
  readCertificate(path, where) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      // The path is in the message unless the error already names the certificate as its file.
      throw new IoError(`cannot read the certificate${where.file === path ? '' : ` ${path}`}: ${(e as Error).message}`, where);
    }
    loadRsaCertificate(bytes, { file: path });
    return bytes;
  },
  seal: (input, output, format, certificate, random) => sealDumpFile(input, output, format, certificate, random),
};
