import {
  applyFirmwareOverrides,
  EventLog,
  PhysicalMemory,
  Rng,
  VirtualClock,
  type Design,
  type FirmwareOverrides,
  type FirmwareProfile,
  type RunContext,
  type RunEvent,
  type Scenario,
} from '@efikdump/core';
import { createFirmwareState, firmwareReport } from '../firmware-state';
import { platformRam, profileMemoryMap } from '../memory-map/platform-memory-map';
import { loadFirmwareProfile } from '../profiles/firmware-profiles';

// Test support only (not exported): a run context with a powered-on firmware state.

export interface FirmwareTestContext {
  ctx: RunContext;
  events: RunEvent[];
  profile: FirmwareProfile;
}

export function firmwareContext(
  opts: { profile?: string; overrides?: FirmwareOverrides; ramBytes?: number; seed?: number; cmdline?: string } = {},
): FirmwareTestContext {
  const ramBytes = opts.ramBytes ?? 1024 ** 3;
  const seed = opts.seed ?? 1;
  const scenario = { name: 'test', source: 'test-scenario.json', firmware: opts.overrides } as unknown as Scenario;
  const profile = applyFirmwareOverrides(loadFirmwareProfile(opts.profile ?? 'ovmf'), scenario);
  const clock = new VirtualClock();
  const log = new EventLog(clock);
  const events: RunEvent[] = [];
  log.events$.subscribe((e) => events.push(e));
  const memory = new PhysicalMemory({ seed, ram: platformRam(ramBytes) });
  const ctx: RunContext = {
    seed,
    design: {
      name: 'test',
      source: 'test-design.json',
      firmware: { profile: opts.profile ?? 'ovmf' },
      kernel: { cmdline: opts.cmdline ?? 'console=ttyS0 crashkernel=256M' },
      components: {},
    } as unknown as Design,
    scenario,
    options: { truthPages: 0, truthZeroPages: 0 },
    machine: { ramBytes, cpus: 2, memory },
    clock,
    rng: new Rng(seed),
    log,
    state: { bootCount: 1, memoryMap: profileMemoryMap(profile, ramBytes) },
    metrics: {},
    artifacts: {},
  };
  ctx.state.firmware = createFirmwareState(profile, opts.overrides?.faults ?? [], (fw) => firmwareReport(fw));
  return { ctx, events, profile };
}
