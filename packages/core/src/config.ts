import { dirname, resolve as resolvePath } from 'node:path';
import type { PluginRef } from './plugin-loader';
import { ConfigError } from './errors';
import { MAX_JSON_BYTES, readRegularFile } from './io';
import { SLOTS, SLOT_KEYS, type SlotKey } from './contracts';
import { PAGE_KINDS, type PageKindMix } from './memory/page-kinds';
import { parseSize } from './units';
import { CAPTURE_IOMMU_CHOICES, DEVICE_KINDS, IOMMU_MODES, type CaptureIommuChoice, type DeviceKind, type DeviceSpec, type IommuMode } from './machine/devices';
import { OUTCOMES, type Outcome } from './context';

/** A design: which implementation fills each slot, and the 1st kernel's settings. */
export interface Design {
  format: 'efikdump-design/1';
  name: string;
  description: string;
  components: Record<SlotKey, string[]>;
  kernel: { cmdline: string };
  /** The firmware profile the design runs on (firmware-uefi's default when absent). */
  firmware?: { profile: string };
  /** What the capture kernel does with an IOMMU it finds enabled (kexec: no platform reset); default `copy-tables`, Linux's since 4.2. */
  capture?: { iommu: CaptureIommuChoice };
  /** How the crash-dump setup survives the firmware (absent: Linux today, `DEFAULT_KDUMP_OPTIONS`). */
  kdump?: KdumpOptions;
  /** Plug-in packages the design needs beyond the built-in ones, resolved from the design file's folder. */
  plugins?: PluginRef[];
  /** Where the design came from (for error messages). */
  source: string;
}

/** Where the crashkernel= reservation goes: memblock top-down (Linux today), `crashkernel=X@Y`, or top-down around the ranges the firmware profile predicts it overwrites. */
export const RESERVATION_CHOICES = ['top-down', 'fixed', 'avoid-measured'] as const;
/** Where kexec puts the elfcorehdr in the reservation: at its end (kexec-tools today) or right after the capture kernel image. */
export const ELFCOREHDR_CHOICES = ['reservation-end', 'after-capture-image'] as const;
/** What the capture needs from the crashed kernel's memory (VMCOREINFO) is copied where POST does not write: nowhere, or into the reservation. */
export const RESCUE_CHOICES = ['none', 'reservation'] as const;
/** Memory the 1st kernel never frees to its allocator: nothing, or the firmware's footprint (boot-services and loader memory, and what the profile predicts POST writes). */
export const QUARANTINE_CHOICES = ['none', 'firmware-footprint'] as const;
/** What the stub declares lost after the reset: nothing; this boot's firmware footprint (its memory map); the profile's measured prediction; or both. */
export const DECLARE_LOSS_CHOICES = ['none', 'footprint', 'measured', 'footprint-and-measured'] as const;

export interface KdumpOptions {
  reservation: (typeof RESERVATION_CHOICES)[number];
  elfcorehdr: (typeof ELFCOREHDR_CHOICES)[number];
  rescue: (typeof RESCUE_CHOICES)[number];
  quarantine: (typeof QUARANTINE_CHOICES)[number];
  declareLoss: (typeof DECLARE_LOSS_CHOICES)[number];
}

/** What a design that says nothing gets: Linux and kexec-tools as they are. */
export const DEFAULT_KDUMP_OPTIONS: Readonly<KdumpOptions> = { reservation: 'top-down', elfcorehdr: 'reservation-end', rescue: 'none', quarantine: 'none', declareLoss: 'none' };

/** The design's kdump options with the defaults filled in. */
export function kdumpOptionsOf(design: Pick<Design, 'kdump'>): KdumpOptions {
  return { ...DEFAULT_KDUMP_OPTIONS, ...(design.kdump ?? {}) };
}

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

type Obj = Record<string, unknown>;

class Reader {
  constructor(readonly file: string) {}

  fail(field: string, expected: string, found: unknown): never {
    const shown = found === undefined ? 'nothing' : JSON.stringify(found);
    throw new ConfigError(`expected ${expected}, found ${shown && shown.length > 60 ? shown.slice(0, 57) + '...' : shown}`, { file: this.file, field });
  }

