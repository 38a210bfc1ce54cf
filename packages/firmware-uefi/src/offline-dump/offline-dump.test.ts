import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, MiB, PAGE_SIZE, PhysicalMemory } from '@efikdump/core';
import {
  createGptImage,
  decodeGuid,
  encodeGuid,
  ESP_TYPE_GUID,
  findPartition,
  readGptImage,
  LBA_BYTES,
  OFFLINE_DUMP_PARTITION_TYPE_GUID,
  OfflineDumpCreationError,
  creationErrorNames,
  decodeOfflineDumpConfiguration,
  encodeOfflineDumpConfiguration,
  offlineDumpConfiguration,
  decodeRawDumpHeaders,
  encodeRawDumpHeader,
  encodeRawDumpSection,
  RawDumpFlags,
  SectionFlags,
  SectionType,
  decodeEncDumpHeader,
  decodeEncDumpKeyInfo,
  encodeEncDumpHeader,
  encodeEncDumpKeyInfo,
  OffcdCtr,
  writeOfflineDump,
  OfflineDumpReader,
  decodeRedactedRanges,
  DumpAuthenticationError,
  WrongKeyError,
  partitionExtent,
} from '../index';
import { createCipheriv } from 'node:crypto';

const dir = mkdtempSync(join(tmpdir(), 'offcd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function makeKeyPair(name: string): { cert: Uint8Array; keyPem: string; keyPath: string } {
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
  return { cert: new Uint8Array(readFileSync(certPath)), keyPem: readFileSync(keyPath, 'utf8'), keyPath };
}

function seededRandom(seed: number): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => new Uint8Array(createHash('sha256').update(`${seed}:${counter++}`).digest().subarray(0, n));
}

const RAM = [
  { start: 0, end: 8 * MiB },
  { start: 16 * MiB, end: 20 * MiB },
];

function disk(name: string, dumpBytes = 32 * MiB): string {
  const path = join(dir, name);
  createGptImage(
    path,
    64 * MiB,
    [
      { typeGuid: ESP_TYPE_GUID, name: 'EFI system', sizeBytes: 8 * MiB },
      { typeGuid: OFFLINE_DUMP_PARTITION_TYPE_GUID, name: 'offline dump', sizeBytes: dumpBytes },
    ],
    7,
  );
  return path;
}

describe('GUID', () => {
  it('stores the first three fields little-endian', () => {
    const b = encodeGuid(OFFLINE_DUMP_PARTITION_TYPE_GUID);
    expect(Buffer.from(b).toString('hex')).toBe('23b3c966fcf7b648bf966f32e335a428');
    expect(decodeGuid(b)).toBe(OFFLINE_DUMP_PARTITION_TYPE_GUID);
  });
});

describe('GPT image', () => {
  it('is accepted by sgdisk -v and fdisk -l, which see the dump partition type', () => {
    const path = disk('tools.img');
    const verify = execFileSync('sgdisk', ['-v', path], { encoding: 'utf8' });
    expect(verify).toMatch(/No problems found/);
    const info = execFileSync('sgdisk', ['-i', '2', path], { encoding: 'utf8' });
    expect(info).toMatch(new RegExp(`Partition GUID code: ${OFFLINE_DUMP_PARTITION_TYPE_GUID}`, 'i'));
    const fdisk = execFileSync('fdisk', ['-l', '-o', 'Device,Start,End,Type-UUID', path], {
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C' },
    });
    expect(fdisk).toMatch(/Disklabel type: gpt/);
    expect(fdisk).toMatch(new RegExp(OFFLINE_DUMP_PARTITION_TYPE_GUID, 'i'));
    const gpt = readGptImage(path);
    expect(gpt.source).toBe('primary');
    expect(findPartition(gpt, OFFLINE_DUMP_PARTITION_TYPE_GUID)?.name).toBe('offline dump');
  });

  it('falls back to the backup header when the primary CRC is bad, and names the offset when both are', () => {
    const path = disk('crc.img');
    const fd = openSync(path, 'r+');
    writeSync(fd, Uint8Array.of(0x42), 0, 1, LBA_BYTES + 40);
    closeSync(fd);
    expect(readGptImage(path).source).toBe('backup');
    const fd2 = openSync(path, 'r+');
    writeSync(fd2, Uint8Array.of(0x42), 0, 1, 64 * MiB - LBA_BYTES + 40);
    closeSync(fd2);
    expect(() => readGptImage(path)).toThrow(/HeaderCRC32/);
  });
});

