/**
 * The `runners` command line: one commander program whose actions are the commands in this folder.
 * `runCli` returns the exit code instead of exiting, and takes its I/O as a parameter, so tests run it
 * in-process and the binary is three lines. User errors (CliError, commander's own) print one line
 * and no stack; anything else is a fault and says how to get its stack.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { addAwsTargetOptions } from './aws-target.js';
import { CliError } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { costCommand } from './cost-command.js';
import { applyCommand, validateCommand } from './pools-commands.js';
import { replayCommand } from './replay-command.js';
import { statusCommand } from './status-command.js';

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number.');
  return n;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('runners')
    .description('Operate warm-pool GitHub Actions runners: status, cost, pool config and webhook replay.')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (text, write) => write(text) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nAgainst the local sandbox (npm start), pass --sandbox http://127.0.0.1:8080. Against a deployed\n' +
        'stack the AWS SDK finds credentials and region as usual (AWS_PROFILE, AWS_REGION, …); the\n' +
        'AWS_ENDPOINT_URL_<SERVICE> variables point it elsewhere.\n',
    );

  const status = program
    .command('status')
    .description('pools against their target, live instances and jobs')
    .option('--json', 'print JSON (the same shape for a sandbox and a deployed stack)')
    .option('--sandbox <url>', 'read a running sandbox (its /api/state) instead of AWS')
    .option('--completed', 'also read completed jobs (a deployed table keeps them for days)');
  addAwsTargetOptions(status, { table: true }).action(async (options) => {
    exitCode = await statusCommand(options, io);
  });

  const cost = program
    .command('cost')
    .description('cost per repository and organization for a day or a range of UTC days (default: yesterday)')
    .option('--day <YYYY-MM-DD>', 'one UTC day')
    .option('--from <YYYY-MM-DD>', 'first UTC day of a range (at most 31 days)')
    .option('--to <YYYY-MM-DD>', 'last UTC day of the range (default: --from)')
    .option(
      '--top <n>',
      'repositories listed before the rest are summed as other (default 20)',
      positiveInteger,
    )
    .option('--json', 'print the report as JSON (the same shape for a sandbox and a deployed stack)')
    .option('--sandbox <url>', 'read a running sandbox (its /api/cost) instead of AWS');
  addAwsTargetOptions(cost, { table: true }).action(async (options) => {
    exitCode = await costCommand(options, io, Date.now());
  });

  const pools = program.command('pools').description('the pool config (one SSM parameter, validated)');
  const validate = pools
    .command('validate')
    .description('check a pool config file with the schema the handlers use; lists every problem')
    .argument('<file>', 'pool config JSON')
    .option(
      '--check-aws',
      'also check it against the account: subnets, instance types offered per zone, images and volume sizes',
    )
    .option(
      '--check-github',
      "also check that every pool's runner group exists in every organization the deployment serves",
    )
    .option('--sandbox <url>', "check against a running sandbox's peers");
  addAwsTargetOptions(validate, { table: false }).action(async (file: string, options) => {
    exitCode = await validateCommand(file, io, Date.now(), options);
  });
  const apply = pools
    .command('apply')
    .description('validate a pool config file, show the change against the live one, and write it to SSM')
    .argument('<file>', 'pool config JSON')
    .option('-y, --yes', 'write without asking for confirmation')
    .option('--dry-run', 'show the change only')
    .option('--no-aws-checks', 'skip the account checks (subnets, type offerings, images and volume sizes)')
    .option('--no-github-checks', "skip the check that every pool's runner group exists on GitHub")
    .option('--sandbox <url>', "write to a running sandbox's SSM peer");
  addAwsTargetOptions(apply, { table: false }).action(async (file: string, options) => {
    exitCode = await applyCommand(file, options, io);
  });

  program
    .command('replay')
    .description(
      'send a webhook payload signed as GitHub signs it (X-Hub-Signature-256) and print the answer',
    )
    .argument('<file>', 'the payload, e.g. a workflow_job delivery copied from the App settings')
    .option('--url <url>', 'the webhook URL')
    .option('--sandbox <url>', "the sandbox's base URL (sends to <url>/workflow_job)")
    .option(
      '--secret <secret>',
      'the webhook secret (env WEBHOOK_SECRET; prefer it: flags land in shell history)',
    )
    .addOption(new Option('--event <name>', 'X-GitHub-Event').default('workflow_job'))
    .option('--delivery <id>', 'X-GitHub-Delivery (default: a new UUID; reuse one to send a duplicate)')
    .addOption(
      new Option('--action <action>', 'rewrite the payload action').choices([
        'queued',
        'waiting',
        'in_progress',
        'completed',
      ]),
    )
    .option('--job-id <id>', 'rewrite workflow_job.id', positiveInteger)
    .option('--now', "rewrite the job's created_at to now, so latency is measured from this replay")
    .option('--json', 'print the answer as JSON')
    .action(async (file: string, options) => {
      exitCode = await replayCommand(file, options, io);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError) {
      io.err(`runners: ${error.message}\n`);
      return error.exitCode;
    }
    const fault = error as Error;
    io.err(
      io.env.RUNNERS_DEBUG === '1'
        ? `${fault.stack ?? fault.message}\n`
        : `runners: unexpected error: ${fault.message} (RUNNERS_DEBUG=1 shows the stack)\n`,
    );
    return 1;
  }
}