  object(v: unknown, field: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'an object', v);
    return v as Obj;
  }

  only(o: Obj, field: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      const name = /^[A-Za-z0-9_-]+$/.test(k) ? k : `[${JSON.stringify(k)}]`;
      if (!allowed.includes(k)) this.fail(field ? `${field}.${name}` : name, `one of the fields ${allowed.join(', ')}`, k);
    }
  }

  string(o: Obj, key: string, field: string, fallback?: string): string {
    const v = o[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096) this.fail(field, 'a non-empty string', v);
    return v as string;
  }

  integer(o: Obj, key: string, field: string, min: number, max: number, fallback: number): number {
    const v = o[key];
    if (v === undefined) return fallback;
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) this.fail(field, `an integer from ${min} to ${max}`, v);
    return v as number;
  }

  rate(o: Obj, key: string, field: string, fallback: number): number {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) this.fail(field, 'a probability from 0 to 1', v);
    return v as number;
  }

  boolean(o: Obj, key: string, field: string, fallback: boolean): boolean {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(field, 'true or false', v);
    return v as boolean;
  }

  oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(field, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v);
    return v as T;
  }

  size(o: Obj, key: string, field: string, min: number, max: number, fallback: number): number {
    const v = o[key];
    if (v === undefined) return fallback;
    let bytes: number;
    try {
      bytes = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v, field) : NaN;
    } catch {
      return this.fail(field, 'a size such as "4GiB"', v);
    }
    if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max || bytes % 4096) this.fail(field, `a page-multiple size from ${min} to ${max} bytes`, v);
    return bytes;
  }
}

const NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
export const MIN_RAM = 256 * 1024 * 1024;
export const MAX_RAM = 64 * 1024 ** 4;
export const MAX_CPUS = 1024;

export function parseDesign(doc: unknown, source: string): Design {
  const r = new Reader(source);
  const d = r.object(doc, '(document)');
  r.only(d, '', ['format', 'name', 'description', 'plugins', 'components', 'kernel', 'firmware', 'capture', 'kdump']);
  if (d.format !== 'efikdump-design/1') r.fail('format', '"efikdump-design/1"', d.format);
  const name = r.string(d, 'name', 'name');
  if (!NAME.test(name)) r.fail('name', 'a kebab-case name', name);
  const description = r.string(d, 'description', 'description');
  const comps = r.object(d.components, 'components');
  r.only(comps, 'components', SLOT_KEYS);
  const components = {} as Record<SlotKey, string[]>;
  for (const slot of SLOT_KEYS) {
    const v = comps[slot];
    const field = `components.${slot}`;
    const names = Array.isArray(v) ? v : [v];
    if (v === undefined || names.length === 0) r.fail(field, `the name of a ${SLOTS[slot].description}`, v);
    if (!SLOTS[slot].multiple && names.length !== 1) r.fail(field, 'exactly one name', v);
    names.forEach((n, i) => {
      if (typeof n !== 'string' || !NAME.test(n)) r.fail(Array.isArray(v) ? `${field}[${i}]` : field, 'a kebab-case plug-in name', n);
    });
    components[slot] = names as string[];
  }
  const kernel = r.object(d.kernel, 'kernel');
  r.only(kernel, 'kernel', ['cmdline']);
  const cmdline = r.string(kernel, 'cmdline', 'kernel.cmdline');
  const design: Design = { format: 'efikdump-design/1', name, description, components, kernel: { cmdline }, source };
  if (d.plugins !== undefined) {
    if (!Array.isArray(d.plugins)) r.fail('plugins', 'an array of package names or paths', d.plugins);
    const from = dirname(resolvePath(source));
    design.plugins = (d.plugins as unknown[]).map((spec, i) => {
      if (typeof spec !== 'string' || spec.trim() === '') r.fail(`plugins[${i}]`, 'a package name or a path like "./my-plugin"', spec);
      return { spec: spec as string, from, source };
    });
  }
  if (d.firmware !== undefined) {
    const fw = r.object(d.firmware, 'firmware');
    r.only(fw, 'firmware', ['profile']);
    const profile = r.string(fw, 'profile', 'firmware.profile');
    if (!NAME.test(profile)) r.fail('firmware.profile', 'a kebab-case profile name', profile);
    design.firmware = { profile };
  }
  if (d.capture !== undefined) {
    const c = r.object(d.capture, 'capture');
    r.only(c, 'capture', ['iommu']);
    const iommu = c.iommu;
    if (typeof iommu !== 'string' || !(CAPTURE_IOMMU_CHOICES as readonly string[]).includes(iommu)) r.fail('capture.iommu', `one of ${CAPTURE_IOMMU_CHOICES.map((x) => JSON.stringify(x)).join(', ')}`, iommu);
    design.capture = { iommu: iommu as CaptureIommuChoice };
  }
  if (d.kdump !== undefined) design.kdump = readKdumpOptions(r, r.object(d.kdump, 'kdump'), cmdline);
  return design;
}

