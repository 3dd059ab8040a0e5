/**
 * `runners`, the operator's command line (see bin/cli/program.ts for the commands). Run through
 * bin/runners.mjs, which loads this TypeScript with tsx, so there is no build step.
 */
import { processIo } from './cli/cli-io.js';
import { runCli } from './cli/program.js';

// The SDK's notice about future Node versions is noise in a command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.exitCode = await runCli(process.argv.slice(2), processIo());
