import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crashkernelSize, parseCrashkernelValue } from '@efikdump/core';

/** One distribution default of `crashkernel=`, as `data/crashkernel-defaults.json` ships it. */
export interface CrashkernelDefault {
  arch: string;
  period: string;
  value: string;
  note?: string;
  /** Bytes added per CPU (ppc64le). */
  perCpuBytes?: number;
}

/** The file of the distributions' defaults (domain reference §9.1), shipped with the package. */
export const CRASHKERNEL_DEFAULTS_FILE = join(__dirname, '..', '..', 'data', 'crashkernel-defaults.json');

export function crashkernelDefaults(): CrashkernelDefault[] {
  const doc = JSON.parse(readFileSync(CRASHKERNEL_DEFAULTS_FILE, 'utf8')) as { tables: CrashkernelDefault[] };
  return doc.tables;
}

/** What a default reserves on a machine of `ramBytes` and `cpus` (0 where the table reserves nothing). */
export function defaultReservation(d: CrashkernelDefault, ramBytes: number, cpus: number): number {
  const size = crashkernelSize(parseCrashkernelValue(d.value, CRASHKERNEL_DEFAULTS_FILE), ramBytes, CRASHKERNEL_DEFAULTS_FILE);
  return size > 0 ? size + (d.perCpuBytes ?? 0) * cpus : 0;
}