function readKdumpOptions(r: Reader, o: Obj, cmdline: string): KdumpOptions {
  r.only(o, 'kdump', ['reservation', 'elfcorehdr', 'rescue', 'quarantine', 'declareLoss']);
  const choice = <T extends string>(key: keyof KdumpOptions, values: readonly T[]): T => {
    const v = o[key] ?? DEFAULT_KDUMP_OPTIONS[key];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) r.fail(`kdump.${key}`, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v);
    return v as T;
  };
  const k: KdumpOptions = {
    reservation: choice('reservation', RESERVATION_CHOICES),
    elfcorehdr: choice('elfcorehdr', ELFCOREHDR_CHOICES),
    rescue: choice('rescue', RESCUE_CHOICES),
    quarantine: choice('quarantine', QUARANTINE_CHOICES),
    declareLoss: choice('declareLoss', DECLARE_LOSS_CHOICES),
  };
  // crashkernel=X@Y is how a fixed reservation is asked for; top-down placement must not carry an offset.
  const fixed = /(^|\s)crashkernel=[^\s]*@[^\s]+/.test(cmdline) && !/(^|\s)crashkernel=[^\s]*@0(\s|$)/.test(cmdline);
  if (k.reservation === 'fixed' && !fixed) r.fail('kdump.reservation', '"fixed" only with crashkernel=SIZE@OFFSET on kernel.cmdline', k.reservation);
  if (k.reservation !== 'fixed' && fixed) r.fail('kdump.reservation', '"fixed" for a kernel.cmdline with crashkernel=SIZE@OFFSET', k.reservation);
  return k;
}

export function parseScenario(doc: unknown, source: string): Scenario {
  const r = new Reader(source);
  const d = r.object(doc, '(document)');
  r.only(d, '', ['format', 'name', 'description', 'machine', 'workload', 'firmware', 'kernel', 'faults', 'attack', 'trigger', 'security', 'success', 'expected', 'offlineDump']);
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
  if (typeof iommu !== 'string' || !(IOMMU_MODES as readonly string[]).includes(iommu)) r.fail('machine.iommu', `one of ${IOMMU_MODES.map((x) => JSON.stringify(x)).join(', ')}`, iommu);
  const devices = readDevices(r, m.devices ?? [], 'machine.devices');
  const w = r.object(d.workload ?? {}, 'workload');
  r.only(w, 'workload', ['pageWrites']);
  const pageWrites = r.integer(w, 'pageWrites', 'workload.pageWrites', 0, 1_000_000, 256);
  const scenario: Scenario = { format: 'efikdump-scenario/1', name, description, machine: { ramBytes, cpus, pageMix, iommu: iommu as IommuMode, devices }, workload: { pageWrites }, source };
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
    if (f.handoffRecord !== undefined) scenario.faults.handoffRecord = r.oneOf(f.handoffRecord, 'faults.handoffRecord', HANDOFF_RECORD_FAULTS);
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
        if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string' || !NAME.test(n))) r.fail(`${f}.when.${k}`, 'a non-empty list of plug-in names', names);
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
  if (d.firmware !== undefined) scenario.firmware = readFirmwareFields(r, r.object(d.firmware, 'firmware'), 'firmware', 'overrides') as FirmwareOverrides;
  if (d.offlineDump !== undefined) {
    const o = r.object(d.offlineDump, 'offlineDump');
    r.only(o, 'offlineDump', ['partition', 'encryptionAlgorithm', 'certificate']);
    const setup: OfflineDumpSetup = {};
    if (o.partition === 'none') setup.partition = 'none';
    else if (o.partition !== undefined) setup.partition = r.size(o, 'partition', 'offlineDump.partition', 0, MAX_RAM * 2, 0);
    if (o.encryptionAlgorithm !== undefined) setup.encryptionAlgorithm = r.integer(o, 'encryptionAlgorithm', 'offlineDump.encryptionAlgorithm', 0, 0xffffffff, 0);
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
  nic: { inflightRate: 0, bufferPages: 256, dmaPagesPerSecond: 20000, iovaSpanBytes: 2 ** 30, warmReset: true, captureDriver: true, probeResetFailRate: 0 },
  nvme: { inflightRate: 0, bufferPages: 64, dmaPagesPerSecond: 50000, iovaSpanBytes: 256 * 2 ** 20, warmReset: true, captureDriver: true, probeResetFailRate: 0 },
  gpu: { inflightRate: 0, bufferPages: 512, dmaPagesPerSecond: 15000, iovaSpanBytes: 2 ** 31, warmReset: true, captureDriver: false, probeResetFailRate: 0 },
  hba: { inflightRate: 0, bufferPages: 128, dmaPagesPerSecond: 30000, iovaSpanBytes: 512 * 2 ** 20, warmReset: true, captureDriver: true, probeResetFailRate: 0 },
};

function readDevices(r: Reader, v: unknown, field: string): DeviceSpec[] {
  if (!Array.isArray(v)) r.fail(field, 'a list of devices', v);
  const list = v as unknown[];
  if (list.length > 64) r.fail(field, 'at most 64 devices', list.length);
  const names = new Set<string>();
  return list.map((item, i) => {
    const f = `${field}[${i}]`;
    const o = r.object(item, f);
    r.only(o, f, ['name', 'kind', 'inflightRate', 'bufferPages', 'dmaPagesPerSecond', 'iovaSpan', 'warmReset', 'captureDriver', 'probeResetFailRate']);
    const name = r.string(o, 'name', `${f}.name`);
    if (!NAME.test(name)) r.fail(`${f}.name`, 'a kebab-case device name', name);
    if (names.has(name)) r.fail(`${f}.name`, 'a name no other device has', name);
    names.add(name);
    const kind = o.kind;
    if (typeof kind !== 'string' || !(DEVICE_KINDS as readonly string[]).includes(kind)) r.fail(`${f}.kind`, `one of ${DEVICE_KINDS.map((x) => JSON.stringify(x)).join(', ')}`, kind);
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
    if (spec.iovaSpanBytes < spec.bufferPages * 4096) r.fail(`${f}.iovaSpan`, `at least bufferPages × 4 KiB (${spec.bufferPages * 4096} bytes): one IOVA per buffer page`, o.iovaSpan ?? spec.iovaSpanBytes);
    return spec;
  });
}

/**
 * Reads and parses a JSON document: a regular file only (a FIFO or a device is refused before any
 * read), at most `maxBytes` (64 MiB unless the caller knows a tighter bound); a syntax error names
 * the file and the offset.
 */
export function readJsonFile(file: string, maxBytes = MAX_JSON_BYTES): unknown {
  return parseJsonText(readRegularFile(file, maxBytes).toString('utf8'), file);
}

export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const m = / at position (\d+)( \(line \d+ column \d+\))?$/.exec((e as Error).message);
    const offset = m ? Number(m[1]) : /end of JSON input/.test((e as Error).message) ? text.length : undefined;
    throw new ConfigError(`expected valid JSON: ${(e as Error).message}`, { file, offset });
  }
}

