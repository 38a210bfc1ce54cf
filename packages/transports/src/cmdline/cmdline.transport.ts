import { inject, injectable } from 'tsyringe';
import {
  COMPONENT_OPTIONS,
  defineOptions,
  stage,
  TransportError,
  CAPTURE_CMDLINE_EXTRA,
  consoleArgs,
  kexecCaptureRam,
  memmapArgs,
  type HandoffArtifact,
  type HandoffDiscovery,
  type HandoffTransport,
  type OptionsOf,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';

/** Where kexec keeps the command line: the boot parameters segment it loads with the capture kernel. */
export const CMDLINE_LOCATION = 'kexec boot-parameters segment in the reservation';

/**
 * The `cmdline` transport's options: what the kdump service adds to the capture kernel's command
 * line (kdump-utils' KDUMP_COMMANDLINE_APPEND; Fedora's list by default) and whether it keeps the
 * 1st kernel's `console=` arguments (kdump-utils starts from /proc/cmdline, so it does by default).
 */
export const CMDLINE_TRANSPORT_OPTIONS = defineOptions({
  append: {
    type: 'string',
    minLength: 0,
    maxLength: 2048,
    pattern: /^[\x20-\x7e]*$/,
    expected: 'at most 2048 printable ASCII characters',
    default: CAPTURE_CMDLINE_EXTRA,
    description: 'arguments the kdump service adds (KDUMP_COMMANDLINE_APPEND)',
  },
  keepConsoles: {
    type: 'boolean',
    default: true,
    description: "keep the 1st kernel's console= arguments, as kdump-utils does from /proc/cmdline",
  },
});
export type CmdlineTransportOptions = OptionsOf<typeof CMDLINE_TRANSPORT_OPTIONS>;

/**
 * The classic kexec baseline (domain reference §1.6): the kdump service loads the capture kernel
 * with a command line carrying its extra arguments (option `append`), the 1st kernel's consoles
 * (read from its command line, as kdump-utils reads /proc/cmdline; option `keepConsoles`),
 * `memmap=exactmap memmap=<n>K@<s>K ...` and `elfcorehdr=<KiB>K`. Nothing is written at the
 * panic; nothing survives a firmware reset for a stub to discover, so it serves only exits that
 * jump straight into the capture kernel (`classic-kexec`).
 */
@injectable()
export class CmdlineTransport implements HandoffTransport {
  readonly name = 'cmdline';

  constructor(@inject(COMPONENT_OPTIONS) readonly options: CmdlineTransportOptions) {}

  prepare(): StageOperator {
    return stage('handoff-prepare', (ctx) => {
      const kernel = ctx.state.kernel;
      const hdr = kernel?.elfcorehdr;
      if (!kernel || !hdr) throw new TransportError('the kdump service has not loaded an elfcorehdr', { field: 'transport' });
      const ram = kexecCaptureRam(kernel);
      const { append, keepConsoles } = this.options;
      kernel.captureCmdline = [
        ...(append.trim() ? [append.trim()] : []),
        ...(keepConsoles ? consoleArgs(kernel.cmdline) : []),
        memmapArgs(ram),
        `elfcorehdr=${hdr.paddr / 1024}K`,
      ].join(' ');
      ctx.log.emit(
        'handoff-prepare',
        'info',
        `cmdline: the capture kernel is loaded with elfcorehdr=${hdr.paddr / 1024}K and ${ram.length} memmap= ranges`,
      );
    });
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      const cmdline = ctx.state.kernel?.captureCmdline;
      if (!cmdline) {
        ctx.state.handoff = { transport: this.name, location: CMDLINE_LOCATION, bytes: 0, failure: 'no capture command line was loaded' };
        return;
      }
      ctx.state.handoff = { transport: this.name, location: CMDLINE_LOCATION, bytes: Buffer.byteLength(cmdline) };
      ctx.metrics.handoffBytes = Buffer.byteLength(cmdline);
      ctx.log.emit(
        'handoff-persist',
        'info',
        'cmdline: nothing to store at the panic (the command line was loaded with the capture kernel)',
      );
    });
  }

  discover(): HandoffDiscovery {
    return { found: false, reason: 'the capture command line is a kexec segment: a firmware reset leaves nothing for the stub to find' };
  }

  consume(): void {
    // Nothing persistent: the next kexec load writes a new command line.
  }

  artifacts(ctx: RunContext): HandoffArtifact[] {
    const cmdline = ctx.state.kernel?.captureCmdline;
    return cmdline ? [{ path: 'capture-cmdline.txt', bytes: new Uint8Array(Buffer.from(cmdline + '\n', 'utf8')) }] : [];
  }
}

/**
 * No transport: the platform carries what the next boot needs (fadump's registration with the
 * firmware, domain reference §4). Nothing is stored, discovered or cleared.
 */
@injectable()
export class NoTransport implements HandoffTransport {
  readonly name = 'none';

  prepare(): StageOperator {
    return stage('handoff-prepare', () => undefined);
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      ctx.state.handoff = { transport: this.name, location: 'none (the platform keeps the dump registration)', bytes: 0 };
    });
  }

  discover(): HandoffDiscovery {
    return { found: false, reason: 'this design stores no handoff record' };
  }

  consume(): void {
    // Nothing stored.
  }
}
