import { PAGE_KINDS, type PageKindMix } from '../memory/page-kinds';
import { DEVICE_KINDS, IOMMU_MODES, type DeviceKind, type DeviceSpec, type IommuMode } from '../machine/device-specs';
import { OUTCOMES, type Outcome } from '../context';
import { NAME, Reader } from './json';
import { MAX_CPUS, MAX_RAM, MIN_RAM } from './run-options';
import { readFirmwareFields, type FirmwareOverrides } from './firmware-profile';

/** A scenario: the machine, the workload and (later) the faults. */
export interface Scenario {
  format: 'efikdump-scenario/1';
  name: string;
  description: string;
  machine: { ramBytes: number; cpus: number; pageMix: PageKindMix; iommu: IommuMode; devices: DeviceSpec[] };
  workload: { pageWrites: number };
  /** Replaces the `crashkernel=` of the design's command line (a reservation that is too small, say). */
  kernel?: { crashkernel: string };
  /**
   * Faults after the panic: the capture kernel panics too, with this probability per capture boot;
   * the handoff record is damaged between the panic and the stub (a torn write, a device's DMA).
   */
  faults?: { capturePanicRate: number; handoffRecord?: HandoffRecordFault };
  /** Root in the 1st kernel forges a crash marker (with a key it made up, one it stole, or a record of an earlier crash) and reboots without a panic. */
  attack?: { crashMarker: CrashMarkerAttack };
  /** The trigger plug-in that starts the crash path (default: `panic`, or the attack's marker trigger; `triggerNameOf`). */
  trigger?: string;
  /** The 1st kernel's platform security: what root may read and write (docs/threat-model.md). Default: no Secure Boot, no lockdown. */
  security?: { secureBoot: boolean; lockdown: Lockdown };
  /** Fields of the design's firmware profile this scenario replaces, and the firmware faults it injects. */
  firmware?: FirmwareOverrides;
  /** The outcomes that count as success for this scenario (default SUCCESS_DEFAULT: a dump, complete or with every loss declared). */
  success?: Outcome[];
  /** Failures this scenario expects of some designs (no dump is possible): shown as "expected", not as a loss. */
  expected?: ExpectedFailure[];
  /** The offline-crash-dump set-up this machine has instead of the design's (firmware-writes-dump designs read it; others ignore it). */
  offlineDump?: OfflineDumpSetup;
  source: string;
}

/** What an OffCD certificate variable holds when a scenario replaces it: bytes that are no X.509 certificate, a certificate whose key is not RSA, or nothing. */
export const OFFLINE_DUMP_CERTIFICATES = ['not-x509', 'not-rsa', 'missing'] as const;
export type OfflineDumpCertificate = (typeof OFFLINE_DUMP_CERTIFICATES)[number];

/**
 * A scenario's offline-crash-dump set-up: the disk's dump partition (`none`: the disk has no
 * partition of the dump type; a size: the partition is this big instead of RAM + 64 MiB), and what
 * the OS wrote into OfflineMemoryDumpEncryptionAlgorithm and …EncryptionPublicKey instead of the
 * design's values.
 */
export interface OfflineDumpSetup {
  partition?: 'none' | number;
  encryptionAlgorithm?: number;
  certificate?: OfflineDumpCertificate;
}

/** How root forges a crash marker: a key it made up, the key it read out of kernel memory, or a genuine record of an earlier crash written back. */
export const CRASH_MARKER_ATTACKS = ['forged', 'stolen-key', 'replayed'] as const;
export type CrashMarkerAttack = (typeof CRASH_MARKER_ATTACKS)[number];

/** The trigger a scenario runs: its `trigger`, else the trigger of its crash-marker attack (`forged-marker`, `stolen-key-marker`, `replayed-marker`), else `panic`. */
export function triggerNameOf(s: Pick<Scenario, 'trigger' | 'attack'>): string {
  if (s.trigger) return s.trigger;
  return s.attack ? `${s.attack.crashMarker}-marker` : 'panic';
}
/** How a genuine crash's handoff record is damaged: its panic-time write torn at the reset, or a device's DMA over it during the reset. */
export const HANDOFF_RECORD_FAULTS = ['torn-write', 'dma-during-reset'] as const;
export type HandoffRecordFault = (typeof HANDOFF_RECORD_FAULTS)[number];
/** Linux kernel lockdown (security/lockdown): `integrity` closes /dev/mem writes and unsigned code; `confidentiality` also closes reads of kernel memory (/proc/kcore, BPF, kprobes). */
export const LOCKDOWN_MODES = ['none', 'integrity', 'confidentiality'] as const;
export type Lockdown = (typeof LOCKDOWN_MODES)[number];

