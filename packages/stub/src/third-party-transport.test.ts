// docs/handoff-conventions.md's example, run: a transport and a detector written as a third party
// would, on the packages' public exports only, carry a crash through the EFI stub; and the same
// transport found by the built-in generic detector (transport-discovery), alone and within any-of.
// The boot facts and the handoff conventions they use all come from @efikdump/core (and
// detectionOf from the stub); the other packages are registered only to build the machine.
import { inject, injectable, type DependencyContainer } from 'tsyringe';
import {
  createRun,
  DETECTOR,
  EXIT,
  FIRMWARE,
  hex,
  judgeBoot,
  KERNEL,
  PAGE_SIZE,
  registerPlugin,
  stage,
  STUB,
  TRANSPORT,
  buildHandoffRecord,
  clearHandoffSlot,
  FLAG_ARMED,
  FLAG_CRASHED,
  readHandoffSlot,
  RECORD_MAGIC,
  reportPersisted,
  reportPersistFailure,
  startPersist,
  warnUnsigned,
  type CrashDetection,
  type CrashDetector,
  type HandoffDiscovery,
  type HandoffTransport,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { createTestRun, pluginContainer, testDesign, testScenario } from '@efikdump/core/testing';
import { register as registerFirmware } from '@efikdump/firmware-uefi';
import { register as registerKernel } from '@efikdump/kernel-crash';
import { register as registerTransports } from '@efikdump/transports';
import { register as registerVmcore } from '@efikdump/vmcore';
import { AnyOfDetector, detectionOf, register } from './index';

/** The bare record in the handoff page: no container, no parity. */
@injectable()
class RawPageTransport implements HandoffTransport {
  readonly name = 'raw-page';

  prepare(): StageOperator {
    return stage('handoff-prepare', (ctx) => {
      warnUnsigned(ctx, this.name, 'handoff-prepare');
      this.write(ctx, buildHandoffRecord(ctx, FLAG_ARMED).bytes);
    });
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      const cost = startPersist(ctx);
      if (!ctx.state.kernel?.crashkernel.length) return reportPersistFailure(ctx, this.name, cost, 'crashkernel= reserved nothing');
      const { bytes } = buildHandoffRecord(ctx, FLAG_ARMED | FLAG_CRASHED);
      this.write(ctx, bytes);
      reportPersisted(ctx, this.name, cost, hex(ctx.state.kernel.handoffSlot), bytes.length, PAGE_SIZE);
    });
  }

  discover(ctx: RunContext): HandoffDiscovery {
    const where = readHandoffSlot(ctx);
    if (!('slot' in where)) return { found: false, reason: where.reason };
    if (Buffer.from(where.page.subarray(0, 8)).toString('latin1') !== RECORD_MAGIC)
      return { found: false, reason: `no record at ${hex(where.slot)}` };
    // The record says its own length: the rest of the page is ignored.
    return { found: true, candidate: { source: this.name, location: hex(where.slot), record: where.page } };
  }

  consume(ctx: RunContext): void {
    clearHandoffSlot(ctx);
  }

  private write(ctx: RunContext, record: Uint8Array): void {
    const page = new Uint8Array(PAGE_SIZE);
    page.set(record);
    ctx.machine.memory.write(ctx.state.kernel!.handoffSlot, page);
  }
}

/** Asks the design's transport: any transport works with it. */
@injectable()
class DesignTransportDetector implements CrashDetector {
  readonly name = 'design-transport';

  constructor(@inject(TRANSPORT) private readonly transport: HandoffTransport) {}

  detect(ctx: RunContext): CrashDetection {
    return detectionOf((at) => `${this.transport.name} record at ${at}`, this.transport.discover(ctx));
  }
}

const rawPage = (c: DependencyContainer) =>
  registerPlugin(c, 'transport', 'raw-page', RawPageTransport, 'the bare record in the handoff page');
const plugins = pluginContainer(registerFirmware, registerKernel, registerTransports, registerVmcore, register, rawPage, (c) => {
  registerPlugin(c, 'detector', 'design-transport', DesignTransportDetector, "asks the design's transport");
});
/** The transport alone: no detector of its own, only the built-in ones. */
const transportOnly = pluginContainer(registerFirmware, registerKernel, registerTransports, registerVmcore, register, rawPage);

