import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EfikdumpError, MiB, PhysicalMemory, Rng } from '@efikdump/core';
import {
  createGptImage,
  decodeGptEntries,
  decodeGptHeader,
  decodeRawDumpSection,
  encodeGptRegions,
  encodeRawDumpSection,
  findPartition,
  LBA_BYTES,
  OFFLINE_DUMP_PARTITION_TYPE_GUID,
  OfflineDumpReader,
  partitionExtent,
  planGptLayout,
  readGptImage,
  SectionType,
  writeOfflineDump,
  type RawDumpSection,
} from '../index';

const dir = mkdtempSync(join(tmpdir(), 'offcd-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('codec round trips over seeded random values', () => {
  it('section headers: decode(encode(x)) == x', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 500; i++) {
      const type = 1 + rng.below(5);
      const information: RawDumpSection['information'] =
        type === SectionType.ddrRange
          ? { kind: 'ddr-range', base: rng.below(2 ** 40) * 4096 }
          : type === SectionType.dumpReason
            ? { kind: 'dump-reason', parameters: [rng.below(2 ** 32), rng.below(2 ** 32), rng.below(2 ** 32), rng.below(2 ** 32)] }
            : type === SectionType.systemInformation
              ? {
                  kind: 'system-information',
                  vendor: 'AB'.slice(0, rng.below(3)),
                  platform: 'PLATFORM'.slice(0, rng.below(9)),
                  architecture: rng.below(2),
                }
              : { kind: 'none' };
      const s: RawDumpSection = {
        flags: rng.below(4),
        major: rng.below(3),
        minor: rng.below(3),
        type,
        offset: rng.below(2 ** 45),
        size: rng.below(2 ** 45),
        information,
        name: 'n'.repeat(rng.below(21)),
      };
      expect(decodeRawDumpSection(encodeRawDumpSection(s), 0)).toEqual(s);
    }
  });

  it('GPT: the planned layout decodes back to its partitions', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 20; i++) {
      const n = 1 + rng.below(6);
      const parts = Array.from({ length: n }, (_, k) => ({
        typeGuid: OFFLINE_DUMP_PARTITION_TYPE_GUID,
        name: `p${k}`,
        sizeBytes: (1 + rng.below(8)) * MiB,
      }));
      const layout = planGptLayout(64 * MiB, parts, i);
      const regions = encodeGptRegions(layout);
      const header = decodeGptHeader(regions[1].bytes);
      expect(header.diskGuid).toBe(layout.diskGuid);
      expect(decodeGptEntries(regions[2].bytes, header).map(({ index: _i, ...p }) => p)).toEqual(layout.partitions);
    }
  });
});

describe('damaged dumps', () => {
  it('any flipped byte in the GPT or the dump headers is a typed error or a readable dump, never a crash', async () => {
    const ram = [{ start: 0, end: 2 * MiB }];
    const image = join(dir, 'base.img');
    createGptImage(image, 8 * MiB, [{ typeGuid: OFFLINE_DUMP_PARTITION_TYPE_GUID, name: 'dump', sizeBytes: 4 * MiB }], 3);
    await writeOfflineDump({
      image,
      memory: new PhysicalMemory({ ram, seed: 1 }),
      ddrRanges: ram,
      variables: { useCapability: 1 },
      dumpReason: [1, 2, 3, 4],
    });
    const { offset } = partitionExtent(findPartition(readGptImage(image), OFFLINE_DUMP_PARTITION_TYPE_GUID)!);
    const original = Buffer.alloc(offset + 512);
    const fd0 = openSync(image, 'r');
    readSync(fd0, original, 0, original.length, 0);
    closeSync(fd0);
    const rng = new Rng(77);
    let typed = 0;
    for (let i = 0; i < 300; i++) {
      // Half the flips land in the GPT structures, half in the raw header and section table.
      const at = i % 2 ? rng.below(34 * LBA_BYTES) : offset + rng.below(56 + 3 * 64);
      const fd = openSync(image, 'r+');
      writeSync(fd, Uint8Array.of(original[at] ^ (1 + rng.below(255))), 0, 1, at);
      closeSync(fd);
      try {
        const r = OfflineDumpReader.open(image);
        try {
          for (const s of r.headers().sections) r.readRaw(s.offset, Math.min(s.size, 4096));
        } finally {
          r.close();
        }
      } catch (e) {
        if (!(e instanceof EfikdumpError)) throw e;
        typed++;
      }
      const fd2 = openSync(image, 'r+');
      writeSync(fd2, original, at, 1, at);
      closeSync(fd2);
    }
    expect(typed).toBeGreaterThan(0);
  });

  it("any flipped byte in the encrypted container's headers, IV or CMS is refused with a typed error", async () => {
    const keyPath = join(dir, 'k.pem');
    const certPath = join(dir, 'c.der');
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
        '/CN=fuzz',
        '-days',
        '1',
      ],
      { stdio: 'ignore' },
    );
    const ram = [{ start: 0, end: 1 * MiB }];
    const image = join(dir, 'enc.img');
    createGptImage(image, 8 * MiB, [{ typeGuid: OFFLINE_DUMP_PARTITION_TYPE_GUID, name: 'dump', sizeBytes: 4 * MiB }], 3);
    await writeOfflineDump({
      image,
      memory: new PhysicalMemory({ ram, seed: 1 }),
      ddrRanges: ram,
      variables: { useCapability: 1, encryptionAlgorithm: 1, encryptionPublicKey: readFileSync(certPath) },
    });
    const key = createPrivateKey(readFileSync(keyPath));
    const { offset } = partitionExtent(findPartition(readGptImage(image), OFFLINE_DUMP_PARTITION_TYPE_GUID)!);
    const first = OfflineDumpReader.open(image);
    const containerBytes = 24 + first.keyInfo!.blockSize + 56 + 64;
    first.close();
    const rng = new Rng(78);
    for (let i = 0; i < 60; i++) {
      const at = offset + rng.below(containerBytes);
      const fd = openSync(image, 'r+');
      const was = Buffer.alloc(1);
      readSync(fd, was, 0, 1, at);
      writeSync(fd, Uint8Array.of(was[0] ^ (1 + rng.below(255))), 0, 1, at);
      closeSync(fd);
      const attempt = (): void => {
        const r = OfflineDumpReader.open(image);
        try {
          r.unlock(key);
          r.headers();
        } finally {
          r.close();
        }
      };
      let thrown: unknown;
      try {
        attempt();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(EfikdumpError);
      const fd2 = openSync(image, 'r+');
      writeSync(fd2, was, 0, 1, at);
      closeSync(fd2);
    }
  });
});
