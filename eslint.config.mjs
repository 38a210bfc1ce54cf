// Lint for the whole workspace (ESLint 9 flat config): typescript-eslint's recommended rules, no
// import cycles, no reaching into another package's files — import a package by its name, which
// resolves to its public index — and no stage package importing another.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX, createNodeResolver } from 'eslint-plugin-import-x';

const NODE_GLOBALS = Object.fromEntries(
  [
    'require',
    'module',
    'exports',
    'process',
    'console',
    '__dirname',
    '__filename',
    'Buffer',
    'URL',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'performance',
  ].map((name) => [name, 'readonly']),
);

// Import a package by its name: the light entries are public subpaths ("exports" of their
// package.json), not files.
const PACKAGE_FILES = {
  group: ['@efikdump/*/*', '!@efikdump/*/package.json', '!@efikdump/core/base', '!@efikdump/vmcore/files', '!@efikdump/core/testing'],
  message: 'import a package by its name (its public index or an "exports" subpath), not its files',
};
// Stage packages depend on core only (their peer dependency): what they share (Linux boot facts,
// the handoff record and conventions, the devices contract) is core's. Their tests may build a
// whole machine from the other packages.
const STAGE_PACKAGES = ['firmware-uefi', 'kernel-crash', 'stub', 'transports', 'vmcore'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'out/**', 'coverage/**', '.nx/**', 'tools/lab/**/*.c'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })],
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-relative-packages': 'error',
      'import-x/no-self-import': 'error',
      'no-restricted-imports': ['error', { patterns: [PACKAGE_FILES] }],
      // Lazy loading is deliberate (command modules and codecs load when used: start-up, docs/performance.md).
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    languageOptions: { sourceType: 'commonjs', globals: NODE_GLOBALS },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
  {
    files: STAGE_PACKAGES.map((p) => `packages/${p}/src/**/*.ts`),
    ignores: ['**/*.test.ts', '**/testing/**', '**/__fixtures__/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            PACKAGE_FILES,
            {
              group: STAGE_PACKAGES.map((p) => `@efikdump/${p}`),
              message: 'a stage package imports @efikdump/core only: what packages share lives in core (docs/handoff-conventions.md)',
            },
          ],
        },
      ],
    },
  },
  // Tests walk arbitrary JSON documents (reports, schemas, profiles): `any` is the honest type there.
  { files: ['**/*.test.ts', '**/test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