describe('a third-party transport and detector on the public exports', () => {
  it('the stub accepts the crash record they carry, and the next boot after consume is a normal one', async () => {
    const t = createTestRun({
      container: plugins,
      design: testDesign({ components: { transport: 'raw-page', detector: 'design-transport' } }),
      scenario: testScenario({ firmware: { scratch: [] } }),
      seed: 11,
      slots: ['firmware', 'retention', 'kernel', 'transport', 'exit', 'detector', 'stub'],
    });
    const fw = t.resolve(FIRMWARE),
      kernel = t.resolve(KERNEL),
      transport = t.resolve(TRANSPORT),
      exit = t.resolve(EXIT),
      stub = t.resolve(STUB);
    expect(t.resolve(DETECTOR).name).toBe('design-transport');
    await t.stages(fw.powerOn(), stub.operator(), judgeBoot(), kernel.boot(), transport.prepare(), kernel.workload());
    await t.stages(kernel.panic(), transport.persist(), exit.leave(), fw.resetAndPost(), stub.operator(), judgeBoot());
    const slot = hex(t.ctx.state.kernel!.handoffSlot);
    expect(t.ctx.state.handoff).toMatchObject({ transport: 'raw-page', location: slot });
    expect(t.ctx.state.stub).toMatchObject({ crashedBoot: true, detector: 'design-transport', reason: `raw-page record at ${slot}` });
    expect(t.ctx.outcome).toBeUndefined();
    expect(t.ctx.metrics.handoffRejectedForged).toBe(0);

    transport.consume(t.ctx);
    expect(transport.discover(t.ctx)).toEqual({ found: false, reason: `no record at ${slot}` });
    fw.resetSystem(t.ctx, 'warm');
    await t.stages(fw.resetAndPost(), stub.operator());
    expect(t.ctx.state.stub).toMatchObject({ crashedBoot: false, reason: `no record at ${slot}` });
  });

  it("the built-in transport-discovery detector asks the design's transport: the run reaches its dump", async () => {
    const design = testDesign({ components: { transport: 'raw-page', detector: 'transport-discovery' } });
    const scenario = testScenario({ firmware: { scratch: [] } });
    const result = await createRun(transportOnly, { design, scenario, seed: 11, options: { truthPages: 64, truthZeroPages: 16 } }).start();
    expect(result.outcome).toBe('dump-complete');
    expect(result.metrics.handoffTransport).toBe('raw-page');
    const stub = result.timeline.filter((e) => e.stage === 'stub' && e.kind === 'info').map((e) => e.message);
    expect(stub).toContainEqual(
      expect.stringMatching(/^crashed boot detected \(raw-page record at 0x[0-9a-f]+\); booting the capture kernel/),
    );
  });

  it("any-of asks transport-discovery when no other detector reads the design's transport (and only then)", async () => {
    const t = createTestRun({
      container: transportOnly,
      design: testDesign({ components: { transport: 'raw-page', detector: 'any-of' } }),
      scenario: testScenario({ firmware: { scratch: [] } }),
      seed: 12,
      slots: ['firmware', 'retention', 'kernel', 'transport', 'exit', 'detector', 'stub'],
    });
    const anyOf = t.resolve(DETECTOR) as AnyOfDetector;
    expect(anyOf.members().map((d) => d.name)).toEqual([
      'bert-record',
      'efi-variable-flag',
      'reserved-memory-magic',
      'reset-reason',
      'transport-discovery',
    ]);
    const fw = t.resolve(FIRMWARE),
      kernel = t.resolve(KERNEL),
      transport = t.resolve(TRANSPORT),
      exit = t.resolve(EXIT),
      stub = t.resolve(STUB);
    await t.stages(fw.powerOn(), stub.operator(), judgeBoot(), kernel.boot(), transport.prepare(), kernel.workload());
    await t.stages(kernel.panic(), transport.persist(), exit.leave(), fw.resetAndPost(), stub.operator(), judgeBoot());
    const slot = hex(t.ctx.state.kernel!.handoffSlot);
    expect(t.ctx.state.stub).toMatchObject({
      crashedBoot: true,
      detector: 'any-of',
      reason: `transport-discovery/raw-page record at ${slot}`,
    });

    // A built-in transport a member reads (fdt: reserved-memory-magic) is not asked twice.
    const fdt = createTestRun({
      container: transportOnly,
      design: testDesign({ components: { transport: 'fdt', detector: 'any-of' } }),
      slots: ['firmware', 'retention', 'kernel', 'transport', 'exit', 'detector'],
    });
    expect((fdt.resolve(DETECTOR) as AnyOfDetector).members().map((d) => d.name)).not.toContain('transport-discovery');
  });

  it('a transport-specific detector whose transports no loaded package registers says so (any-of without the built-in transports)', () => {
    const bare = pluginContainer(registerFirmware, registerKernel, registerVmcore, register, rawPage);
    const t = createTestRun({
      container: bare,
      design: testDesign({ components: { transport: 'raw-page', detector: 'any-of' } }),
      slots: ['firmware', 'retention', 'kernel', 'transport', 'exit', 'detector'],
    });
    const members = new Map((t.resolve(DETECTOR) as AnyOfDetector).members().map((d) => [d.name, d]));
    expect(members.get('efi-variable-flag')!.detect(t.ctx)).toEqual({
      crashed: false,
      reason: 'the efi-variable transport is not loaded (no plug-in package registers it)',
    });
    expect(members.get('reserved-memory-magic')!.detect(t.ctx)).toEqual({
      crashed: false,
      reason: 'the reserved-memory and fdt transports are not loaded (no plug-in package registers them)',
    });
  });
});
