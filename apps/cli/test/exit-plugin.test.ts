import 'reflect-metadata';
import { injectable } from 'tsyringe';
import {
  ConfigError,
  createRun,
  registerPlugin,
  stage,
  type CrashTrigger,
  type ExitStrategy,
  type RouteInput,
  type RunResult,
  type StageOperator,
} from '@efikdump/core';
import { captureCmdline, kexecCaptureRam } from '@efikdump/kernel-crash';
import { createContainer } from '../src/container';
import { loadDesign, loadScenario } from '../src/library';

// A new way out of the crashed kernel and a new trigger, registered from this file into the
// CLI's container: nothing in core or the built-in packages knows them.

/** kexec without purgatory: jumps into the loaded capture kernel without checking the segments. */
@injectable()
class UncheckedKexecExit implements ExitStrategy {
  readonly name = 'test-unchecked-kexec';
  readonly stubDecides = false;

  leave(): StageOperator {
    return stage('test-exit', (ctx) => {
      const kernel = ctx.state.kernel!;
      const ram = kexecCaptureRam(kernel);
      const hdr = kernel.elfcorehdr!;
      ctx.state.capture = {
        via: 'kexec',
        cmdline: captureCmdline(kernel.cmdline, ram, hdr.paddr),
        ram,
        elfcorehdr: { paddr: hdr.paddr, size: hdr.size },
      };
      ctx.metrics.testExitTaken = true;
      ctx.log.emit('test-exit', 'info', 'jump without purgatory');
    });
  }

  route(input: RouteInput): StageOperator[] {
    return [this.leave(), ...input.inFlight, input.capture.boot(), input.capture.vmcoreInit()];
  }
}

/** A machine that halts at the panic: the route ends with an outcome and no vmcore view. */
@injectable()
class HaltExit implements ExitStrategy {
  readonly name = 'test-halt';
  readonly stubDecides = false;

  leave(): StageOperator {
    return stage('test-halt', (ctx) => {
      ctx.outcome = { outcome: 'no-dump', reason: 'test-halt: the machine halts at the panic' };
    });
  }

  route(): StageOperator[] {
    return [this.leave()];
  }
}

/** SysRq-c: an operator crashes the kernel on purpose, then the kernel's panic path runs. */
@injectable()
class SysrqTrigger implements CrashTrigger {
  readonly name = 'test-sysrq-c';

  stages(input: RouteInput): StageOperator[] {
    return [stage('sysrq', (ctx) => ctx.log.emit('sysrq', 'info', 'echo c > /proc/sysrq-trigger')), input.kernel.panic()];
  }
}

function container() {
  const c = createContainer();
  registerPlugin(c, 'exit', 'test-unchecked-kexec', UncheckedKexecExit, 'test: kexec without purgatory');
  registerPlugin(c, 'exit', 'test-halt', HaltExit, 'test: halt at the panic');
  registerPlugin(c, 'trigger', 'test-sysrq-c', SysrqTrigger, 'test: SysRq-c');
  return c;
}

async function run(exit: string, scenario = loadScenario('healthy')): Promise<RunResult> {
  const base = loadDesign('classic-kexec');
  const design = { ...base, name: `classic-kexec-${exit}`, components: { ...base.components, exit: [exit] } };
  return createRun(container(), { design, scenario, seed: 5, ramBytes: 1024 ** 3 }).start();
}

const stages = (r: RunResult) => new Set(r.timeline.map((e) => e.stage));

describe('an exit and a trigger registered from outside the built-in packages', () => {
  it('a new exit runs its own route to a verified dump', async () => {
    const mine = await run('test-unchecked-kexec');
    expect(mine.outcome).toBe('dump-complete');
    expect(mine.metrics.testExitTaken).toBe(true);
    expect(stages(mine).has('test-exit')).toBe(true);
    expect(stages(mine).has('verify')).toBe(true);
    // The built-in kexec's purgatory never ran: its check is the only thing that tells them apart.
    expect(mine.timeline.some((e) => /purgatory checks the SHA-256/.test(e.message))).toBe(false);
    const builtin = await run('classic-kexec');
    expect(builtin.timeline.some((e) => /purgatory checks the SHA-256/.test(e.message))).toBe(true);
    expect(mine.metrics.pagesMatched).toBe(builtin.metrics.pagesMatched);
  });

  it('a route may end in an outcome without a vmcore view: save and verify are skipped', async () => {
    const r = await run('test-halt');
    expect(r.outcome).toBe('no-dump');
    expect(r.reason).toMatch(/test-halt/);
    expect(stages(r).has('verify')).toBe(false);
    expect(stages(r).has('capture-boot')).toBe(false);
  });

  it('a scenario names a trigger registered from outside; an unknown one is a ConfigError naming the scenario field', async () => {
    const healthy = loadScenario('healthy');
    const r = await run('classic-kexec', { ...healthy, trigger: 'test-sysrq-c' });
    expect(r.outcome).toBe('dump-complete');
    const order = r.timeline.map((e) => e.stage);
    expect(order.indexOf('sysrq')).toBeGreaterThan(-1);
    expect(order.indexOf('sysrq')).toBeLessThan(order.indexOf('panic'));
    await expect(run('classic-kexec', { ...healthy, trigger: 'test-nowhere' })).rejects.toThrow(ConfigError);
    await expect(run('classic-kexec', { ...healthy, trigger: 'test-nowhere' })).rejects.toThrow(/Unknown trigger: test-nowhere/);
  });
});
