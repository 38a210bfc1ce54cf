import { checkOutputs, ConfigError, formatSize, hex, parseSize, systemRamFromMemoryMap } from '@efikdump/core';
import {
  abortRetentionProbes,
  buildMemoryMap,
  buildPlacementReport,
  compareRetentionProfiles,
  deriveRetentionScaling,
  describePlacement,
  describeScaling,
  readRetentionProfile,
  resolveFirmwareFiles,
  runRetentionProbe,
  writeRetentionProfile,
  type ResetKind,
  type RetentionProfile,
} from '@efikdump/firmware-uefi';
import { parseCrashkernel, placeCrashkernel } from '@efikdump/kernel-crash';
import { commandHelp, parseArgs, type CommandSpec, integerOption } from '../args';
import { loadDesign } from '../library';
import type { Output } from '../output';

export const probeSpec: CommandSpec = {
  name: 'probe',
  usage:
    'efikdump probe retention --firmware ovmf [--code FILE --vars FILE] [--memory 256MiB,1GiB] [--reset warm|cold|both] [--secure-boot] [--repeat N] [--accel tcg|kvm] --out PROFILE.json',
  summary:
    'Measures which RAM pages real firmware overwrites across a reset: boots OVMF under QEMU (q35, TCG unless --accel kvm, no network) on file-backed RAM, ' +
    'fills RAM with a per-page pattern, resets, waits for POST and diffs page by page. Writes a retention profile with the ' +
    "overwritten ranges per size, reset and repeat, and says whether the design's crashkernel= reservation and its handoff page survive.",
  positionals: [1, 1],
  options: [
    { name: 'firmware', value: 'NAME', help: 'firmware to measure (only "ovmf")', default: 'ovmf' },
    {
      name: 'code',
      value: 'FILE',
      help: 'OVMF code image (with --vars)',
      default: '/usr/share/OVMF/OVMF_CODE_4M.fd, or OVMF_CODE_4M.secboot.fd with --secure-boot',
    },
    {
      name: 'vars',
      value: 'FILE',
      help: 'OVMF VARS template, copied before each boot (with --code)',
      default: '/usr/share/OVMF/OVMF_VARS_4M.fd, or OVMF_VARS_4M.ms.fd with --secure-boot',
    },
    { name: 'memory', value: 'SIZES', help: 'guest RAM sizes, comma-separated', default: '256MiB' },
    {
      name: 'reset',
      value: 'warm|cold|both',
      help: 'warm: QEMU system reset of the running guest; cold: a fresh QEMU on the same RAM file',
      default: 'both',
    },
    { name: 'secure-boot', help: 'boot the SMM Secure Boot build with Microsoft keys enrolled' },
    { name: 'repeat', value: 'N', help: 'independent runs per size and reset', default: '1' },
    {
      name: 'out',
      value: 'PROFILE.json',
      help: 'where to write the profile (atomically; checked before the first boot: not an input, and replaced only when it is a regular file this user can write)',
    },
    {
      name: 'design',
      value: 'NAME|FILE',
      help: 'design whose kernel crashkernel= the placement report uses',
      default: 'efi-warm-reserved-memory',
    },
    {
      name: 'compare',
      value: 'PROFILE.json',
      help: 'compare with a committed profile; exit 1 and print the differences when the ranges differ',
    },
    { name: 'work-dir', value: 'DIR', help: 'where the guest RAM files go', default: '/dev/shm' },
    {
      name: 'accel',
      value: 'tcg|kvm',
      help: "QEMU's accelerator: tcg, which every committed profile was measured with, or kvm, faster where KVM really runs a guest (a /dev/kvm that opens is not enough: seen here, OVMF stopped at once with 'KVM internal error')",
      default: 'tcg',
    },
    { name: 'boot-timeout', value: 'SECONDS', help: 'time one boot may take to reach the idle prompt', default: '180' },
    { name: 'keep-work-dir', help: 'keep serial logs and RAM files for inspection' },
    { name: 'help', help: 'show this help' },
  ],
};

function parseResets(value: string): ResetKind[] {
  if (value === 'both') return ['warm', 'cold'];
  if (value === 'warm' || value === 'cold') return [value];
  throw new ConfigError(`--reset expects warm, cold or both, found "${value}"`, { field: '--reset' });
}

function parseSizes(value: string): number[] {
  const sizes = value.split(',').map((s) => parseSize(s.trim(), '--memory'));
  if (new Set(sizes).size !== sizes.length) throw new ConfigError(`--memory names a size twice: "${value}"`, { field: '--memory' });
  return sizes;
}

/** The placement report's inputs from a design: its crashkernel= and the kernel's placement rules. */
function placementInput(designName: string) {
  const design = loadDesign(designName);
  const spec = parseCrashkernel(design.kernel.cmdline, design.source);
  if (!spec)
    throw new ConfigError("the design's kernel command line has no crashkernel= parameter", {
      file: design.source,
      field: 'kernel.cmdline',
    });
  const text = design.kernel.cmdline
    .split(/\s+/)
    .filter((t) => t.startsWith('crashkernel='))
    .join(' ');
  return {
    crashkernel: text,
    design: design.name,
    place: (memoryBytes: number, systemRam: readonly { start: number; end: number }[]) =>
      placeCrashkernel(spec, systemRam, memoryBytes, design.source)?.ranges,
    modelSystemRam: {
      source: "efikdump's q35 model (buildMemoryMap)",
      ranges: (memoryBytes: number) => systemRamFromMemoryMap(buildMemoryMap(memoryBytes)),
    },
  };
}

