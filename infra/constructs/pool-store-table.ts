/**
 * PoolStoreTable: the DynamoDB table holding instance, job and marker records. Its keys, indexes and TTL
 * attribute come from the adapter's own table design, so the deployed table and the code that queries it
 * cannot drift. Stateful: point-in-time recovery on, deletion protection on, retained on stack deletion.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import {
  type Attribute,
  AttributeType,
  BillingMode,
  ProjectionType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { type KeyAttribute, poolStoreTable } from '../../scheduler/adapters/dynamodb-table-design.js';

export interface PoolStoreTableProps {
  /**
   * A fixed name, so the runtime stack addresses the table by name (no cross-stack export to pin it).
   * The key schema never changes in place, so the name never blocks a replacement.
   */
  readonly tableName: string;
  /** Retain the table when the stack is deleted. @default true */
  readonly retain?: boolean;
}

export class PoolStoreTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: PoolStoreTableProps) {
    super(scope, id);
    const design = poolStoreTable;
    this.table = new Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: attribute(design.partitionKey),
      sortKey: attribute(design.sortKey),
      billingMode:
        design.billingMode === 'PAY_PER_REQUEST' ? BillingMode.PAY_PER_REQUEST : BillingMode.PROVISIONED,
      timeToLiveAttribute: design.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: props.retain === false ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    for (const index of Object.values(design.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        sortKey: attribute(index.sortKey),
        projectionType: ProjectionType.ALL,
      });
    }
  }
}

function attribute(key: KeyAttribute): Attribute {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}
