import { KdumpCompressedFile } from '../reader/kdump-compressed-file';
import type { Utsname } from '../writers/kdump-compressed/diskdump.codec';
import { vmcoreinfoNumber, type PageSource } from './page-source';

/**
 * A kdump-compressed file as the input of a writer (makedumpfile's re-filtering): its bitmap 1 is
 * the RAM, its bitmap 2 what can still be dumped, its sub header the notes, phys_base and level.
 */
export class KdumpFileSource implements PageSource {
  readonly pageSize: number;
  readonly maxMapnr: number;
  readonly notes: Uint8Array;
  readonly vmcoreinfoText?: { offset: number; size: number };
  readonly vmcoreinfo?: Map<string, string>;
  readonly nrCpus: number;
  readonly utsname: Utsname;
  readonly physBase: bigint;
  readonly timestampSec: number;
  readonly inputDumpLevel: number;

  constructor(readonly file: KdumpCompressedFile) {
    this.pageSize = file.pageSize;
    this.maxMapnr = file.maxMapnr;
    this.notes = file.notesBytes();
    const sub = file.subHeader;
    if (
      sub.sizeVmcoreinfo &&
      sub.offsetVmcoreinfo >= sub.offsetNote &&
      sub.offsetVmcoreinfo + sub.sizeVmcoreinfo <= sub.offsetNote + sub.sizeNote
    ) {
      this.vmcoreinfoText = { offset: sub.offsetVmcoreinfo - sub.offsetNote, size: sub.sizeVmcoreinfo };
    }
    this.vmcoreinfo = file.vmcoreinfo();
    this.nrCpus = file.header.nrCpus > 0 ? file.header.nrCpus : file.prstatus().length;
    this.utsname = file.header.utsname;
    this.physBase = sub.physBase || (vmcoreinfoNumber(this.vmcoreinfo, 'NUMBER(phys_base)') ?? 0n);
    this.timestampSec = file.header.timestampSec;
    this.inputDumpLevel = sub.dumpLevel;
  }

  static open(path: string): KdumpFileSource {
    return new KdumpFileSource(KdumpCompressedFile.open(path));
  }

  get name(): string {
    return this.file.path;
  }

  ramBitmap(startPfn: number, dst: Uint8Array): void {
    this.file.readBitmap(1, startPfn, dst);
  }

  presentBitmap(startPfn: number, dst: Uint8Array): void {
    this.file.readBitmap(2, startPfn, dst);
  }

  readFrames(pfn: number, count: number, dst: Uint8Array): void {
    for (let i = 0; i < count; i++) {
      const out = dst.subarray(i * this.pageSize, (i + 1) * this.pageSize);
      if (!this.file.readFrame(pfn + i, out)) out.fill(0);
    }
  }

  readPhys(paddr: number, dst: Uint8Array): boolean {
    return this.file.readPhys(paddr, dst);
  }

  /** x86-64 kernel text (__START_KERNEL_map + phys_base) and the direct map (PAGE_OFFSET from the notes' kernel). */
  kernelVirtToPhys(vaddr: bigint): number | undefined {
    const START_KERNEL_MAP = 0xffffffff80000000n;
    const PAGE_OFFSET = 0xffff888000000000n;
    if (vaddr >= START_KERNEL_MAP) return Number(vaddr - START_KERNEL_MAP + this.physBase);
    if (vaddr >= PAGE_OFFSET && vaddr < PAGE_OFFSET + (1n << 46n)) return Number(vaddr - PAGE_OFFSET);
    return undefined;
  }

  close(): void {
    this.file.close();
  }
}
