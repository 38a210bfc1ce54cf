import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import {
  AtomicFile,
  ConfigError,
  EHDR_SIZE,
  encodeElfHeader,
  encodeProgramHeader,
  ET_CORE,
  EM_X86_64,
  formatSize,
  hex,
  IoError,
  MiB,
  PAGE_SIZE,
  parseSize,
  PF_R,
  PF_W,
  PF_X,
  PHDR_SIZE,
  PT_LOAD,
  PT_NOTE,
  alignUp,
  encodeNote,
  encodeLostRanges,
  LOST_RANGES_NOTE_NAME,
  NT_EFIKDUMP_LOST_RANGES,
  mergeRanges,
  subtractRanges,
  intersectRanges,
  type LostRange,
  type PhysRange,
} from '@efikdump/core';
import {
  createGptImage,
  DDR_PLAN_SECTION_NAME,
  FIRMWARE_OWN_SECTION_NAME,
  decodeRedactedRanges,
  ESP_TYPE_GUID,
  OFFLINE_DUMP_PARTITION_TYPE_GUID,
  OfflineDumpReader,
  RawDumpFlags,
  REDACTED_SECTION_NAME,
  SEALED_VMCORE_SECTION,
  SectionFlags,
  SectionType,
  SystemArchitecture,
  type RawDumpSection,
  type SealedFormat,
} from '@efikdump/firmware-uefi';
import { convertDump, parseConvertOptions } from '@efikdump/vmcore';
import { commandHelp, parseArgs, type CommandSpec } from '../args';
import type { Output } from '../output';

export const dumpSpec: CommandSpec = {
  name: 'dump',
  usage: 'efikdump dump <extract|info|disk> DISK.img|CONTAINER [--key private.pem] [-o OUT] [--format elf|kdump] [--size N] [--json]',
  summary:
    'Offline crash dumps written by firmware (OffCD-style) on a GPT disk image. ' +
    '`extract` finds the dump partition (GPT CRCs checked), checks the headers, unwraps the key with --key and authenticates ' +
    'an encrypted dump before anything is decrypted, and writes an ELF (or kdump-compressed) vmcore: one PT_LOAD per DDR range, ' +
    'redacted ranges absent; a container sealed by `convert --encrypt-to` gives back its vmcore. `info` prints the headers. `disk` creates an empty GPT image with an ESP and a dump partition.',
  positionals: [2, 2],
  options: [
    { name: 'key', value: 'FILE', help: 'PEM private key of the certificate the dump was encrypted to' },
    { name: 'out', value: 'FILE', help: 'output vmcore (also -o)' },
    { name: 'format', value: 'elf|kdump', help: 'output format of extract', default: 'elf' },
    { name: 'size', value: 'N', help: 'disk size for `disk` (the dump partition takes what the 64 MiB ESP leaves)', default: '2G' },
    { name: 'json', help: 'print the result as JSON' },
    { name: 'help', help: 'show this help' },
  ],
};

/** x86-64 direct map, where the PT_LOADs of a kernel vmcore place RAM (PAGE_OFFSET without KASLR). */
const X86_64_PAGE_OFFSET = 0xffff_8880_0000_0000n;
const EM_AARCH64 = 183;
const COPY_CHUNK_BYTES = 1 * MiB;

function loadKey(path: string): KeyObject {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (e) {
    throw new IoError(`cannot read the private key: ${(e as Error).message}`, { file: path });
  }
  try {
    return createPrivateKey(text);
  } catch (e) {
    throw new ConfigError(`not a PEM or DER private key: ${(e as Error).message.split('\n')[0]}`, { file: path, field: '--key' });
  }
}

function openDump(disk: string, keyPath: string | undefined): OfflineDumpReader {
  const reader = OfflineDumpReader.open(disk);
  try {
    if (reader.encrypted) {
      if (!keyPath)
        throw new ConfigError('the dump is encrypted (Enc_Dmp!): give the private key with --key private.pem', {
          file: disk,
          field: '--key',
        });
      reader.unlock(loadKey(keyPath));
    }
    reader.headers();
    return reader;
  } catch (e) {
    reader.close();
    throw e;
  }
}