function summary(profile: RetentionProfile, io: Output): void {
  for (const m of profile.measurements) {
    const inRam = m.systemRamPages === undefined ? '' : `, ${m.systemRamPages} in System RAM`;
    io.out(
      `${formatSize(m.memoryBytes)} ${m.reset}: ${m.pages} pages overwritten in ${m.overwritten.length} ranges${inRam}; ${m.runs.length} run${m.runs.length === 1 ? '' : 's'} ${m.agree ? 'agree' : 'DISAGREE'}`,
    );
    for (const r of m.overwritten)
      io.out(`  [${hex(r.start)}, ${hex(r.end)}) ${r.pages} pages${r.zeroPages ? ` (${r.zeroPages} zero)` : ''}`);
  }
}

export async function probeCommand(argv: string[], io: Output): Promise<number> {
  const { options, positionals } = parseArgs(probeSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(probeSpec));
    return 0;
  }
  if (positionals[0] !== 'retention') throw new ConfigError(`Unknown probe: ${positionals[0]} (known: retention)`, { field: 'probe' });
  const str = (k: string) => (typeof options.get(k) === 'string' ? (options.get(k) as string) : undefined);
  const firmwareName = str('firmware') ?? 'ovmf';
  if (firmwareName !== 'ovmf') throw new ConfigError(`Unknown firmware: ${firmwareName} (known: ovmf)`, { field: '--firmware' });
  const out = str('out');
  if (out === undefined) throw new ConfigError(`--out is required; usage: ${probeSpec.usage}`, { field: '--out' });
  const memorySizes = parseSizes(str('memory') ?? '256MiB');
  const resets = parseResets(str('reset') ?? 'both');
  const repeat = integerOption(options.get('repeat'), 'repeat', 1, 100) ?? 1;
  const bootTimeoutS = integerOption(options.get('boot-timeout'), 'boot-timeout', 5, 3600) ?? 180;
  const accel = str('accel') ?? 'tcg';
  if (accel !== 'tcg' && accel !== 'kvm') throw new ConfigError(`--accel expects tcg or kvm, found "${accel}"`, { field: '--accel' });
  const placement = placementInput(str('design') ?? 'efi-warm-reserved-memory');
  const committed = str('compare') === undefined ? undefined : readRetentionProfile(str('compare') as string);
  const firmware = resolveFirmwareFiles({ code: str('code'), vars: str('vars'), secureBoot: options.has('secure-boot') });
  checkOutputs(
    [{ path: out, role: '--out' }],
    [
      { path: firmware.code, role: '--code' },
      { path: firmware.vars, role: '--vars' },
      ...(str('compare') ? [{ path: str('compare') as string, role: '--compare' }] : []),
    ],
  );

  // QEMU runs in its own process group, so Ctrl-C does not reach it: end it (and remove the RAM files) ourselves.
  const onSignal = (signal: NodeJS.Signals) => {
    const n = abortRetentionProbes();
    io.err(`efikdump probe: ${signal}${n ? `, stopped ${n} QEMU process${n === 1 ? '' : 'es'}` : ''}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  let profile: RetentionProfile;
  try {
    profile = await runRetentionProbe({
      firmware,
      memorySizes,
      resets,
      repeat,
      workDir: str('work-dir'),
      bootTimeoutMs: bootTimeoutS * 1000,
      accel,
      keepWorkDir: options.has('keep-work-dir'),
      onProgress: (line) => io.err(`probe: ${line}`),
    });
  } finally {
    abortRetentionProbes();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  profile.command = ['efikdump', 'probe', ...argv].join(' ');
  profile.placement = buildPlacementReport(profile, placement);
  writeRetentionProfile(out, profile);

  summary(profile, io);
  for (const reset of resets) {
    if (memorySizes.length < 2) break;
    try {
      const scaling = deriveRetentionScaling(profile.measurements, reset);
      io.out(
        `${reset}: how the ranges move across ${scaling.memorySizes.map(formatSize).join(', ')} ("top" = the top of RAM under 4 GiB):`,
      );
      for (const line of describeScaling(scaling)) io.out(`  ${line}`);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      io.out(`${reset}: the ranges follow no single rule across sizes: ${e.message}`);
    }
  }
  io.out(`placement of ${placement.crashkernel} (design ${placement.design}):`);
  for (const v of profile.placement) io.out(`  ${describePlacement(v)}`);
  io.out(
    `wrote ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s (${profile.firmware.packages.ovmf ? `ovmf ${profile.firmware.packages.ovmf}, ` : ''}${profile.qemu.version}, ${profile.qemu.accel})`,
  );

  if (committed) {
    const diffs = compareRetentionProfiles(committed, profile);
    if (diffs.length) {
      io.out(`differs from ${str('compare')}:`);
      for (const d of diffs) io.out(`  ${d}`);
      return 1;
    }
    io.out(`agrees with ${str('compare')}`);
  }
  return 0;
}