describe('codecs', () => {
  it('round-trip the configuration table', () => {
    const c = { version: 3, abnormalResetOccurred: true, capable: 0x11, enabled: true, expected: true, creationErrors: 6 };
    expect(encodeOfflineDumpConfiguration(c).length).toBe(24);
    expect(decodeOfflineDumpConfiguration(encodeOfflineDumpConfiguration(c))).toEqual(c);
    expect(() => decodeOfflineDumpConfiguration(new Uint8Array(10))).toThrow(FormatError);
  });

  it('round-trip raw headers and sections, and refuse a section beyond DumpSize', () => {
    const sections = [
      {
        flags: SectionFlags.valid,
        major: 1,
        minor: 0,
        type: SectionType.ddrRange,
        offset: 4096,
        size: 8192,
        information: { kind: 'ddr-range' as const, base: 0x100000 },
        name: 'ddr@0x100000',
      },
      {
        flags: SectionFlags.valid,
        major: 1,
        minor: 0,
        type: SectionType.systemInformation,
        offset: 184,
        size: 0,
        information: { kind: 'system-information' as const, vendor: 'EFKD', platform: 'SIMX64', architecture: 1 },
        name: 'system-information',
      },
      {
        flags: SectionFlags.valid,
        major: 1,
        minor: 0,
        type: SectionType.dumpReason,
        offset: 184,
        size: 0,
        information: { kind: 'dump-reason' as const, parameters: [1, 2, 3, 0xffffffff] as [number, number, number, number] },
        name: 'dump-reason',
      },
    ];
    const header = {
      major: 1,
      minor: 0,
      flags: RawDumpFlags.dumpValid,
      osData: 0xfeedn,
      cpuContext: 0n,
      resetTrigger: 0,
      dumpSize: 12288,
      totalDumpSizeRequired: 12288,
      sectionsCount: 3,
    };
    const buf = Buffer.concat([encodeRawDumpHeader(header), ...sections.map(encodeRawDumpSection)]);
    expect(buf.length).toBe(56 + 3 * 64);
    expect(decodeRawDumpHeaders(buf)).toEqual({ header, sections });
    expect(() =>
      decodeRawDumpHeaders(Buffer.concat([encodeRawDumpHeader({ ...header, dumpSize: 100 }), ...sections.map(encodeRawDumpSection)])),
    ).toThrow(/inside DumpSize/);
    expect(() => decodeRawDumpHeaders(buf.subarray(0, 100))).toThrow(FormatError);
  });

  it('round-trip the encryption header and key info', () => {
    const h = { headerSize: 24, keyInfoOffset: 24, rawDumpOffset: 24 + 48 };
    expect(decodeEncDumpHeader(encodeEncDumpHeader(h))).toEqual(h);
    const k = { blockSize: 48, algorithm: 1, iv: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), encryptedKeyCms: new Uint8Array(21).fill(9) };
    const enc = encodeEncDumpKeyInfo(k);
    expect(enc.length % 8).toBe(0);
    expect(decodeEncDumpKeyInfo(enc)).toEqual(k);
  });

  it('AES-CTR uses a little-endian block index followed by the IV as the counter block', () => {
    const key = new Uint8Array(16).fill(0x11);
    const iv = Uint8Array.from([0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7]);
    const data = new Uint8Array(40);
    new OffcdCtr(key, iv).xorCtr(data, 0x10 * 5);
    const counter = new Uint8Array(16);
    counter[0] = 6; // block 5 + 1 = the second block of `data`
    counter.set(iv, 8);
    const ecb = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false).update(counter);
    expect(Buffer.from(data.subarray(16, 32)).equals(ecb)).toBe(true);
  });
});