export interface ElfExtractResult {
  loads: number;
  bytes: number;
  dataBytes: number;
  redacted: PhysRange[];
  /** Pages declared in the lost-ranges note (the partition was too small for them). */
  lostPages: number;
  truncatedSections: number;
}

/** Writes the DDR sections of an opened (authenticated) dump as an ELF core: one PT_LOAD each, zero chunks as holes. */
export function extractElf(reader: OfflineDumpReader, out: string, onProgress?: (done: number, total: number) => void): ElfExtractResult {
  const { sections } = reader.headers();
  const ddr = sections.filter(
    (s) => s.type === SectionType.ddrRange && s.size > 0 && s.flags & (SectionFlags.valid | SectionFlags.insufficientStorage),
  );
  const sys = sections.find((s) => s.type === SectionType.systemInformation)?.information;
  const machine = sys?.kind === 'system-information' && sys.architecture === SystemArchitecture.arm64 ? EM_AARCH64 : EM_X86_64;
  const redactedSection = sections.find((s) => s.type === SectionType.svSpecific && s.name === REDACTED_SECTION_NAME && s.size > 0);
  const redacted = redactedSection ? decodeRedactedRanges(reader.readRaw(redactedSection.offset, redactedSection.size)) : [];
  // Pages the writer meant to save but could not (partition full) are declared in the lost-ranges note.
  const planSection = sections.find(
    (s) => s.type === SectionType.svSpecific && s.name === DDR_PLAN_SECTION_NAME && s.flags & SectionFlags.valid && s.size > 0,
  );
  const written = ddr.map((s) => ({
    start: s.information.kind === 'ddr-range' ? s.information.base : 0,
    end: (s.information.kind === 'ddr-range' ? s.information.base : 0) + s.size,
  }));
  // The firmware's own allocations it left out (efikdump-fw-own) are its footprint; the rest of the plan not written was cut.
  const ownSection = sections.find(
    (s) => s.type === SectionType.svSpecific && s.name === FIRMWARE_OWN_SECTION_NAME && s.flags & SectionFlags.valid && s.size > 0,
  );
  const own = ownSection ? mergeRanges(decodeRedactedRanges(reader.readRaw(ownSection.offset, ownSection.size))) : [];
  const unwritten = planSection
    ? subtractRanges(mergeRanges(decodeRedactedRanges(reader.readRaw(planSection.offset, planSection.size))), mergeRanges(written))
    : [];
  const lost: LostRange[] = [
    ...intersectRanges(unwritten, own).map((r) => ({ ...r, reason: 'firmware-footprint' as const })),
    ...subtractRanges(unwritten, own).map((r) => ({ ...r, reason: 'unreadable' as const })),
  ].sort((a, b) => a.start - b.start);
  const note = lost.length ? encodeNote(LOST_RANGES_NOTE_NAME, NT_EFIKDUMP_LOST_RANGES, encodeLostRanges(lost)) : undefined;
  const phoff = EHDR_SIZE;
  const phnum = ddr.length + (note ? 1 : 0);
  const noteOffset = phoff + PHDR_SIZE * phnum;
  let offset = alignUp(noteOffset + (note?.length ?? 0), PAGE_SIZE);
  const layout = ddr.map((s: RawDumpSection) => {
    const base = s.information.kind === 'ddr-range' ? s.information.base : 0;
    const l = { s, base, offset };
    offset += s.size;
    return l;
  });
  const total = offset;
  const file = new AtomicFile(out);
  try {
    file.writeAt(encodeElfHeader({ type: ET_CORE, machine, flags: 0, phoff, phnum }), 0);
    if (note) {
      file.writeAt(
        encodeProgramHeader({
          type: PT_NOTE,
          flags: 0,
          offset: noteOffset,
          vaddr: 0n,
          paddr: 0,
          filesz: note.length,
          memsz: note.length,
          align: 4,
        }),
        phoff,
      );
      file.writeAt(note, noteOffset);
    }
    const firstLoad = note ? 1 : 0;
    layout.forEach((l, i) =>
      file.writeAt(
        encodeProgramHeader({
          type: PT_LOAD,
          flags: PF_R | PF_W | PF_X,
          offset: l.offset,
          vaddr: machine === EM_X86_64 ? X86_64_PAGE_OFFSET + BigInt(l.base) : 0n,
          paddr: l.base,
          filesz: l.s.size,
          memsz: l.s.size,
          align: PAGE_SIZE,
        }),
        phoff + (firstLoad + i) * PHDR_SIZE,
      ),
    );
    let dataBytes = 0;
    let done = 0;
    for (const l of layout) {
      for (let p = 0; p < l.s.size; p += COPY_CHUNK_BYTES) {
        const n = Math.min(COPY_CHUNK_BYTES, l.s.size - p);
        const data = reader.readRaw(l.s.offset + p, n);
        if (data.some((b) => b !== 0)) {
          file.writeAt(data, l.offset + p);
          dataBytes += n;
        }
        done += n;
        if (onProgress && done % (64 * MiB) === 0) onProgress(done, total);
      }
    }
    file.commit(total);
    return {
      loads: ddr.length,
      bytes: total,
      dataBytes,
      redacted,
      lostPages: lost.reduce((n, r) => n + (r.end - r.start) / PAGE_SIZE, 0),
      truncatedSections: sections.filter((s) => s.flags & SectionFlags.insufficientStorage).length,
    };
  } catch (e) {
    file.abort();
    throw e;
  }
}