// ---- firmware profiles (data files of @efikdump/firmware-uefi; scenarios override their fields) ----

/** Where a firmware writes during POST, besides what it always owns (domain reference §5.7 [analysis], §5.9). */
export type ScratchRangeSpec =
  /** A fixed physical range, e.g. the low 640 KiB or OVMF's decompressed firmware volumes. */
  | { label: string; start: number; bytes: number }
  /** Every range the firmware's own memory map gives this EFI memory type (its heaps and stacks). */
  | { label: string; memoryType: string }
  /** The top `belowFirmwareBytes` of conventional memory under the firmware's regions: what its allocator hands out first (images it loads). */
  | { label: string; belowFirmwareBytes: number }
  /** The ranges a measured retention profile (`efikdump probe retention`; a path under the firmware package's profiles/) predicts for this memory size, for one reset type. */
  | { label: string; measured: string; reset: 'warm' | 'cold' | 'as-reset' };

/** Injected firmware faults a scenario may name. */
export const FIRMWARE_FAULTS = ['runtime-lock-busy-at-panic', 'power-loss-during-panic-nv-write'] as const;
export type FirmwareFault = (typeof FIRMWARE_FAULTS)[number];

/** Every figure of a firmware profile: one flat object, so a scenario overrides a field by its name. */
export interface FirmwareProfileFields {
  /** edk2 store record format: 60-byte AUTHENTICATED_VARIABLE_HEADER or 32-byte VARIABLE_HEADER (§5.2). */
  variableStoreFormat: 'authenticated' | 'plain';
  /** The NV variable store region (VARIABLE_STORE_HEADER.Size plus the volume header), bytes (§5.2). */
  nvramBytes: number;
  /** Largest variable, header + name + data (PcdMaxVariableSize, §5.2). */
  maxVariableBytes: number;
  /** Largest HwErrRec variable (PcdMaxHardwareErrorVariableSize, §5.2). */
  maxHwErrVariableBytes: number;
  /** Space kept for hardware error records only (PcdHwErrStorageSize; 0 = not supported, §5.2). */
  hwErrStorageBytes: number;
  /** Size of the volatile variable store in RAM. */
  volatileBytes: number;
  /** Bytes of live variables the firmware and earlier OS boots left in the store at power-on. */
  nvramBytesUsed: number;
  /** Bytes of deleted copies waiting for reclaim at power-on (§5.2: space returns only on reclaim). */
  nvramBytesGarbage: number;
  /** Flash erase block size. */
  nvramBlockBytes: number;
  /** Fixed cost of one NV write (SMM entry, flash command), µs (§5.3 [analysis]). */
  nvramWriteFixedUs: number;
  /** Flash programming cost per byte, µs. */
  nvramWriteUsPerByte: number;
  /** Cost of erasing one block during reclaim, µs. */
  nvramEraseUsPerBlock: number;
  /** Whether a full store is reclaimed inside a runtime SetVariable (edk2: no, it fails and reclaims on the next boot; §5.3). */
  reclaimAtRuntime: boolean;
  /** What power lost in the middle of an NV write leaves: the old value, no value, or a corrupt value. */
  tornWrite: 'atomic' | 'lost' | 'corrupt';
  /** What EfiResetWarm does: a warm reset, or a cold one where warm is unsupported (§5.5). */
  warmReset: 'warm' | 'cold';
  /** What EfiResetPlatformSpecific does (§5.5: OVMF → cold). */
  platformSpecificReset: 'warm' | 'cold';
  /** Whether ResetData survives for the next boot to read as the reset reason (§5.5: OVMF ignores it). */
  resetDataKept: boolean;
  /** POST duration after a cold reset or power-on, [min, max] ms, drawn per run (§5.9, §9.3). */
  postColdMs: [number, number];
  /** POST duration after a warm reset, [min, max] ms (§9.3). */
  postWarmMs: [number, number];
  /** Platform reset of every device (PERST#), ms (§8). */
  deviceResetMs: number;
  /** How long DRAM is unpowered during a cold reset, ms (decay; §5.9). */
  coldPowerOffMs: number;
  /** When the memory controller writes all RAM to initialise ECC (§5.9). */
  eccReinit: 'never' | 'cold' | 'cold-and-warm';
  /** DRAM bit flips per GiB per second without power (decay; §5.9 Halderman et al.). */
  decayBitFlipsPerGiBPerSecond: number;
  /** The ranges POST overwrites (the firmware-scratch retention policy). */
  scratch: ScratchRangeSpec[];
  /** Where `scratch` comes from: measured on real firmware, modelled from analysis, or the ideal firmware that keeps all RAM (`scratch` empty). */
  retention: 'measured' | 'modelled' | 'ideal';
  /** The EFI memory map the firmware hands the OS: efikdump's q35 model, or a measured map (a retention profile under profiles/ with memory maps) mapped onto the machine's size. */
  memoryMap: string;
  /** MemoryOverwriteRequestControl: absent, created by firmware, or created and set to 1 by the OS on every boot (§5.8). */
  mor: 'absent' | 'present' | 'set-by-os';
  /** A serial port the capture kernel can print to (§8). */
  serial: boolean;
  /** A GOP framebuffer console after POST (§8). */
  gop: boolean;
  /** ERST present, backed by the firmware's persistent store (§6.2). */
  erst: boolean;
  /** Capacity of the ERST persistent store, bytes. */
  erstStorageBytes: number;
  /** Size of the ERST error log address range (largest record), bytes (§6.2). */
  erstRecordBytes: number;
  /** Cost of one ERST write (firmware/SMM to flash), ms (§6.2). */
  erstWriteMs: number;
  /** BERT present (§6.3). */
  bert: boolean;
  /** Whether POST republishes the previous boot's ERST records in BERT (§6.3 [analysis]). */
  bertFromErst: boolean;
  /** ACPI OEM ID, at most 6 ASCII characters. */
  oemId: string;
  /** ACPI OEM Table ID, at most 8 ASCII characters. */
  oemTableId: string;
}

