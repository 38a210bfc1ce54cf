import { formatSize, hex, PT_LOAD, PT_NOTE, X86_64_REGS } from '@efikdump/core/base';
import {
  ElfCoreFile,
  KdumpCompressedFile,
  openDumpFile,
  compressionFlag,
  COMPRESSIONS,
  DUMP_DH_COMPRESSED_INCOMPLETE,
  type CpuRegisters,
} from '@efikdump/vmcore/files';
import { commandHelp, parseArgs, type CommandSpec } from '../args';
import type { Output } from '../output';

export const inspectSpec: CommandSpec = {
  name: 'inspect',
  usage: 'efikdump inspect FILE [--json]',
  summary:
    "Shows what a dump holds: an ELF vmcore's headers and segments, or a kdump-compressed file's headers and bitmaps; notes, VMCOREINFO and per-CPU registers.",
  positionals: [1, 1],
  options: [
    { name: 'json', help: 'print as JSON' },
    { name: 'help', help: 'show this help' },
  ],
};

const regsOf = (cpus: CpuRegisters[]) =>
  cpus.map((c) => ({ cpu: c.cpu, pid: c.pid, regs: Object.fromEntries(X86_64_REGS.map((r, i) => [r, '0x' + c.regs[i].toString(16)])) }));

function elfSummary(file: string, core: ElfCoreFile) {
  return {
    file,
    format: 'elf' as const,
    type: core.header.type === 4 ? 'ET_CORE' : String(core.header.type),
    machine: core.header.machine,
    flags: core.header.flags,
    segments: core.phdrs.map((p) => ({
      type: p.type === PT_LOAD ? 'LOAD' : p.type === PT_NOTE ? 'NOTE' : String(p.type),
      offset: p.offset,
      paddr: p.paddr,
      vaddr: '0x' + p.vaddr.toString(16),
      size: p.filesz,
      memsz: p.memsz,
    })),
  };
}

function kdumpSummary(file: string, dump: KdumpCompressedFile) {
  const h = dump.header;
  const s = dump.subHeader;
  const compression = COMPRESSIONS.find((c) => compressionFlag[c] && h.status & compressionFlag[c]) ?? 'none';
  let ramFrames = 0;
  const chunk = new Uint8Array(64 * 1024);
  for (let pfn = 0; pfn < dump.maxMapnr; pfn += chunk.length * 8) {
    dump.readBitmap(1, pfn, chunk);
    for (const b of chunk) ramFrames += popcount(b);
  }
  return {
    file,
    format: 'kdump-compressed' as const,
    signature: h.signature,
    headerVersion: h.headerVersion,
    utsname: h.utsname,
    timestamp: h.timestampSec,
    status: h.status,
    compression,
    incomplete: (h.status & DUMP_DH_COMPRESSED_INCOMPLETE) !== 0,
    blockSize: h.blockSize,
    nrCpus: h.nrCpus,
    dumpLevel: s.dumpLevel,
    physBase: '0x' + s.physBase.toString(16),
    maxMapnr: dump.maxMapnr,
    ramFrames,
    dumpedFrames: dump.dumpedFrames(),
  };
}

function popcount(b: number): number {
  let n = 0;
  for (let x = b; x; x >>= 1) n += x & 1;
  return n;
}

export function inspectCommand(argv: string[], io: Output): number {
  const { options, positionals } = parseArgs(inspectSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(inspectSpec));
    return 0;
  }
  const file = positionals[0];
  const dump = openDumpFile(file);
  try {
    const vmcoreinfo = dump.vmcoreinfo();
    const common = {
      notes: dump.notes().map((n) => ({ name: n.name, type: n.type, size: n.desc.length })),
      vmcoreinfo: vmcoreinfo ? Object.fromEntries(vmcoreinfo) : null,
      cpus: regsOf(dump.prstatus()),
    };
    const head = dump instanceof ElfCoreFile ? elfSummary(file, dump) : kdumpSummary(file, dump);
    const summary = { ...head, ...common };
    if (options.has('json')) {
      io.out(JSON.stringify(summary, null, 2));
      return 0;
    }
    if (head.format === 'elf') {
      io.out(
        `${file}: ELF64 ${head.type}, machine ${head.machine}, ${head.segments.length} program headers${head.flags & 1 ? ', incomplete (e_flags bit 0)' : ''}`,
      );
      io.out('segments:');
      for (const s of head.segments) {
        io.out(
          `  ${s.type.padEnd(5)} offset ${hex(s.offset).padStart(12)} paddr ${hex(s.paddr).padStart(12)} vaddr ${s.vaddr.padStart(18)} ${formatSize(s.size)}${s.memsz !== s.size ? ` (memsz ${formatSize(s.memsz)})` : ''}`,
        );
      }
    } else {
      io.out(
        `${file}: kdump-compressed, header version ${head.headerVersion}, ${head.compression}${head.incomplete ? ', INCOMPLETE' : ''}, dump level ${head.dumpLevel}, block size ${head.blockSize}`,
      );
      io.out(`  ${head.utsname.sysname} ${head.utsname.nodename} ${head.utsname.release} ${head.utsname.version} ${head.utsname.machine}`);
      io.out(
        `  crash time ${head.timestamp ? new Date(head.timestamp * 1000).toISOString() : 'unknown'}, ${head.nrCpus} CPUs, phys_base ${head.physBase}`,
      );
      io.out(
        `  max_mapnr ${head.maxMapnr} (${formatSize(head.maxMapnr * head.blockSize)}), ${head.ramFrames} frames of RAM, ${head.dumpedFrames} dumped`,
      );
    }
    io.out('notes:');
    for (const n of common.notes) io.out(`  ${n.name.padEnd(12)} type ${n.type} (${n.size} bytes)`);
    if (vmcoreinfo) {
      io.out('VMCOREINFO:');
      for (const [k, v] of vmcoreinfo) io.out(`  ${k}=${v}`);
    }
    for (const c of common.cpus) {
      io.out(`CPU ${c.cpu}: pid ${c.pid}`);
      const regs = Object.entries(c.regs);
      for (let i = 0; i < regs.length; i += 4)
        io.out(
          '  ' +
            regs
              .slice(i, i + 4)
              .map(([r, v]) => `${r.padStart(8)}=${v.padStart(18)}`)
              .join(' '),
        );
    }
    return 0;
  } finally {
    dump.close();
  }
}
