import { registerPlugin } from '@efikdump/core';
import type { DependencyContainer } from 'tsyringe';
import { LinuxCaptureKernel } from './capture/linux-capture';
import { ElfDumpWriter } from './writers/elf.writer';

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
  type DumpProgress,
  type ElfDumpResult,
} from './writers/elf.writer';
export { LinuxCaptureKernel, CAPTURE_KERNEL_FOOTPRINT_BYTES, MODELLED_CAPTURE_BOOT_US } from './capture/linux-capture';
export { parseElfcorehdrParam, splitKernelCmdline, type ElfcorehdrParam } from './capture/elfcorehdr-param';
export { ElfCoreFile, MAX_FILE_NOTES_BYTES, type CpuRegisters } from './reader/elf-core-file';

/** Binds this package's plug-ins: the `linux-vmcore` capture kernel and the `elf` dump writer. */
export function register(container: DependencyContainer): void {
  registerPlugin(container, 'capture', 'linux-vmcore', LinuxCaptureKernel,
    'Linux capture kernel: boots in the capture RAM, parses elfcorehdr=, merges notes and exports /proc/vmcore (fs/proc/vmcore.c)');
  registerPlugin(container, 'writer', 'elf', ElfDumpWriter,
    'ELF core writer: copies /proc/vmcore to --out as a sparse file, 1 MiB at a time, renamed into place when complete');
}