/** A firmware profile file: `packages/firmware-uefi/profiles/<name>.json`. */
export interface FirmwareProfile extends FirmwareProfileFields {
  format: 'efikdump-firmware-profile/1';
  name: string;
  description: string;
  /** Where each figure comes from: field name → citation (a domain reference section or a primary source). */
  sourceOf: Record<string, string>;
  /** The file the profile was read from. */
  source: string;
}

/** What a scenario's `firmware` object holds: any profile fields, and faults. */
export type FirmwareOverrides = Partial<FirmwareProfileFields> & { faults?: FirmwareFault[] };

type FieldSpec =
  | { kind: 'bytes'; min: number; max: number; page?: boolean }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'ms-range'; max: number }
  | { kind: 'scratch' }
  | { kind: 'memory-map' }
  | { kind: 'ascii'; max: number };

const KB = 1024;
export const EFI_MEMORY_TYPE_NAMES_FOR_SCRATCH = ['BootServicesCode', 'BootServicesData', 'LoaderCode', 'LoaderData', 'Reserved', 'AcpiReclaim', 'AcpiNvs', 'RuntimeServicesCode', 'RuntimeServicesData'] as const;

export const FIRMWARE_PROFILE_FIELDS: Readonly<Record<keyof FirmwareProfileFields, FieldSpec>> = {
  variableStoreFormat: { kind: 'enum', values: ['authenticated', 'plain'] },
  nvramBytes: { kind: 'bytes', min: 16 * KB, max: 64 * 1024 * KB, page: true },
  maxVariableBytes: { kind: 'bytes', min: 64, max: 64 * 1024 * KB },
  maxHwErrVariableBytes: { kind: 'bytes', min: 64, max: 64 * 1024 * KB },
  hwErrStorageBytes: { kind: 'bytes', min: 0, max: 64 * 1024 * KB },
  volatileBytes: { kind: 'bytes', min: 4 * KB, max: 64 * 1024 * KB },
  nvramBytesUsed: { kind: 'bytes', min: 0, max: 64 * 1024 * KB },
  nvramBytesGarbage: { kind: 'bytes', min: 0, max: 64 * 1024 * KB },
  nvramBlockBytes: { kind: 'bytes', min: 512, max: 1024 * KB },
  nvramWriteFixedUs: { kind: 'number', min: 0, max: 10_000_000 },
  nvramWriteUsPerByte: { kind: 'number', min: 0, max: 10_000 },
  nvramEraseUsPerBlock: { kind: 'number', min: 0, max: 10_000_000 },
  reclaimAtRuntime: { kind: 'boolean' },
  tornWrite: { kind: 'enum', values: ['atomic', 'lost', 'corrupt'] },
  warmReset: { kind: 'enum', values: ['warm', 'cold'] },
  platformSpecificReset: { kind: 'enum', values: ['warm', 'cold'] },
  resetDataKept: { kind: 'boolean' },
  postColdMs: { kind: 'ms-range', max: 3_600_000 },
  postWarmMs: { kind: 'ms-range', max: 3_600_000 },
  deviceResetMs: { kind: 'number', min: 0, max: 600_000 },
  coldPowerOffMs: { kind: 'number', min: 0, max: 86_400_000 },
  eccReinit: { kind: 'enum', values: ['never', 'cold', 'cold-and-warm'] },
  decayBitFlipsPerGiBPerSecond: { kind: 'number', min: 0, max: 1e12 },
  scratch: { kind: 'scratch' },
  retention: { kind: 'enum', values: ['measured', 'modelled', 'ideal'] },
  memoryMap: { kind: 'memory-map' },
  mor: { kind: 'enum', values: ['absent', 'present', 'set-by-os'] },
  serial: { kind: 'boolean' },
  gop: { kind: 'boolean' },
  erst: { kind: 'boolean' },
  erstStorageBytes: { kind: 'bytes', min: 0, max: 64 * 1024 * KB },
  erstRecordBytes: { kind: 'bytes', min: 256, max: 64 * KB },
  erstWriteMs: { kind: 'number', min: 0, max: 600_000 },
  bert: { kind: 'boolean' },
  bertFromErst: { kind: 'boolean' },
  oemId: { kind: 'ascii', max: 6 },
  oemTableId: { kind: 'ascii', max: 8 },
};

