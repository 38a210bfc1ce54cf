import { dirname, resolve as resolvePath } from 'node:path';
import type { PluginRef } from '../plugin-loader';
import { SLOTS, SLOT_KEYS, type SlotKey } from '../contracts';
import { CAPTURE_IOMMU_CHOICES, type CaptureIommuChoice } from '../machine/device-specs';
import { NAME, Reader, readComponent, type Obj } from './json';

/** A design: which implementation fills each slot, and the 1st kernel's settings. */
export interface Design {
  format: 'efikdump-design/1';
  name: string;
  description: string;
  /** The plug-in names of each slot, in the design's order. */
  components: Record<SlotKey, string[]>;
  /**
   * The options written for components (`{"name": ..., "options": {...}}`), beside `components`
   * index for index; absent when no component of the design has any. Raw as written: they are
   * checked against each plug-in's schema once the plug-ins are loaded (`checkComponents`, and
   * again when a run binds its slots). Read them with `componentRefsOf`.
   */
  componentOptions?: Partial<Record<SlotKey, (Readonly<Record<string, unknown>> | undefined)[]>>;
  kernel: { cmdline: string; imagePlacement?: ImagePlacementChoice };
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

/**
 * Where the 1st kernel's EFI stub puts the kernel image (`kernel.imagePlacement`): at 16 MiB (phys_base 0, the default), at the
 * seeded physical-KASLR slot, or outside the firmware profile's predicted POST ranges (a choice the RFD's stub would make).
 */
export const IMAGE_PLACEMENT_CHOICES = ['fixed-16m', 'kaslr', 'avoid-footprint'] as const;
export type ImagePlacementChoice = (typeof IMAGE_PLACEMENT_CHOICES)[number];

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
export const DEFAULT_KDUMP_OPTIONS: Readonly<KdumpOptions> = {
  reservation: 'top-down',
  elfcorehdr: 'reservation-end',
  rescue: 'none',
  quarantine: 'none',
  declareLoss: 'none',
};

/** The design's kdump options with the defaults filled in. */
export function kdumpOptionsOf(design: Pick<Design, 'kdump'>): KdumpOptions {
  return { ...DEFAULT_KDUMP_OPTIONS, ...(design.kdump ?? {}) };
}

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
  const componentOptions: NonNullable<Design['componentOptions']> = {};
  for (const slot of SLOT_KEYS) {
    const v = comps[slot];
    const field = `components.${slot}`;
    const items = Array.isArray(v) ? v : [v];
    if (v === undefined || items.length === 0) r.fail(field, `the name of a ${SLOTS[slot].description}`, v);
    if (!SLOTS[slot].multiple && items.length !== 1) r.fail(field, 'exactly one name', v);
    const refs = items.map((item, i) => readComponent(r, item, Array.isArray(v) ? `${field}[${i}]` : field));
    components[slot] = refs.map((x) => x.name);
    if (refs.some((x) => x.options !== undefined)) componentOptions[slot] = refs.map((x) => x.options);
  }
  const kernel = r.object(d.kernel, 'kernel');
  r.only(kernel, 'kernel', ['cmdline', 'imagePlacement']);
  const cmdline = r.string(kernel, 'cmdline', 'kernel.cmdline');
  const design: Design = { format: 'efikdump-design/1', name, description, components, kernel: { cmdline }, source };
  if (kernel.imagePlacement !== undefined) design.kernel.imagePlacement = readImagePlacement(r, kernel.imagePlacement, cmdline);
  if (Object.keys(componentOptions).length) design.componentOptions = componentOptions;
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
    if (typeof iommu !== 'string' || !(CAPTURE_IOMMU_CHOICES as readonly string[]).includes(iommu))
      r.fail('capture.iommu', `one of ${CAPTURE_IOMMU_CHOICES.map((x) => JSON.stringify(x)).join(', ')}`, iommu);
    design.capture = { iommu: iommu as CaptureIommuChoice };
  }
  if (d.kdump !== undefined) design.kdump = readKdumpOptions(r, r.object(d.kdump, 'kdump'), cmdline);
  return design;
}

function readImagePlacement(r: Reader, v: unknown, cmdline: string): ImagePlacementChoice {
  const field = 'kernel.imagePlacement';
  if (typeof v !== 'string' || !(IMAGE_PLACEMENT_CHOICES as readonly string[]).includes(v))
    r.fail(field, `one of ${IMAGE_PLACEMENT_CHOICES.map((x) => JSON.stringify(x)).join(', ')}`, v);
  const choice = v as ImagePlacementChoice;
  if (choice === 'kaslr' && /(^|\s)nokaslr(\s|$)/.test(cmdline))
    r.fail(field, '"kaslr" only with physical KASLR on (no nokaslr on kernel.cmdline)', choice);
  if (choice !== 'fixed-16m' && /(^|\s)fadump=on(\s|$)/.test(cmdline))
    r.fail(field, '"fixed-16m" with fadump=on (fadump boots the kernel in boot memory)', choice);
  return choice;
}

function readKdumpOptions(r: Reader, o: Obj, cmdline: string): KdumpOptions {
  r.only(o, 'kdump', ['reservation', 'elfcorehdr', 'rescue', 'quarantine', 'declareLoss']);
  const choice = <T extends string>(key: keyof KdumpOptions, values: readonly T[]): T => {
    const v = o[key] ?? DEFAULT_KDUMP_OPTIONS[key];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
      r.fail(`kdump.${key}`, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v);
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
  if (k.reservation === 'fixed' && !fixed)
    r.fail('kdump.reservation', '"fixed" only with crashkernel=SIZE@OFFSET on kernel.cmdline', k.reservation);
  if (k.reservation !== 'fixed' && fixed)
    r.fail('kdump.reservation', '"fixed" for a kernel.cmdline with crashkernel=SIZE@OFFSET', k.reservation);
  return k;
}

/** A component of a design with its options as written and the field that names it (for errors). */
export interface ComponentRef {
  name: string;
  options?: Readonly<Record<string, unknown>>;
  /** Where the design names it: `components.writer`, `components.retention[1]`. */
  field?: string;
  /** The file that names it. */
  file?: string;
}

/** The components of one slot of a design: names, options as written, and where each is named. */
export function componentRefsOf(design: Pick<Design, 'components' | 'componentOptions' | 'source'>, slot: SlotKey): ComponentRef[] {
  const names = design.components[slot];
  const options = design.componentOptions?.[slot];
  return names.map((name, i) => ({
    name,
    ...(options?.[i] !== undefined ? { options: options[i] } : {}),
    field: SLOTS[slot].multiple ? `components.${slot}[${i}]` : `components.${slot}`,
    file: design.source,
  }));
}

/**
 * The design with `overrides` laid over the options of its component in `slot` (single slots): how
 * command-line flags such as `efikdump run --dump-level` reach the writer. The result's options are
 * checked like the design's own.
 */
export function withComponentOptions(design: Design, slot: SlotKey, overrides: Readonly<Record<string, unknown>>): Design {
  if (Object.keys(overrides).length === 0) return design;
  const current = design.componentOptions?.[slot]?.[0];
  return {
    ...design,
    componentOptions: { ...(design.componentOptions ?? {}), [slot]: [{ ...(current ?? {}), ...overrides }] },
  };
}
