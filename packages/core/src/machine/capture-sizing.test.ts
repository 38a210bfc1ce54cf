import { GiB, MiB, TiB } from '../units';
import { CAPTURE_DRIVER_BYTES, captureMemoryNeeded } from './capture-sizing';
import { DEVICE_KINDS, type DeviceKind } from './device-specs';

const bitmapBytes = (need: ReturnType<typeof captureMemoryNeeded>): number => {
  const parts = need.parts.filter((p) => /bitmap/i.test(p.label));
  expect(parts).toHaveLength(1);
  return parts[0].bytes;
};

describe('captureMemoryNeeded', () => {
  it.each([
    { oldRamBytes: 4 * GiB, captureRamBytes: 192 * MiB, drivers: [] as DeviceKind[] },
    { oldRamBytes: 1 * TiB, captureRamBytes: 512 * MiB, drivers: ['nic', 'nvme'] as DeviceKind[], captureCpus: 4 },
    { oldRamBytes: 256 * MiB, captureRamBytes: 64 * MiB, drivers: ['gpu', 'hba', 'nic', 'nic'] as DeviceKind[] },
  ])('its parts sum to its bytes, each positive and with a source ($oldRamBytes bytes of RAM)', (input) => {
    const need = captureMemoryNeeded(input);
    expect(need.parts.reduce((s, p) => s + p.bytes, 0)).toBe(need.bytes);
    for (const p of need.parts) {
      expect(p.bytes).toBeGreaterThan(0);
      expect(Number.isSafeInteger(p.bytes)).toBe(true);
      expect(p.label.length).toBeGreaterThan(0);
      expect(p.source.length).toBeGreaterThan(0);
    }
  });

  it("grows makedumpfile's bitmaps with old memory and caps them at 64 MiB", () => {
    const at = (oldRamBytes: number) => bitmapBytes(captureMemoryNeeded({ oldRamBytes, captureRamBytes: 256 * MiB, drivers: [] }));
    // Two bitmaps of one bit per 4 KiB page.
    expect(at(4 * GiB)).toBe((2 * (4 * GiB)) / 4096 / 8);
    expect(at(8 * GiB)).toBe(2 * at(4 * GiB));
    expect(at(64 * GiB)).toBeLessThan(64 * MiB);
    expect(at(1 * TiB)).toBe(64 * MiB);
    expect(at(16 * TiB)).toBe(64 * MiB);
    expect(at(64 * TiB)).toBe(64 * MiB);
  });

  it('the need above the bitmap cap grows only with the capture RAM, not with old memory', () => {
    const a = captureMemoryNeeded({ oldRamBytes: 2 * TiB, captureRamBytes: 512 * MiB, drivers: [] });
    const b = captureMemoryNeeded({ oldRamBytes: 64 * TiB, captureRamBytes: 512 * MiB, drivers: [] });
    expect(b.bytes).toBe(a.bytes);
  });

  it.each(DEVICE_KINDS.map((k) => [k]))('a %s driver adds its CAPTURE_DRIVER_BYTES', (kind) => {
    const base = { oldRamBytes: 16 * GiB, captureRamBytes: 256 * MiB };
    const without = captureMemoryNeeded({ ...base, drivers: [] });
    const one = captureMemoryNeeded({ ...base, drivers: [kind] });
    const two = captureMemoryNeeded({ ...base, drivers: [kind, kind] });
    expect(one.bytes - without.bytes).toBe(CAPTURE_DRIVER_BYTES[kind]);
    expect(two.bytes - without.bytes).toBe(2 * CAPTURE_DRIVER_BYTES[kind]);
    expect(one.parts.filter((p) => p.label.includes(kind))).toHaveLength(1);
  });

  it('does not depend on the order of the drivers', () => {
    const base = { oldRamBytes: 16 * GiB, captureRamBytes: 256 * MiB };
    const a = captureMemoryNeeded({ ...base, drivers: ['nvme', 'nic', 'gpu'] });
    const b = captureMemoryNeeded({ ...base, drivers: ['gpu', 'nvme', 'nic'] });
    expect(b).toEqual(a);
  });

  it('each CPU the capture kernel brings up costs more', () => {
    const base = { oldRamBytes: 16 * GiB, captureRamBytes: 256 * MiB, drivers: [] };
    const one = captureMemoryNeeded(base);
    expect(captureMemoryNeeded({ ...base, captureCpus: 1 })).toEqual(one);
    expect(captureMemoryNeeded({ ...base, captureCpus: 4 }).bytes).toBeGreaterThan(one.bytes);
  });

  it('grows with the capture RAM (struct page)', () => {
    const small = captureMemoryNeeded({ oldRamBytes: 16 * GiB, captureRamBytes: 128 * MiB, drivers: [] });
    const big = captureMemoryNeeded({ oldRamBytes: 16 * GiB, captureRamBytes: 1024 * MiB, drivers: [] });
    expect(big.bytes).toBeGreaterThan(small.bytes);
  });

  describe('the x86_64 distribution defaults leave room', () => {
    it('4 GiB with a NIC and an NVMe fits in the 192 MiB default', () => {
      expect(captureMemoryNeeded({ oldRamBytes: 4 * GiB, captureRamBytes: 192 * MiB, drivers: ['nic', 'nvme'] }).bytes).toBeLessThan(
        192 * MiB,
      );
    });

    it('1 TiB with a NIC and an NVMe fits in the 512 MiB default', () => {
      expect(captureMemoryNeeded({ oldRamBytes: 1 * TiB, captureRamBytes: 512 * MiB, drivers: ['nic', 'nvme'] }).bytes).toBeLessThan(
        512 * MiB,
      );
    });

    it('96 MiB is too small at 4 GiB, even with no driver', () => {
      expect(captureMemoryNeeded({ oldRamBytes: 4 * GiB, captureRamBytes: 96 * MiB, drivers: [] }).bytes).toBeGreaterThan(96 * MiB);
      expect(captureMemoryNeeded({ oldRamBytes: 4 * GiB, captureRamBytes: 96 * MiB, drivers: ['nic', 'nvme'] }).bytes).toBeGreaterThan(
        96 * MiB,
      );
    });
  });
});