/** What a scenario counts as success when it does not say: a dump, complete or partial with every loss declared. */
export const SUCCESS_DEFAULT: readonly Outcome[] = ['dump-complete', 'dump-partial'];

/** A failure the scenario expects of the designs `when` selects (by exit or transport plug-in name), with the reason. */
export interface ExpectedFailure {
  when: { exit?: string[]; transport?: string[] };
  outcomes: Outcome[];
  why: string;
}

/** Whether root can read the boot secret out of kernel memory: yes, unless Secure Boot (no unsigned kernel or module) and lockdown=confidentiality. */
export function bootSecretReadable(s: Pick<Scenario, 'security'>): boolean {
  const sec = s.security ?? { secureBoot: false, lockdown: 'none' };
  return !(sec.secureBoot && sec.lockdown === 'confidentiality');
}

export function parseScenario(doc: unknown, source: string): Scenario {
  const r = new Reader(source);
  const d = r.object(doc, '(document)');
  r.only(d, '', [
    'format',
    'name',
    'description',
    'machine',
    'workload',
    'firmware',
    'kernel',
    'faults',
    'attack',
    'trigger',
    'security',
    'success',
    'expected',
    'offlineDump',
  ]);
  if (d.format !== 'efikdump-scenario/1') r.fail('format', '"efikdump-scenario/1"', d.format);
  const name = r.string(d, 'name', 'name');
  if (!NAME.test(name)) r.fail('name', 'a kebab-case name', name);
  const description = r.string(d, 'description', 'description');
  const m = r.object(d.machine ?? {}, 'machine');
  r.only(m, 'machine', ['memory', 'cpus', 'pageMix', 'iommu', 'devices']);
  const ramBytes = r.size(m, 'memory', 'machine.memory', MIN_RAM, MAX_RAM, 4 * 1024 ** 3);
  const cpus = r.integer(m, 'cpus', 'machine.cpus', 1, MAX_CPUS, 4);
  const mixObj = r.object(m.pageMix ?? {}, 'machine.pageMix');
  r.only(mixObj, 'machine.pageMix', PAGE_KINDS);
  const pageMix: PageKindMix = {};
  for (const k of PAGE_KINDS) {
    const v = mixObj[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) r.fail(`machine.pageMix.${k}`, 'a proportion from 0 to 1', v);
    pageMix[k] = v as number;
  }
  const iommu = m.iommu ?? 'translated';
  if (typeof iommu !== 'string' || !(IOMMU_MODES as readonly string[]).includes(iommu))
    r.fail('machine.iommu', `one of ${IOMMU_MODES.map((x) => JSON.stringify(x)).join(', ')}`, iommu);
  const devices = readDevices(r, m.devices ?? [], 'machine.devices');
  const w = r.object(d.workload ?? {}, 'workload');
  r.only(w, 'workload', ['pageWrites']);
  const pageWrites = r.integer(w, 'pageWrites', 'workload.pageWrites', 0, 1_000_000, 256);
  const scenario: Scenario = {
    format: 'efikdump-scenario/1',
    name,
    description,
    machine: { ramBytes, cpus, pageMix, iommu: iommu as IommuMode, devices },
    workload: { pageWrites },
    source,
  };
  if (d.kernel !== undefined) {
    const k = r.object(d.kernel, 'kernel');
    r.only(k, 'kernel', ['crashkernel']);
    const ck = r.string(k, 'crashkernel', 'kernel.crashkernel');
    if (/\s/.test(ck)) r.fail('kernel.crashkernel', 'a crashkernel= value without spaces, such as "96M"', ck);
    scenario.kernel = { crashkernel: ck };
  }
  if (d.faults !== undefined) {
    const f = r.object(d.faults, 'faults');
    r.only(f, 'faults', ['capturePanicRate', 'handoffRecord']);
    scenario.faults = { capturePanicRate: r.rate(f, 'capturePanicRate', 'faults.capturePanicRate', 0) };
    if (f.handoffRecord !== undefined)
      scenario.faults.handoffRecord = r.oneOf(f.handoffRecord, 'faults.handoffRecord', HANDOFF_RECORD_FAULTS);
  }
  if (d.attack !== undefined) {
    const a = r.object(d.attack, 'attack');
    r.only(a, 'attack', ['crashMarker']);
    scenario.attack = { crashMarker: r.oneOf(a.crashMarker, 'attack.crashMarker', CRASH_MARKER_ATTACKS) };
  }
  if (d.trigger !== undefined) {
    if (typeof d.trigger !== 'string' || !NAME.test(d.trigger)) r.fail('trigger', 'a kebab-case trigger plug-in name', d.trigger);
    if (scenario.attack) r.fail('trigger', 'no trigger beside attack (an attack names its own trigger)', d.trigger);
    scenario.trigger = d.trigger as string;
  }
  if (d.security !== undefined) {
    const sec = r.object(d.security, 'security');
    r.only(sec, 'security', ['secureBoot', 'lockdown']);
    scenario.security = {
      secureBoot: r.boolean(sec, 'secureBoot', 'security.secureBoot', false),
      lockdown: sec.lockdown === undefined ? 'none' : r.oneOf(sec.lockdown, 'security.lockdown', LOCKDOWN_MODES),
    };
  }
  if (d.success !== undefined) scenario.success = readOutcomes(r, d.success, 'success');
  if (d.expected !== undefined) {
    if (!Array.isArray(d.expected) || d.expected.length > 64) r.fail('expected', 'a list of expected failures', d.expected);
    scenario.expected = (d.expected as unknown[]).map((item, i) => {
      const f = `expected[${i}]`;
      const o = r.object(item, f);
      r.only(o, f, ['when', 'outcomes', 'why']);
      const w = r.object(o.when, `${f}.when`);
      r.only(w, `${f}.when`, ['exit', 'transport']);
      const when: ExpectedFailure['when'] = {};
      for (const k of ['exit', 'transport'] as const) {
        if (w[k] === undefined) continue;
        const names = w[k];
        if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string' || !NAME.test(n)))
          r.fail(`${f}.when.${k}`, 'a non-empty list of plug-in names', names);
        when[k] = [...(names as string[])];
      }
      if (!when.exit && !when.transport) r.fail(`${f}.when`, 'exit or transport: which designs the failure is expected of', w);
      const outcomes = readOutcomes(r, o.outcomes, `${f}.outcomes`);
      const success = scenario.success ?? SUCCESS_DEFAULT;
      const clash = outcomes.find((x) => success.includes(x));
      if (clash) r.fail(`${f}.outcomes`, 'outcomes that are not also success', clash);
      return { when, outcomes, why: r.string(o, 'why', `${f}.why`) };
    });
  }
  if (d.firmware !== undefined)
    scenario.firmware = readFirmwareFields(r, r.object(d.firmware, 'firmware'), 'firmware', 'overrides') as FirmwareOverrides;
  if (d.offlineDump !== undefined) {
    const o = r.object(d.offlineDump, 'offlineDump');
    r.only(o, 'offlineDump', ['partition', 'encryptionAlgorithm', 'certificate']);
    const setup: OfflineDumpSetup = {};
    if (o.partition === 'none') setup.partition = 'none';
    else if (o.partition !== undefined) setup.partition = r.size(o, 'partition', 'offlineDump.partition', 0, MAX_RAM * 2, 0);
    if (o.encryptionAlgorithm !== undefined)
      setup.encryptionAlgorithm = r.integer(o, 'encryptionAlgorithm', 'offlineDump.encryptionAlgorithm', 0, 0xffffffff, 0);
    if (o.certificate !== undefined) setup.certificate = r.oneOf(o.certificate, 'offlineDump.certificate', OFFLINE_DUMP_CERTIFICATES);
    scenario.offlineDump = setup;
  }
  return scenario;
}

