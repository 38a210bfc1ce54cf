import { checkAgainstTruth, hex, readJsonFile, validateTruth, VerifyError } from '@efikdump/core';
import { ElfCoreFile } from '@efikdump/vmcore';
import { commandHelp, parseArgs, type CommandSpec } from '../args';
import type { Output } from '../output';

export const verifySpec: CommandSpec = {
  name: 'verify',
  usage: 'efikdump verify DUMP --truth FILE',
  summary: 'Checks a dump against a truth manifest: every sampled page by SHA-256, zero pages, excluded ranges.',
  positionals: [1, 1],
  options: [
    { name: 'truth', value: 'FILE', help: 'truth manifest written by efikdump run --truth' },
    { name: 'help', help: 'show this help' },
  ],
};

export function verifyCommand(argv: string[], io: Output): number {
  const { options, positionals } = parseArgs(verifySpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(verifySpec));
    return 0;
  }
  const truthPath = options.get('truth');
  if (typeof truthPath !== 'string') throw new VerifyError('--truth FILE is required', { field: '--truth' });
  const truth = validateTruth(readJsonFile(truthPath), truthPath);
  const dump = ElfCoreFile.open(positionals[0]);
  try {
    const check = checkAgainstTruth(truth, (paddr, dst) => dump.readPhys(paddr, dst));
    const file = positionals[0];
    if (check.mismatched.length) throw new VerifyError(`${check.mismatched.length} of ${check.checked} pages differ from the truth; first at physical ${hex(check.mismatched[0])}`, { file });
    if (check.missing.length) throw new VerifyError(`${check.missing.length} of ${check.checked} pages are missing; first at physical ${hex(check.missing[0])}`, { file });
    if (check.excludedPresent.length) throw new VerifyError(`excluded page at physical ${hex(check.excludedPresent[0])} is present`, { file });
    io.out(`${file}: ${check.matched}/${check.checked} sampled pages match ${truthPath}; excluded ranges absent`);
    return 0;
  } finally {
    dump.close();
  }
}
