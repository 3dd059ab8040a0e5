/**
 * How the CLI reaches a deployed stack's GitHub Apps: with the handlers' own settings, taken from the
 * environment under the handlers' names (GITHUB_APPS, or GITHUB_APP_SECRET_ARN with GITHUB_ORG and
 * RUNNER_SCOPE; RUNNER_GROUP; GITHUB_API_URL), checked by the handlers' schema, and the App secrets
 * read from Secrets Manager with the caller's AWS credentials, exactly as the handlers read them
 * (buildDeploymentGitHub). The keys stay in memory: nothing here prints a secret.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AppSecretError, buildDeploymentGitHub } from '../../handlers/control-plane.js';
import { readGitHubSettings, SettingsError } from '../../handlers/settings.js';
import { SecretReadError, SecretsManagerSecrets } from '../../scheduler/adapters/secrets-manager-secrets.js';
import { CliError, describeAwsError } from './cli-error.js';
import { portRunnerGroupSource, type RunnerGroupSource } from './github-checks.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Whether the environment names the deployment's GitHub Apps at all. */
export function namesGitHubApps(env: Env): boolean {
  return Boolean(env.GITHUB_APPS) || Boolean(env.GITHUB_APP_SECRET_ARN);
}

export const githubSettingsHint =
  "set the handlers' GitHub settings: GITHUB_APPS (or GITHUB_APP_SECRET_ARN with GITHUB_ORG), and " +
  'RUNNER_GROUP when the deployment sets one, as in the webhook function’s environment; or pass --sandbox URL';

export async function deploymentRunnerGroupSource(
  env: Env,
  region: string | undefined,
): Promise<RunnerGroupSource> {
  if (!namesGitHubApps(env))
    throw new CliError(
      `the runner group check needs to know the deployment's GitHub Apps: ${githubSettingsHint}`,
      2,
    );
  let settings: ReturnType<typeof readGitHubSettings>;
  try {
    settings = readGitHubSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) throw new CliError(error.message, 2, { cause: error });
    throw error;
  }
  const client = new SecretsManagerClient(region === undefined ? {} : { region });
  const where =
    env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? env.AWS_ENDPOINT_URL ?? region ?? 'the default region';
  try {
    const { github, owners } = await buildDeploymentGitHub(settings, {
      secrets: new SecretsManagerSecrets({ client, clock: { now: () => Date.now() } }),
      clock: { now: () => Date.now() },
      octokit: {
        baseUrl: settings.GITHUB_API_URL,
        ...(settings.GITHUB_ACCEPT !== undefined && { accept: settings.GITHUB_ACCEPT }),
      },
    });
    return portRunnerGroupSource(github, owners.runners, `GitHub (${settings.GITHUB_API_URL})`);
  } catch (error) {
    // AppSecretError names the secret and the faulty fields only, never the content.
    if (error instanceof AppSecretError) throw new CliError(error.message, 1, { cause: error });
    const described = describeAwsError(error, 'Secrets Manager', where);
    // A missing secret: the adapter's message names the secret, which the SDK's does not.
    if (
      error instanceof SecretReadError &&
      (described === undefined || /does not exist/.test(described.message))
    )
      throw new CliError(`${error.message} (Secrets Manager at ${where})`, 1, { cause: error });
    throw described ?? error;
  }
}
