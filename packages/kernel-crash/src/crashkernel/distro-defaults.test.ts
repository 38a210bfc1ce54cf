import { captureMemoryNeeded, GiB, MiB, TiB } from '@efikdump/core';
import { crashkernelDefaults, defaultReservation } from './distro-defaults';

describe("the distributions' crashkernel= defaults (reference data)", () => {
  const tables = crashkernelDefaults();

  test('every row parses as a crashkernel= range list', () => {
    expect(tables.length).toBeGreaterThanOrEqual(6);
    for (const t of tables) expect(() => defaultReservation(t, 8 * GiB, 8)).not.toThrow();
  });

  test('the current x86_64 default reserves 256 MiB from 2 GiB and 512 MiB from 64 GiB, nothing below 2 GiB', () => {
    const current = tables.find((t) => t.arch === 'x86_64' && t.period.startsWith('since'))!;
    expect(defaultReservation(current, GiB, 4)).toBe(0);
    expect(defaultReservation(current, 4 * GiB, 4)).toBe(256 * MiB);
    expect(defaultReservation(current, TiB, 64)).toBe(512 * MiB);
  });

  test('the ppc64le rows add 1 MiB per CPU', () => {
    const ppc = tables.find((t) => t.arch === 'ppc64le' && t.period === 'kdump')!;
    expect(defaultReservation(ppc, 8 * GiB, 16)).toBe(512 * MiB + 16 * MiB);
  });

  test.each([
    [4 * GiB, 4],
    [64 * GiB, 32],
    [TiB, 64],
  ])('the x86_64 defaults since 2021 leave room for our capture kernel at %d bytes', (ram, cpus) => {
    for (const t of tables.filter((x) => x.arch === 'x86_64' && !x.period.startsWith('before'))) {
      const reserved = defaultReservation(t, ram, cpus);
      const need = captureMemoryNeeded({ oldRamBytes: ram, captureRamBytes: reserved, drivers: ['nic', 'nvme'] }).bytes;
      expect({ period: t.period, fits: need <= reserved }).toEqual({ period: t.period, fits: true });
    }
  });
});
