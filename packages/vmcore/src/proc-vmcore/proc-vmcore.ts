import { hex, SimulationError, type LostRange, type PhysicalMemory, type VmcoreView } from '@efikdump/core';
import type { OldMemoryReader, ParsedCore, VmcoreLoad } from '../elfcorehdr/parse-elfcorehdr';
import { preferDirectMap } from '../elfcorehdr/x86-64';

/** One bounded piece of a vmcore: `data` is a reused buffer, valid until the next piece is asked for. */
export interface VmcoreChunk {
  offset: number;
  data: Uint8Array;
}

/**
 * Iterates `view` from offset 0 in pieces of at most `chunkBytes`, reading each into one buffer
 * that is reused: memory stays bounded by `chunkBytes` whatever the vmcore's size.
 *
 * @example
 * for (const { offset, data } of vmcoreChunks(view, MiB)) out.writeAt(data, offset);
 */
export function* vmcoreChunks(view: VmcoreView, chunkBytes: number): Generator<VmcoreChunk> {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0)
    throw new SimulationError(`chunk size must be a positive integer, found ${chunkBytes}`);
  const buf = new Uint8Array(Math.min(chunkBytes, Math.max(1, view.size)));
  for (let offset = 0; offset < view.size; offset += buf.length) {
    const data = buf.subarray(0, Math.min(buf.length, view.size - offset));
    view.read(offset, data);
    yield { offset, data };
  }
}

/**
 * /proc/vmcore as the capture kernel exports it (Linux fs/proc/vmcore.c `read_vmcore`): the ELF
 * header area, the merged notes, then each PT_LOAD's page-rounded old memory, read on demand.
 */
export class ProcVmcore implements VmcoreView {
  readonly size: number;
  private readonly headerEnd: number;
  private readonly notesEnd: number;
  /** Loads that hold file bytes, in file order (zero-length ones dropped). */
  private readonly byFile: VmcoreLoad[];

  constructor(
    readonly core: ParsedCore,
    private readonly readOldMemory: OldMemoryReader,
  ) {
    this.size = core.fileSize;
    this.headerEnd = core.header.length;
    this.notesEnd = this.headerEnd + core.notes.length;
    this.byFile = core.loads.filter((l) => l.fileEnd > l.fileStart);
  }

  /** The ranges this /proc/vmcore leaves out and declares in its lost-ranges note. */
  get declaredLost(): readonly LostRange[] {
    return this.core.lost ?? [];
  }

  /** A view over `memory` (the crashed kernel's RAM as the capture kernel sees it). */
  static fromMemory(core: ParsedCore, memory: PhysicalMemory): ProcVmcore {
    return new ProcVmcore(core, (paddr, dst) => memory.read(paddr, dst));
  }

  read(offset: number, dst: Uint8Array): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + dst.length > this.size) {
      throw new SimulationError(`read of ${dst.length} bytes at ${hex(offset)} is outside /proc/vmcore (${this.size} bytes)`);
    }
    let done = 0;
    while (done < dst.length) {
      const pos = offset + done;
      const want = dst.length - done;
      let n: number;
      if (pos < this.headerEnd) {
        n = Math.min(want, this.headerEnd - pos);
        dst.set(this.core.header.subarray(pos, pos + n), done);
      } else if (pos < this.notesEnd) {
        n = Math.min(want, this.notesEnd - pos);
        const rel = pos - this.headerEnd;
        dst.set(this.core.notes.subarray(rel, rel + n), done);
      } else {
        const load = this.loadAtFileOffset(pos);
        n = Math.min(want, load.fileEnd - pos);
        this.readOldMemory(load.physStart + (pos - load.fileStart), dst.subarray(done, done + n));
      }
      done += n;
    }
  }

  /** File offset of `paddr` through the first PT_LOAD holding it, preferring the direct map over kernel text. */
  fileOffsetOf(paddr: number): number | undefined {
    const load = this.loadOf(paddr);
    return load ? load.fileOffset + (paddr - load.paddr) : undefined;
  }

  /** The PT_LOAD a reader uses for `paddr` (see fileOffsetOf), or undefined when it is not dumped. */
  loadOf(paddr: number): VmcoreLoad | undefined {
    if (!Number.isSafeInteger(paddr) || paddr < 0) return undefined;
    return preferDirectMap(this.core.loads.filter((l) => paddr >= l.paddr && paddr < l.paddr + l.size));
  }

  /** The whole file in pieces of at most `chunkBytes`, through one reused buffer. */
  async *stream(chunkBytes: number): AsyncGenerator<VmcoreChunk> {
    for (const chunk of vmcoreChunks(this, chunkBytes)) yield chunk;
  }

  private loadAtFileOffset(pos: number): VmcoreLoad {
    const loads = this.byFile;
    let lo = 0;
    let hi = loads.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (pos < loads[mid].fileStart) hi = mid - 1;
      else if (pos >= loads[mid].fileEnd) lo = mid + 1;
      else return loads[mid];
    }
    throw new SimulationError(`file offset ${hex(pos)} of /proc/vmcore is in no PT_LOAD`);
  }
}