function readOutcomes(r: Reader, v: unknown, field: string): Outcome[] {
  if (!Array.isArray(v) || v.length === 0) r.fail(field, `a non-empty list of outcomes (${OUTCOMES.join(', ')})`, v);
  const list = v as unknown[];
  list.forEach((o, i) => r.oneOf(o, `${field}[${i}]`, OUTCOMES));
  return [...new Set(list as Outcome[])];
}

/** The defaults of a device a scenario names by kind: what its driver sets up and how it behaves. */
const DEVICE_DEFAULTS: Record<DeviceKind, Omit<DeviceSpec, 'name' | 'kind'>> = {
  nic: {
    inflightRate: 0,
    bufferPages: 256,
    dmaPagesPerSecond: 20000,
    iovaSpanBytes: 2 ** 30,
    warmReset: true,
    captureDriver: true,
    probeResetFailRate: 0,
  },
  nvme: {
    inflightRate: 0,
    bufferPages: 64,
    dmaPagesPerSecond: 50000,
    iovaSpanBytes: 256 * 2 ** 20,
    warmReset: true,
    captureDriver: true,
    probeResetFailRate: 0,
  },
  gpu: {
    inflightRate: 0,
    bufferPages: 512,
    dmaPagesPerSecond: 15000,
    iovaSpanBytes: 2 ** 31,
    warmReset: true,
    captureDriver: false,
    probeResetFailRate: 0,
  },
  hba: {
    inflightRate: 0,
    bufferPages: 128,
    dmaPagesPerSecond: 30000,
    iovaSpanBytes: 512 * 2 ** 20,
    warmReset: true,
    captureDriver: true,
    probeResetFailRate: 0,
  },
};

