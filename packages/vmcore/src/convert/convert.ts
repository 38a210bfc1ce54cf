import { resolve } from 'node:path';
import { statSync } from 'node:fs';
import { ConfigError } from '@efikdump/core/base';
import { needsClassification, parseDumpLevel, type PageClassifier } from '../dump-level/dump-level';
import { StructPageClassifier } from '../dump-level/struct-page-classifier';
import { detectDumpFormat } from '../reader/dump-file';
import { ElfImageSource } from '../source/elf-image-source';
import { KdumpFileSource } from '../source/kdump-source';
import type { PageSource } from '../source/page-source';
import { writeFilteredElf } from '../writers/elf-filtered.writer';
import { parseCompression, type CompressionName } from '../writers/kdump-compressed/compression';
import { writeKdumpCompressed } from '../writers/kdump-compressed/kdump-compressed.writer';

export const OUTPUT_FORMATS = ['kdump', 'elf'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface ConvertOptions {
  format: OutputFormat;
  compress: CompressionName;
  dumpLevel: number;
  threads?: number;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface ConvertResult {
  input: string;
  inputFormat: 'elf' | 'kdump-compressed';
  inputBytes: number;
  output: string;
  format: OutputFormat;
  bytes: number;
  dumpLevel: number;
  compress: CompressionName | 'none';
  /** What the level's classification was read from, when the level needed one. */
  classifiedBy?: string;
  excluded: Record<string, number>;
  /** Frames with a page descriptor (kdump output). */
  dumpedFrames?: number;
  zeroFrames?: number;
  threads?: number;
}

export function parseOutputFormat(value: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) {
    throw new ConfigError(`Unknown format: ${value} (known: ${OUTPUT_FORMATS.join(', ')})`, { field: '--format' });
  }
  return value as OutputFormat;
}

/** Validates convert options given as strings (the CLI's); numbers pass through their parsers too. */
export function parseConvertOptions(raw: { format?: string; compress?: string; dumpLevel?: string; threads?: number }): ConvertOptions {
  const format = parseOutputFormat(raw.format ?? 'kdump');
  const compress = format === 'elf' ? 'none' : parseCompression(raw.compress ?? 'zlib');
  if (format === 'elf' && raw.compress !== undefined && raw.compress !== 'none') {
    throw new ConfigError(
      'the ELF format holds pages uncompressed (makedumpfile refuses -c with -E); drop --compress or use --format kdump',
      { field: '--compress' },
    );
  }
  return { format, compress, dumpLevel: parseDumpLevel(raw.dumpLevel ?? '1'), threads: raw.threads };
}

/**
 * makedumpfile's job on real files: reads an ELF vmcore or a kdump-compressed dump and writes it
 * as kdump-compressed or ELF at `output`, leaving out what the dump level excludes. Everything that
 * can be checked before writing is (formats, the VMCOREINFO a level needs); the output appears only
 * when complete.
 */
export async function convertDump(input: string, output: string, options: ConvertOptions): Promise<ConvertResult> {
  if (resolve(input) === resolve(output)) throw new ConfigError('the output would overwrite the input', { file: output, field: '-o' });
  // The output is renamed into place: over a device or FIFO (-o /dev/null) that would replace it.
  const existing = statSync(output, { throwIfNoEntry: false });
  if (existing && !existing.isFile()) {
    throw new ConfigError('the output exists and is not a regular file (writing it would replace it with the dump)', {
      file: output,
      field: '-o',
    });
  }
  const inputFormat = detectDumpFormat(input);
  if (inputFormat === 'kdump-compressed' && options.format === 'elf') {
    throw new ConfigError(
      'ELF output from a kdump-compressed input is not supported (makedumpfile refuses -E there too); use --format kdump',
      { file: input, field: '--format' },
    );
  }
  const source: PageSource & { close(): void } = inputFormat === 'elf' ? ElfImageSource.open(input) : KdumpFileSource.open(input);
  try {
    const level = options.dumpLevel;
    const classify = needsClassification(level);
    const makeClassifier = (): PageClassifier => new StructPageClassifier(source, level);
    const probe = classify ? makeClassifier() : undefined;
    const base = {
      input,
      inputFormat,
      inputBytes: statSync(input).size,
      output,
      format: options.format,
      dumpLevel: level,
      classifiedBy: probe?.basis,
    };
    if (options.format === 'kdump') {
      const r = await writeKdumpCompressed(source, output, {
        compress: options.compress,
        dumpLevel: level,
        threads: options.threads,
        classifier: probe,
        onProgress: options.onProgress,
      });
      return {
        ...base,
        compress: options.compress,
        bytes: r.bytes,
        excluded: r.excluded,
        dumpedFrames: r.dumpedFrames,
        zeroFrames: r.zeroFrames,
        threads: r.threads,
      };
    }
    const r = await writeFilteredElf(source as ElfImageSource, output, {
      dumpLevel: level,
      classifier: classify ? makeClassifier : undefined,
      onProgress: options.onProgress,
    });
    return { ...base, compress: 'none', bytes: r.bytes, excluded: r.excluded };
  } finally {
    source.close();
  }
}
