// Entry point: wired in handlers/pool-tuner.ts by the handlers work; kept minimal until then.
export const handler = async (): Promise<never> => {
  throw new Error('pool-tuner handler is not wired yet');
};
