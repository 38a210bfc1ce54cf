import {
  GiB,
  decodeHandoffRecord,
  FLAG_ARMED,
  FLAG_CRASHED,
  verifyRecordMac,
  buildHandoffRecord,
  NO_NONCE,
  panicLogTail,
} from '@efikdump/core';
import { bootAndArm, designFor, machine, runStages } from '../testing/harness';

describe('the record a transport stores', () => {
  test("carries the boot secret's nonce and MAC, the panic reason and a deterministic log tail", async () => {
    const tails: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = machine(designFor('reserved-memory'), 7, 1 * GiB);
      const secret = await bootAndArm(s);
      expect(panicLogTail(s.ctx)).toBe('');
      await runStages(s.ctx, s.kernel.panic());
      const { bytes, signed } = buildHandoffRecord(s.ctx, FLAG_ARMED | FLAG_CRASHED);
      expect(signed).toBe(true);
      expect(verifyRecordMac(bytes, secret.key)).toBe(true);
      const r = decodeHandoffRecord(bytes, 'r');
      expect(r.info.bootNonce).toBe(secret.nonce);
      expect(r.reason).toBe('sysrq: Trigger a crash');
      expect(r.logTail.split('\n')[1]).toMatch(/^\[ +\d+\.\d{6}\] Kernel panic - not syncing: sysrq: Trigger a crash$/);
      tails.push(r.logTail);
      // A smaller budget keeps the end of the log (the most recent lines).
      const cut = decodeHandoffRecord(buildHandoffRecord(s.ctx, FLAG_CRASHED, 120).bytes, 'r').logTail;
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(120);
      expect(r.logTail.endsWith(cut)).toBe(true);
    }
    expect(tails[0]).toBe(tails[1]);
  });

  test('without a secret: the zero nonce and no MAC', async () => {
    const s = machine(designFor('reserved-memory'), 8, 1 * GiB);
    await bootAndArm(s);
    delete s.ctx.state.bootSecret;
    const { bytes, signed } = buildHandoffRecord(s.ctx, FLAG_ARMED);
    expect(signed).toBe(false);
    expect(decodeHandoffRecord(bytes, 'r').info.bootNonce).toBe(NO_NONCE);
  });
});
