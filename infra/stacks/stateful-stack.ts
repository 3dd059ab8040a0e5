/**
 * StatefulStack: what must survive a redeploy or a rollback of the runtime — the pool store table, the
 * pool config parameter, the GitHub App secrets and the lifecycle event bus. The runtime stack references
 * these; replacing the runtime never touches them. Construct ids here are a contract: renaming one
 * replaces (and, for the table, orphans) the resource behind it.
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../config/deployment-config.js';
import { GitHubAppSecrets } from '../constructs/github-app-secrets.js';
import { LifecycleEventBus } from '../constructs/lifecycle-event-bus.js';
import { PoolConfigParameter } from '../constructs/pool-config-parameter.js';
import { PoolStoreTable } from '../constructs/pool-store-table.js';

export function poolStoreTableName(project: string): string {
  return `${project}-pool-store`;
}

export interface StatefulStackProps extends StackProps {
  readonly config: DeploymentConfig;
}

export class StatefulStack extends Stack {
  readonly store: PoolStoreTable;
  readonly poolConfig: PoolConfigParameter;
  readonly secrets: GitHubAppSecrets;
  readonly events: LifecycleEventBus;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.store = new PoolStoreTable(this, 'PoolStore', { tableName: poolStoreTableName(config.project) });
    this.poolConfig = new PoolConfigParameter(this, 'PoolConfig', {
      parameterPrefix: config.parameterPrefix,
      pools: config.pools,
    });
    this.secrets = new GitHubAppSecrets(this, 'GitHubApp', {
      project: config.project,
      appId: config.github.appId,
      installationId: config.github.installationId,
    });
    this.events = new LifecycleEventBus(this, 'LifecycleEvents', { project: config.project });
  }
}
