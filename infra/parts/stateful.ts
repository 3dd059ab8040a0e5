/**
 * The stateful part: what must survive a redeploy or a rollback of the runtime — the pool store table,
 * the pool config parameter, the GitHub App secrets, the lifecycle event bus and the KMS key of the JIT
 * configs. The runtime part references these by name; replacing the runtime never touches them.
 *
 * Built straight into the scope it is given (this project's `Stateful` stack, or a `Stateful` construct
 * inside a user's stack), so the construct ids below are a contract: renaming one replaces the resource
 * behind it (and, for the table, orphans it). test/infra/logical-ids.test.ts pins them.
 */
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { asInterface } from '../as-interface.js';
import { GitHubAppSecrets } from '../constructs/github-app-secrets.js';
import { JitParameterKey } from '../constructs/jit-parameter-key.js';
import { LifecycleEventBus } from '../constructs/lifecycle-event-bus.js';
import { PoolConfigParameter } from '../constructs/pool-config-parameter.js';
import { PoolStoreTable } from '../constructs/pool-store-table.js';
import type { ResolvedRunners } from '../runners-props.js';

export function poolStoreTableName(project: string): string {
  return `${project}-pool-store`;
}

export interface StatefulPartProps {
  readonly runners: ResolvedRunners;
  /** The user's own key; when absent a new one is created. */
  readonly jitParameterKey?: IKey;
  /** The user's own bus; when absent a new one is created. */
  readonly eventBus?: IEventBus;
}

export class StatefulPart {
  readonly store: PoolStoreTable;
  readonly poolConfig: PoolConfigParameter;
  readonly secrets: GitHubAppSecrets;
  /** The bus created here; undefined when the user brought their own. */
  readonly events?: LifecycleEventBus;
  /** The key created here; undefined when the user brought their own. */
  readonly jitKey?: JitParameterKey;
  readonly tableName: string;
  readonly eventBus: IEventBus;
  readonly jitParameterKey: IKey;
  readonly webhookSecret: ISecret;
  readonly appSecret: ISecret;
  /** The further Apps' secrets, by App name. */
  readonly additionalAppSecrets: readonly { readonly name: string; readonly secret: ISecret }[];

  constructor(scope: Construct, props: StatefulPartProps) {
    const { runners } = props;
    this.tableName = poolStoreTableName(runners.project);
    this.store = new PoolStoreTable(scope, 'PoolStore', { tableName: this.tableName });
    this.poolConfig = new PoolConfigParameter(scope, 'PoolConfig', {
      parameterPrefix: runners.parameterPrefix,
      document: runners.pools.document,
    });
    this.secrets = new GitHubAppSecrets(scope, 'GitHubApp', {
      project: runners.project,
      appId: runners.github.appId,
      installationId: runners.github.installationId,
      additionalApps: runners.github.additionalApps.map(({ name, appId }) => ({ name, appId })),
    });
    if (props.eventBus === undefined) {
      this.events = new LifecycleEventBus(scope, 'LifecycleEvents', { project: runners.project });
      this.eventBus = asInterface<IEventBus>(this.events.bus);
    } else this.eventBus = props.eventBus;
    if (props.jitParameterKey === undefined) {
      this.jitKey = new JitParameterKey(scope, 'JitParameterKey', {
        project: runners.project,
        parameterPrefix: runners.parameterPrefix,
      });
      this.jitParameterKey = this.jitKey.key;
    } else this.jitParameterKey = props.jitParameterKey;
    this.webhookSecret = asInterface<ISecret>(this.secrets.webhookSecret);
    this.appSecret = asInterface<ISecret>(this.secrets.appSecret);
    this.additionalAppSecrets = this.secrets.additionalAppSecrets.map(({ name, secret }) => ({
      name,
      secret: asInterface<ISecret>(secret),
    }));
  }
}
