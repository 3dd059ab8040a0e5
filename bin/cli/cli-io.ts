/**
 * What a CLI command may touch of the outside world, passed in rather than reached for, so a test
 * runs a command in-process with captured output and a scripted answer to a confirmation.
 */
import { createInterface } from 'node:readline/promises';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether a human can answer a question (stdin and stdout are terminals). */
  readonly interactive: boolean;
  /** Asks a yes/no question; only called when `interactive`. */
  confirm(question: string): Promise<boolean>;
  /** HTTP for the sandbox API and webhook replays. */
  readonly fetch: typeof fetch;
}

export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
    confirm: async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        const answer = await rl.question(`${question} [y/N] `);
        return /^y(es)?$/i.test(answer.trim());
      } finally {
        rl.close();
      }
    },
    fetch: globalThis.fetch,
  };
}
