import {
  checkAgainstTruth,
  decodeLostRanges,
  hex,
  LOST_RANGES_NOTE_NAME,
  lostPageCount,
  NT_EFIKDUMP_LOST_RANGES,
  readTruthFile,
  VerifyError,
  type LostRange,
} from '@efikdump/core';
import { ElfCoreFile, openDumpFile, type DumpFile } from '@efikdump/vmcore';
import { commandHelp, parseArgs, type CommandSpec } from '../args';
import type { Output } from '../output';

/** Exit code of a partial dump: it differs from the truth only where it declares the loss. */
export const VERIFY_PARTIAL_EXIT = 1;

export const verifySpec: CommandSpec = {
  name: 'verify',
  usage: 'efikdump verify DUMP --truth FILE',
  summary:
    'Checks a dump (ELF or kdump-compressed) against a truth manifest: every sampled page by SHA-256, zero pages, ' +
    "and every page of the excluded ranges (through the segments or the bitmap). The dump's notes are validated as inspect does. " +
    'A truth page the dump lacks counts only where the dump itself says why: a kdump-compressed dump level that excludes that kind of page ' +
    '(bitmap consistent with the level), the EFIKDUMP lost-ranges note, a frame of an INCOMPLETE dump, or an ELF segment with no bytes there ' +
    '(p_filesz < p_memsz, as makedumpfile -E filters; an ELF records no dump level, so such a dump is at best partial, though zero pages ' +
    'there read as zeros and match). Three verdicts, three exit codes: ' +
    '0 complete (every page the dump should hold matches; pages its dump level leaves out are counted, not checked); ' +
    `${VERIFY_PARTIAL_EXIT} partial (every difference from the truth is declared: N pages declared lost); ` +
    "5 corrupt (a page differs, is missing without a declared reason, an excluded page is present, or no truth page could be read from the dump's bytes). " +
    'Other errors: 2 usage, 3 malformed dump, 6 unreadable file (a directory, a FIFO, a device).',
  positionals: [1, 1],
  options: [
    { name: 'truth', value: 'FILE', help: 'truth manifest written by efikdump run --truth (a regular file of at most 16 MiB)' },
    { name: 'help', help: 'show this help' },
  ],
};

/** The dump-level bits (makedumpfile -d) that may exclude a page of content the truth lists. */
const NON_ZERO_LEVEL_BITS = 2 | 4 | 8 | 16;

/** Why a truth page the dump does not hold is not there, as far as the dump says. */
type Absence = 'level' | 'incomplete' | 'no-bytes' | 'undeclared';

/** The lost-ranges notes of the dump, decoded and checked as inspect checks them. */
function declaredLostRanges(dump: DumpFile, file: string): LostRange[] {
  const ranges: LostRange[] = [];
  for (const n of dump.notes()) {
    if (n.name !== LOST_RANGES_NOTE_NAME || n.type !== NT_EFIKDUMP_LOST_RANGES) continue;
    ranges.push(...decodeLostRanges(n.desc, { file, base: n.offset }));
  }
  return ranges.sort((a, b) => a.start - b.start);
}

/** Reads everything `inspect` reads, so a dump inspect rejects is rejected here with the same error. */
function validateLikeInspect(dump: DumpFile): void {
  dump.notes();
  dump.vmcoreinfo();
  dump.prstatus();
  if (!(dump instanceof ElfCoreFile)) dump.dumpedFrames();
}

