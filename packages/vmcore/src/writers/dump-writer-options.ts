import { defineOptions, type OptionsOf, type VmcoreView } from '@efikdump/core';
import { MAX_DUMP_LEVEL } from '../dump-level/dump-level';
import { ElfImageSource, type PositionalReader } from '../source/elf-image-source';
import { WRITABLE_COMPRESSIONS } from './kdump-compressed/compression';
import { DUMP_ENCRYPTION_OPTIONS } from './dump-encryption';

/** The `elf` writer's options: makedumpfile's dump level (`-E -d N`; 0 copies /proc/vmcore as it is), and encryption (`encrypt`, `certificate`). */
export const ELF_WRITER_OPTIONS = defineOptions({
  dumpLevel: {
    type: 'integer',
    min: 0,
    max: MAX_DUMP_LEVEL,
    default: 0,
    description: 'makedumpfile -d: pages to leave out (0: none, the whole of /proc/vmcore)',
  },
  ...DUMP_ENCRYPTION_OPTIONS,
});
export type ElfWriterOptions = OptionsOf<typeof ELF_WRITER_OPTIONS>;

/** The `kdump-compressed` writer's options: dump level (Fedora's 31 by default), page compression, compression threads, and encryption (`encrypt`, `certificate`). */
export const KDUMP_COMPRESSED_WRITER_OPTIONS = defineOptions({
  dumpLevel: { type: 'integer', min: 0, max: MAX_DUMP_LEVEL, default: 31, description: 'makedumpfile -d: pages to leave out' },
  compress: {
    type: 'enum',
    values: WRITABLE_COMPRESSIONS,
    default: 'zlib',
    description: 'per-page compression (makedumpfile -c, -l, --zstd, -p; none: raw pages)',
  },
  threads: { type: 'integer', min: 1, max: 256, description: 'compression worker threads (default: the CPU count)' },
  ...DUMP_ENCRYPTION_OPTIONS,
});
export type KdumpCompressedWriterOptions = OptionsOf<typeof KDUMP_COMPRESSED_WRITER_OPTIONS>;

/** /proc/vmcore as an ELF image a writer reads like a file. */
export function procVmcoreSource(view: VmcoreView): ElfImageSource {
  const reader: PositionalReader = { name: '/proc/vmcore', size: view.size, read: (offset, dst) => view.read(offset, dst) };
  return new ElfImageSource(reader);
}
