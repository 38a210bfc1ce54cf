import { rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { checkOutputs, ConfigError, formatSize } from '@efikdump/core/base';
import {
  convertDump,
  defaultThreads,
  detectDumpFormat,
  DUMP_DH_COMPRESSED_INCOMPLETE,
  ElfCoreFile,
  KdumpCompressedFile,
  parseConvertOptions,
  WRITABLE_COMPRESSIONS,
} from '@efikdump/vmcore/files';
import { commandHelp, integerOption, parseArgs, type CommandSpec } from '../args';
import type { Output } from '../output';

export const convertSpec: CommandSpec = {
  name: 'convert',
  usage:
    'efikdump convert VMCORE -o OUT [--format kdump|elf] [--compress zlib|lzo|zstd|snappy|none] [--dump-level N] [--threads N] [--encrypt-to CERT] [--json]',
  summary:
    "Does makedumpfile's job on real files: an ELF vmcore (ours or a saved /proc/vmcore) or a kdump-compressed dump, " +
    'written as kdump-compressed or ELF without the pages the dump level excludes. OUT appears only when complete. ' +
    'OUT may not be VMCORE (by path, symlink or hard link); an existing OUT is replaced only when it is a regular file this user can write. ' +
    'An input that declares itself incomplete (kdump INCOMPLETE flag, ELF e_flags bit 0) is refused: the output would claim to be complete. ' +
    'Exit codes: 0 written, 2 refused (usage, unsafe output, incomplete input), 3 malformed input, 6 unreadable input or unwritable output.',
  positionals: [1, 1],
  options: [
    { name: 'out', value: 'FILE', help: 'output file (also -o)' },
    { name: 'format', value: 'kdump|elf', help: 'kdump-compressed (makedumpfile -c/-l/...) or ELF (makedumpfile -E)', default: 'kdump' },
    { name: 'compress', value: WRITABLE_COMPRESSIONS.join('|'), help: 'per-page compression of the kdump format', default: 'zlib' },
    {
      name: 'dump-level',
      value: 'N',
      help: '0..31 as makedumpfile -d: 1 zero, 2 cache, 4 cache+private, 8 user, 16 free pages',
      default: '1',
    },
    { name: 'threads', value: 'N', help: 'compression worker threads (kdump format only)', default: 'number of CPUs' },
    {
      name: 'encrypt-to',
      value: 'CERT',
      help: 'seal OUT in the Enc_Dmp! container (AES-128-CTR, key to this X.509 certificate, MAC); open with efikdump dump extract --key',
    },
    { name: 'json', help: 'print the result as JSON' },
    { name: 'help', help: 'show this help' },
  ],
};

/**
 * Refuses an input that says it is incomplete: neither output format carries that mark over
 * here, so the output would claim to hold everything (makedumpfile keeps the flag; we refuse).
 */
function refuseIncomplete(input: string): void {
  if (detectDumpFormat(input) === 'kdump-compressed') {
    const dump = KdumpCompressedFile.open(input);
    try {
      if (dump.header.status & DUMP_DH_COMPRESSED_INCOMPLETE) {
        throw new ConfigError(
          'is an INCOMPLETE kdump-compressed dump (status flag DUMP_DH_COMPRESSED_INCOMPLETE): convert refuses it rather than write a dump that claims to be complete',
          { file: input },
        );
      }
    } finally {
      dump.close();
    }
    return;
  }
  const dump = ElfCoreFile.open(input);
  try {
    if (dump.header.flags & 1) {
      throw new ConfigError(
        'is an ELF vmcore marked incomplete (e_flags bit 0): convert refuses it rather than write a dump that claims to be complete',
        { file: input },
      );
    }
  } finally {
    dump.close();
  }
}

/** Reads and checks the --encrypt-to certificate before any conversion work. */
// The offline-dump container lives in firmware-uefi: loaded only when --encrypt-to is given (start-up, docs/performance.md).

const offlineDump = () => {
  // firmware-uefi's plug-ins are decorated classes: tsyringe needs the Reflect polyfill first
  // (convert itself runs without it, see commands/registry.ts).
  require('reflect-metadata');
  return require('@efikdump/firmware-uefi') as typeof import('@efikdump/firmware-uefi');
};

function readCertificate(path: string): Uint8Array {
  return offlineDump().OFFCD_DUMP_SEALER.readCertificate(path, { file: path, field: '--encrypt-to' });
}

export async function convertCommand(argv: string[], io: Output): Promise<number> {
  const { options, positionals } = parseArgs(convertSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(convertSpec));
    return 0;
  }
  const str = (k: string) => (typeof options.get(k) === 'string' ? (options.get(k) as string) : undefined);
  const out = str('out');
  if (!out) throw new ConfigError('-o OUT is required', { field: '-o' });
  const threads = integerOption(options.get('threads'), 'threads', 1, 256);
  const parsed = parseConvertOptions({ format: str('format'), compress: str('compress'), dumpLevel: str('dump-level'), threads });
  if (parsed.format === 'elf' && threads !== undefined) {
    throw new ConfigError('the ELF format is written without compression threads; drop --threads or use --format kdump', {
      field: '--threads',
    });
  }
  const input = positionals[0];
  checkOutputs([{ path: out, role: '-o' }], [{ path: input, role: 'VMCORE' }]);
  refuseIncomplete(input);
  const json = options.has('json');
  let last = '';
  const started = Date.now();
  const certPath = str('encrypt-to');
  const certificate = certPath === undefined ? undefined : readCertificate(certPath);
  const target = certificate ? join(dirname(out), `.${basename(out)}.${process.pid}.plain.tmp`) : out;
  const converted = await convertDump(input, target, {
    ...parsed,
    onProgress: ({ done, total }) => {
      if (json) return;
      const pct = total ? Math.floor((100 * done) / total) : 100;
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      const line = `convert: [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)} %`;
      if (line === last) return;
      if (io.tty) io.err(`\x1b[1A\x1b[2K${line}`);
      else if (pct % 10 === 0 || done === total) io.err(line);
      last = line;
    },
  });
  let result = converted;
  if (certificate) {
    try {
      const sealed = offlineDump().sealDumpFile(target, out, converted.format, certificate);
      result = { ...converted, output: out, bytes: sealed.bytes };
    } finally {
      rmSync(target, { force: true });
    }
  }
  const seconds = (Date.now() - started) / 1000;
  if (json) {
    io.out(JSON.stringify({ ...result, seconds }, null, 2));
    return 0;
  }
  const left =
    Object.entries(result.excluded)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ') || 'none';
  io.out(
    `${result.output}: ${result.format === 'kdump' ? `kdump-compressed (${result.compress})` : 'ELF'}, dump level ${result.dumpLevel}, ${formatSize(result.bytes)} from ${formatSize(result.inputBytes)} in ${seconds.toFixed(2)} s`,
  );
  if (result.classifiedBy) io.out(`  pages classified from ${result.classifiedBy}`);
  if (result.dumpedFrames !== undefined)
    io.out(
      `  ${result.dumpedFrames} pages dumped (${result.zeroFrames} zero, shared), ${result.threads ?? defaultThreads()} compression threads`,
    );
  io.out(`  pages left out: ${left}`);
  if (certificate)
    io.out(`  sealed: Enc_Dmp! container, AES-128-CTR, key to ${certPath}, HMAC-SHA256 trailer (efikdump dump extract --key)`);
  return 0;
}
