#!/usr/bin/env bash
# Stand-in for actions/runner's run.sh. Records in its own directory (the agent gives it a scrubbed
# environment, so no test variable reaches it): how it was called, whether the JIT config came through the
# environment, and which agent variables leaked. It keeps the config the way the real runner does, in its
# own files. Exits with the code in ./exit-code (0 when absent).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
{
  printf 'run argc=%d args=%s\n' "$#" "$*"
  printf 'jitconfig=%s\n' "$([[ -n ${ACTIONS_RUNNER_INPUT_JITCONFIG:-} ]] && echo present || echo absent)"
  printf 'leaked=%s\n' "$(compgen -e | grep -E '^(WPR_|AWS_)' | tr '\n' ' ' || true)"
  printf 'cwd=%s\n' "$PWD"
} >>"$here/runner.log"
printf '%s' "${ACTIONS_RUNNER_INPUT_JITCONFIG:-}" >"$here/.jitconfig"
echo "Runner stand-in: listening for jobs"
exit "$(cat "$here/exit-code" 2>/dev/null || echo 0)"
