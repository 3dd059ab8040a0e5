// Entry point: wired in handlers/reconciler.ts by the handlers work; kept minimal until then.
export const handler = async (): Promise<never> => {
  throw new Error('reconciler handler is not wired yet');
};
