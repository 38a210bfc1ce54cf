/**
 * `@efikdump/vmcore/files`: dump files without the simulator — the ELF and kdump-compressed
 * readers, the codecs, the dump-level filters and `convertDump`. It loads `@efikdump/core/base`
 * only (no RxJS, no tsyringe, no plug-in registration), so that `efikdump convert`, `verify` and
 * `inspect` start in a fraction of the time the whole package takes (docs/performance.md, "Issue
 * 17, third pass"). Everything here is also exported by `@efikdump/vmcore` from the same modules.
 * `files.test.ts` checks that nothing below reaches `@efikdump/core`'s full entry, RxJS or tsyringe.
 */
export { ElfCoreFile, MAX_FILE_NOTES_BYTES, type CpuRegisters } from './reader/elf-core-file';
export { KdumpCompressedFile, type FrameState } from './reader/kdump-compressed-file';
export { openDumpFile, detectDumpFormat, declaredLostOf, type DumpFile } from './reader/dump-file';
export * from './writers/kdump-compressed/diskdump.codec';
export {
  COMPRESSIONS,
  WRITABLE_COMPRESSIONS,
  ZLIB_LEVEL,
  ZSTD_LEVEL,
  compressionFlag,
  compressionLevel,
  decompressPage,
  parseCompression,
  type CompressionName,
} from './writers/kdump-compressed/compression';
export { lzo1xDecompress } from './writers/kdump-compressed/lzo1x';
export { lzo1x1Compress, lzo1xBound, LZO1X1_DICT_ENTRIES } from './writers/kdump-compressed/lzo1x-compress';
export {
  writeKdumpCompressed,
  defaultThreads,
  WINDOW_FRAMES,
  BATCH_PAGES,
  type KdumpWriteOptions,
  type KdumpWriteResult,
} from './writers/kdump-compressed/kdump-compressed.writer';
export { writeFilteredElf, PFN_EXCLUDED, type ElfFilterOptions, type ElfFilterResult } from './writers/elf-filtered.writer';
export {
  DL_EXCLUDE_ZERO,
  DL_EXCLUDE_CACHE,
  DL_EXCLUDE_CACHE_PRI,
  DL_EXCLUDE_USER_DATA,
  DL_EXCLUDE_FREE,
  MAX_DUMP_LEVEL,
  Excluded,
  EXCLUDED_NAMES,
  parseDumpLevel,
  needsClassification,
  type PageClassifier,
} from './dump-level/dump-level';
export { StructPageClassifier } from './dump-level/struct-page-classifier';
export { type PageSource, type PfnRange, vmcoreinfoNumber } from './source/page-source';
export { ElfImageSource, FileReader, type PositionalReader, type ElfLoad } from './source/elf-image-source';
export { KdumpFileSource } from './source/kdump-source';
export {
  convertDump,
  parseConvertOptions,
  parseOutputFormat,
  OUTPUT_FORMATS,
  type ConvertOptions,
  type ConvertResult,
  type OutputFormat,
} from './convert/convert';
