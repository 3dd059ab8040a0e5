/**
 * GitHubDeployRoles: GitHub Actions' way into the account, through OIDC (no stored AWS keys).
 *   - DeployRole: assumable only by a job of this repository running in the deployment environment
 *     (token subject `repo:<owner>/<repo>:environment:<environment>`); the environment's protection rules
 *     (required reviewers, deployment branch = main) are the approval gate. It can do one thing: assume
 *     the CDK bootstrap roles of this account and region, which carry the deploy permissions.
 *   - DiffRole: assumable by pull requests and by pushes to the main branch, for `cdk diff`. It can only
 *     assume the bootstrap lookup role (read-only, and denied kms:Decrypt, so no SecureString or secret).
 * Tokens must be minted for audience `sts.amazonaws.com` (aws-actions/configure-aws-credentials does).
 */
import { Aws, CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  type IOidcProvider,
  OidcProviderNative,
  OpenIdConnectPrincipal,
  PolicyStatement,
  Role,
} from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export const githubOidcIssuer = 'token.actions.githubusercontent.com';

export interface GitHubDeployRolesProps {
  readonly project: string;
  /** `owner/repository` whose workflows deploy. */
  readonly repository: string;
  readonly branch: string;
  readonly environment: string;
  /** Reuse the account's provider for token.actions.githubusercontent.com instead of creating one. */
  readonly existingOidcProviderArn?: string;
  /** The CDK bootstrap qualifier. @default 'hnb659fds' */
  readonly bootstrapQualifier?: string;
}

export class GitHubDeployRoles extends Construct {
  readonly provider: IOidcProvider;
  readonly deployRole: Role;
  readonly diffRole: Role;

  constructor(scope: Construct, id: string, props: GitHubDeployRolesProps) {
    super(scope, id);
    this.provider =
      props.existingOidcProviderArn === undefined
        ? new OidcProviderNative(this, 'Provider', {
            url: `https://${githubOidcIssuer}`,
            clientIds: ['sts.amazonaws.com'],
            removalPolicy: RemovalPolicy.RETAIN,
          })
        : OidcProviderNative.fromOidcProviderArn(this, 'Provider', props.existingOidcProviderArn);

    const principal = (subjects: string[]) =>
      new OpenIdConnectPrincipal(this.provider, {
        StringEquals: {
          [`${githubOidcIssuer}:aud`]: 'sts.amazonaws.com',
          [`${githubOidcIssuer}:sub`]: subjects,
        },
      });
    const qualifier = props.bootstrapQualifier ?? 'hnb659fds';
    const bootstrapRole = (kind: string) =>
      `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/cdk-${qualifier}-${kind}-role-${Aws.ACCOUNT_ID}-${Aws.REGION}`;

    this.deployRole = new Role(this, 'DeployRole', {
      roleName: `${props.project}-github-deploy`,
      description: `Deploys ${props.project} from ${props.repository} (environment ${props.environment} only)`,
      assumedBy: principal([`repo:${props.repository}:environment:${props.environment}`]),
      maxSessionDuration: Duration.hours(1),
    });
    this.deployRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'AssumeCdkBootstrapRoles',
        actions: ['sts:AssumeRole', 'sts:TagSession'],
        resources: ['deploy', 'file-publishing', 'image-publishing', 'lookup'].map(bootstrapRole),
      }),
    );

    this.diffRole = new Role(this, 'DiffRole', {
      roleName: `${props.project}-github-diff`,
      description: `Read-only cdk diff for ${props.repository} pull requests and ${props.branch}`,
      assumedBy: principal([
        `repo:${props.repository}:pull_request`,
        `repo:${props.repository}:ref:refs/heads/${props.branch}`,
      ]),
      maxSessionDuration: Duration.hours(1),
    });
    this.diffRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'AssumeCdkLookupRole',
        actions: ['sts:AssumeRole', 'sts:TagSession'],
        resources: [bootstrapRole('lookup')],
      }),
    );

    new CfnOutput(this, 'DeployRoleArn', {
      value: this.deployRole.roleArn,
      description: 'Repository secret AWS_DEPLOY_ROLE_ARN',
    });
    new CfnOutput(this, 'DiffRoleArn', {
      value: this.diffRole.roleArn,
      description: 'Repository secret AWS_DIFF_ROLE_ARN',
    });
  }
}
