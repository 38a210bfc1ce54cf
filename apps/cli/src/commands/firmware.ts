import {
  applyFirmwareOverrides,
  checkOutputs,
  ConfigError,
  EFI_VARIABLE as A,
  parseSize,
  readRegularFile,
  writeFileAtomic,
  type CommandPath,
  type FirmwareProfile,
} from '@efikdump/core';
import {
  bootErrorEntries,
  buildAcpiTables,
  buildMemoryMap,
  createFirmwareState,
  decodeVariableStoreFv,
  encodeVariableStoreFv,
  describeRetention,
  exportEfivarfs,
  firmwareProfileNames,
  firmwareReport,
  importEfivarfs,
  isLiveRecord,
  loadFirmwareProfile,
  VariableStore,
  writeDirectoryAtomic,
} from '@efikdump/firmware-uefi';
import { commandHelp, parseArgs, type CommandSpec } from '../args';
import { loadScenario } from '../library';
import type { Output } from '../output';

export const firmwareExportSpec: CommandSpec = {
  name: 'firmware export',
  usage: 'efikdump firmware export --profile P [--acpi DIR] [--vars DIR] [--fd FILE] [--rsdp FILE] [--memory SIZE] [--scenario S]',
  summary:
    "Writes a firmware profile's power-on state as files: its ACPI tables (one .dat per table, for iasl -d), its runtime variables as an efivarfs directory, and its variable store as an edk2 firmware volume laid out like OVMF_VARS.fd. Each file appears whole or not at all. " +
    'A directory output is created if absent and written into: files of the same names are replaced atomically, other files in it are kept. ' +
    'Outputs are checked before anything is written: one that is also an input (the profile or scenario file) or another output is refused (exit 2), ' +
    'and an existing output file is replaced only when it is a regular file this user can write.',
  positionals: [0, 0],
  options: [
    { name: 'profile', value: 'NAME|FILE', help: `firmware profile (${firmwareProfileNames().join(', ')})`, default: 'ovmf' },
    { name: 'acpi', value: 'DIR', help: 'write XSDT and the tables it lists here (xsdt.dat, spcr.dat, bert.dat, erst.dat)' },
    {
      name: 'vars',
      value: 'DIR',
      help: 'write the variables visible at runtime here, efivarfs layout (Name-GUID: 4-byte attributes, data)',
    },
    { name: 'fd', value: 'FILE', help: 'write the variable store as an edk2 variable firmware volume (OVMF_VARS.fd layout)' },
    {
      name: 'rsdp',
      value: 'FILE',
      help: 'write the 36-byte RSDP here (iasl 20200925 does not disassemble a standalone RSDP, so it is not in --acpi)',
    },
    { name: 'memory', value: 'SIZE', help: 'RAM of the machine the table addresses are laid out for', default: '4GiB' },
    { name: 'scenario', value: 'NAME|FILE', help: "apply this scenario's firmware overrides to the profile" },
    { name: 'help', help: 'show this help' },
  ],
};

export const firmwareListSpec: CommandSpec = {
  name: 'firmware list',
  usage: 'efikdump firmware list (--fd FILE | --vars DIR) [--all] [--json]',
  summary: 'Lists the variables of an edk2 variable-store volume (ours or OVMF_VARS.fd) or of an efivarfs directory.',
  positionals: [0, 0],
  options: [
    { name: 'fd', value: 'FILE', help: 'an edk2 variable firmware volume (a regular file of at most 64 MiB)' },
    { name: 'vars', value: 'DIR', help: 'an efivarfs directory' },
    { name: 'all', help: 'include deleted and half-written records of a volume' },
    { name: 'json', help: 'print as JSON' },
    { name: 'help', help: 'show this help' },
  ],
};

const SUBCOMMANDS = 'export, list, profiles';

/** A flash image larger than this is not read (OVMF's whole 4M image is 4 MiB; a variable store is a part of it). */
const FD_MAX_BYTES = 64 * 1024 * 1024;

function attributeNames(a: number): string {
  const names: [number, string][] = [
    [A.NON_VOLATILE, 'NV'],
    [A.BOOTSERVICE_ACCESS, 'BS'],
    [A.RUNTIME_ACCESS, 'RT'],
    [A.HARDWARE_ERROR_RECORD, 'HR'],
    [A.AUTHENTICATED_WRITE_ACCESS, 'AW'],
    [A.TIME_BASED_AUTHENTICATED_WRITE_ACCESS, 'AT'],
    [A.ENHANCED_AUTHENTICATED_ACCESS, 'EA'],
  ];
  return (
    names
      .filter(([bit]) => a & bit)
      .map(([, n]) => n)
      .join('|') || '0'
  );
}

