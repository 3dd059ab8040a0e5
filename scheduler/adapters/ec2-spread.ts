/**
 * How a pool launch spreads its instances over subnets: round-robin in the given (preference) order,
 * earlier subnets taking the remainder. Shared by Ec2Compute and the in-memory fake so both spread alike.
 */
export function spreadOver(count: number, subnetIds: readonly string[]): [string, number][] {
  if (subnetIds.length === 0 || count <= 0) return [];
  const base = Math.floor(count / subnetIds.length);
  const extra = count % subnetIds.length;
  return subnetIds
    .map((subnetId, i): [string, number] => [subnetId, base + (i < extra ? 1 : 0)])
    .filter(([, n]) => n > 0);
}
