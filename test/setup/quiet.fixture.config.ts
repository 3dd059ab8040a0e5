// The project's vitest configuration, run over the one fixture file (test/setup/quiet-output.test.ts).
import { defineConfig } from 'vitest/config';
import project from '../../vitest.config.js';

export default defineConfig({
  ...project,
  test: { ...project.test, include: ['test/setup/quiet.fixture.ts'] },
});
