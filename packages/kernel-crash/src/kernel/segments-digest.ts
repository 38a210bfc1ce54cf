import { createHash } from 'node:crypto';
import { PAGE_SIZE, type PhysicalMemory, type PhysRange } from '@efikdump/core';

/**
 * SHA-256 of the content of `ranges` as purgatory hashes its segments (domain reference §1.3),
 * without reading every byte of the simulated memory: never-written frames of a fill are a pure
 * function of its kind, salt and the frame number, so the digest covers each (merged) fill's
 * clipped range, kind and salt; frames of computed regions are hashed byte by byte; every written
 * frame by its own SHA-256. Any write, fill, copy or scrub inside the ranges changes it. One case
 * gives a different digest for equal bytes: a frame written with exactly the bytes it already
 * generated (the simulator never does that to a kexec segment).
 */
export function segmentsDigest(mem: PhysicalMemory, ranges: readonly PhysRange[]): string {
  const h = createHash('sha256');
  const page = new Uint8Array(PAGE_SIZE);
  for (const r of ranges) {
    h.update(`range ${r.start}-${r.end}\n`);
    // Adjacent fills of the same kind and salt generate the same bytes as one: merge them first.
    const pieces: { start: number; end: number; kind: string; salt: number }[] = [];
    for (const f of mem.kindFills) {
      const start = Math.max(f.start, r.start);
      const end = Math.min(f.end, r.end);
      if (end <= start) continue;
      const last = pieces[pieces.length - 1];
      if (last && last.end === start && last.kind === f.kind && last.salt === f.salt) last.end = end;
      else pieces.push({ start, end, kind: f.kind, salt: f.salt });
    }
    for (const p of pieces) h.update(`fill ${p.start}-${p.end} ${p.kind} ${p.salt}\n`);
    // Computed regions (a copy, a mem_map) are not a function of the frame alone: hash their frames' bytes.
    for (const c of mem.computedRegions) {
      const start = Math.max(c.start, r.start);
      const end = Math.min(c.end, r.end);
      for (let a = start; a < end; a += PAGE_SIZE) {
        if (mem.isWritten(a / PAGE_SIZE)) continue;
        mem.readPage(a / PAGE_SIZE, page);
        h.update(`computed ${a} `).update(page);
      }
    }
    for (const pfn of mem.writtenFrames(r)) h.update(`page ${pfn * PAGE_SIZE} ${mem.pageSha256(pfn)}\n`);
  }
  return h.digest('hex');
}
