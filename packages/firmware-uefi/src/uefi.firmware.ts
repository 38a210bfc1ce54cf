import { injectable, injectAll } from 'tsyringe';
import {
  RETENTION, seconds, ms, stage, SimulationError,
  type Firmware, type RetentionPolicy, type RunContext, type StageOperator,
} from '@efikdump/core';
import { buildMemoryMap, platformRam } from './memory-map/platform-memory-map';

/**
 * POST durations. No citable server figures exist (domain reference §9.3); these are the model's
 * defaults, cold including memory training, warm skipping it.
 */
export const POST_TIMING_US = { cold: seconds(25), warm: seconds(8) } as const;

/** A UEFI platform: memory map, POST, ResetSystem, and the boot path into the OS loader (the stub). */
@injectable()
export class UefiFirmware implements Firmware {
  constructor(@injectAll(RETENTION) private readonly retention: RetentionPolicy[]) {}

  ramLayout(ramBytes: number) {
    return platformRam(ramBytes);
  }

  powerOn(): StageOperator {
    return stage('power-on', (ctx) => {
      ctx.clock.advance(POST_TIMING_US.cold);
      this.enterOsLoader(ctx, 'cold boot');
    });
  }

  resetSystem(ctx: RunContext, type: 'warm' | 'cold' | 'shutdown' | 'platform-specific', data?: string): void {
    ctx.state.reset = data === undefined ? { type } : { type, data };
    ctx.log.emit('exit', 'info', `ResetSystem(${type === 'warm' ? 'EfiResetWarm' : type === 'cold' ? 'EfiResetCold' : type})`);
  }

  resetAndPost(): StageOperator {
    return stage('firmware-post', (ctx) => {
      const reset = ctx.state.reset;
      if (!reset) throw new SimulationError('POST after a reset that was never requested');
      if (reset.type === 'shutdown') {
        ctx.outcome = { outcome: 'no-dump', reason: 'the machine was shut down' };
        return;
      }
      // Platform reset: every device is reset, its DMA stops (PERST#).
      ctx.clock.advance(ms(50));
      ctx.log.emit('firmware-post', 'info', 'devices reset');
      const kind = reset.type === 'warm' ? 'warm' : 'cold';
      let changed = 0;
      for (const policy of this.retention) {
        const report = policy.apply(ctx, kind);
        changed += report.changedPages;
        ctx.log.emit('firmware-post', 'info', `retention ${report.policy}: ${report.changedPages} pages changed`);
      }
      ctx.metrics.retentionChangedPages = changed;
      ctx.clock.advance(POST_TIMING_US[kind]);
      this.enterOsLoader(ctx, `${kind} reset`);
    });
  }

  private enterOsLoader(ctx: RunContext, why: string): void {
    ctx.state.memoryMap = buildMemoryMap(ctx.machine.ramBytes);
    ctx.state.bootCount++;
    ctx.log.emit(ctx.state.bootCount === 1 ? 'power-on' : 'firmware-post', 'info',
      `POST done after ${why}; boot #${ctx.state.bootCount} loads the kernel's EFI stub`);
  }
}