const FIELD_NAMES = Object.keys(FIRMWARE_PROFILE_FIELDS) as (keyof FirmwareProfileFields)[];

function readBytesField(r: Reader, v: unknown, field: string, spec: { min: number; max: number; page?: boolean }): number {
  let n: number;
  try {
    n = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v, field) : NaN;
  } catch {
    return r.fail(field, 'a size such as "64KiB" or 0x10000', v);
  }
  if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max || (spec.page && n % 4096)) {
    r.fail(field, `${spec.page ? 'a page-multiple size' : 'a size'} from ${spec.min} to ${spec.max} bytes`, v);
  }
  return n;
}

function readScratch(r: Reader, v: unknown, field: string): ScratchRangeSpec[] {
  if (!Array.isArray(v)) r.fail(field, 'a list of ranges', v);
  return (v as unknown[]).map((item, i) => {
    const f = `${field}[${i}]`;
    const o = r.object(item, f);
    const label = r.string(o, 'label', `${f}.label`);
    if ('memoryType' in o) {
      r.only(o, f, ['label', 'memoryType']);
      const t = o.memoryType;
      if (typeof t !== 'string' || !(EFI_MEMORY_TYPE_NAMES_FOR_SCRATCH as readonly string[]).includes(t)) {
        r.fail(`${f}.memoryType`, `one of ${EFI_MEMORY_TYPE_NAMES_FOR_SCRATCH.join(', ')}`, t);
      }
      return { label, memoryType: t as string };
    }
    if ('measured' in o) {
      r.only(o, f, ['label', 'measured', 'reset']);
      const measured = r.string(o, 'measured', `${f}.measured`);
      if (!/^measured\/[A-Za-z0-9._-]+\.json$/.test(measured)) r.fail(`${f}.measured`, 'a committed retention profile such as "measured/ovmf-retention.json"', measured);
      // "as-reset": the measurement of the reset the run does (warm or cold).
      if (o.reset !== 'warm' && o.reset !== 'cold' && o.reset !== 'as-reset') r.fail(`${f}.reset`, 'one of "warm", "cold", "as-reset"', o.reset);
      return { label, measured, reset: o.reset as 'warm' | 'cold' | 'as-reset' };
    }
    if ('belowFirmwareBytes' in o) {
      r.only(o, f, ['label', 'belowFirmwareBytes']);
      return { label, belowFirmwareBytes: readBytesField(r, o.belowFirmwareBytes, `${f}.belowFirmwareBytes`, { min: 4096, max: MAX_RAM, page: true }) };
    }
    r.only(o, f, ['label', 'start', 'bytes']);
    if (o.start === undefined) r.fail(f, 'start and bytes, memoryType, belowFirmwareBytes, or measured and reset', Object.keys(o));
    const start = readBytesField(r, o.start, `${f}.start`, { min: 0, max: MAX_RAM, page: true });
    const bytes = readBytesField(r, o.bytes, `${f}.bytes`, { min: 4096, max: MAX_RAM, page: true });
    return { label, start, bytes };
  });
}

