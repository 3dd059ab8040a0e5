/** What the end-to-end tests share: one x64 pool on two subnets, a seeded PRNG, and polling. */

export { seededRandom as seeded } from '../../bin/sandbox/seeded-random.js';

export const pool = 'linux-x64';
export const labels = ['self-hosted', 'linux', 'x64'];
export const repository = { owner: 'acme', name: 'app' };

/** The pool config of a test: the x64 pool with its own size and extras, and the test's settings. */
export function e2eConfig(
  poolFields: { defaultSize: number } & Record<string, unknown>,
  settings: Record<string, unknown>,
) {
  return {
    pools: [
      {
        name: pool,
        labels: ['linux', 'x64'],
        architecture: 'x64',
        instanceTypes: ['m7i.large', 'm6i.large'],
        subnets: ['subnet-0a000000000000001', 'subnet-0b000000000000002'],
        maximum: 10,
        ...poolFields,
      },
    ],
    settings,
  };
}

/** Polls a condition until it holds, failing with its description after the timeout. */
export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for: ${what}`);
}
