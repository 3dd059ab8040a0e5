/**
 * cdk-nag 3 (AwsSolutions pack) runs as a policy-validation plugin at synth: any finding that is not
 * acknowledged on its construct, with a reason, fails synthesis. These tests hold the app to zero
 * unacknowledged findings and keep every acknowledgement explained.
 */
import { Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import { type Synthesized, synthesize } from './synth.js';

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      // Recorded as `{ "<plugin namespace>::<rule id>": reason }`.
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .map(([qualified, reason]) => ({
        path: construct.node.path,
        id: qualified.replace(/^[A-Za-z]+::/, ''),
        reason,
      })),
  );
}

let app: Synthesized | undefined;
afterAll(() => app?.dispose());

describe('cdk-nag AwsSolutions checks', () => {
  it('synthesizes every stack with no unacknowledged finding', () => {
    let failure: unknown;
    try {
      app = synthesize({ nag: true });
    } catch (error) {
      failure = error;
    }
    // On failure the message is cdk-nag's report: rule, construct path and the id to acknowledge.
    expect(failure === undefined ? '' : String((failure as Error).message)).toBe('');
  });

  it('explains every acknowledgement', () => {
    expect(app).toBeDefined();
    const acks = acknowledgements((app as Synthesized).app).filter((a) => a.id.startsWith('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(10);
    for (const ack of acks) {
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(40);
      expect(ack.reason, `${ack.path} ${ack.id}`).not.toMatch(/placeholder|todo|tbd/i);
    }
  });

  it('acknowledges findings one by one, never a whole rule on a stack', () => {
    const acks = acknowledgements((app as Synthesized).app);
    const stackPaths = new Set(['Runners/Stateful', 'Runners/Image', 'Runners/Runtime', 'DeployAccess', '']);
    for (const ack of acks) expect(stackPaths.has(ack.path), `${ack.id} on ${ack.path}`).toBe(false);
    // Wildcard acknowledgements name the exact resource pattern they excuse.
    for (const ack of acks.filter((a) => a.id.startsWith('AwsSolutions-IAM5')))
      expect(ack.id).toMatch(/^AwsSolutions-IAM5\[(Resource|Action)::.+\]$/);
  });

  it('fails synthesis on a new finding nobody acknowledged', () => {
    expect(() =>
      synthesize({
        nag: true,
        extend: ({ runtime }) => {
          const role = new Role(runtime.stack, 'Careless', {
            assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
          });
          role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ec2:*'], resources: ['*'] }));
        },
      }),
    ).toThrow(/AwsSolutions-IAM5\[Action::ec2:\*\][\s\S]*Runtime\/Careless/);
  });
});
