// A stand-in for the AWS CLI v2 covering what the instance agent calls, run against the local peers with
// the real SDK clients:
//   aws ssm get-parameter --name N [--with-decryption] [--query Parameter.Value --output text]
//   aws ssm delete-parameter --name N
//   aws ec2 create-tags --resources ID... --tags Key=K,Value=V ...
// Endpoints come from AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL_EC2 (the real CLI honours the same variables)
// and without one the call is refused: nothing may reach AWS. Region and credentials come from AWS_REGION,
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
// Output and exit codes follow the CLI: a service error prints `An error occurred (Code) when calling the
// Op operation: message` on stderr and exits 254; a connection failure exits 255; bad usage exits 252.
// `--cli-*` options are accepted and ignored.
// Every call is appended to $WPR_TEST_RECORD_DIR/aws.log as one JSON line (arguments and outcome; the agent
// never passes a secret as an argument, and no value is recorded).
//
// Run as a script (`node aws.mjs ssm get-parameter ...`), or in-process through `awsCommand(argv, env)`,
// which the test harness serves to bin/aws so that a call does not pay Node's and the SDK's start-up.
// Clients are imported lazily: loading the EC2 client alone takes seconds, and most calls are SSM's.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

class UsageError extends Error {}

function parse(args) {
  const [service, operation, ...rest] = args;
  const options = new Map();
  let current;
  for (const arg of rest) {
    if (arg.startsWith('--')) {
      current = arg.slice(2);
      options.set(current, []);
    } else if (current === undefined) {
      throw new UsageError(`unexpected argument ${arg}`);
    } else {
      options.get(current).push(arg);
    }
  }
  return { service, operation, options };
}

function single(options, name) {
  const values = options.get(name);
  if (values === undefined || values.length !== 1) throw new UsageError(`--${name} takes one value`);
  return values[0];
}

function clientConfig(service, env) {
  const endpoint = env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`] ?? env.AWS_ENDPOINT_URL;
  if (endpoint === undefined) throw new UsageError(`no local endpoint for ${service} (AWS_ENDPOINT_URL_*)`);
  return {
    endpoint,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'AKIDSTANDIN',
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'stand-in-secret',
    },
  };
}

const json = (value) => `${JSON.stringify(value, null, 4)}\n`;

// One client per service and configuration, kept for the life of the process (the in-process server).
const clients = new Map();
async function clientFor(service, env) {
  const config = clientConfig(service, env);
  const key = JSON.stringify([service, config]);
  if (!clients.has(key)) {
    const module =
      service === 'ssm' ? await import('@aws-sdk/client-ssm') : await import('@aws-sdk/client-ec2');
    clients.set(key, service === 'ssm' ? new module.SSMClient(config) : new module.EC2Client(config));
  }
  return clients.get(key);
}

/** Loads the clients ahead of the first call (the in-process server does this once). */
export async function preload() {
  await Promise.all([import('@aws-sdk/client-ssm'), import('@aws-sdk/client-ec2')]);
}

async function getParameter(options, env) {
  const query = options.get('query')?.[0];
  const output = options.get('output')?.[0] ?? 'json';
  if (query !== undefined && query !== 'Parameter.Value')
    throw new UsageError(`unsupported --query ${query}`);
  const client = await clientFor('ssm', env);
  const { GetParameterCommand } = await import('@aws-sdk/client-ssm');
  const result = await client.send(
    new GetParameterCommand({
      Name: single(options, 'name'),
      WithDecryption: options.has('with-decryption'),
    }),
  );
  const parameter = result.Parameter ?? {};
  if (query !== 'Parameter.Value') return json({ Parameter: parameter });
  return output === 'text' ? `${parameter.Value ?? 'None'}\n` : json(parameter.Value ?? null);
}

async function deleteParameter(options, env) {
  const client = await clientFor('ssm', env);
  const { DeleteParameterCommand } = await import('@aws-sdk/client-ssm');
  await client.send(new DeleteParameterCommand({ Name: single(options, 'name') }));
  return '';
}

function parseTag(shorthand) {
  const match = /^Key=([^,]*),Value=(.*)$/.exec(shorthand);
  if (match === null) throw new UsageError(`unsupported --tags value ${shorthand}`);
  return { Key: match[1], Value: match[2] };
}

async function createTags(options, env) {
  const resources = options.get('resources') ?? [];
  const tags = (options.get('tags') ?? []).map(parseTag);
  if (resources.length === 0 || tags.length === 0)
    throw new UsageError('--resources and --tags are required');
  const client = await clientFor('ec2', env);
  const { CreateTagsCommand } = await import('@aws-sdk/client-ec2');
  await client.send(new CreateTagsCommand({ Resources: resources, Tags: tags }));
  return '';
}

const operations = {
  'ssm get-parameter': ['GetParameter', getParameter],
  'ssm delete-parameter': ['DeleteParameter', deleteParameter],
  'ec2 create-tags': ['CreateTags', createTags],
};

function record(env, entry) {
  if (env.WPR_TEST_RECORD_DIR !== undefined)
    appendFileSync(join(env.WPR_TEST_RECORD_DIR, 'aws.log'), `${JSON.stringify(entry)}\n`);
}

/** Runs one CLI call; resolves with what the CLI would print and its exit code. */
export async function awsCommand(argv, env) {
  const usage = (message) => {
    record(env, { argv, exit: 252 });
    return { code: 252, stdout: '', stderr: `\naws: error: ${message}\n` };
  };
  let parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    return usage(error.message);
  }
  for (const name of [...parsed.options.keys()]) if (name.startsWith('cli-')) parsed.options.delete(name);
  const entry = operations[`${parsed.service} ${parsed.operation}`];
  if (entry === undefined)
    return usage(`the stand-in does not implement ${parsed.service} ${parsed.operation}`);
  const [operationName, run] = entry;
  try {
    const stdout = await run(parsed.options, env);
    record(env, { argv, exit: 0 });
    return { code: 0, stdout, stderr: '' };
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message);
    if (error?.$metadata !== undefined && error.$fault !== undefined && typeof error.name === 'string') {
      record(env, { argv, exit: 254, error: error.name });
      const message = `An error occurred (${error.name}) when calling the ${operationName} operation`;
      return { code: 254, stdout: '', stderr: `\n${message}: ${error.message ?? ''}\n` };
    }
    record(env, { argv, exit: 255, error: 'connection' });
    return {
      code: 255,
      stdout: '',
      stderr: `\nCould not connect to the endpoint URL: ${String(error?.message)}\n`,
    };
  }
}

/** Releases the clients' sockets (the in-process server calls this when it closes). */
export function destroyClients() {
  for (const client of clients.values()) client.destroy();
  clients.clear();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  awsCommand(process.argv.slice(2), process.env).then(({ code, stdout, stderr }) => {
    destroyClients();
    process.stdout.write(stdout);
    process.stderr.write(stderr);
    process.exitCode = code;
  });
}
