/**
 * DeployAccessStack: deployed once by hand (after `cdk bootstrap`), before the pipeline can deploy
 * anything: the GitHub OIDC provider and the roles the pipeline assumes. Kept apart from the product
 * stacks so the pipeline never changes its own access.
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../config/deployment-config.js';
import { GitHubDeployRoles } from '../constructs/github-deploy-roles.js';

export interface DeployAccessStackProps extends StackProps {
  readonly config: DeploymentConfig;
}

export class DeployAccessStack extends Stack {
  readonly roles: GitHubDeployRoles;

  constructor(scope: Construct, id: string, props: DeployAccessStackProps) {
    super(scope, id, props);
    const { deploy, project } = props.config;
    this.roles = new GitHubDeployRoles(this, 'GitHubDeploy', {
      project,
      repository: deploy.repository,
      branch: deploy.branch,
      environment: deploy.environment,
      ...(deploy.existingOidcProviderArn === undefined
        ? {}
        : { existingOidcProviderArn: deploy.existingOidcProviderArn }),
    });
  }
}
