/**
 * GitHubAppSecrets: the two secrets the control plane holds for the GitHub App.
 * - The webhook secret is generated here (48 random characters) and pasted into the App's webhook
 *   settings; the webhook handler verifies X-Hub-Signature-256 with it.
 * - The App secret holds `{ appId, installationId, privateKey }`. The private key comes from GitHub and is
 *   put by an operator (docs/deploy.md); until then the secret holds a placeholder key and the handlers
 *   fail to authenticate, visibly, instead of running with a half-configured App.
 * Both are retained when the stack is deleted, and neither value ever appears in the template.
 */
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface GitHubAppSecretsProps {
  /** Names the secrets `<project>/github/…`. */
  readonly project: string;
  readonly appId: number;
  readonly installationId: number;
}

export class GitHubAppSecrets extends Construct {
  readonly webhookSecret: Secret;
  readonly appSecret: Secret;

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
    for (const secret of [this.webhookSecret, this.appSecret])
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotating these means changing the GitHub App at the same moment (new webhook secret or private key ' +
          'in GitHub); docs/deploy.md describes the manual rotation. A Lambda rotation cannot reach GitHub settings.',
      });
  }
}
