/**
 * PoolConfigParameter: the SSM String parameter `<prefix>/pools` holding the pool config as JSON, read by
 * every handler and the CLI through the same schema. The deployment writes the configured initial
 * document; operators change pools at runtime with the CLI (or put-parameter). CloudFormation rewrites the
 * value only when the document in the deployment configuration changes, so a deploy that leaves it alone
 * keeps runtime edits.
 */
import { Token } from 'aws-cdk-lib';
import { ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { parameterNames } from '../parameter-names.js';

export interface PoolConfigParameterProps {
  readonly parameterPrefix: string;
  /**
   * The initial document as JSON: validated at synth, or a deploy-time value (a CloudFormation parameter)
   * that the control plane validates on every read, keeping its last good config.
   */
  readonly document: string;
}

/** Parameter Store's advanced tier holds up to 8 KB; the standard tier 4 KB. */
const maximumDocumentBytes = 8_192;

export class PoolConfigParameter extends Construct {
  readonly parameter: StringParameter;
  readonly parameterName: string;

  constructor(scope: Construct, id: string, props: PoolConfigParameterProps) {
    super(scope, id);
    const { document } = props;
    const bytes = Buffer.byteLength(document, 'utf8');
    if (!Token.isUnresolved(document) && bytes > maximumDocumentBytes)
      throw new Error(
        `pools: the pool config is ${bytes} bytes, over the ${maximumDocumentBytes}-byte limit of an SSM parameter; ` +
          'shorten it (fewer schedule windows, shorter label lists)',
      );
    this.parameterName = parameterNames.poolConfig(props.parameterPrefix);
    this.parameter = new StringParameter(this, 'Parameter', {
      parameterName: this.parameterName,
      description: 'Warm-pool runner pools (JSON, validated by the control plane on every read)',
      stringValue: document,
      // Standard until the document outgrows 4 KB, then advanced, without a replacement.
      tier: ParameterTier.INTELLIGENT_TIERING,
    });
  }
}
