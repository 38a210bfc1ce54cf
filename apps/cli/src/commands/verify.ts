import { checkAgainstTruth, hex, lostPageCount, PT_LOAD, readJsonFile, validateTruth, VerifyError } from '@efikdump/core';
import { declaredLostOf, ElfCoreFile, openDumpFile, type DumpFile } from '@efikdump/vmcore';
import { commandHelp, parseArgs, type CommandSpec } from '../args';
import type { Output } from '../output';

export const verifySpec: CommandSpec = {
  name: 'verify',
  usage: 'efikdump verify DUMP --truth FILE',
  summary: 'Checks a dump (ELF or kdump-compressed) against a truth manifest: every sampled page by SHA-256, zero pages, '
    + 'excluded ranges. Pages a filtered dump left out on purpose (its dump level) are counted, not failed.',
  positionals: [1, 1],
  options: [
    { name: 'truth', value: 'FILE', help: 'truth manifest written by efikdump run --truth' },
    { name: 'help', help: 'show this help' },
  ],
};

/**
 * Whether physical page `paddr` was left out on purpose: excluded by a kdump-compressed dump's
 * level (bitmap 1 set, bitmap 2 clear), or, in a filtered ELF (makedumpfile -E), inside a PT_LOAD's
 * p_memsz but past its p_filesz with no other PT_LOAD holding its bytes.
 */
function filteredOut(dump: DumpFile, paddr: number): boolean {
  if (!(dump instanceof ElfCoreFile)) return dump.frameState(Math.floor(paddr / dump.pageSize)) === 'excluded';
  const loads = dump.phdrs.filter((p) => p.type === PT_LOAD && paddr >= p.paddr && paddr < p.paddr + p.memsz);
  return loads.length > 0 && loads.every((p) => paddr >= p.paddr + p.filesz);
}

export function verifyCommand(argv: string[], io: Output): number {
  const { options, positionals } = parseArgs(verifySpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(verifySpec));
    return 0;
  }
  const truthPath = options.get('truth');
  if (typeof truthPath !== 'string') throw new VerifyError('--truth FILE is required', { field: '--truth' });
  const truth = validateTruth(readJsonFile(truthPath), truthPath);
  const file = positionals[0];
  const dump = openDumpFile(file);
  try {
    const filtered = new Set<number>();
    const declared = declaredLostOf(dump);
    const isDeclared = (paddr: number) => declared.some((r) => paddr >= r.start && paddr < r.end);
    const check = checkAgainstTruth(truth, (paddr, dst) => {
      if (isDeclared(paddr)) return false;
      if (filteredOut(dump, paddr)) {
        filtered.add(paddr);
        return false;
      }
      return dump.readPhys(paddr, dst);
    }, declared);
    const missing = check.missing.filter((p) => !filtered.has(p));
    if (check.mismatched.length) throw new VerifyError(`${check.mismatched.length} of ${check.checked} pages differ from the truth; first at physical ${hex(check.mismatched[0])}`, { file });
    if (missing.length) throw new VerifyError(`${missing.length} of ${check.checked} pages are missing; first at physical ${hex(missing[0])}`, { file });
    if (check.excludedPresent.length) throw new VerifyError(`excluded page at physical ${hex(check.excludedPresent[0])} is present`, { file });
    const left = check.missing.length - missing.length;
    const note = left ? `; ${left} left out by the dump level (not checked)` : '';
    // Three cases: complete; partial (every difference declared in the dump's lost-ranges note); corrupt (an error above).
    const lost = declared.length ? `; partial: ${check.declaredLost.length} sampled pages in the ${lostPageCount(declared)} pages the dump declares lost` : '; complete';
    io.out(`${file}: ${check.matched}/${check.checked - left - check.declaredLost.length} sampled pages match ${truthPath}${note}; excluded ranges absent${lost}`);
    return 0;
  } finally {
    dump.close();
  }
}
