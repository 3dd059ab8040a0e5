/** Types of aws.mjs for the TypeScript side of the test harness. */
export interface AwsCommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function awsCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<AwsCommandResult>;

export function preload(): Promise<void>;

export function destroyClients(): void;
