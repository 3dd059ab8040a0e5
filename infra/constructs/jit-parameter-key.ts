/**
 * JitParameterKey: the customer-managed KMS key the runners' JIT configs (SSM SecureStrings under
 * `<prefix>/jit/`) are encrypted with, instead of the account's `alias/aws/ssm`, whose key policy lets
 * every principal of the account decrypt through SSM. With this key, only roles granted it can decrypt:
 * the control plane encrypts (ControlPlaneAccess.encryptJitConfigs), each runner decrypts through SSM
 * only, only for JIT parameters (RunnerInstanceRole), and which parameter is its own is decided by SSM's
 * tag condition. Yearly rotation; retained with the stateful part (a JIT config lives minutes, but a key
 * deleted under a running deployment would stop every hand-over).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface JitParameterKeyProps {
  readonly project: string;
  readonly parameterPrefix: string;
}

export class JitParameterKey extends Construct {
  readonly key: Key;

  constructor(scope: Construct, id: string, props: JitParameterKeyProps) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: `${props.project}: runner JIT configs (SSM SecureStrings under ${props.parameterPrefix}/jit/)`,
      alias: `alias/${props.project}/jit-configs`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
