// Entry point: wired in handlers/webhook.ts by the handlers work; kept minimal until then.
export const handler = async (): Promise<never> => {
  throw new Error('webhook handler is not wired yet');
};
