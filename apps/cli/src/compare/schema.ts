import { OUTCOMES } from '@efikdump/core';

const int = { type: 'integer', minimum: 0 } as const;
const num = { type: 'number' } as const;
const nullable = (s: object) => ({ oneOf: [{ type: 'null' }, s] });
const outcome = { enum: [...OUTCOMES] } as const;
const metric = (description: string) =>
  nullable({
    type: 'object',
    description,
    required: ['median', 'max'],
    additionalProperties: false,
    properties: { median: num, max: num },
  });
const FIRMWARE_METRICS = {
  firmwarePagesChanged: metric(
    'old-memory pages the firmware changed across the reset (run metric firmwarePagesChanged); null when no run reported it',
  ),
  pagesDeclaredLost: metric('pages the dump declares lost in its lost-ranges note (run metric pagesDeclaredLost)'),
  ramWithheldBytes: metric('RAM withheld from the 1st kernel: crashkernel reservation plus any quarantine (run metric ramWithheldBytes)'),
  firmwareModelled: {
    type: ['boolean', 'null'],
    description: 'true when a run used a firmware profile whose retention is modelled, not measured; null when no run said',
  },
} as const;

/** JSON Schema (draft 2020-12) of report.json, format "efikdump-compare/1"; written beside every report. */
export const REPORT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://efikdump.dev/schemas/efikdump-compare-1.json',
  title: 'efikdump compare report',
  type: 'object',
  required: ['format', 'matrix', 'outcomes', 'verdict', 'cells', 'representatives'],
  additionalProperties: false,
  properties: {
    format: { const: 'efikdump-compare/1' },
    matrix: {
      type: 'object',
      required: ['designs', 'scenarios', 'runs', 'seedBase', 'seeds'],
      additionalProperties: false,
      properties: {
        designs: { type: 'array', items: { type: 'string' } },
        scenarios: { type: 'array', items: { type: 'string' } },
        runs: { type: 'integer', minimum: 1 },
        seedBase: int,
        seeds: { type: 'array', items: int, minItems: 2, maxItems: 2, description: 'first and last seed of every cell' },
      },
    },
    outcomes: { type: 'array', items: outcome },
    verdict: {
      type: 'array',
      description:
        "one per design, sorted: the scenarios it loses (with the first failing run's reason), the failures its scenarios expect of it, and whether it reaches a dump on measured firmware",
      items: {
        type: 'object',
        required: ['design', 'losses', 'expected', 'passed', 'dumpOnMeasuredFirmware', ...Object.keys(FIRMWARE_METRICS)],
        additionalProperties: false,
        properties: {
          design: { type: 'string' },
          losses: {
            type: 'array',
            items: {
              type: 'object',
              required: ['scenario', 'failed', 'runs', 'outcome', 'reason'],
              additionalProperties: false,
              properties: { scenario: { type: 'string' }, failed: int, runs: int, outcome, reason: { type: 'string' } },
            },
          },
          expected: {
            type: 'array',
            items: {
              type: 'object',
              required: ['scenario', 'count', 'runs', 'why'],
              additionalProperties: false,
              properties: { scenario: { type: 'string' }, count: int, runs: int, why: { type: 'string' } },
            },
          },
          passed: int,
          dumpOnMeasuredFirmware: { enum: ['yes', 'no', 'modelled', 'unreported'] },
          ...FIRMWARE_METRICS,
        },
      },
    },
    cells: {
      type: 'array',
      description: 'one per (design, scenario), sorted by design then scenario',
      items: {
        type: 'object',
        required: [
          'design',
          'scenario',
          'runs',
          'outcomes',
          'successOutcomes',
          'expected',
          'success',
          'status',
          'firstLoss',
          'fidelity',
          'crashToDumpUs',
          'nvramBytesWritten',
          'consoleSeen',
          ...Object.keys(FIRMWARE_METRICS),
          'nextBoot',
        ],
        additionalProperties: false,
        properties: {
          design: { type: 'string' },
          scenario: { type: 'string' },
          runs: { type: 'integer', minimum: 1 },
          outcomes: {
            type: 'object',
            required: [...OUTCOMES],
            additionalProperties: false,
            properties: Object.fromEntries(OUTCOMES.map((o) => [o, int])),
          },
          success: {
            type: 'object',
            required: ['count', 'rate', 'wilson95'],
            additionalProperties: false,
            properties: {
              count: int,
              rate: num,
              wilson95: {
                type: 'array',
                items: num,
                minItems: 2,
                maxItems: 2,
                description: 'Wilson score 95 % interval of the success rate',
              },
            },
          },
          successOutcomes: {
            type: 'array',
            items: outcome,
            minItems: 1,
            description: 'the outcomes the scenario counts as success (default dump-complete, dump-partial)',
          },
          expected: nullable({
            type: 'object',
            description: 'the failure the scenario expects of this design',
            required: ['outcomes', 'why', 'count'],
            additionalProperties: false,
            properties: { outcomes: { type: 'array', items: outcome }, why: { type: 'string' }, count: int },
          }),
          status: {
            enum: ['pass', 'expected', 'loss'],
            description: 'pass: every run succeeded; expected: every failure was expected; loss: some run failed unexpectedly',
          },
          firstLoss: nullable({
            type: 'object',
            required: ['seed', 'outcome', 'reason'],
            additionalProperties: false,
            properties: { seed: int, outcome, reason: { type: 'string' } },
          }),
          fidelity: nullable({
            type: 'object',
            required: ['count', 'mean', 'min'],
            additionalProperties: false,
            properties: { count: int, mean: num, min: num },
          }),
          crashToDumpUs: nullable({
            type: 'object',
            description: 'virtual µs from the panic to the end of the dump write / verification, over runs that made a dump',
            required: ['count', 'min', 'q1', 'median', 'q3', 'p95', 'max', 'values'],
            additionalProperties: false,
            properties: { count: int, min: num, q1: num, median: num, q3: num, p95: num, max: num, values: { type: 'array', items: num } },
          }),
          nvramBytesWritten: nullable({
            type: 'object',
            required: ['median', 'max'],
            additionalProperties: false,
            properties: { median: num, max: num },
          }),
          consoleSeen: nullable({
            type: 'object',
            required: ['seen', 'of'],
            additionalProperties: false,
            properties: { seen: int, of: int },
          }),
          ...FIRMWARE_METRICS,
          nextBoot: nullable({
            type: 'object',
            description:
              'the firmware → OS record the next boot reads (OffCD configuration table v3), over the runs that report it: runs that saw an abnormal reset, expected a dump, found one written; every OfflineDumpCreationErrors bit seen (OR)',
            required: ['of', 'abnormalReset', 'expected', 'written', 'creationErrors'],
            additionalProperties: false,
            properties: { of: int, abnormalReset: int, expected: int, written: int, creationErrors: int },
          }),
        },
      },
    },
    representatives: {
      type: 'array',
      items: {
        type: 'object',
        required: ['design', 'scenario', 'seed', 'outcome', 'ramBytes', 'stages', 'panicUs', 'retention'],
        additionalProperties: false,
        properties: {
          design: { type: 'string' },
          scenario: { type: 'string' },
          seed: int,
          outcome,
          ramBytes: int,
          panicUs: nullable(num),
          stages: {
            type: 'array',
            items: {
              type: 'object',
              required: ['stage', 'startUs', 'endUs'],
              additionalProperties: false,
              properties: { stage: { type: 'string' }, startUs: num, endUs: num },
            },
          },
          retention: {
            type: 'array',
            items: {
              type: 'object',
              required: ['policy', 'reset', 'boot', 'changedPages', 'changedRanges'],
              additionalProperties: false,
              properties: {
                policy: { type: 'string' },
                reset: { enum: ['warm', 'cold'] },
                boot: int,
                changedPages: int,
                changedRanges: { type: 'array', items: { type: 'array', items: int, minItems: 2, maxItems: 2 } },
              },
            },
          },
        },
      },
    },
  },
} as const;