function readDevices(r: Reader, v: unknown, field: string): DeviceSpec[] {
  if (!Array.isArray(v)) r.fail(field, 'a list of devices', v);
  const list = v as unknown[];
  if (list.length > 64) r.fail(field, 'at most 64 devices', list.length);
  const names = new Set<string>();
  return list.map((item, i) => {
    const f = `${field}[${i}]`;
    const o = r.object(item, f);
    r.only(o, f, [
      'name',
      'kind',
      'inflightRate',
      'bufferPages',
      'dmaPagesPerSecond',
      'iovaSpan',
      'warmReset',
      'captureDriver',
      'probeResetFailRate',
    ]);
    const name = r.string(o, 'name', `${f}.name`);
    if (!NAME.test(name)) r.fail(`${f}.name`, 'a kebab-case device name', name);
    if (names.has(name)) r.fail(`${f}.name`, 'a name no other device has', name);
    names.add(name);
    const kind = o.kind;
    if (typeof kind !== 'string' || !(DEVICE_KINDS as readonly string[]).includes(kind))
      r.fail(`${f}.kind`, `one of ${DEVICE_KINDS.map((x) => JSON.stringify(x)).join(', ')}`, kind);
    const dflt = DEVICE_DEFAULTS[kind as DeviceKind];
    const spec: DeviceSpec = {
      name,
      kind: kind as DeviceKind,
      inflightRate: r.rate(o, 'inflightRate', `${f}.inflightRate`, dflt.inflightRate),
      bufferPages: r.integer(o, 'bufferPages', `${f}.bufferPages`, 1, 65536, dflt.bufferPages),
      dmaPagesPerSecond: r.integer(o, 'dmaPagesPerSecond', `${f}.dmaPagesPerSecond`, 0, 10_000_000, dflt.dmaPagesPerSecond),
      iovaSpanBytes: r.size(o, 'iovaSpan', `${f}.iovaSpan`, 4096, 2 ** 32, dflt.iovaSpanBytes),
      warmReset: r.boolean(o, 'warmReset', `${f}.warmReset`, dflt.warmReset),
      captureDriver: r.boolean(o, 'captureDriver', `${f}.captureDriver`, dflt.captureDriver),
      probeResetFailRate: r.rate(o, 'probeResetFailRate', `${f}.probeResetFailRate`, dflt.probeResetFailRate),
    };
    if (spec.iovaSpanBytes < spec.bufferPages * 4096)
      r.fail(
        `${f}.iovaSpan`,
        `at least bufferPages × 4 KiB (${spec.bufferPages * 4096} bytes): one IOVA per buffer page`,
        o.iovaSpan ?? spec.iovaSpanBytes,
      );
    return spec;
  });
}