/** The vmcore a sealed container (`sealDumpFile`) holds, if that is what this dump is. */
function sealedVmcore(reader: OfflineDumpReader): { section: RawDumpSection; format: SealedFormat } | undefined {
  const { sections } = reader.headers();
  if (sections.some((s) => s.type === SectionType.ddrRange)) return undefined;
  for (const format of Object.keys(SEALED_VMCORE_SECTION) as SealedFormat[]) {
    const section = sections.find((s) => s.type === SectionType.svSpecific && s.name === SEALED_VMCORE_SECTION[format]);
    if (section) return { section, format };
  }
  return undefined;
}

function copySection(reader: OfflineDumpReader, section: RawDumpSection, out: string): void {
  const file = new AtomicFile(out);
  try {
    for (let p = 0; p < section.size; p += COPY_CHUNK_BYTES)
      file.writeAt(reader.readRaw(section.offset + p, Math.min(COPY_CHUNK_BYTES, section.size - p)), p);
    file.commit(section.size);
  } catch (e) {
    file.abort();
    throw e;
  }
}

function describe(reader: OfflineDumpReader): Record<string, unknown> {
  const { header, sections } = reader.headers();
  const flagNames = (Object.keys(RawDumpFlags) as (keyof typeof RawDumpFlags)[]).filter((k) => header.flags & RawDumpFlags[k]);
  return {
    partition: reader.partition
      ? {
          index: reader.partition.index + 1,
          firstLba: reader.partition.firstLba,
          lastLba: reader.partition.lastLba,
          name: reader.partition.name,
        }
      : null,
    encrypted: reader.encrypted,
    flags: flagNames,
    osData: hex(header.osData),
    dumpSize: header.dumpSize,
    totalDumpSizeRequired: header.totalDumpSizeRequired,
    sections: sections.map((s) => ({
      name: s.name,
      type: s.type,
      flags: s.flags,
      offset: s.offset,
      size: s.size,
      information: s.information,
    })),
  };
}