describe('writeOfflineDump', () => {
  const memory = new PhysicalMemory({ ram: RAM, seed: 11 });
  const page = (paddr: number): Buffer => {
    const b = new Uint8Array(PAGE_SIZE);
    memory.readPage(paddr / PAGE_SIZE, b);
    return Buffer.from(b);
  };

  it('writes a plain raw dump that the reader reads back page for page, minus the redaction list', async () => {
    const path = disk('plain.img');
    const progress: number[] = [];
    const r = await writeOfflineDump({
      image: path,
      memory,
      ddrRanges: RAM,
      redact: [{ start: 4 * MiB, end: 5 * MiB }],
      variables: { useCapability: 1, osData: 0x1234n },
      dumpReason: [0xdead, 1, 2, 3],
      systemInformation: { vendor: 'EFKD', platform: 'SIM', architecture: 1 },
      onProgress: (p) => progress.push(p.doneBytes),
    });
    expect(r.written).toBe(true);
    expect(r.creationErrors).toBe(0);
    expect(r.redactedPages).toBe(256);
    expect(progress[progress.length - 1]).toBe(r.header!.dumpSize);
    expect(execFileSync('sgdisk', ['-v', path], { encoding: 'utf8' })).toMatch(/No problems found/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const reader = OfflineDumpReader.open(path);
    const { header, sections } = reader.headers();
    expect(header.osData).toBe(0x1234n);
    expect(header.flags & RawDumpFlags.dumpValid).toBeTruthy();
    const ddr = sections.filter((s) => s.type === SectionType.ddrRange);
    expect(ddr.map((s) => s.information)).toEqual([
      { kind: 'ddr-range', base: 0 },
      { kind: 'ddr-range', base: 5 * MiB },
      { kind: 'ddr-range', base: 16 * MiB },
    ]);
    for (const s of ddr) {
      const base = (s.information as { base: number }).base;
      for (const off of [0, s.size - PAGE_SIZE, (PAGE_SIZE * 37) % s.size]) {
        expect(Buffer.from(reader.readRaw(s.offset + off, PAGE_SIZE)).equals(page(base + off))).toBe(true);
      }
    }
    reader.close();
  });

  it('encrypts with AES-128-CTR, the key in a CMS envelope openssl opens, authenticated by the trailer', async () => {
    const { cert, keyPem, keyPath } = makeKeyPair('enc');
    const path = disk('enc.img');
    const r = await writeOfflineDump({
      image: path,
      memory,
      ddrRanges: RAM,
      variables: { useCapability: 1, encryptionAlgorithm: 1, encryptionPublicKey: cert },
      random: seededRandom(1),
    });
    expect(r.written && r.encrypted).toBe(true);
    const reader = OfflineDumpReader.open(path);
    expect(reader.encrypted).toBe(true);
    const cmsPath = join(dir, 'key.cms');
    writeFileSync(cmsPath, reader.keyInfo!.encryptedKeyCms);
    const key = execFileSync('openssl', ['cms', '-decrypt', '-inform', 'DER', '-in', cmsPath, '-inkey', keyPath, '-binary']);
    expect(key.length).toBe(16);
    expect(key.equals(Buffer.from(seededRandom(1)(16)))).toBe(true);
    reader.unlock(createPrivateKey(keyPem));
    const { sections } = reader.headers();
    const s = sections.find((x) => x.type === SectionType.ddrRange && (x.information as { base: number }).base === 16 * MiB)!;
    expect(Buffer.from(reader.readRaw(s.offset + 3 * PAGE_SIZE, PAGE_SIZE)).equals(page(16 * MiB + 3 * PAGE_SIZE))).toBe(true);
    reader.close();

    const other = makeKeyPair('other');
    const wrong = OfflineDumpReader.open(path);
    expect(() => wrong.unlock(createPrivateKey(other.keyPem))).toThrow(WrongKeyError);
    wrong.close();

    const { offset } = partitionExtent(findPartition(readGptImage(path), OFFLINE_DUMP_PARTITION_TYPE_GUID)!);
    const fd = openSync(path, 'r+');
    writeSync(fd, Uint8Array.of(0x5a), 0, 1, offset + s.offset + 1000);
    closeSync(fd);
    const tampered = OfflineDumpReader.open(path);
    tampered.unlock(createPrivateKey(keyPem));
    expect(() => tampered.headers()).toThrow(DumpAuthenticationError);
    tampered.close();
  });

  it('reports each creation error and writes nothing (or what fits, when the partition is small)', async () => {
    const path = disk('errors.img');
    const base = { image: path, memory, ddrRanges: RAM };
    expect((await writeOfflineDump({ ...base, variables: { useCapability: 0 } })).creationErrors).toBe(OfflineDumpCreationError.notEnabled);
    expect((await writeOfflineDump({ ...base, variables: { useCapability: 1, encryptionAlgorithm: 7 } })).creationErrors).toBe(
      OfflineDumpCreationError.unsupportedAlgorithm,
    );
    expect(
      (
        await writeOfflineDump({
          ...base,
          variables: { useCapability: 1, encryptionAlgorithm: 1, encryptionPublicKey: Uint8Array.of(1, 2, 3) },
        })
      ).creationErrors,
    ).toBe(OfflineDumpCreationError.badCertificate);
    const noPart = join(dir, 'nopart.img');
    createGptImage(noPart, 16 * MiB, [{ typeGuid: ESP_TYPE_GUID, name: 'EFI system', sizeBytes: 4 * MiB }]);
    expect((await writeOfflineDump({ ...base, image: noPart, variables: { useCapability: 1 } })).creationErrors).toBe(
      OfflineDumpCreationError.noPartition,
    );

    const small = disk('small.img', 6 * MiB);
    const r = await writeOfflineDump({ ...base, image: small, variables: { useCapability: 1 } });
    expect(creationErrorNames(r.creationErrors)).toEqual(['partitionTooSmall']);
    const reader = OfflineDumpReader.open(small);
    const { header, sections } = reader.headers();
    expect(header.flags & RawDumpFlags.insufficientStorage).toBeTruthy();
    expect(header.totalDumpSizeRequired).toBeGreaterThan(12 * MiB);
    expect(header.dumpSize).toBeLessThanOrEqual(6 * MiB);
    // 8 MiB then 4 MiB of RAM into 6 MiB: the first range is cut to whole pages, the second gets nothing.
    // The plan section (first, always fits), then the cut ranges.
    expect(sections.map((s) => s.name)).toEqual(['efikdump-ddr-ranges', 'ddr@0x0', 'ddr@0x1000000']);
    expect(sections.map((s) => s.flags)).toEqual([SectionFlags.valid, SectionFlags.insufficientStorage, SectionFlags.insufficientStorage]);
    expect(decodeRedactedRanges(reader.readRaw(sections[0].offset, sections[0].size))).toEqual(RAM);
    const [, first, second] = sections;
    expect(first.size).toBeGreaterThan(5 * MiB);
    expect(first.size % PAGE_SIZE).toBe(0);
    expect(second.size).toBe(0);
    expect(Buffer.from(reader.readRaw(first.offset + first.size - PAGE_SIZE, PAGE_SIZE)).equals(page(first.size - PAGE_SIZE))).toBe(true);
    reader.close();
    expect(offlineDumpConfiguration(true, { useCapability: 1 }, r)).toEqual({
      version: 3,
      abnormalResetOccurred: true,
      capable: 0x11,
      enabled: true,
      expected: true,
      creationErrors: OfflineDumpCreationError.partitionTooSmall,
    });
  });
});
