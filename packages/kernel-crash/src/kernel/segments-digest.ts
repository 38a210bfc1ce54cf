import { createHash } from 'node:crypto';
import { PAGE_SIZE, type PhysicalMemory, type PhysRange } from '@efikdump/core';

/**
 * SHA-256 of the content of `ranges` as purgatory hashes its segments (domain reference §1.3),
 * without reading every byte of the simulated memory: never-written frames are a pure function
 * of their fill (kind and salt) and frame number, so the digest covers each fill's clipped range,
 * kind and salt, then every written frame's own SHA-256. Equal content gives an equal digest;
 * any write, fill or scrub inside the ranges changes it.
 */
export function segmentsDigest(mem: PhysicalMemory, ranges: readonly PhysRange[]): string {
  const h = createHash('sha256');
  for (const r of ranges) {
    h.update(`range ${r.start}-${r.end}\n`);
    for (const f of mem.kindFills) {
      const start = Math.max(f.start, r.start);
      const end = Math.min(f.end, r.end);
      if (end > start) h.update(`fill ${start}-${end} ${f.kind} ${f.salt}\n`);
    }
    for (const pfn of mem.writtenFrames(r)) h.update(`page ${pfn * PAGE_SIZE} ${mem.pageSha256(pfn)}\n`);
  }
  return h.digest('hex');
}
