import { ConfigError, type RunContext, type VmcoreView } from '@efikdump/core';
import { parseDumpLevel } from '../dump-level/dump-level';
import { ElfImageSource, type PositionalReader } from '../source/elf-image-source';
import { parseCompression, type CompressionName } from './kdump-compressed/compression';

/**
 * Options a dump writer plug-in reads from the run's options when they are there (`dumpLevel`,
 * `compress`, `threads`: what `efikdump run --dump-level/--compress` would set), else its defaults.
 */
export interface DumpWriterOptions {
  dumpLevel?: number;
  compress?: string;
  threads?: number;
}

export function writerOptions(ctx: RunContext, defaults: { dumpLevel: number; compress: CompressionName }): { dumpLevel: number; compress: CompressionName; threads?: number } {
  const o = ctx.options as Partial<DumpWriterOptions>;
  const dumpLevel = o.dumpLevel === undefined ? defaults.dumpLevel : parseDumpLevel(o.dumpLevel, 'dumpLevel');
  const compress = o.compress === undefined ? defaults.compress : parseCompression(String(o.compress), 'compress');
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1 && o.threads <= 256)) {
    throw new ConfigError(`threads must be an integer from 1 to 256, found ${o.threads}`, { field: 'threads' });
  }
  return { dumpLevel, compress, threads: o.threads };
}

/** /proc/vmcore as an ELF image a writer reads like a file. */
export function procVmcoreSource(view: VmcoreView): ElfImageSource {
  const reader: PositionalReader = { name: '/proc/vmcore', size: view.size, read: (offset, dst) => view.read(offset, dst) };
  return new ElfImageSource(reader);
}
