import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GiB, MiB } from '@efikdump/core';
import { efikdump, tempDir } from './helpers';
import { firmwareDump, makeCertificate } from './dump-fixture';

// Issue 16's "done when": a 1 GiB dump, encrypted by the firmware writer into a GPT image,
// extracted and verified page for page (every 16th frame by SHA-256 / zero, and the redacted range absent).
describe('efikdump dump extract: 1 GiB round trip', () => {
  const { dir, cleanup } = tempDir('dump-1g');
  afterAll(cleanup);

  it('simulated RAM → encrypted dump in a GPT image → extract → verify', async () => {
    const ram = [
      { start: 0, end: 640 * MiB },
      { start: 4 * GiB, end: 4 * GiB + 384 * MiB },
    ];
    const redact = [{ start: 100 * MiB, end: 104 * MiB }];
    const key = makeCertificate(dir, 'owner');
    const dump = await firmwareDump(dir, 'big', ram, redact, key.cert, 16);
    expect(dump.result.written).toBe(true);
    expect(dump.result.creationErrors).toBe(0);
    expect(dump.result.redactedPages).toBe(1024);
    const out = join(dir, 'big.vmcore');
    const r = efikdump(['dump', 'extract', dump.image, '--key', key.keyPath, '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(statSync(out).size).toBeGreaterThan(GiB - 8 * MiB);
    const v = efikdump(['verify', out, '--truth', dump.truth]);
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(/: complete: (\d+)\/\1 sampled pages match/);
    const truth = JSON.parse(readFileSync(dump.truth, 'utf8'));
    // 1 GiB / 4 KiB / 16 = 16384 frames sampled, minus the 64 inside the redacted range.
    expect(truth.pages.length + truth.zeroPages.length).toBe(16384 - 64);
    // Anchored on the verdict: the output starts with the file's path, whose temporary directory may end in a digit.
    expect(Number(/: complete: (\d+)\//.exec(v.stdout)![1])).toBe(16384 - 64);
    expect(v.status).toBe(0);
  }, 600_000);
});
