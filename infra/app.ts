/**
 * CDK app entry point (cdk.json runs `node --import tsx infra/app.ts`). Reads the deployment configuration
 * once and defines the stacks; a bad configuration stops synth with every problem listed, before the
 * construct libraries are even loaded.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { InvalidDeploymentConfigError, loadDeploymentConfig } from './config/load-deployment-config.js';

const app = new App();
let config: ReturnType<typeof loadDeploymentConfig>;
try {
  config = loadDeploymentConfig({
    context: (key) => app.node.tryGetContext(key),
    env: process.env,
    readFile: (path) => readFileSync(path, 'utf8'),
  });
} catch (error) {
  if (!(error instanceof InvalidDeploymentConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
const { defineRunnerStacks } = await import('./runner-stacks.js');
defineRunnerStacks(app, config);
app.synth();