export function exportFirmware(argv: string[], io: Output): number {
  const { options } = parseArgs(firmwareExportSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(firmwareExportSpec));
    return 0;
  }
  const str = (k: string) => (typeof options.get(k) === 'string' ? (options.get(k) as string) : undefined);
  const acpiDir = str('acpi');
  const varsDir = str('vars');
  const fdFile = str('fd');
  const rsdpFile = str('rsdp');
  if (!acpiDir && !varsDir && !fdFile && !rsdpFile)
    throw new ConfigError('nothing to write: give --acpi DIR, --vars DIR, --fd FILE or --rsdp FILE', { field: '--acpi' });
  let profile: FirmwareProfile = loadFirmwareProfile(str('profile') ?? 'ovmf', { field: '--profile' });
  const inputs: CommandPath[] = [{ path: profile.source, role: '--profile' }];
  const scenarioName = str('scenario');
  if (scenarioName) {
    const scenario = loadScenario(scenarioName);
    inputs.push({ path: scenario.source, role: '--scenario' });
    profile = applyFirmwareOverrides(profile, scenario);
  }
  const ramBytes = parseSize(str('memory') ?? '4GiB', '--memory');
  if (ramBytes < 256 * 1024 * 1024 || ramBytes % (1024 * 1024))
    throw new ConfigError('memory must be a whole number of MiB from 256MiB', { field: '--memory' });

  const fw = createFirmwareState(profile, [], (s) => firmwareReport(s));
  const store = new VariableStore(fw.nvram, profile);
  const acpi = buildAcpiTables(profile, buildMemoryMap(ramBytes), bootErrorEntries(profile, [], fw.erst));
  const acpiFiles = new Map(
    acpi.tables.filter((t) => t.signature !== 'RSD PTR ').map((t) => [t.fileName, t.bytes] as [string, Uint8Array]),
  );
  const outputs: CommandPath[] = [];
  if (acpiDir) outputs.push({ path: acpiDir, role: '--acpi', dir: true, files: [...acpiFiles.keys()] });
  if (varsDir) outputs.push({ path: varsDir, role: '--vars', dir: true });
  if (fdFile) outputs.push({ path: fdFile, role: '--fd' });
  if (rsdpFile) outputs.push({ path: rsdpFile, role: '--rsdp' });
  checkOutputs(outputs, inputs);
  if (acpiDir) {
    const files = acpiFiles;
    writeDirectoryAtomic(acpiDir, files);
    io.out(`${acpiDir}: ${[...files.keys()].join(', ')}`);
  }
  if (rsdpFile) {
    writeFileAtomic(rsdpFile, acpi.tables[0].bytes);
    io.out(`${rsdpFile}: RSDP revision 2, XSDT at 0x${acpi.tables[1].paddr.toString(16)}`);
  }
  if (varsDir) {
    const visible = store
      .visible(true)
      .map((l) => ({ name: l.record.name, guid: l.record.guid, attributes: l.record.attributes, data: l.record.data }));
    exportEfivarfs(varsDir, visible);
    io.out(`${varsDir}: ${visible.length} variables visible at runtime`);
  }
  if (fdFile) {
    const bytes = encodeVariableStoreFv({
      format: fw.nvram.format,
      nvramBytes: profile.nvramBytes,
      blockBytes: profile.nvramBlockBytes,
      records: fw.nvram.records,
    });
    writeFileAtomic(fdFile, bytes);
    const live = fw.nvram.records.filter((r) => isLiveRecord(fw.nvram.records, r)).length;
    io.out(
      `${fdFile}: ${bytes.length} bytes, ${fw.nvram.format} store of ${profile.nvramBytes} bytes, ${live} variables (${fw.nvram.records.length - live} deleted records)`,
    );
  }
  return 0;
}

export function listFirmware(argv: string[], io: Output): number {
  const { options } = parseArgs(firmwareListSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(firmwareListSpec));
    return 0;
  }
  const fd = options.get('fd');
  const vars = options.get('vars');
  if ((typeof fd === 'string') === (typeof vars === 'string'))
    throw new ConfigError('give exactly one of --fd FILE and --vars DIR', { field: '--fd' });
  let rows: { name: string; guid: string; attributes: number; size: number; state?: string }[];
  let header = '';
  if (typeof fd === 'string') {
    const bytes = new Uint8Array(readRegularFile(fd, FD_MAX_BYTES));
    const volume = decodeVariableStoreFv(bytes, fd);
    const all = options.has('all');
    rows = volume.records
      .filter((r) => all || isLiveRecord(volume.records, r))
      .map((r) => ({
        name: r.name,
        guid: r.guid,
        attributes: r.attributes,
        size: r.data.length,
        state: isLiveRecord(volume.records, r) ? 'valid' : `0x${r.state.toString(16)}`,
      }));
    header = `${fd}: ${volume.format} variable store, ${volume.nvramBytes} bytes, ${volume.records.length} records`;
  } else {
    rows = importEfivarfs(vars as string).map((v) => ({ name: v.name, guid: v.guid, attributes: v.attributes, size: v.data.length }));
    header = `${vars}: efivarfs, ${rows.length} variables`;
  }
  if (options.has('json')) {
    io.out(JSON.stringify(rows, null, 2));
    return 0;
  }
  io.out(header);
  for (const r of rows)
    io.out(
      `  ${r.guid}  ${r.name.padEnd(32)} ${attributeNames(r.attributes).padEnd(12)} ${String(r.size).padStart(6)} bytes${r.state && r.state !== 'valid' ? `  (state ${r.state})` : ''}`,
    );
  return 0;
}

/** `efikdump firmware <export|list|profiles>`. */
export function firmwareCommand(argv: string[], io: Output): number {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'export':
      return exportFirmware(rest, io);
    case 'list':
      return listFirmware(rest, io);
    case 'profiles':
      for (const name of firmwareProfileNames()) {
        const p = loadFirmwareProfile(name);
        io.out(`${name.padEnd(13)} ${`[${describeRetention(p)}]`.padEnd(26)} ${p.description}`);
      }
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.out(
        [
          `usage: efikdump firmware <${SUBCOMMANDS.replace(/, /g, '|')}> [options]`,
          '',
          commandHelp(firmwareExportSpec),
          '',
          commandHelp(firmwareListSpec),
        ].join('\n'),
      );
      return sub === undefined ? 2 : 0;
    default:
      throw new ConfigError(`unknown subcommand "${sub}" for "efikdump firmware" (known: ${SUBCOMMANDS})`, { field: 'firmware' });
  }
}
