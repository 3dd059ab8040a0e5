#!/usr/bin/env bash
# Stand-in for actions/runner's run.sh. Records in its own directory (the agent gives it a scrubbed
# environment, so no test variable reaches it): how it was called, whether the JIT config came through the
# environment, and which agent variables leaked. It keeps the config the way the real runner does, in its
# own files. Then it behaves as ./mode says:
#   job (or no file)  takes a job: runs the job-started hook as the runner does (`bash -e <file>`, with the
#                     job's default variables; a failing hook fails the job), works for ./job-ms
#                     milliseconds, runs the job-completed hook, exits with ./exit-code (0 when absent)
#   silent-job        takes a job whose hook never fires (no hook variable honoured) but writes the worker
#                     log the real runner writes, works for ./job-ms milliseconds, exits 0
#   idle              never gets a job: waits until it is stopped
#   no-job            gives up at once without a job (its registration was removed), exits 0 as run.sh does
# SIGTERM ends any of them (recorded as `terminated`), as it cancels the real runner's job.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() {
  printf '%s\n' "$*" >>"$here/runner.log"
}
log "run argc=$# args=$*"
log "jitconfig=$([[ -n ${ACTIONS_RUNNER_INPUT_JITCONFIG:-} ]] && echo present || echo absent)"
log "leaked=$(compgen -e | grep -E '^(WPR_|AWS_)' | tr '\n' ' ' || true)"
log "cwd=$PWD"
printf '%s' "${ACTIONS_RUNNER_INPUT_JITCONFIG:-}" >"$here/.jitconfig"
unset ACTIONS_RUNNER_INPUT_JITCONFIG
echo "Runner stand-in: listening for jobs"

trap 'log terminated; exit 143' TERM
mode=$(cat "$here/mode" 2>/dev/null || echo job)
job_ms=$(cat "$here/job-ms" 2>/dev/null || echo 0)

work() {
  local until_ms now_ms
  now_ms=$(($(date +%s%N) / 1000000))
  until_ms=$((now_ms + job_ms))
  while ((now_ms < until_ms)); do
    sleep 0.05
    now_ms=$(($(date +%s%N) / 1000000))
  done
}

hook() {
  local name=$1 script=$2 status=0 started ended
  if [[ -z $script ]]; then
    log "hook $name absent"
    return 0
  fi
  started=$(date +%s%N)
  GITHUB_RUN_ID=4242 GITHUB_JOB=build GITHUB_REPOSITORY=acme/app bash -e "$script" >>"$here/hook-output.log" 2>&1 ||
    status=$?
  ended=$(date +%s%N)
  log "hook $name exit=$status ms=$(((ended - started) / 1000000))"
  return "$status"
}

case $mode in
  no-job)
    log "no job"
    ;;
  idle)
    while :; do
      sleep 0.05
    done
    ;;
  silent-job)
    mkdir -p "$here/_diag"
    : >"$here/_diag/Worker_20260105-091203-utc.log"
    work
    log "job done"
    ;;
  job)
    if ! hook job-started "${ACTIONS_RUNNER_HOOK_JOB_STARTED:-}"; then
      log "job failed by its hook"
    else
      work
      log "job done"
    fi
    hook job-completed "${ACTIONS_RUNNER_HOOK_JOB_COMPLETED:-}" || true
    ;;
esac
exit "$(cat "$here/exit-code" 2>/dev/null || echo 0)"
