import type { CrashDetection, HandoffDiscovery } from '@efikdump/core';

/** A detector's verdict from one or more transport discoveries, in order. */
export function detectionOf(evidence: (where: string) => string, ...found: HandoffDiscovery[]): CrashDetection {
  const candidates = found.flatMap((d) => (d.found ? [d.candidate] : []));
  const damaged = found.flatMap((d) => (!d.found && d.damage ? [{ source: 'discovery', category: d.damage, reason: d.reason }] : []));
  if (candidates.length)
    return { crashed: true, evidence: evidence(candidates[0].location), candidates, ...(damaged.length ? { damaged } : {}) };
  const reason = found
    .map((d) => (d.found ? '' : d.reason))
    .filter(Boolean)
    .join('; ');
  return { crashed: false, reason, ...(damaged.length ? { damaged } : {}) };
}
