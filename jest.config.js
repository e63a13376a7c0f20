// ESM all the way: @kubernetes/client-node 2.x ships only ESM, so tests run as native ES modules
// under `node --experimental-vm-modules`, with @swc/jest stripping types (docs/adr/0001).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
    ],
  },
  reporters: ['default', '<rootDir>/test/support/totals-reporter.js'],
  // Tests that build network namespaces share the host's kernel; keep them from racing on names.
  maxWorkers: 2,
  // Suites against the kernel, the API server and the lab run real processes; on a loaded machine
  // one step can take longer than jest's 5 s default. This bounds a stuck test, it times nothing.
  testTimeout: 60_000,
};
