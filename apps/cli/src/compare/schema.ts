import { OUTCOMES } from '@efikdump/core';

const int = { type: 'integer', minimum: 0 } as const;
const num = { type: 'number' } as const;
const nullable = (s: object) => ({ oneOf: [{ type: 'null' }, s] });

/** JSON Schema (draft 2020-12) of report.json, format "efikdump-compare/1"; written beside every report. */
export const REPORT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://efikdump.dev/schemas/efikdump-compare-1.json',
  title: 'efikdump compare report',
  type: 'object',
  required: ['format', 'matrix', 'outcomes', 'cells', 'representatives'],
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
    outcomes: { type: 'array', items: { enum: [...OUTCOMES] } },
    cells: {
      type: 'array',
      description: 'one per (design, scenario), sorted by design then scenario',
      items: {
        type: 'object',
        required: ['design', 'scenario', 'runs', 'outcomes', 'success', 'fidelity', 'crashToDumpUs', 'nvramBytesWritten', 'consoleSeen'],
        additionalProperties: false,
        properties: {
          design: { type: 'string' },
          scenario: { type: 'string' },
          runs: { type: 'integer', minimum: 1 },
          outcomes: { type: 'object', required: [...OUTCOMES], additionalProperties: false, properties: Object.fromEntries(OUTCOMES.map((o) => [o, int])) },
          success: {
            type: 'object',
            required: ['count', 'rate', 'wilson95'],
            additionalProperties: false,
            properties: { count: int, rate: num, wilson95: { type: 'array', items: num, minItems: 2, maxItems: 2, description: 'Wilson score 95 % interval of the dump-complete rate' } },
          },
          fidelity: nullable({ type: 'object', required: ['count', 'mean', 'min'], additionalProperties: false, properties: { count: int, mean: num, min: num } }),
          crashToDumpUs: nullable({
            type: 'object',
            description: 'virtual µs from the panic to the end of the dump write / verification, over runs that made a dump',
            required: ['count', 'min', 'q1', 'median', 'q3', 'p95', 'max', 'values'],
            additionalProperties: false,
            properties: { count: int, min: num, q1: num, median: num, q3: num, p95: num, max: num, values: { type: 'array', items: num } },
          }),
          nvramBytesWritten: nullable({ type: 'object', required: ['median', 'max'], additionalProperties: false, properties: { median: num, max: num } }),
          consoleSeen: nullable({ type: 'object', required: ['seen', 'of'], additionalProperties: false, properties: { seen: int, of: int } }),
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
          outcome: { enum: [...OUTCOMES] },
          ramBytes: int,
          panicUs: nullable(num),
          stages: { type: 'array', items: { type: 'object', required: ['stage', 'startUs', 'endUs'], additionalProperties: false, properties: { stage: { type: 'string' }, startUs: num, endUs: num } } },
          retention: {
            type: 'array',
            items: {
              type: 'object',
              required: ['policy', 'reset', 'boot', 'changedPages', 'changedRanges'],
              additionalProperties: false,
              properties: {
                policy: { type: 'string' }, reset: { enum: ['warm', 'cold'] }, boot: int, changedPages: int,
                changedRanges: { type: 'array', items: { type: 'array', items: int, minItems: 2, maxItems: 2 } },
              },
            },
          },
        },
      },
    },
  },
} as const;
