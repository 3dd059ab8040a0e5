/**
 * Test output shows failures, not logs. The handlers log through Powertools, which writes JSON lines
 * straight to process.stdout (its own Console instance), past vitest's console capture, so every passing
 * test printed them. Here raw writes from a test worker are handed to `console.log`/`console.error`,
 * which vitest ties to the running test and, with `silent: 'passed-only'` (vitest.config.ts), prints
 * only for a test that fails. Tests that capture process.stdout themselves replace the write function
 * after this and still see every line.
 */
let routing = false;

function route(stream: NodeJS.WriteStream, log: (text: string) => void): void {
  const original = stream.write.bind(stream);
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    // vitest's console may itself end up writing here; never loop.
    if (routing) return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
    routing = true;
    try {
      log(String(chunk).replace(/\n$/, ''));
    } finally {
      routing = false;
    }
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof stream.write;
}

route(process.stdout, (text) => console.log(text));
route(process.stderr, (text) => console.error(text));
