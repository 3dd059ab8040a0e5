import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Peers (dynalite, emulators) bind free ports; forks keep each file's servers isolated.
    pool: 'forks',
    // A green run shows which files passed, not what they logged: a test's console output (and, through
    // the setup file, the handlers' JSON log lines) is printed only when that test fails.
    silent: 'passed-only',
    setupFiles: ['test/setup/route-output.ts'],
    env: {
      // The SDK's notice that its releases after January 2027 need Node 22 (docs/deploy.md, Node versions):
      // known, and said once in the docs rather than once per test file.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    // One line per file; a test is listed on its own only past 5 s; the failures' details follow at the end.
    reporters: [['default', { summary: false }]],
    slowTestThreshold: 5_000,
  },
});
