#!/usr/bin/env node
// The `runners` binary (package.json "bin"): loads the TypeScript CLI through tsx, installed with the
// project's dependencies by `npm ci`, so the CLI runs from the source with no build step.
import { tsImport } from 'tsx/esm/api';

await tsImport('./runners.ts', import.meta.url);