export function verifyCommand(argv: string[], io: Output): number {
  const { options, positionals } = parseArgs(verifySpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(verifySpec));
    return 0;
  }
  const truthPath = options.get('truth');
  if (typeof truthPath !== 'string') throw new VerifyError('--truth FILE is required', { field: '--truth' });
  const truth = readTruthFile(truthPath);
  const file = positionals[0];
  const dump = openDumpFile(file);
  try {
    validateLikeInspect(dump);
    const lost = declaredLostRanges(dump, file);
    const level = dump instanceof ElfCoreFile ? undefined : dump.dumpLevel;
    const zeroPages = new Set(truth.zeroPages);

    /** Why the dump does not hold `paddr` (called only for pages it does not hold). */
    const absence = (paddr: number): Absence => {
      if (dump instanceof ElfCoreFile) return dump.byteState(paddr) === 'no-bytes' ? 'no-bytes' : 'undeclared';
      const state = dump.frameState(Math.floor(paddr / dump.pageSize));
      if (state === 'lost') return 'incomplete';
      if (state !== 'excluded') return 'undeclared';
      // A bitmap that excludes a page the declared level cannot exclude is not a declaration.
      const allowed = zeroPages.has(paddr) ? level! !== 0 : (level! & NON_ZERO_LEVEL_BITS) !== 0;
      return allowed ? 'level' : 'undeclared';
    };
    // Past p_filesz an ELF segment reads as zeros by definition: a truth zero page there is
    // checked (and matches); a page with content there was filtered out, which the ELF cannot say why.
    // Only pages read from the file's own bytes are evidence: a file of headers alone, whose
    // segments read as zeros, must not verify its zero pages and call itself checked.
    const truthPages = new Set([...truth.pages.map((p) => p.paddr), ...truth.zeroPages]);
    let fromBytes = 0;
    const readPage = (paddr: number, dst: Uint8Array): boolean => {
      let bytes = true;
      if (dump instanceof ElfCoreFile) {
        const state = dump.byteState(paddr);
        if (state === 'absent' || (state === 'no-bytes' && !zeroPages.has(paddr))) return false;
        bytes = state === 'bytes';
      }
      const held = dump.readPhys(paddr, dst);
      if (held && bytes && truthPages.has(paddr)) fromBytes++;
      return held;
    };

    const check = checkAgainstTruth(truth, readPage, lost);
    const counts: Record<Absence, number[]> = { level: [], incomplete: [], 'no-bytes': [], undeclared: [] };
    for (const p of check.missing) counts[absence(p)].push(p);
    const compared = check.matched + check.mismatched.length;
    const corrupt = (what: string) => new VerifyError(`corrupt: ${what}`, { file });

    if (check.mismatched.length)
      throw corrupt(
        `${check.mismatched.length} of ${compared} checked pages differ from the truth; first at physical ${hex(check.mismatched[0])}`,
      );
    if (counts.undeclared.length) {
      const p = counts.undeclared[0];
      const why =
        dump instanceof ElfCoreFile
          ? 'in no PT_LOAD'
          : `${dump.frameState(Math.floor(p / dump.pageSize))} in the bitmaps, dump level ${level}`;
      throw corrupt(`${counts.undeclared.length} truth pages are missing without a declared reason; first at physical ${hex(p)} (${why})`);
    }
    if (check.excludedPresent.length) throw corrupt(`excluded page at physical ${hex(check.excludedPresent[0])} is present`);
    if (fromBytes === 0) {
      throw corrupt(
        `no page of ${truthPath} could be checked against bytes of the dump (${check.checked} truth pages, ${check.missing.length + check.declaredLost.length} absent from it): nothing is verified`,
      );
    }

    const declared = check.declaredLost.length + counts.incomplete.length + counts['no-bytes'].length;
    const leftOut = counts.level.length ? `; ${counts.level.length} left out by the dump level ${level} (not checked)` : '';
    if (declared === 0) {
      io.out(`${file}: complete: ${check.matched}/${compared} sampled pages match ${truthPath}${leftOut}; excluded ranges absent`);
      return 0;
    }
    const parts = [
      check.declaredLost.length
        ? `${check.declaredLost.length} in the lost-ranges note (${lost.length} ranges, ${lostPageCount(lost)} pages)`
        : '',
      counts.incomplete.length ? `${counts.incomplete.length} frames of an INCOMPLETE dump` : '',
      counts['no-bytes'].length
        ? `${counts['no-bytes'].length} with no bytes in the ELF's segments (p_filesz < p_memsz; an ELF records no dump level)`
        : '',
    ].filter(Boolean);
    io.out(
      `${file}: partial: ${check.matched}/${compared} sampled pages match ${truthPath}; ${declared} pages declared lost (${parts.join(', ')})${leftOut}; excluded ranges absent`,
    );
    return VERIFY_PARTIAL_EXIT;
  } finally {
    dump.close();
  }
}
