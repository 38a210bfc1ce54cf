import { GiB, PAGE_SIZE, decodeHandoffRecord, FLAG_ARMED, FLAG_CRASHED, verifyRecordMac } from '@efikdump/core';
import { bootAndArm, crashAndReset, designFor, machine, runStages, type Sim } from '../testing/harness';
import { decodeFdt, encodeFdt, FDT_MAGIC, u32Cells } from './fdt.codec';
import { FDT_MAX_BLOB_BYTES } from './fdt.transport';
import { decodeHandoffFdt } from './handoff-fdt.codec';

const sim = (seed: number, cmdline?: string): Sim => machine(designFor('fdt', cmdline ? { cmdline } : {}), seed, 4 * GiB);
const page = (s: Sim) => {
  const b = new Uint8Array(PAGE_SIZE);
  s.ctx.machine.memory.read(s.ctx.state.kernel!.handoffSlot, b);
  return b;
};

describe('FdtTransport', () => {
  it('arms a blob at load and rewrites it crashed at panic, in one page; the record property is the signed record', async () => {
    const s = sim(1);
    const secret = await bootAndArm(s);
    expect(decodeHandoffFdt(page(s), 'page').record.flags).toBe(FLAG_ARMED);
    await runStages(s.ctx, s.kernel.panic(), s.transport.persist(), s.exit.leave(), s.firmware.resetAndPost());
    const blob = page(s);
    expect(new DataView(blob.buffer).getUint32(0, false)).toBe(FDT_MAGIC);
    const { record, encoded } = decodeHandoffFdt(blob, 'page');
    expect(record.flags).toBe(FLAG_ARMED | FLAG_CRASHED);
    expect(new DataView(blob.buffer).getUint32(4, false)).toBeLessThanOrEqual(FDT_MAX_BLOB_BYTES);
    expect(s.ctx.metrics.handoffStoredBytes).toBe(new DataView(blob.buffer).getUint32(4, false));
    expect(verifyRecordMac(encoded, secret.key)).toBe(true);
    const d = s.transport.discover(s.ctx);
    expect(d).toEqual({
      found: true,
      candidate: { source: 'fdt', location: `0x${s.ctx.state.kernel!.handoffSlot.toString(16)}`, record: encoded },
    });
  });

  it('with a two-range (,high + ,low) reservation: both in /memreserve/, the blob still in one page with its log tail', async () => {
    const s = sim(2, 'ro crashkernel=384M,high crashkernel=128M,low');
    await crashAndReset(s);
    const fdt = decodeFdt(page(s), 'page');
    expect(fdt.reservations).toHaveLength(2);
    expect(decodeHandoffRecord(fdt.root.props.get('record')!, 'r').logTail.length).toBeGreaterThan(0);
  });

  it('a damaged structure is reported as damage; a damaged record inside a sound blob goes to the stub as it is', async () => {
    const s = sim(3);
    await crashAndReset(s);
    const slot = s.ctx.state.kernel!.handoffSlot;
    const good = page(s);
    const structure = good.slice();
    new DataView(structure.buffer).setUint32(8, 0xffff, false); // off_dt_struct past the end
    s.ctx.machine.memory.write(slot, structure);
    expect(s.transport.discover(s.ctx)).toEqual({
      found: false,
      reason: expect.stringMatching(/^damaged device tree blob at 0x/),
      damage: 'corrupt',
    });
    const { encoded } = decodeHandoffFdt(good, 'page');
    const at = Buffer.from(good).indexOf(Buffer.from(encoded));
    const flipped = good.slice();
    flipped[at + 200] ^= 0x04;
    s.ctx.machine.memory.write(slot, flipped);
    const d = s.transport.discover(s.ctx);
    expect(d.found && d.candidate.record[200]).toBe(encoded[200] ^ 0x04);
  });

  it('readable properties that disagree with a sound record are damage (someone edited the tree, not the record)', async () => {
    const s = sim(4);
    await crashAndReset(s);
    const fdt = decodeFdt(page(s), 'page');
    fdt.root.props.set('cpus', u32Cells(9));
    const edited = new Uint8Array(PAGE_SIZE);
    edited.set(encodeFdt(fdt));
    s.ctx.machine.memory.write(s.ctx.state.kernel!.handoffSlot, edited);
    expect(s.transport.discover(s.ctx)).toMatchObject({ found: false, damage: 'corrupt' });
  });

  it('consume() clears the page; artifacts() give the blob (exactly totalsize bytes) and the record', async () => {
    const s = sim(5);
    await crashAndReset(s);
    const files = s.transport.artifacts!(s.ctx);
    expect(files.map((f) => f.path)).toEqual(['handoff.dtb', 'handoff-record.bin']);
    expect(files[0].bytes.length).toBe(new DataView(files[0].bytes.buffer).getUint32(4, false));
    expect(decodeHandoffFdt(files[0].bytes, 'dtb').encoded).toEqual(files[1].bytes);
    s.transport.consume(s.ctx);
    expect(s.transport.discover(s.ctx)).toEqual({
      found: false,
      reason: expect.stringMatching(/^no device tree blob at 0x[0-9a-f]+ \(magic 0x0/),
    });
    expect(s.transport.artifacts!(s.ctx)).toEqual([]);
  });
});
