import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_RAM, readJsonFile } from './config';
import { ConfigError, IoError } from './errors';
import { MAX_JSON_BYTES } from './io';
import {
  MAX_TRUTH_BYTES,
  readTruthFile,
  TRUTH_MAX_EXCLUDED,
  TRUTH_MAX_PAGES,
  TRUTH_MAX_ZERO_PAGES,
  validateTruth,
  type TruthManifest,
} from './truth';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'efikdump-truth-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('truth manifest size cap', () => {
  it('fits the largest truth the CLI can write: every list at its maximum, every address at the top of a 64 TiB machine', () => {
    const top = MAX_RAM + 4 * 1024 ** 3 - 4096; // the memory hole below 4 GiB moves the top of RAM up
    const truth: TruthManifest = {
      format: 'efikdump-truth/1',
      pageSize: 4096,
      pages: Array.from({ length: TRUTH_MAX_PAGES }, () => ({ paddr: top, sha256: 'f'.repeat(64) })),
      zeroPages: Array.from({ length: TRUTH_MAX_ZERO_PAGES }, () => top),
      excluded: Array.from({ length: TRUTH_MAX_EXCLUDED }, () => [top, top] as [number, number]),
    };
    const text = JSON.stringify(truth) + '\n';
    expect(text.length).toBeLessThanOrEqual(MAX_TRUTH_BYTES);
    expect(MAX_TRUTH_BYTES).toBeLessThanOrEqual(MAX_JSON_BYTES);
    const file = join(root, 'largest.json');
    writeFileSync(file, text);
    expect(readTruthFile(file).pages).toHaveLength(TRUTH_MAX_PAGES);
  });

  it('refuses a truth file larger than the cap before parsing it', () => {
    const file = join(root, 'big.json');
    writeFileSync(file, ' '.repeat(MAX_TRUTH_BYTES + 1));
    expect(() => readTruthFile(file)).toThrow(IoError);
  });

  it('refuses /dev/zero as a JSON input at once', () => {
    expect(() => readJsonFile('/dev/zero')).toThrow(/character device/);
    expect(() => readTruthFile('/dev/zero')).toThrow(IoError);
  });
});

describe('validateTruth', () => {
  const valid = () => ({
    format: 'efikdump-truth/1',
    pageSize: 4096,
    pages: [{ paddr: 4096, sha256: 'a'.repeat(64) }],
    zeroPages: [8192],
    excluded: [[0, 4096]],
  });

  it('accepts a valid manifest', () => {
    expect(validateTruth(valid(), 't.json').pages).toHaveLength(1);
  });

  it.each([
    [
      'too many pages',
      (d: ReturnType<typeof valid>) => {
        d.pages = Array.from({ length: TRUTH_MAX_PAGES + 1 }, () => d.pages[0]);
      },
      'pages',
    ],
    [
      'an address past 2^47',
      (d: ReturnType<typeof valid>) => {
        d.zeroPages = [2 ** 47];
      },
      'zeroPages[0]',
    ],
    [
      'a negative excluded start',
      (d: ReturnType<typeof valid>) => {
        d.excluded = [[-4096, 0]];
      },
      'excluded[0]',
    ],
  ])('refuses %s, naming the field', (_, mutate, field) => {
    const d = valid();
    mutate(d);
    expect(() => validateTruth(d, 't.json')).toThrow(ConfigError);
    expect(() => validateTruth(d, 't.json')).toThrow(expect.objectContaining({ field }) as unknown as Error);
  });
});
