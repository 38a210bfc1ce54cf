import { registerPlugin } from '@efikdump/core';
import type { DependencyContainer } from 'tsyringe';
import { LinuxCaptureKernel } from './capture/linux-capture';
import { ElfDumpWriter } from './writers/elf.writer';
import { ELF_WRITER_OPTIONS, KDUMP_COMPRESSED_WRITER_OPTIONS } from './writers/dump-writer-options';
import { KdumpCompressedDumpWriter } from './writers/kdump-compressed/kdump-compressed.dump-writer';

export {
  parseElfCoreHeader,
  elfCoreHeaderExtent,
  MAX_ELFCOREHDR_BYTES,
  MAX_PT_NOTE_BYTES,
  MAX_MERGED_NOTES_BYTES,
  type OldMemoryReader,
  type ParseElfCoreHeaderOptions,
  type ParsedCore,
  type VmcoreLoad,
} from './elfcorehdr/parse-elfcorehdr';
export { decodeNotes, scanNoteSegment, type NoteSegmentScan } from './elfcorehdr/notes';
export { START_KERNEL_MAP, isKernelTextMapping, preferDirectMap } from './elfcorehdr/x86-64';
export { ProcVmcore, vmcoreChunks, type VmcoreChunk } from './proc-vmcore/proc-vmcore';
export {
  ElfDumpWriter,
  writeElfDump,
  ELF_WRITE_CHUNK_BYTES,
  PROGRESS_EVERY_BYTES,
  MODELLED_DISK_BYTES_PER_SECOND,
  procVmcoreSaveUs,
  type DumpProgress,
  type ElfDumpResult,
} from './writers/elf.writer';
export { LinuxCaptureKernel, CAPTURE_KERNEL_FOOTPRINT_BYTES, MODELLED_CAPTURE_BOOT_US } from './capture/linux-capture';
export { capturePanicLoop, MAX_CAPTURE_PANICS } from './capture/capture-panic-loop';
export { capturePanicReboot, CAPTURE_PANIC_REBOOT_US } from './capture/capture-panic-reboot';
export { parseElfcorehdrParam, splitKernelCmdline, type ElfcorehdrParam } from './capture/elfcorehdr-param';
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
export { KdumpCompressedDumpWriter, MODELLED_ZLIB_US_PER_PAGE } from './writers/kdump-compressed/kdump-compressed.dump-writer';
export { DUMP_ENCRYPT_BYTES_PER_SECOND, DUMP_ENCRYPTION_OPTIONS, dumpEncryptionOf, type DumpEncryption } from './writers/dump-encryption';
export { writeFilteredElf, PFN_EXCLUDED, type ElfFilterOptions, type ElfFilterResult } from './writers/elf-filtered.writer';
export {
  procVmcoreSource,
  ELF_WRITER_OPTIONS,
  KDUMP_COMPRESSED_WRITER_OPTIONS,
  type ElfWriterOptions,
  type KdumpCompressedWriterOptions,
} from './writers/dump-writer-options';
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
export { PageKindClassifier } from './dump-level/page-kind-classifier';
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

/** Binds this package's plug-ins: the `linux-vmcore` capture kernel and the `elf` and `kdump-compressed` dump writers. */
export function register(container: DependencyContainer): void {
  registerPlugin(
    container,
    'capture',
    'linux-vmcore',
    LinuxCaptureKernel,
    'Linux capture kernel: boots in the capture RAM, parses elfcorehdr=, merges notes and exports /proc/vmcore (fs/proc/vmcore.c)',
  );
  registerPlugin(
    container,
    'writer',
    'elf',
    ElfDumpWriter,
    'ELF core writer: copies /proc/vmcore to --out as a sparse file, renamed into place when complete; with a dumpLevel option, drops excluded pages as makedumpfile -E',
    { options: ELF_WRITER_OPTIONS },
  );
  registerPlugin(
    container,
    'writer',
    'kdump-compressed',
    KdumpCompressedDumpWriter,
    "makedumpfile's kdump-compressed format: zlib per page on worker threads, -d 31 by default (dumpLevel, compress, threads options)",
    { options: KDUMP_COMPRESSED_WRITER_OPTIONS },
  );
}