export async function dumpCommand(argv: string[], io: Output): Promise<number> {
  const { options, positionals } = parseArgs(dumpSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(dumpSpec));
    return 0;
  }
  const str = (k: string): string | undefined => (typeof options.get(k) === 'string' ? (options.get(k) as string) : undefined);
  const [sub, disk] = positionals;
  const json = options.has('json');
  if (sub === 'disk') {
    const size = parseSize(str('size') ?? '2G', '--size');
    const esp = 64 * MiB;
    if (size < esp + 8 * MiB) throw new ConfigError(`--size must be at least ${formatSize(esp + 8 * MiB)}`, { field: '--size' });
    const layout = createGptImage(disk, size, [
      { typeGuid: ESP_TYPE_GUID, name: 'EFI system partition', sizeBytes: esp },
      { typeGuid: OFFLINE_DUMP_PARTITION_TYPE_GUID, name: 'offline crash dump', sizeBytes: size - esp - 2 * MiB },
    ]);
    io.out(
      json
        ? JSON.stringify(layout, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2)
        : `${disk}: ${formatSize(size)} GPT disk, ESP and an offline-dump partition (type ${OFFLINE_DUMP_PARTITION_TYPE_GUID})`,
    );
    return 0;
  }
  if (sub !== 'extract' && sub !== 'info')
    throw new ConfigError(`unknown dump subcommand "${sub}" (known: extract, info, disk)`, { field: 'dump' });
  const reader = openDump(disk, str('key'));
  try {
    if (sub === 'info') {
      const d = describe(reader);
      io.out(
        json
          ? JSON.stringify(d, null, 2)
          : [
              `${disk}: ${reader.partition ? `partition ${reader.partition.index + 1}` : 'container file'}, ${reader.encrypted ? 'encrypted (AES-128-CTR, authenticated)' : 'not encrypted'}`,
              `flags ${(d.flags as string[]).join(', ') || 'none'}; DumpSize ${formatSize(d.dumpSize as number)} of ${formatSize(d.totalDumpSizeRequired as number)} required; OsData ${d.osData as string}`,
              ...(d.sections as { name: string; size: number; flags: number }[]).map(
                (s) =>
                  `  ${s.name.padEnd(20)} ${formatSize(s.size).padStart(10)}${s.flags & SectionFlags.insufficientStorage ? '  (cut short: insufficient storage)' : ''}`,
              ),
            ].join('\n'),
      );
      return 0;
    }
    const out = str('out');
    if (!out) throw new ConfigError('-o OUT is required', { field: '-o' });
    const format = str('format') ?? 'elf';
    if (format !== 'elf' && format !== 'kdump')
      throw new ConfigError(`--format expects elf or kdump, found "${format}"`, { field: '--format' });
    const sealed = sealedVmcore(reader);
    if (sealed) {
      if (options.has('format') && format !== sealed.format)
        throw new ConfigError(
          `the container holds a ${sealed.format} vmcore (sealed by convert --encrypt-to); drop --format or use --format ${sealed.format}`,
          { field: '--format' },
        );
      copySection(reader, sealed.section, out);
      io.out(
        `${out}: ${sealed.format} vmcore, ${formatSize(sealed.section.size)}, unsealed${reader.encrypted ? ', decrypted and authenticated' : ''}`,
      );
      return 0;
    }
    const elfPath = format === 'elf' ? out : join(dirname(out), `.${basename(out)}.${process.pid}.elf.tmp`);
    let r: ElfExtractResult;
    try {
      r = extractElf(reader, elfPath);
      if (format === 'kdump')
        await convertDump(elfPath, out, { ...parseConvertOptions({ format: 'kdump', compress: 'zlib', dumpLevel: '0' }) });
    } finally {
      if (format === 'kdump') rmSync(elfPath, { force: true });
    }
    const { header } = reader.headers();
    const result = {
      disk,
      out,
      format,
      encrypted: reader.encrypted,
      loads: r.loads,
      elfBytes: r.bytes,
      dataBytes: r.dataBytes,
      redactedPages: r.redacted.reduce((s, x) => s + (x.end - x.start) / PAGE_SIZE, 0),
      insufficientStorage: (header.flags & RawDumpFlags.insufficientStorage) !== 0,
      truncatedSections: r.truncatedSections,
      lostPages: r.lostPages,
    };
    if (json) io.out(JSON.stringify(result, null, 2));
    else {
      const notes = [
        result.redactedPages ? `${result.redactedPages} redacted pages left out by the firmware` : '',
        result.insufficientStorage
          ? `INSUFFICIENT_STORAGE: ${r.truncatedSections} sections cut short (${formatSize(header.dumpSize)} of ${formatSize(header.totalDumpSizeRequired)}), ${r.lostPages} pages declared lost`
          : '',
      ].filter(Boolean);
      io.out(
        `${out}: ${format} vmcore, ${r.loads} PT_LOADs, ${formatSize(r.dataBytes)} of data${reader.encrypted ? ', decrypted and authenticated' : ''}${notes.length ? '; ' + notes.join('; ') : ''}`,
      );
    }
    return 0;
  } finally {
    reader.close();
  }
}