function readField(r: Reader, name: keyof FirmwareProfileFields, v: unknown, field: string): unknown {
  const spec = FIRMWARE_PROFILE_FIELDS[name];
  switch (spec.kind) {
    case 'bytes':
      return readBytesField(r, v, field, spec);
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v) || v < spec.min || v > spec.max) r.fail(field, `a number from ${spec.min} to ${spec.max}`, v);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') r.fail(field, 'true or false', v);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v)) r.fail(field, `one of ${spec.values.map((x) => JSON.stringify(x)).join(', ')}`, v);
      return v;
    case 'ms-range': {
      const ok = Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= spec.max) && v[0] <= v[1];
      if (!ok) r.fail(field, `[min, max] milliseconds with 0 <= min <= max <= ${spec.max}`, v);
      return [v[0], v[1]];
    }
    case 'scratch':
      return readScratch(r, v, field);
    case 'memory-map':
      if (v !== 'modelled' && (typeof v !== 'string' || !/^measured\/[A-Za-z0-9._-]+\.json$/.test(v))) r.fail(field, '"modelled" or a committed retention profile with memory maps, such as "measured/ovmf-retention.json"', v);
      return v;
    case 'ascii':
      if (typeof v !== 'string' || v.length > spec.max || !/^[\x20-\x7e]*$/.test(v)) r.fail(field, `at most ${spec.max} printable ASCII characters`, v);
      return v;
  }
}

/** Reads the profile fields of `o` (all of them for a profile, any subset plus faults for overrides). */
function readFirmwareFields(r: Reader, o: Obj, prefix: string, mode: 'profile' | 'overrides'): Partial<FirmwareProfileFields> & { faults?: FirmwareFault[] } {
  const path = (k: string) => (prefix ? `${prefix}.${k}` : k);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) {
    if (mode === 'overrides' && k === 'faults') {
      const v = o.faults;
      if (!Array.isArray(v)) r.fail(path('faults'), `a list of ${FIRMWARE_FAULTS.join(', ')}`, v);
      (v as unknown[]).forEach((f, i) => {
        if (typeof f !== 'string' || !(FIRMWARE_FAULTS as readonly string[]).includes(f)) r.fail(`${path('faults')}[${i}]`, `one of ${FIRMWARE_FAULTS.join(', ')}`, f);
      });
      out.faults = [...new Set(v as FirmwareFault[])];
      continue;
    }
    if (!(k in FIRMWARE_PROFILE_FIELDS)) {
      const allowed = mode === 'overrides' ? [...FIELD_NAMES, 'faults'] : FIELD_NAMES;
      r.only({ [k]: o[k] }, prefix, allowed);
    }
    out[k] = readField(r, k as keyof FirmwareProfileFields, o[k], path(k));
  }
  if (mode === 'profile') {
    for (const k of FIELD_NAMES) if (out[k] === undefined) r.fail(path(k), `a value for ${k}`, undefined);
  }
  return out as Partial<FirmwareProfileFields> & { faults?: FirmwareFault[] };
}

