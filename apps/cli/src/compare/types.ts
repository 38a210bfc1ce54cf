import type { Outcome, PluginRef, RunResult } from '@efikdump/core';

/** One run of a sweep: which design file, which scenario file, which seed. */
export interface SweepJob {
  design: string;
  scenario: string;
  seed: number;
  /** Plug-in packages of the sweep's command line (--plugin, EFIKDUMP_PLUGINS), loaded by whichever worker runs the job; a design's own `plugins` come with the design. */
  plugins?: PluginRef[];
}

/** The part of a RunResult a sweep keeps: everything aggregation needs, nothing wall-clock. */
export interface JobResult extends SweepJob {
  outcome: Outcome;
  /** Sampled pages matched / checked, when the run reached verification. */
  fidelity: number | null;
  /** Virtual µs from the panic to the end of the dump write / verification, when a dump was made. */
  crashToDumpUs: number | null;
  nvramBytesWritten: number | null;
  consoleSeen: boolean | null;
  /** The run's reason for its outcome (the verdict quotes the first loss of each cell). */
  reason: string;
  /** Old-memory pages the firmware changed across the reset (run metric firmwarePagesChanged), when the run reports it. */
  firmwarePagesChanged: number | null;
  /** Pages the dump declares lost in its lost-ranges note (run metric pagesDeclaredLost). */
  pagesDeclaredLost: number | null;
  /** RAM the design withholds from the 1st kernel: crashkernel reservation plus any quarantine (run metric ramWithheldBytes). */
  ramWithheldBytes: number | null;
  /** True when the firmware profile's retention is modelled, not measured (run metric firmwareModelled). */
  firmwareModelled: boolean | null;
  /** The firmware → OS record the next boot reads (OffCD configuration table: run metrics offlineDump*), when the run reports it; written: the firmware wrote a dump. */
  nextBoot?: NextBootRecord | null;
}

export interface NextBootRecord {
  abnormalReset: boolean;
  expected: boolean;
  written: boolean;
  creationErrors: number;
}

/** The key that identifies a job (and its result) in every backend: design|scenario|seed. */
export const jobKey = (j: SweepJob): string => `${j.design}|${j.scenario}|${j.seed}`;

/** Everything a backend needs to run jobs: the design and scenario sources (names or files). */
export interface SweepMatrix {
  /** Design names (built-in) or file paths, as the user gave them. */
  designs: string[];
  scenarios: string[];
  runs: number;
  seedBase: number;
  /** --plugin and EFIKDUMP_PLUGINS of the coordinator, resolved from its working directory (absent when none). */
  plugins?: PluginRef[];
}

export interface BackendProgress {
  (done: number, total: number): void;
}

/**
 * What identifies a sweep: its matrix and a digest of everything its results depend on (the
 * matrix, the loaded design and scenario documents, the CLI version). Two sweeps with the same id
 * have the same results, so a backend that keeps results (BullMQ in Redis) may reuse them.
 */
export interface SweepInfo {
  id: string;
  matrix: SweepMatrix;
}

/** A sweep backend: runs every job once and returns one result per job key. */
export interface SweepBackend {
  readonly name: string;
  /** Parallelism actually used (for the timing file). */
  readonly workers: number;
  runAll(jobs: SweepJob[], onProgress: BackendProgress, sweep?: SweepInfo): Promise<Map<string, JobResult>>;
}

export type { Outcome, RunResult };

/** The BullMQ queue compare and worker use unless told otherwise. */
export const DEFAULT_QUEUE = 'efikdump-compare';
