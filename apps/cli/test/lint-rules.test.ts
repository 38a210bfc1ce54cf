import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

// The workspace lint must fail on an import cycle, on a deep import into another package, and on a
// stage package's source importing another stage package.
const ROOT = join(__dirname, '../../..');

describe('workspace lint rules', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(ROOT, 'packages', '.lint-fixture-'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src/a.ts'), "import { b } from './b';\nexport const a = (): number => b;\n");
    writeFileSync(join(dir, 'src/b.ts'), "import { a } from './a';\nexport const b = 1;\nexport const useA = a;\n");
    writeFileSync(
      join(dir, 'src/deep.ts'),
      "import { parseSize } from '@efikdump/core/dist/units';\nexport const size = parseSize('1GiB');\n",
    );
    writeFileSync(join(dir, 'src/clean.ts'), "import { parseSize } from '@efikdump/core';\nexport const size = parseSize('1GiB');\n");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // ESLint loads its flat config with a dynamic import, which Jest's VM refuses: run the real command.
  function rulesFailing(file: string): string[] {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', join(dir, 'src', file)], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (r.status !== 0 && r.status !== 1) throw new Error(`eslint exited ${r.status}: ${r.stderr}`);
    const [result] = JSON.parse(r.stdout) as { messages: { severity: number; ruleId: string | null }[] }[];
    return result.messages.filter((m) => m.severity === 2).map((m) => m.ruleId ?? 'parse');
  }

  it('an import cycle is an error', () => {
    expect(rulesFailing('a.ts')).toContain('import-x/no-cycle');
  });

  it("importing another package's files instead of its public index is an error", () => {
    expect(rulesFailing('deep.ts')).toContain('no-restricted-imports');
  });

  it('a plain import of a package by name passes', () => {
    expect(rulesFailing('clean.ts')).toEqual([]);
  });

  // Linted from standard input under a name inside a stage package, so no file appears in the package.
  function rulesFailingAs(filename: string, text: string): string[] {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', '--stdin', '--stdin-filename', join(ROOT, filename)],
      {
        cwd: ROOT,
        encoding: 'utf8',
        input: text,
      },
    );
    if (r.status !== 0 && r.status !== 1) throw new Error(`eslint exited ${r.status}: ${r.stderr}`);
    const [result] = JSON.parse(r.stdout) as { messages: { severity: number; ruleId: string | null; message: string }[] }[];
    return result.messages.filter((m) => m.severity === 2).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
  }
  const importsTransports = "import { register } from '@efikdump/transports';\nexport const r = register;\n";

  it("a stage package's source importing another stage package is an error; core is allowed", () => {
    expect(rulesFailingAs('packages/stub/src/lint-probe.ts', importsTransports)).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*a stage package imports @efikdump\/core only/),
    ]);
    expect(
      rulesFailingAs(
        'packages/vmcore/src/capture/lint-probe.ts',
        "import { register } from '@efikdump/kernel-crash';\nexport const r = register;\n",
      ),
    ).toHaveLength(1);
    expect(rulesFailingAs('packages/stub/src/lint-probe.ts', "import { hex } from '@efikdump/core';\nexport const h = hex;\n")).toEqual([]);
  });

  it("a stage package's tests and test harness may build a machine from the other packages", () => {
    expect(rulesFailingAs('packages/stub/src/lint-probe.test.ts', importsTransports)).toEqual([]);
    expect(rulesFailingAs('packages/stub/src/testing/lint-probe.ts', importsTransports)).toEqual([]);
    expect(rulesFailingAs('apps/cli/src/lint-probe.ts', importsTransports)).toEqual([]);
  });
});
