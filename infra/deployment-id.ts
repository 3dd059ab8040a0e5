/**
 * The deployment id: the UUID CloudFormation gives the runtime stack, stable across its updates and
 * unique to it. Every launch tags it `wpr:deployment`, IAM requires that tag on every launch, and the
 * reconciler reaps as orphans only instances carrying it.
 */
import { Aws, Fn } from 'aws-cdk-lib';

/** `arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>` → `<uuid>`, as a token. */
export function deploymentId(): string {
  return Fn.select(2, Fn.split('/', Aws.STACK_ID));
}
