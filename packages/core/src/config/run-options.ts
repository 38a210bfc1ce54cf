/**
 * What a single run is asked for beside its design and scenario: the command line's outputs and
 * sampling, and the bounds of the machine a run may simulate (`--memory`, `--cpus`, a scenario's
 * `machine`). Options of a plug-in are not here: they are its component's options in the design
 * (`components.<slot>.options`, config/component-options.ts).
 */

/** Smallest RAM a run simulates (the capture kernel needs its reservation below it). */
export const MIN_RAM = 256 * 1024 * 1024;
/** Largest RAM a run simulates. */
export const MAX_RAM = 64 * 1024 ** 4;
/** Most CPUs a run simulates. */
export const MAX_CPUS = 1024;

export interface RunOptions {
  /** Write the dump here (ELF). Without it the run stops after verifying through the /proc/vmcore view. */
  out?: string;
  /** Write the truth manifest here. */
  truth?: string;
  /** Number of pages sampled into the truth manifest. */
  truthPages: number;
  /** Sample of all-zero pages in the truth manifest. */
  truthZeroPages: number;
  /** Write the handoff transport's artifacts (records, variables, tables, blobs) into this directory. */
  artifactsDir?: string;
}
