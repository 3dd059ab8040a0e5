import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Peers (dynalite, emulators) bind free ports; forks keep each file's servers isolated.
    pool: 'forks',
  },
});
