/**
 * The laboratory's judgement of a boot: what the stub's verdict means for the run's outcome
 * (false crash boot, forgery rejected, no dump, handoff rejected, or on to the capture kernel).
 */
import type { StageOperator } from '../contracts';
import type { CaptureEntry, RunContext, StubState } from '../context';
import { SimulationError } from '../errors';
import { stage } from '../stage';

/**
 * Decides what the stub's verdict means for the run, on every boot (the stub runs on the first
 * boot too, to issue the boot secret). Before any panic a crashed boot is a false positive:
 * `false-crash-boot`. After a panic a normal boot ends the run: `no-dump` with the stub's reason
 * (and why the handoff was never stored, when the transport said so). Otherwise the run goes on.
 */
export function judgeBoot(): StageOperator {
  return stage('judge', (ctx) => {
    const stub = ctx.state.stub;
    if (!stub || stub.boot !== ctx.state.bootCount) throw new SimulationError(`no stub verdict for boot #${ctx.state.bootCount}`);
    const refusal = () =>
      `the stub refused it (${[...new Set(stub.rejected!.map((r) => r.category))].join(', ')}): ${stub.rejected![0].source}: ${stub.rejected![0].reason}`;
    const forgery = ctx.state.forgery;
    if (forgery) {
      const what =
        forgery.kind === 'replayed'
          ? "root wrote an earlier boot's crashed record back"
          : `root forged a crash marker${forgery.keyStolen ? ' with the stolen key' : ''}`;
      if (stub.crashedBoot) {
        ctx.outcome = {
          outcome: 'false-crash-boot',
          reason: `the stub took a forged crash marker for a crashed boot (${what}): ${stub.reason}`,
        };
      } else {
        const refused = stub.rejected?.length ? refusal() : `no marker reached the stub's check: ${stub.reason}`;
        ctx.outcome = { outcome: 'forgery-rejected', reason: `${what} and rebooted; boot #${stub.boot} was a normal boot: ${refused}` };
      }
      return;
    }
    if (!ctx.state.panic) {
      if (stub.crashedBoot)
        ctx.outcome = {
          outcome: 'false-crash-boot',
          reason: `the stub took boot #${stub.boot}, before any panic, for a crashed boot: ${stub.reason}`,
        };
      return;
    }
    const scrubbed = scrubbedOutcome(ctx);
    if (scrubbed) {
      ctx.outcome = scrubbed;
      return;
    }
    const fault = ctx.state.handoffFault;
    if (!stub.crashedBoot && fault?.landed && stub.rejected?.some((r) => r.category !== 'loop')) {
      ctx.outcome = {
        outcome: 'handoff-rejected',
        reason: `the handoff record was damaged (${fault.kind}: ${fault.detail}); ${refusal()}`,
      };
      return;
    }
    if (!stub.crashedBoot) {
      const failure = ctx.state.handoff?.failure;
      ctx.outcome = {
        outcome: 'no-dump',
        reason: `the stub booted normally: ${stub.reason}${failure ? ` (the handoff was never stored: ${failure})` : ''}`,
      };
      return;
    }
    ctx.state.capture = captureEntryOfStub(stub);
  });
}

/** What the stub's crashed-boot verdict gives the capture kernel: its command line, RAM and elfcorehdr. */
export function captureEntryOfStub(stub: StubState): CaptureEntry {
  return {
    via: 'efi-stub',
    cmdline: stub.captureCmdline ?? '',
    ram: stub.captureRam ?? [],
    ...(stub.handoff ? { elfcorehdr: { paddr: stub.handoff.elfcorehdr.paddr, size: stub.handoff.elfcorehdr.size } } : {}),
    ...(stub.declaredLost?.length ? { declaredLost: stub.declaredLost } : {}),
  };
}

/** After a reset whose firmware wiped all RAM (MOR, ECC initialisation), there is nothing left to dump. */
export function scrubbedOutcome(ctx: RunContext): RunContext['outcome'] {
  const s = ctx.state.scrubbed;
  if (!s || s.boot !== ctx.state.bootCount) return undefined;
  return { outcome: 'no-dump', reason: `memory scrubbed by firmware (${s.why}) at the reset before boot #${s.boot}` };
}
