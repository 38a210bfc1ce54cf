// Shared Jest settings: every project runs its own Jest with this preset (see each jest.config.js).
const path = require('node:path');

const root = __dirname;
const packages = ['core', 'firmware-uefi', 'stub', 'kernel-crash', 'vmcore', 'transports'];

module.exports = function preset(projectDir) {
  return {
    rootDir: projectDir,
    displayName: path.basename(projectDir),
    testEnvironment: 'node',
    setupFiles: ['reflect-metadata'],
    testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
    transform: {
      '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(projectDir, 'tsconfig.spec.json') }],
    },
    moduleNameMapper: {
      ...Object.fromEntries(packages.map((name) => [`^@efikdump/${name}$`, path.join(root, 'packages', name, 'src', 'index.ts')])),
      // The light entries (package.json "exports" subpaths): the same sources, so one module instance.
      '^@efikdump/core/base$': path.join(root, 'packages', 'core', 'src', 'base.ts'),
      '^@efikdump/vmcore/files$': path.join(root, 'packages', 'vmcore', 'src', 'files.ts'),
      // The public test kit, core's second entry point (package.json "exports": "./testing").
      '^@efikdump/core/testing$': path.join(root, 'packages', 'core', 'src', 'test-kit', 'index.ts'),
    },
    testTimeout: 120000,
    reporters: ['default', path.join(root, 'tools', 'jest-summary-reporter.js')],
  };
};
