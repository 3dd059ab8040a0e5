// Entry point: wired in handlers/lifecycle.ts by the handlers work; kept minimal until then.
export const handler = async (): Promise<never> => {
  throw new Error('lifecycle handler is not wired yet');
};
