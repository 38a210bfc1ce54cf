import type { HandoffInfo, RunContext } from '../context';
import { TransportError } from '../errors';
import { encodeHandoffRecord, RECORD_VERSION, type HandoffRecord } from './record';

/** The nonce a record carries when the stub issued no secret (it will be refused as forged). */
export const NO_NONCE = '0'.repeat(16);

/** What the 1st kernel knows of its crash-dump setup, as the record carries it. */
export function currentHandoffInfo(ctx: RunContext): HandoffInfo {
  const kernel = ctx.state.kernel;
  if (!kernel?.elfcorehdr) throw new TransportError('the kdump service has not loaded an elfcorehdr', { field: 'transport' });
  return {
    version: RECORD_VERSION,
    bootNonce: ctx.state.bootSecret?.nonce ?? NO_NONCE,
    crashkernel: kernel.crashkernel,
    elfcorehdr: kernel.elfcorehdr,
    crashTimeUnix: ctx.state.panic?.unixTime ?? 0,
    cpus: ctx.machine.cpus,
  };
}

const stamp = (us: number) => `[${String(Math.floor(us / 1e6)).padStart(5, ' ')}.${String(us % 1e6).padStart(6, '0')}]`;

/**
 * A short kernel log of the panic, as the tail of the printk buffer would hold it (deterministic:
 * virtual time, the panicking CPU and the kernel release). What kmsg_dump would hand a pstore
 * back end (Linux kernel/panic.c, arch/x86 dump_stack).
 */
export function panicLogTail(ctx: RunContext): string {
  const panic = ctx.state.panic;
  if (!panic) return '';
  const t = Math.max(0, Math.round(ctx.clock.nowUs));
  const lines = [
    panic.reason,
    `Kernel panic - not syncing: ${panic.reason}`,
    `CPU: ${panic.cpu} PID: 1 Comm: efikdump-workload Not tainted ${ctx.state.kernel?.osrelease ?? 'unknown'} #1`,
    'Hardware name: efikdump simulated machine, BIOS efikdump UEFI',
    'Call Trace:',
    ' <TASK>',
    ' dump_stack_lvl+0x44/0x5c',
    ' panic+0x118/0x2f0',
    ' sysrq_handle_crash+0x1a/0x20',
    ' __handle_sysrq+0xa0/0x190',
    ' write_sysrq_trigger+0x2a/0x40',
    ' </TASK>',
    'Kernel Offset: disabled',
    `---[ end Kernel panic - not syncing: ${panic.reason} ]---`,
  ];
  return lines.map((l, i) => `${stamp(t + i * 7)} ${l}\n`).join('');
}

/**
 * The record for now (armed, or crashed after the panic), MACed with the boot secret the stub
 * issued (HMAC-SHA256; unsigned without one — the next stub refuses it). `maxLogBytes` cuts the
 * log tail for containers with less room.
 */
export function buildHandoffRecord(
  ctx: RunContext,
  flags: number,
  maxLogBytes?: number,
): { record: Omit<HandoffRecord, 'mac'>; bytes: Uint8Array; signed: boolean } {
  let logTail = panicLogTail(ctx);
  if (maxLogBytes !== undefined && Buffer.byteLength(logTail) > maxLogBytes)
    logTail = Buffer.from(logTail)
      .subarray(Buffer.byteLength(logTail) - maxLogBytes)
      .toString('utf8')
      .replace(/^\uFFFD+/, '');
  const record = { flags, info: currentHandoffInfo(ctx), reason: ctx.state.panic?.reason ?? '', logTail };
  const secret = ctx.state.bootSecret;
  const key = secret ? new Uint8Array(Buffer.from(secret.keyHex, 'hex')) : undefined;
  return { record, bytes: encodeHandoffRecord(record, key), signed: key !== undefined };
}
