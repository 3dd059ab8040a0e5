/**
 * CliError: a problem the user can fix (a bad file, a missing flag, an unreachable endpoint). The CLI
 * prints its message alone, without a stack trace, and exits with its code. Anything else is a fault
 * and keeps its stack (with RUNNERS_DEBUG=1) for a bug report.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The AWS SDK error or system error under an adapter's wrapping, for a message that says what failed. */
export function rootCause(error: unknown): { name: string; code?: string; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 8; depth++) {
    const next = (current as { cause?: unknown } | null)?.cause;
    if (next === undefined || next === null) break;
    current = next;
  }
  const e = current as { name?: string; code?: string; message?: string } | null;
  return {
    name: e?.name ?? 'Error',
    ...(e?.code !== undefined && { code: e.code }),
    message: e?.message ?? String(current),
  };
}

/** Turns what AWS or the network answered into a CliError naming the service, or returns undefined. */
export function describeAwsError(error: unknown, service: string, where: string): CliError | undefined {
  const cause = rootCause(error);
  const text = `${cause.name} ${cause.code ?? ''} ${cause.message}`;
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|fetch failed/.test(text))
    return new CliError(`cannot reach ${service} at ${where}: ${cause.code ?? cause.message}`, 1, {
      cause: error,
    });
  if (/Region is missing/i.test(text))
    return new CliError('no AWS region: pass --region or set AWS_REGION', 1, { cause: error });
  if (
    /CredentialsProviderError|Could not load credentials|InvalidClientTokenId|UnrecognizedClient/i.test(text)
  )
    return new CliError(
      `no valid AWS credentials for ${service} (${cause.message}); set AWS_PROFILE or the AWS_* variables`,
      1,
      { cause: error },
    );
  if (/AccessDenied|not authorized/i.test(text))
    return new CliError(`${service} refused access at ${where}: ${cause.message}`, 1, { cause: error });
  if (cause.name === 'ResourceNotFoundException')
    return new CliError(`${where} does not exist: ${cause.message}`, 1, { cause: error });
  return undefined;
}
