/**
 * cdk-nag names a wildcard finding after the resource as it appears in the template, with intrinsic
 * functions rendered inline: `arn:<AWS::Partition>:ssm:<AWS::Region>:…`. Acknowledgements must quote that
 * exact text, so it is computed from the same ARN the policy uses (Stack.resolve, then rendered here)
 * rather than copied by hand.
 */
export function nagForm(resolved: unknown): string {
  if (typeof resolved === 'string') return resolved;
  if (resolved !== null && typeof resolved === 'object') {
    const join = (resolved as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    if (join !== undefined) return join[1].map(nagForm).join(join[0]);
    const ref = (resolved as { Ref?: string }).Ref;
    if (ref !== undefined) return `<${ref}>`;
    const getAtt = (resolved as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
    if (getAtt !== undefined) return `<${getAtt[0]}.${getAtt[1]}>`;
    const sub = (resolved as { 'Fn::Sub'?: string })['Fn::Sub'];
    if (typeof sub === 'string') return sub.replace(/\$\{([^}]+)\}/g, '<$1>');
    const importValue = (resolved as { 'Fn::ImportValue'?: string })['Fn::ImportValue'];
    if (importValue !== undefined) return importValue;
  }
  return JSON.stringify(resolved);
}
