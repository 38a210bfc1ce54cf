import { readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError, formatSize, IoError } from '@efikdump/core';
import { loadRsaCertificate, sealDumpFile } from '@efikdump/firmware-uefi';
import { convertDump, defaultThreads, parseConvertOptions, WRITABLE_COMPRESSIONS } from '@efikdump/vmcore';
import { commandHelp, parseArgs, type CommandSpec } from '../args';
import type { Output } from '../output';

export const convertSpec: CommandSpec = {
  name: 'convert',
  usage: 'efikdump convert VMCORE -o OUT [--format kdump|elf] [--compress zlib|none] [--dump-level N] [--threads N] [--encrypt-to CERT] [--json]',
  summary: 'Does makedumpfile\'s job on real files: an ELF vmcore (ours or a saved /proc/vmcore) or a kdump-compressed dump, '
    + 'written as kdump-compressed or ELF without the pages the dump level excludes. OUT appears only when complete.',
  positionals: [1, 1],
  options: [
    { name: 'out', value: 'FILE', help: 'output file (also -o)' },
    { name: 'format', value: 'kdump|elf', help: 'kdump-compressed (makedumpfile -c/-l/...) or ELF (makedumpfile -E)', default: 'kdump' },
    { name: 'compress', value: WRITABLE_COMPRESSIONS.join('|'), help: 'per-page compression of the kdump format', default: 'zlib' },
    { name: 'dump-level', value: 'N', help: '0..31 as makedumpfile -d: 1 zero, 2 cache, 4 cache+private, 8 user, 16 free pages', default: '1' },
    { name: 'threads', value: 'N', help: 'compression worker threads', default: 'number of CPUs' },
    { name: 'encrypt-to', value: 'CERT', help: 'seal OUT in the Enc_Dmp! container (AES-128-CTR, key to this X.509 certificate, MAC); open with efikdump dump extract --key' },
    { name: 'json', help: 'print the result as JSON' },
    { name: 'help', help: 'show this help' },
  ],
};

/** Reads and checks the --encrypt-to certificate before any conversion work. */
function readCertificate(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new IoError(`cannot read the certificate: ${(e as Error).message}`, { file: path, field: '--encrypt-to' });
  }
  loadRsaCertificate(bytes, { file: path });
  return bytes;
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
  const threadsText = str('threads');
  let threads: number | undefined;
  if (threadsText !== undefined) {
    threads = /^\d+$/.test(threadsText) ? Number(threadsText) : NaN;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new ConfigError(`--threads expects an integer from 1 to 256, found "${threadsText}"`, { field: '--threads' });
    }
  }
  const parsed = parseConvertOptions({ format: str('format'), compress: str('compress'), dumpLevel: str('dump-level'), threads });
  const json = options.has('json');
  let last = '';
  const started = Date.now();
  const certPath = str('encrypt-to');
  const certificate = certPath === undefined ? undefined : readCertificate(certPath);
  const target = certificate ? join(dirname(out), `.${basename(out)}.${process.pid}.plain.tmp`) : out;
  const converted = await convertDump(positionals[0], target, {
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
      const sealed = sealDumpFile(target, out, converted.format, certificate);
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
  const left = Object.entries(result.excluded).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
  io.out(`${result.output}: ${result.format === 'kdump' ? `kdump-compressed (${result.compress})` : 'ELF'}, dump level ${result.dumpLevel}, ${formatSize(result.bytes)} from ${formatSize(result.inputBytes)} in ${seconds.toFixed(2)} s`);
  if (result.classifiedBy) io.out(`  pages classified from ${result.classifiedBy}`);
  if (result.dumpedFrames !== undefined) io.out(`  ${result.dumpedFrames} pages dumped (${result.zeroFrames} zero, shared), ${result.threads ?? defaultThreads()} compression threads`);
  io.out(`  pages left out: ${left}`);
  if (certificate) io.out(`  sealed: Enc_Dmp! container, AES-128-CTR, key to ${certPath}, HMAC-SHA256 trailer (efikdump dump extract --key)`);
  return 0;
}
