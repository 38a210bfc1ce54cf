import { formatDuration } from '../clock';
import type { RunContext } from '../context';
import { NO_NONCE } from './build-record';
import { RESET_DATA_PREFIX } from './ids';

/**
 * The metrics the persist report sets (and only these): `stored` by reportPersisted, `failed` by
 * reportPersistFailure. `handoffNvramBytesWritten` only when the run has firmware state (the
 * `uefi` firmware keeps it). A transport adds its own details beside them (efi-variable's
 * `handoffVariables`, acpi-erst's `handoffErstRecordId`); docs/handoff-conventions.md lists them all.
 */
export const PERSIST_METRICS = {
  stored: ['handoffTransport', 'handoffBytes', 'handoffStoredBytes', 'handoffFailed', 'handoffPersistUs', 'handoffNvramBytesWritten'],
  failed: ['handoffTransport', 'handoffBytes', 'handoffFailed', 'handoffFailure', 'handoffPersistUs', 'handoffNvramBytesWritten'],
} as const;
export type PersistMetric = (typeof PERSIST_METRICS)[keyof typeof PERSIST_METRICS][number];

/** What a transport measured while persisting at panic. */
export interface PersistCost {
  startUs: number;
  nvramBytesBefore?: number;
}

/** Call first in `persist()`: the clock and the firmware's NVRAM counter before the panic-time write. */
export function startPersist(ctx: RunContext): PersistCost {
  return { startUs: ctx.clock.nowUs, nvramBytesBefore: ctx.state.firmware?.nvram.bytesWritten };
}

function costs(ctx: RunContext, transport: string, cost: PersistCost): void {
  ctx.metrics.handoffPersistUs = Math.round(ctx.clock.nowUs - cost.startUs);
  if (cost.nvramBytesBefore !== undefined && ctx.state.firmware) {
    // Flash bytes this transport's panic-time writes programmed (the firmware's own total is nvramBytesWritten).
    ctx.metrics.handoffNvramBytesWritten = ctx.state.firmware.nvram.bytesWritten - cost.nvramBytesBefore;
  }
  ctx.metrics.handoffTransport = transport;
}

const resetData = (ctx: RunContext) => `${RESET_DATA_PREFIX}${ctx.state.bootSecret?.nonce ?? NO_NONCE}`;

/** The record is stored: state, metrics and the timeline say where and at what cost. */
export function reportPersisted(
  ctx: RunContext,
  transport: string,
  cost: PersistCost,
  location: string,
  recordBytes: number,
  storedBytes: number,
): void {
  ctx.state.handoff = { transport, location, bytes: recordBytes, resetData: resetData(ctx) };
  ctx.metrics.handoffBytes = recordBytes;
  ctx.metrics.handoffStoredBytes = storedBytes;
  ctx.metrics.handoffFailed = false;
  costs(ctx, transport, cost);
  ctx.log.emit(
    'handoff-persist',
    'info',
    `${transport}: ${recordBytes}-byte record stored at ${location} (${storedBytes} bytes, ${formatDuration(ctx.metrics.handoffPersistUs as number)})`,
  );
}

/** The record could not be stored: never thrown, reported; the next stub finds nothing and the run says why. */
export function reportPersistFailure(ctx: RunContext, transport: string, cost: PersistCost, failure: string): void {
  ctx.state.handoff = { transport, location: 'none', bytes: 0, failure: `${transport}: ${failure}`, resetData: resetData(ctx) };
  ctx.metrics.handoffBytes = 0;
  ctx.metrics.handoffFailed = true;
  ctx.metrics.handoffFailure = `${transport}: ${failure}`;
  costs(ctx, transport, cost);
  ctx.log.emit('handoff-persist', 'warn', `handoff not stored: ${transport}: ${failure}`);
}

/** Warns when the stub issued no secret: the record goes out unsigned and will be refused as forged. */
export function warnUnsigned(ctx: RunContext, transport: string, stage: string): void {
  if (!ctx.state.bootSecret)
    ctx.log.emit(
      stage,
      'warn',
      `${transport}: the EFI stub issued no boot secret; the record is unsigned and the next boot will refuse it`,
    );
}
