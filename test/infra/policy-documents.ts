/**
 * The synthesized IAM policies of a role, with CloudFormation intrinsics replaced by the values they take
 * in a deployed account, so a policy simulator can evaluate them: pseudo parameters become the configured
 * account and region, references become plausible physical ids and ARNs, and cross-stack imports are
 * followed into the exporting stack.
 */
import { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';

/** The UUID of AWS::StackId as resolved here: the deployment id the policies require on launches. */
export const deploymentUuid = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';

export interface PolicyDocument {
  Version: string;
  Statement: Record<string, unknown>[];
}

/** CloudFormation properties are free-form JSON; the resolver walks them without a schema. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON, read field by field below
type Json = any;
type Resources = Record<string, { Type: string; Properties?: Record<string, Json> }>;

export class TemplateResolver {
  private readonly exports = new Map<string, { value: unknown; resources: Resources }>();

  constructor(
    private readonly account: string,
    private readonly region: string,
    templates: readonly Template[],
  ) {
    for (const template of templates) {
      const json = template.toJSON() as { Resources: Resources; Outputs?: Record<string, Json> };
      for (const output of Object.values(json.Outputs ?? {}))
        if (output.Export?.Name !== undefined)
          this.exports.set(output.Export.Name, { value: output.Value, resources: json.Resources });
    }
  }

  /** Every policy document attached to a role: its inline policies and the AWS::IAM::Policy resources. */
  policiesOf(template: Template, role: IConstruct): { name: string; policy: PolicyDocument }[] {
    const json = template.toJSON() as { Resources: Resources };
    const logicalId = Stack.of(role).getLogicalId(role.node.defaultChild as never);
    const roleResource = json.Resources[logicalId];
    if (roleResource?.Type !== 'AWS::IAM::Role') throw new Error(`${logicalId} is not a role`);
    const documents: { name: string; policy: PolicyDocument }[] = [];
    for (const inline of roleResource.Properties?.Policies ?? [])
      documents.push({
        name: inline.PolicyName,
        policy: this.resolve(inline.PolicyDocument, json.Resources),
      });
    for (const [id, resource] of Object.entries(json.Resources)) {
      // CDK moves statements past an inline policy's size limit into overflow managed policies.
      if (resource.Type !== 'AWS::IAM::Policy' && resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
      const roles = (resource.Properties?.Roles ?? []) as { Ref?: string }[];
      if (roles.some((r) => r.Ref === logicalId))
        documents.push({
          name: id,
          policy: this.resolve(resource.Properties?.PolicyDocument, json.Resources),
        });
    }
    return documents;
  }

  resolve<T = Json>(value: unknown, resources: Resources): T {
    return this.walk(value, resources) as T;
  }

  private walk(value: unknown, resources: Resources): unknown {
    if (Array.isArray(value)) return value.map((v) => this.walk(v, resources));
    if (value === null || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    if ('Ref' in object) return this.ref(object.Ref as string, resources);
    if ('Fn::GetAtt' in object) {
      const [id, attribute] = object['Fn::GetAtt'] as [string, string];
      return this.getAtt(id, attribute, resources);
    }
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => String(this.walk(p, resources))).join(separator);
    }
    if ('Fn::Select' in object) {
      const [index, list] = object['Fn::Select'] as [number, unknown];
      return (this.walk(list, resources) as unknown[])[index];
    }
    if ('Fn::Split' in object) {
      const [separator, source] = object['Fn::Split'] as [string, unknown];
      return String(this.walk(source, resources)).split(separator);
    }
    if ('Fn::ImportValue' in object) {
      const name = this.walk(object['Fn::ImportValue'], resources) as string;
      const exported = this.exports.get(name);
      if (exported === undefined) throw new Error(`no stack exports ${name}`);
      return this.walk(exported.value, exported.resources);
    }
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, this.walk(v, resources)]));
  }

  private ref(id: string, resources: Resources): string {
    const { account, region } = this;
    switch (id) {
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::Region':
        return region;
      case 'AWS::AccountId':
        return account;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackId':
        return `arn:aws:cloudformation:${region}:${account}:stack/wpr-runtime/${deploymentUuid}`;
    }
    const resource = resources[id];
    const props = resource?.Properties ?? {};
    switch (resource?.Type) {
      case 'AWS::EC2::LaunchTemplate':
        return 'lt-0123456789abcdef0';
      case 'AWS::SecretsManager::Secret':
        return `arn:aws:secretsmanager:${region}:${account}:secret:${props.Name}-AbCdEf`;
      case 'AWS::Events::EventBus':
        return props.Name;
      case 'AWS::DynamoDB::Table':
        return props.TableName;
      case 'AWS::Lambda::Function':
        return props.FunctionName;
      case 'AWS::IAM::Role':
        return props.RoleName ?? id;
      default:
        return id;
    }
  }

  private getAtt(id: string, attribute: string, resources: Resources): string {
    const { account, region } = this;
    const resource = resources[id];
    const props = resource?.Properties ?? {};
    if (resource?.Type === 'AWS::EC2::SecurityGroup' && attribute === 'GroupId')
      return 'sg-0123456789abcdef0';
    if (attribute !== 'Arn') return `${id}.${attribute}`;
    switch (resource?.Type) {
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${account}:role/${props.RoleName ?? id}`;
      case 'AWS::IAM::InstanceProfile':
        return `arn:aws:iam::${account}:instance-profile/${id}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${region}:${account}:log-group:${props.LogGroupName ?? id}:*`;
      case 'AWS::Events::EventBus':
        return `arn:aws:events:${region}:${account}:event-bus/${props.Name}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${region}:${account}:function:${props.FunctionName ?? id}`;
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${region}:${account}:table/${props.TableName ?? id}`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${region}:${account}:${id}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${region}:${account}:key/${id}`;
      default:
        return `arn:aws:unknown:${region}:${account}:${id}`;
    }
  }
}
