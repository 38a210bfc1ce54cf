import { formatSize, hex, X86_64_REGS } from '@efikdump/core';
import { ElfCoreFile } from '@efikdump/vmcore';
import { commandHelp, parseArgs, type CommandSpec } from '../args';
import type { Output } from '../output';

export const inspectSpec: CommandSpec = {
  name: 'inspect',
  usage: 'efikdump inspect FILE [--json]',
  summary: 'Shows what an ELF vmcore holds: headers, segments, notes, VMCOREINFO and per-CPU registers.',
  positionals: [1, 1],
  options: [
    { name: 'json', help: 'print as JSON' },
    { name: 'help', help: 'show this help' },
  ],
};

export function inspectCommand(argv: string[], io: Output): number {
  const { options, positionals } = parseArgs(inspectSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(inspectSpec));
    return 0;
  }
  const core = ElfCoreFile.open(positionals[0]);
  try {
    const vmcoreinfo = core.vmcoreinfo();
    const cpus = core.prstatus();
    const summary = {
      file: positionals[0],
      type: core.header.type === 4 ? 'ET_CORE' : String(core.header.type),
      machine: core.header.machine,
      segments: core.phdrs.map((p) => ({ type: p.type === 1 ? 'LOAD' : p.type === 4 ? 'NOTE' : String(p.type), offset: p.offset, paddr: p.paddr, vaddr: '0x' + p.vaddr.toString(16), size: p.filesz })),
      notes: core.notes().map((n) => ({ name: n.name, type: n.type, size: n.desc.length })),
      vmcoreinfo: vmcoreinfo ? Object.fromEntries(vmcoreinfo) : null,
      cpus: cpus.map((c) => ({ cpu: c.cpu, pid: c.pid, regs: Object.fromEntries(X86_64_REGS.map((r, i) => [r, '0x' + c.regs[i].toString(16)])) })),
    };
    if (options.has('json')) {
      io.out(JSON.stringify(summary, null, 2));
      return 0;
    }
    io.out(`${summary.file}: ELF64 ${summary.type}, machine ${summary.machine}, ${summary.segments.length} program headers`);
    io.out('segments:');
    for (const s of summary.segments) io.out(`  ${s.type.padEnd(5)} offset ${hex(s.offset).padStart(12)} paddr ${hex(s.paddr).padStart(12)} vaddr ${s.vaddr.padStart(18)} ${formatSize(s.size)}`);
    io.out('notes:');
    for (const n of summary.notes) io.out(`  ${n.name.padEnd(12)} type ${n.type} (${n.size} bytes)`);
    if (vmcoreinfo) {
      io.out('VMCOREINFO:');
      for (const [k, v] of vmcoreinfo) io.out(`  ${k}=${v}`);
    }
    for (const c of summary.cpus) {
      io.out(`CPU ${c.cpu}: pid ${c.pid}`);
      const regs = Object.entries(c.regs);
      for (let i = 0; i < regs.length; i += 4) io.out('  ' + regs.slice(i, i + 4).map(([r, v]) => `${r.padStart(8)}=${v.padStart(18)}`).join(' '));
    }
    return 0;
  } finally {
    core.close();
  }
}