/** Parses a firmware profile file; every field is required and every error names the file and the field. */
export function parseFirmwareProfile(doc: unknown, source: string): FirmwareProfile {
  const r = new Reader(source);
  const d = r.object(doc, '(document)');
  if (d.format !== 'efikdump-firmware-profile/1') r.fail('format', '"efikdump-firmware-profile/1"', d.format);
  const name = r.string(d, 'name', 'name');
  if (!NAME.test(name)) r.fail('name', 'a kebab-case name', name);
  const description = r.string(d, 'description', 'description');
  const src = r.object(d.source ?? {}, 'source');
  for (const [k, v] of Object.entries(src)) {
    if (!(k in FIRMWARE_PROFILE_FIELDS)) r.only({ [k]: v }, 'source', FIELD_NAMES);
    if (typeof v !== 'string' || !v.trim()) r.fail(`source.${k}`, 'a citation', v);
  }
  const { format: _f, name: _n, description: _d, source: _s, ...rest } = d;
  const fields = readFirmwareFields(r, rest, '', 'profile') as FirmwareProfileFields;
  const profile: FirmwareProfile = { format: 'efikdump-firmware-profile/1', name, description, sourceOf: src as Record<string, string>, ...fields, source };
  checkFirmwareProfile(profile, (field) => ({ file: source, field }));
  return profile;
}

/**
 * The profile a run uses: `profile` with the scenario's fields replacing its own. Fields that
 * only make sense together are checked after merging; an error names the file the offending
 * value came from.
 */
export function applyFirmwareOverrides(profile: FirmwareProfile, scenario?: Pick<Scenario, 'firmware' | 'source'>): FirmwareProfile {
  const overrides = { ...(scenario?.firmware ?? {}) };
  delete overrides.faults;
  const merged: FirmwareProfile = { ...profile, ...overrides, sourceOf: { ...profile.sourceOf } };
  for (const k of Object.keys(overrides)) merged.sourceOf[k] = `scenario ${scenario!.source}`;
  // Scratch ranges a scenario writes are its own model, unless it also says what they are.
  if (overrides.scratch && !overrides.retention) {
    merged.retention = overrides.scratch.some((x) => 'measured' in x) ? 'measured' : overrides.scratch.length ? 'modelled' : 'ideal';
    merged.sourceOf.retention = `scenario ${scenario!.source} (its scratch ranges)`;
  }
  checkFirmwareProfile(merged, (field) =>
    scenario?.firmware && field in scenario.firmware ? { file: scenario.source, field: `firmware.${field}` } : { file: profile.source, field });
  return merged;
}

/** Relations between fields: the store must hold its headers, the pre-filled bytes and one largest variable's header. */
function checkFirmwareProfile(p: FirmwareProfileFields, where: (field: keyof FirmwareProfileFields) => { file: string; field: string }): void {
  const fail = (field: keyof FirmwareProfileFields, expected: string, found: unknown): never => {
    const w = where(field);
    throw new ConfigError(`expected ${expected}, found ${JSON.stringify(found)}`, w);
  };
  // 0x48 firmware volume header + 0x1c VARIABLE_STORE_HEADER (edk2 layout, §5.2).
  const storeData = p.nvramBytes - 0x48 - 0x1c;
  if (p.hwErrStorageBytes > storeData / 2) fail('hwErrStorageBytes', `at most half of the store (${Math.floor(storeData / 2)} bytes)`, p.hwErrStorageBytes);
  const common = storeData - p.hwErrStorageBytes;
  if (p.maxVariableBytes > common) fail('maxVariableBytes', `at most the store's common space (${common} bytes)`, p.maxVariableBytes);
  if (p.nvramBytesUsed + p.nvramBytesGarbage > common) {
    fail(p.nvramBytesGarbage > 0 && p.nvramBytesUsed <= common ? 'nvramBytesGarbage' : 'nvramBytesUsed',
      `nvramBytesUsed + nvramBytesGarbage at most the store's common space (${common} bytes)`, p.nvramBytesUsed + p.nvramBytesGarbage);
  }
  if (p.nvramBytes % p.nvramBlockBytes) fail('nvramBlockBytes', `a divisor of nvramBytes (${p.nvramBytes})`, p.nvramBlockBytes);
  if (p.erst && p.erstStorageBytes < p.erstRecordBytes) fail('erstStorageBytes', `at least erstRecordBytes (${p.erstRecordBytes})`, p.erstStorageBytes);
  if (p.retention === 'ideal' && p.scratch.length) fail('scratch', 'no ranges for the ideal firmware (retention "ideal" keeps all RAM)', p.scratch.length);
  if (p.retention === 'measured' && !p.scratch.some((s) => 'measured' in s)) fail('retention', '"measured" only with a measured scratch entry', p.retention);
}
