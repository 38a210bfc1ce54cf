import { inject, injectable, injectAll, type DependencyContainer } from 'tsyringe';
import {
  applyFirmwareOverrides,
  COMPONENT_OPTIONS,
  defineOptions,
  hashString,
  intersectRanges,
  recordCaptureConsole,
  resolveComponent,
  mergeRanges,
  ms,
  RETENTION,
  RUN_CONTAINER,
  Rng,
  SimulationError,
  stage,
  formatDuration,
  totalSize,
  EFI_VARIABLE as A,
  PAGE_SIZE,
  type Firmware,
  type FirmwareProfile,
  type FirmwareState,
  type ResetData,
  type ResetReason,
  type RetentionMapEntry,
  type OptionsOf,
  type RetentionPolicy,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { buildAcpiTables, bootErrorEntries } from './acpi/acpi-tables';
import { createFirmwareState, firmwareReport } from './firmware-state';
import { platformRam, profileMemoryMap } from './memory-map/platform-memory-map';
import { resolveScratchRanges } from './retention/firmware-scratch.retention';
import { DEFAULT_FIRMWARE_PROFILE, loadFirmwareProfile } from './profiles/firmware-profiles';
import { encodeResetData } from './reset/reset-data.codec';
import { publishOfflineDumpRecord, runFirmwareDumpWriter } from './offline-dump/firmware-dump-writer';
import { offlineDumpConfiguration } from './offline-dump/offline-dump.writer';
import { firmwareState, runtimeLockBusy, UefiFirmwareServices } from './uefi-services';
import { VariableStore } from './variables/variable-store';
import { MEMORY_OVERWRITE_CONTROL_GUID, MOR_CLEAR_MEMORY, MOR_NAME, MTC_VENDOR_GUID } from './variables/well-known';

/** The profile a run uses: the design's (or the default), with the scenario's fields over it. */
export function runProfile(ctx: Pick<RunContext, 'design' | 'scenario'>): FirmwareProfile {
  const name = ctx.design.firmware?.profile ?? DEFAULT_FIRMWARE_PROFILE;
  const base = loadFirmwareProfile(name, { file: ctx.design.source, field: 'firmware.profile' });
  return applyFirmwareOverrides(base, ctx.scenario);
}

/**
 * The `uefi` firmware's options. `offlineDumpDeclares`: what its offline crash dump writer (OffCD,
 * the firmware-writes-dump designs) leaves out of the dump and declares lost — only its own live
 * allocations at the writer (what a DXE driver can know from the memory map; OffCD as published),
 * or those and the ranges the profile predicts POST writes (a vendor that measured its own
 * firmware's footprint, as `kdump.declareLoss: measured` does for the RFD designs).
 */
export const UEFI_FIRMWARE_OPTIONS = defineOptions({
  offlineDumpDeclares: {
    type: 'enum',
    values: ['own-allocations', 'own-allocations-and-measured'],
    default: 'own-allocations',
    description:
      "what the offline crash dump writer declares lost: its live allocations, or those and the profile's measured POST footprint",
  },
});
export type UefiFirmwareOptions = OptionsOf<typeof UEFI_FIRMWARE_OPTIONS>;
const DEFAULT_UEFI_FIRMWARE_OPTIONS: UefiFirmwareOptions = { offlineDumpDeclares: 'own-allocations' };

/** A uniform draw from the profile's [min, max] ms range, seeded by the run and the boot. */
function postDurationUs(ctx: RunContext, range: [number, number], boot: number): number {
  const rng = new Rng(ctx.seed, hashString('firmware:post'), boot);
  return Math.round((range[0] + rng.next() * (range[1] - range[0])) * 1000);
}

const NV_BS_RT = A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS;

/** Policies that wipe all RAM on purpose, and how a run names that. */
const SCRUBBING_POLICIES: Record<string, string> = {
  mor: 'MOR ClearMemory was set',
  'ecc-reinit': 'ECC initialisation writes all RAM',
  'scrub-all': 'the firmware clears all RAM',
};

/**
 * A UEFI platform: builds the machine's memory map, runs POST (timed by the profile), keeps the
 * variable store and the ERST store across resets, applies the design's retention policies on a
 * reset, publishes ACPI tables (RSDP → XSDT → SPCR/BERT/ERST) in memory, brings up the consoles,
 * and starts the OS loader (the kernel's EFI stub). Other packages reach its variables and ACPI
 * through FIRMWARE_SERVICES.
 */
@injectable()
export class UefiFirmware implements Firmware {
  readonly services = new UefiFirmwareServices();

  /** The retention policies the profile lists that the design does not name, resolved at power-on. */
  private platform: RetentionPolicy[] = [];

  /**
   * `retention`: the design's policies, in its order. `run`: the run's container, where the
   * profile's policies are resolved from the plug-in catalog like the design's. `options`: the
   * component's options (UEFI_FIRMWARE_OPTIONS).
   */
  constructor(
    @injectAll(RETENTION) private readonly retention: RetentionPolicy[],
    @inject(RUN_CONTAINER) private readonly run?: DependencyContainer,
    @inject(COMPONENT_OPTIONS) private readonly options: UefiFirmwareOptions = DEFAULT_UEFI_FIRMWARE_OPTIONS,
  ) {}

  ramLayout(ramBytes: number) {
    return platformRam(ramBytes);
  }

  powerOn(): StageOperator {
    return stage('power-on', (ctx) => {
      const profile = runProfile(ctx);
      const fw = createFirmwareState(profile, ctx.scenario.firmware?.faults ?? [], (state) => this.finish(ctx, state));
      ctx.state.firmware = fw;
      this.platform = this.platformPolicies(ctx, profile);
      fw.retentionPolicies = [
        ...this.retention.map((p) => ({ policy: p.name, from: 'design' as const })),
        ...this.platform.map((p) => ({ policy: p.name, from: 'profile' as const })),
      ];
      const postUs = postDurationUs(ctx, profile.postColdMs, 1);
      ctx.clock.advance(postUs);
      ctx.metrics.firmwareProfile = profile.name;
      ctx.metrics.firmwareModelled = profile.retention === 'modelled';
      // Every run reports these, 0 until a reset and a dump say otherwise.
      ctx.metrics.firmwarePagesChanged = 0;
      ctx.metrics.pagesDeclaredLost = 0;
      publishOfflineDumpRecord(ctx, offlineDumpConfiguration(false, {}, undefined));
      const map = profileMemoryMap(profile, ctx.machine.ramBytes);
      fw.postPrediction = mergeRanges(
        resolveScratchRanges(profile.scratch, map, ctx.machine.memory.ram, ctx.machine.ramBytes, 'warm').flatMap((r) => r.ranges),
      );
      ctx.log.emit('power-on', 'info', `firmware profile ${profile.name}: cold POST ${formatDuration(postUs)}`);
      this.bootServicesPhase(ctx, fw);
      this.enterOsLoader(ctx, 'cold boot');
    });
  }

  resetSystem(ctx: RunContext, type: 'warm' | 'cold' | 'shutdown' | 'platform-specific', data?: string | ResetData): void {
    const fw = firmwareState(ctx);
    const resetData: ResetData | undefined = typeof data === 'string' ? { reason: data } : data;
    if (runtimeLockBusy(ctx)) {
      // virt_efi_reset_system takes the runtime lock by trylock; Linux then falls back to the next
      // reboot method (arch/x86/kernel/reboot.c), the keyboard controller: a warm platform reset
      // without ResetData (on OVMF the same port 0x64 reset, domain reference §5.5) [analysis].
      ctx.log.emit('exit', 'warn', 'efi: could not get exclusive access to the firmware; rebooting through the keyboard controller');
      ctx.state.reset = { type: 'warm' };
      fw.resets.push({
        type: 'warm',
        effective: fw.powerLost ? 'cold' : 'warm',
        reason: 'keyboard-controller reset (EFI runtime lock busy)',
      });
      return;
    }
    let effective: ResetReason['effective'] =
      type === 'warm' ? fw.profile.warmReset : type === 'platform-specific' ? fw.profile.platformSpecificReset : type;
    if (fw.powerLost && effective !== 'shutdown') effective = 'cold';
    const reason: ResetReason = { type, effective };
    if (resetData) {
      reason.reason = resetData.reason;
      if (resetData.guid) reason.guid = resetData.guid;
      reason.dataHex = Buffer.from(encodeResetData(type === 'platform-specific' ? resetData : { reason: resetData.reason })).toString(
        'hex',
      );
    }
    fw.resets.push(reason);
    ctx.state.reset = resetData ? { type, data: resetData.reason } : { type };
    const name = {
      warm: 'EfiResetWarm',
      cold: 'EfiResetCold',
      shutdown: 'EfiResetShutdown',
      'platform-specific': 'EfiResetPlatformSpecific',
    }[type];
    const becomes = effective !== type ? ` (the platform does a ${effective} reset)` : '';
    ctx.log.emit('exit', 'info', `ResetSystem(${name}${resetData ? `, "${resetData.reason}"` : ''})${becomes}`);
  }

  /**
   * The hardware watchdog (Intel TCO, iTCO_wdt) expired: the platform resets without any OS call.
   * [assumption] A warm platform reset (RAM kept, as the keyboard-controller reset), and the
   * firmware knows it was the watchdog from the TCO status register (SECOND_TO_STS).
   */
  watchdogReset(ctx: RunContext): void {
    const fw = firmwareState(ctx);
    const effective = fw.powerLost ? 'cold' : fw.profile.warmReset;
    fw.resets.push({ type: 'warm', effective, reason: 'watchdog timeout (TCO)', watchdog: true });
    ctx.state.reset = { type: 'warm' };
    ctx.log.emit('exit', 'warn', `the hardware watchdog expired: platform ${effective} reset, no ResetData`);
  }

  resetAndPost(): StageOperator {
    return stage('firmware-post', (ctx) => {
      const reset = ctx.state.reset;
      if (!reset) throw new SimulationError('POST after a reset that was never requested');
      const fw = firmwareState(ctx);
      const pending = fw.resets[fw.resets.length - 1] ?? {
        type: reset.type,
        effective: reset.type === 'platform-specific' ? fw.profile.platformSpecificReset : reset.type,
      };
      if (pending.effective === 'shutdown') {
        ctx.outcome = { outcome: 'no-dump', reason: 'the machine was shut down' };
        return;
      }
      const kind = pending.effective;
      const preserving = reset.memoryPreserving === true;
      // Platform reset: the devices that follow it are reset and their DMA stops (PERST#); a cold
      // reset (and fadump's, which resets PCI) resets all. Volatile variables and the runtime state are gone.
      ctx.clock.advance(ms(fw.profile.deviceResetMs));
      ctx.state.devices?.reset(ctx, kind === 'cold' || preserving ? 'cold-reset' : 'warm-reset');
      ctx.log.emit('firmware-post', 'info', 'devices reset');
      fw.nvram.volatile = [];
      fw.atRuntime = false;
      fw.runtimeLockBusy = false;
      fw.powerLost = false;
      if (kind === 'cold' && fw.profile.coldPowerOffMs > 0) ctx.clock.advance(ms(fw.profile.coldPowerOffMs));

      const boot = ctx.state.bootCount + 1;
      const entries: RetentionMapEntry[] = [];
      for (const policy of this.policiesFor(preserving)) {
        const report = policy.apply(ctx, kind);
        const entry: RetentionMapEntry = {
          policy: report.policy,
          reset: kind,
          boot,
          changedPages: report.changedPages,
          changedRanges: report.changedRanges.map((r) => [r.start, r.end] as [number, number]),
        };
        if (report.note) entry.note = report.note;
        entries.push(entry);
        ctx.log.emit(
          'firmware-post',
          'info',
          `retention ${report.policy}: ${report.changedPages} pages changed${report.note ? ` (${report.note})` : ''}`,
        );
        const why = SCRUBBING_POLICIES[report.policy];
        if (why && report.changedPages > 0 && !ctx.state.scrubbed) ctx.state.scrubbed = { policy: report.policy, boot, why };
      }
      fw.retention.push(...entries);
      const union = mergeRanges(entries.flatMap((e) => e.changedRanges.map(([start, end]) => ({ start, end }))));
      ctx.metrics.retentionChangedPages = totalSize(union) / PAGE_SIZE;
      // Of those, the crashed kernel's RAM (what a dump stands for) that POST's own writes changed.
      const posted = mergeRanges(
        entries.filter((e) => e.policy === 'firmware-scratch').flatMap((e) => e.changedRanges.map(([start, end]) => ({ start, end }))),
      );
      ctx.metrics.firmwarePagesChanged =
        totalSize(intersectRanges(posted, ctx.state.kernel?.systemRam ?? ctx.machine.memory.ram)) / PAGE_SIZE;
      ctx.metrics.retentionChangedRanges = union.length;
      ctx.metrics.resetType = kind;

      const postUs = postDurationUs(ctx, kind === 'warm' ? fw.profile.postWarmMs : fw.profile.postColdMs, boot);
      // A device the reset did not reach goes on with its DMA, and the IOMMU is in its reset state: no translation.
      ctx.state.devices?.runDma(ctx, postUs, 'none', 'during POST, after the reset');
      ctx.clock.advance(postUs);
      ctx.metrics.postUs = postUs;
      ctx.log.emit('firmware-post', 'info', `${kind} POST ${formatDuration(postUs)}`);
      // DXE's offline crash dump writer (OffCD), before BDS loads any OS: RAM as POST has left it so far.
      runFirmwareDumpWriter(
        ctx,
        fw,
        pending,
        boot,
        entries,
        profileMemoryMap(fw.profile, ctx.machine.ramBytes),
        this.options.offlineDumpDeclares,
      );
      // The firmware keeps ResetData for the next boot only where the profile says it does (OVMF ignores it).
      fw.resetReason = fw.profile.resetDataKept ? pending : undefined;
      this.bootServicesPhase(ctx, fw);
      // GOP is re-initialised after POST: the screen shows the next kernel where the platform has one.
      recordCaptureConsole(ctx, fw.profile.gop);
      this.enterOsLoader(ctx, `${kind} reset`);
    });
  }

  /**
   * The retention policies of a reset: the design's, then those the profile's `platformRetention`
   * lists that the design did not name — what the platform does to RAM (MOR, POST's writes, ECC
   * initialisation, decay, as the profile and the scenario's overrides of it say), whatever the
   * design assumes. A fadump reboot preserves RAM: only the design's policies apply.
   */
  private policiesFor(memoryPreserving: boolean): RetentionPolicy[] {
    return memoryPreserving ? this.retention : [...this.retention, ...this.platform];
  }

  /**
   * The profile's policies the design does not name, resolved from the plug-in catalog with their
   * options; an unknown name or a bad option names the profile file (or the scenario that
   * overrode the list) and the field.
   */
  private platformPolicies(ctx: RunContext, profile: FirmwareProfile): RetentionPolicy[] {
    const named = new Set(this.retention.map((p) => p.name));
    const listed = profile.platformRetention.filter((p) => !named.has(p.name));
    if (!listed.length) return [];
    if (!this.run)
      throw new SimulationError(
        "the uefi firmware was built without its run container: it cannot resolve the profile's platformRetention policies",
      );
    const fromScenario = ctx.scenario.firmware?.platformRetention !== undefined;
    const file = fromScenario ? ctx.scenario.source : profile.source;
    const field = fromScenario ? 'firmware.platformRetention' : 'platformRetention';
    return listed.map((p) =>
      resolveComponent<RetentionPolicy>(this.run!, 'retention', {
        name: p.name,
        ...(p.options ? { options: p.options } : {}),
        file,
        field: `${field}[${profile.platformRetention.indexOf(p)}]`,
      }),
    );
  }

  /**
   * What DXE and BDS do on every boot before the OS loader: reclaim a store that is low on space
   * (edk2 ReclaimForOS), clear MOR's ClearMemory once memory was wiped (TcgMor at ReadyToBoot),
   * bump the monotonic counter (an NV write per boot), and install the ACPI tables.
   */
  private bootServicesPhase(ctx: RunContext, fw: FirmwareState): void {
    const store = new VariableStore(fw.nvram, fw.profile);
    const u = store.usage();
    const low =
      store.commonSpace - u.common < fw.profile.maxVariableBytes ||
      (store.hwErrSpace > 0 && store.hwErrSpace - u.hwErr < fw.profile.maxHwErrVariableBytes);
    if (low && store.reclaimableBytes() > 0) {
      const us = store.reclaim();
      ctx.clock.advance(us);
      ctx.log.emit(
        ctx.state.bootCount === 0 ? 'power-on' : 'firmware-post',
        'info',
        `variable store reclaimed at boot (${formatDuration(Math.round(us))})`,
      );
    }
    const mor = store.find(MOR_NAME, MEMORY_OVERWRITE_CONTROL_GUID);
    if (mor && mor.record.data[0] & MOR_CLEAR_MEMORY)
      ctx.clock.advance(
        store.set(MOR_NAME, MEMORY_OVERWRITE_CONTROL_GUID, mor.record.attributes, Uint8Array.of(mor.record.data[0] & ~MOR_CLEAR_MEMORY), {
          atRuntime: false,
        }).costUs,
      );
    const mtc = store.find('MTC', MTC_VENDOR_GUID);
    if (mtc) {
      const next = new Uint8Array(4);
      new DataView(next.buffer).setUint32(
        0,
        (new DataView(mtc.record.data.buffer, mtc.record.data.byteOffset).getUint32(0, true) + 1) >>> 0,
        true,
      );
      ctx.clock.advance(store.set('MTC', MTC_VENDOR_GUID, mtc.record.attributes, next, { atRuntime: false }).costUs);
    }
    const map = profileMemoryMap(fw.profile, ctx.machine.ramBytes);
    const acpi = buildAcpiTables(fw.profile, map, bootErrorEntries(fw.profile, fw.bootErrors, fw.erst));
    fw.bootErrors = [];
    for (const t of acpi.tables) ctx.machine.memory.write(t.paddr, t.bytes);
    if (fw.profile.bert) ctx.machine.memory.write(acpi.bootErrorRegion.paddr, acpi.bootErrorRegion.bytes);
    fw.acpi = { rsdp: acpi.rsdp, tables: acpi.tables.map((t) => ({ signature: t.signature, paddr: t.paddr, length: t.bytes.length })) };
    if (acpi.droppedBootErrors) ctx.log.emit('firmware', 'warn', `${acpi.droppedBootErrors} boot errors did not fit the BERT region`);
  }

  private enterOsLoader(ctx: RunContext, why: string): void {
    const fw = firmwareState(ctx);
    ctx.state.memoryMap = profileMemoryMap(fw.profile, ctx.machine.ramBytes);
    ctx.state.bootCount++;
    ctx.log.emit(
      ctx.state.bootCount === 1 ? 'power-on' : 'firmware-post',
      'info',
      `POST done after ${why}; boot #${ctx.state.bootCount} loads the kernel's EFI stub`,
    );
    if (fw.profile.mor === 'set-by-os') {
      // Linux CONFIG_RESET_ATTACK_MITIGATION: the stub sets ClearMemory on every boot (domain reference §5.8).
      const r = this.services.variables.setVariable(
        ctx,
        MOR_NAME,
        MEMORY_OVERWRITE_CONTROL_GUID,
        NV_BS_RT,
        Uint8Array.of(MOR_CLEAR_MEMORY),
      );
      ctx.log.emit(
        ctx.state.bootCount === 1 ? 'power-on' : 'firmware-post',
        'info',
        `the EFI stub sets MemoryOverwriteRequestControl.ClearMemory (${r.status})`,
      );
    }
  }

  /** Final NVRAM and ERST counters into the metrics, and the report for the result. */
  private finish(ctx: RunContext, fw: FirmwareState) {
    const report = firmwareReport(fw);
    ctx.metrics.nvramBytesWritten = report.nvram.bytesWritten;
    ctx.metrics.nvramWrites = report.nvram.writes;
    ctx.metrics.nvramReclaims = report.nvram.reclaims;
    ctx.metrics.nvramEraseCount = report.nvram.eraseCounts.reduce((s, n) => s + n, 0);
    ctx.metrics.nvramMaxBlockErases = Math.max(0, ...report.nvram.eraseCounts);
    ctx.metrics.nvramUsedBytes = report.nvram.usedBytes;
    ctx.metrics.erstRecords = report.erst.records;
    if (fw.consoles.captureOutputSeen !== undefined) ctx.metrics.consoleSeen = fw.consoles.captureOutputSeen;
    return report;
  }
}
