/**
 * Synthesizes the app the way `cdk synth` does — cdk.json's context (feature flags and the example
 * configuration), optionally overridden — into a temporary directory. Bundling is off unless asked for
 * (test/infra/bundling.test.ts asks): the other tests read templates, not code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { DeploymentConfig } from '../../infra/config/deployment-config.js';
import { contextKey, deepMerge, loadDeploymentConfig } from '../../infra/config/load-deployment-config.js';
import { defineRunnerStacks, type RunnerStacks } from '../../infra/runner-stacks.js';
import { cdkJson } from './example-config.js';

export interface SynthOptions {
  /** Deep-merged over cdk.json's `wpr` context. */
  readonly overrides?: Record<string, unknown>;
  readonly bundling?: boolean;
  readonly nag?: boolean;
  /** Adds to the stacks before synthesis (to prove a check fires). */
  readonly extend?: (stacks: RunnerStacks) => void;
}

export interface Synthesized {
  readonly app: App;
  readonly config: DeploymentConfig;
  readonly stacks: RunnerStacks;
  readonly stateful: Template;
  readonly image: Template;
  readonly runtime: Template;
  readonly deployAccess: Template;
  readonly outdir: string;
  /** Removes the temporary output. */
  readonly dispose: () => void;
}

export function synthesize(options: SynthOptions = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'wpr-synth-'));
  const context: Record<string, unknown> = {
    ...cdkJson.context,
    [contextKey]: deepMerge(cdkJson.context[contextKey], options.overrides ?? {}),
    'aws:cdk:disable-stack-trace': true,
  };
  if (options.bundling !== true) context['aws:cdk:bundling-stacks'] = [];
  // As the CLI does: name each function's asset directory in its metadata.
  else context['aws:cdk:enable-asset-metadata'] = true;
  // The built-in CloudFormation schema check costs seconds per synth and only warns; `npm run synth` runs it.
  const app = new App({ outdir, context, builtinCloudFormationValidation: false });
  const config = loadDeploymentConfig({
    context: (key) => app.node.tryGetContext(key),
    env: {},
    readFile: () => {
      throw new Error('no file in tests');
    },
  });
  const stacks = defineRunnerStacks(app, config, { nag: options.nag ?? false });
  options.extend?.(stacks);
  try {
    app.synth();
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
  return {
    app,
    config,
    stacks,
    stateful: Template.fromStack(stacks.stateful.stack),
    image: Template.fromStack(stacks.image.stack),
    runtime: Template.fromStack(stacks.runtime.stack),
    deployAccess: Template.fromStack(stacks.deployAccess),
    outdir,
    dispose: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** CloudFormation properties are free-form JSON; tests read them field by field. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON, asserted on field by field
type Json = any;

/** The resources of one type in a template, by logical id. */
export function resourcesOf(
  template: Template,
  type: string,
): Record<string, { Properties: Record<string, Json> }> {
  return template.findResources(type) as Record<string, { Properties: Record<string, Json> }>;
}
