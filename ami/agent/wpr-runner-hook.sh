#!/usr/bin/env bash
# The runner's job hooks (GitHub docs, "Running scripts before or after a job"), installed twice by the image:
# as job-started.sh (ACTIONS_RUNNER_HOOK_JOB_STARTED) and job-completed.sh (ACTIONS_RUNNER_HOOK_JOB_COMPLETED);
# the name it runs under is the event. The runner runs it as `bash -e <file>` as the runner user, with the
# job's default variables, synchronously before (or after) the job.
#
# It only hands one line, `<event> <ISO-8601 time>`, to the instance agent through the agent's FIFO
# ($WPR_AGENT_EVENTS, which the agent exports to the runner) and returns: the agent, as root and with the
# instance role, tags the instance and keeps its watchdogs. So the hook costs the job milliseconds, needs no
# AWS credentials, and can never fail it: a non-zero exit of a job-started script fails the job, so every
# path here exits 0.
#
# job-started also waits, bounded, for the docker daemon when docker is installed: the agent no longer
# waits for network-online.target, which docker.service is ordered after, so on a fast boot a job can
# start a moment before docker answers.
# The runner runs it with `bash -e`: errexit off again, nothing here may end the script early.
set +e -uo pipefail

event=$(basename "${BASH_SOURCE[0]}" .sh)
case $event in
  job-started | job-completed) ;;
  *)
    echo "wpr: unknown hook name $event" >&2
    exit 0
    ;;
esac

now=${EPOCHREALTIME/[^0-9]/.}
TZ=UTC printf -v at '%(%Y-%m-%dT%H:%M:%S)T.%sZ' "${now%.*}" "${now:${#now}-6:3}"
events=${WPR_AGENT_EVENTS:-/run/wpr-agent/events}

# The agent holds the FIFO open, so this write returns at once; the timeout only matters if the agent is
# gone (then the instance is powering off anyway). One short line is one atomic write.
# shellcheck disable=SC2016 # the inner shell expands its own arguments
if [[ -p $events ]] && timeout 2 bash -c 'printf "%s %s\n" "$1" "$2" >"$3"' _ "$event" "$at" "$events"; then
  echo "wpr: $event signalled at $at"
else
  echo "wpr: could not signal $event to the instance agent; the job goes on" >&2
fi

# Ready means systemd reports docker.service active (it is Type=notify: active once the daemon answers),
# which also holds for a runner user docker would refuse; without that unit (socket activation, the test
# sandbox), a daemon that answers.
docker_ready() {
  if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled --quiet docker.service 2>/dev/null; then
    systemctl is-active --quiet docker.service
  else
    docker info >/dev/null 2>&1
  fi
}

if [[ $event == job-started ]] && command -v docker >/dev/null 2>&1; then
  waited=0
  until docker_ready; do
    if ((waited >= 300)); then
      echo "wpr: docker is not answering after 30 s; the job goes on" >&2
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
fi
exit 0
