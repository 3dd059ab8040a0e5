/**
 * GitHubAppSecrets: the two secrets the control plane holds for the GitHub App.
 * - The webhook secret is generated here (48 random characters) and pasted into the App's webhook
 *   settings; the webhook handler verifies X-Hub-Signature-256 with it.
 * - The App secret holds `{ appId, installationId, privateKey }`. The private key comes from GitHub and is
 *   put by an operator (docs/deploy.md); until then the secret holds a placeholder key and the handlers
 *   fail to authenticate, visibly, instead of running with a half-configured App.
 * - Each further App (several Apps, docs/deploy.md) has its own secret, `{ appId, privateKey }`.
 * All are retained when the stack is deleted, and no value ever appears in the template.
 */
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface GitHubAppSecretsProps {
  /** Names the secrets `<project>/github/…`. */
  readonly project: string;
  readonly appId: number;
  readonly installationId: number;
  /** Further Apps, each with its own secret `<project>/github/app-<name>` holding `{ appId, privateKey }`. */
  readonly additionalApps?: readonly { readonly name: string; readonly appId: number }[];
}

export class GitHubAppSecrets extends Construct {
  readonly webhookSecret: Secret;
  readonly appSecret: Secret;
  /** One secret per further App, by the App's name, in the order configured. */
  readonly additionalAppSecrets: readonly { readonly name: string; readonly secret: Secret }[];

  constructor(scope: Construct, id: string, props: GitHubAppSecretsProps) {
    super(scope, id);
    this.webhookSecret = new Secret(this, 'WebhookSecret', {
      secretName: `${props.project}/github/webhook-secret`,
      description: 'GitHub App webhook secret (paste into the App settings); verifies X-Hub-Signature-256',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.appSecret = new Secret(this, 'AppSecret', {
      secretName: `${props.project}/github/app`,
      description:
        'GitHub App credentials as JSON { appId, installationId, privateKey } (put the key after deploy)',
      // The seed keeps the JSON shape the handlers read. Changing appId or installationId in the deployment
      // config regenerates the seed and drops the stored key: put the key again after such a change.
      generateSecretString: {
        // toJsonString: the ids may be deploy-time values (CloudFormation parameters).
        secretStringTemplate: Stack.of(this).toJsonString({
          appId: props.appId,
          installationId: props.installationId,
        }),
        generateStringKey: 'privateKey',
        excludePunctuation: true,
        passwordLength: 32,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // A further App's id is known, its installations are in the handlers' settings: the seed is its id and
    // a placeholder key, replaced by the operator with the App's real key (docs/deploy.md).
    this.additionalAppSecrets = (props.additionalApps ?? []).map((app) => ({
      name: app.name,
      secret: new Secret(this, `AppSecret${pascal(app.name)}`, {
        secretName: `${props.project}/github/app-${app.name}`,
        description: `GitHub App "${app.name}" credentials as JSON { appId, privateKey } (put the key after deploy)`,
        generateSecretString: {
          secretStringTemplate: Stack.of(this).toJsonString({ appId: app.appId }),
          generateStringKey: 'privateKey',
          excludePunctuation: true,
          passwordLength: 32,
        },
        removalPolicy: RemovalPolicy.RETAIN,
      }),
    }));
    for (const secret of [
      this.webhookSecret,
      this.appSecret,
      ...this.additionalAppSecrets.map((a) => a.secret),
    ])
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotating these means changing the GitHub App at the same moment (new webhook secret or private key ' +
          'in GitHub); docs/deploy.md describes the manual rotation. A Lambda rotation cannot reach GitHub settings.',
      });
  }
}

function pascal(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
