#!/usr/bin/env bash
# wpr-agent: the instance agent of a warm-pool runner, run by wpr-agent.service on EVERY boot (user data runs
# only on the first one, which a stopped pool never sees again). It finds out what this boot is for, does it,
# and powers the instance off:
#
#   no `wpr:role` tag (an Image Builder build/test instance, a debug launch)  -> stand down, touch nothing
#   `wpr:role=pool`, no marker ($WPR_STATE_DIR/warmed)                       -> warm up: read the root volume
#       once (EBS hydration), pre-pull the pool's container images, check the runner starts, write the
#       marker, tag `warmed`, power off; the control plane sees `stopped` and marks the instance ready
#   `wpr:role=pool` with the marker, or `wpr:role=ephemeral`                  -> fetch SSM's JIT config for
#       this instance (`<prefix>/jit/<instance-id>`) with backoff for a grace period (it may land a few
#       seconds after boot), take it (read with decryption, then delete), run the runner once as an
#       unprivileged user and watch it: the runner's job-started hook tags the instance `wpr:job-started`;
#       no job within the idle bound, or a run past the maximum lifetime, stops the runner. Power off when
#       the runner exits.
#
# Invariants
# - The JIT config is a secret: it lives in this process's memory and reaches the runner only through the
#   environment (ACTIONS_RUNNER_INPUT_JITCONFIG, which actions/runner reads and scrubs like `--jitconfig`).
#   It is never an argument of any command (argv is world-readable in /proc/<pid>/cmdline), never logged,
#   never tagged, never written to a file by this script.
# - Every path ends in power-off, except standing down and a stop signal (someone stopped the unit, or the
#   system is already shutting down). Every power-off first sets `wpr:agent-reason=<reason>` on the instance
#   (ami/README.md lists the values: a contract with the control plane), so the tag always describes the
#   last boot that ended normally.
# - No step waits without a bound: IMDS and AWS CLI calls have timeouts and bounded retries, the JIT wait
#   has its grace period, docker a start deadline, every image pull a timeout, the runner the idle bound
#   and the maximum lifetime.
# - The runner's hooks never block or fail a job: they hand an event line to this agent through a FIFO and
#   exit 0; the agent does the AWS calls.
#
# Gotchas
# - Instance tags reach IMDS only when the launch template enables them (InstanceMetadataTags=enabled);
#   without them every instance looks unmanaged and stands down, leaving it running for the reconciler.
# - Timing uses /proc/uptime (monotonic): the wall clock may jump when chrony syncs right after boot.
# - The unit no longer waits for network-online.target (which waits for cloud-init), so the network may
#   not be up yet when the agent starts: the first IMDS request retries from 50 ms.
#
# Log lines (stdout, so the journal) are `ts=... level=... event=... key=value ...`; values with spaces are
# double-quoted. Every external command is overridable through WPR_* variables, see the settings below.
set -euo pipefail

readonly TAG_POOL='wpr:pool'
readonly TAG_ROLE='wpr:role'
readonly TAG_REASON='wpr:agent-reason'
readonly TAG_JOB_STARTED='wpr:job-started'
readonly TAG_MAX_IDLE='wpr:max-idle-seconds'
readonly TAG_MAX_LIFETIME='wpr:max-lifetime-seconds'

# ---- settings (the unit loads /etc/wpr/agent.env, written by the image) ----------------------------------
imds_endpoint=${WPR_IMDS_ENDPOINT:-http://169.254.169.254}
read -r -a aws_cli <<<"${WPR_AWS_CLI:-aws}"
read -r -a docker_cli <<<"${WPR_DOCKER_CLI:-docker}"
read -r -a poweroff_cmd <<<"${WPR_POWEROFF_CMD:-systemctl poweroff}"
fio_cli=${WPR_FIO_CLI:-fio}
parameter_prefix=${WPR_PARAMETER_PREFIX:-}
runner_dir=${WPR_RUNNER_DIR:-/opt/actions-runner}
# Empty runs the runner as the agent's own user (the test sandbox); production always names one.
runner_user=${WPR_RUNNER_USER-runner}
state_dir=${WPR_STATE_DIR:-/var/lib/wpr}
# Where the FIFO of hook events lives; /run is a tmpfs, so nothing of it outlives the boot.
run_dir=${WPR_RUN_DIR:-/run/wpr-agent}
# The runner's job-started and job-completed hooks (ami/agent/wpr-runner-hook.sh, installed twice).
hook_dir=${WPR_HOOK_DIR:-/usr/local/libexec/wpr}
# `auto` is the disk holding /, `none` skips the read, anything else is a path (a small file in tests).
warm_device=${WPR_WARM_DEVICE:-auto}
jit_grace_seconds=${WPR_JIT_GRACE_SECONDS:-60}
jit_backoff_first_ms=${WPR_JIT_BACKOFF_FIRST_MS:-100}
jit_backoff_max_ms=${WPR_JIT_BACKOFF_MAX_MS:-4000}
docker_wait_seconds=${WPR_DOCKER_WAIT_SECONDS:-60}
pull_timeout_seconds=${WPR_PULL_TIMEOUT_SECONDS:-600}
# Defaults of the watchdogs; the instance tags wpr:max-idle-seconds / wpr:max-lifetime-seconds override them.
max_idle_seconds=${WPR_MAX_IDLE_SECONDS:-600}
max_lifetime_seconds=${WPR_MAX_LIFETIME_SECONDS:-43200}
# The runner cancels its job on SIGTERM and gives it 30 s to end; then it is killed.
stop_grace_seconds=${WPR_STOP_GRACE_SECONDS:-35}
# A JIT runner cannot be configured with --disableupdate; the agent sets the same setting in its config.
runner_disable_update=${WPR_RUNNER_DISABLE_UPDATE:-true}
log_file=${WPR_LOG_FILE:-}

# ---- state ----------------------------------------------------------------------------------------------
instance_id=''
region=''
role=''
pool=''
imds_token=''
jit_config=''
work_dir=''
last_error=''
disk_pid=''
runner_pid=''
delete_pid=''
uptime_ms=0
agent_started_ms=0
powered_off=0
standing_down=0
signalled=0
backoff_ms=0
runner_started_ms=0
# Set by the watch loop: whether the runner took a job, and why the agent stopped it (a watchdog).
job_started=0
stop_reason=''
# Why the job boot ends: job-done, runner-failed, or the watchdog's reason.
runner_reason=''

# ---- logging --------------------------------------------------------------------------------------------
log() {
  local level=$1 event=$2 line kv key value now
  shift 2
  # Builtins only, no `date`: a log line costs no process. One clock read for seconds and milliseconds.
  now=${EPOCHREALTIME/[^0-9]/.}
  TZ=UTC printf -v line 'ts=%(%Y-%m-%dT%H:%M:%S)T.%sZ level=%s event=%s' "${now%.*}" "${now:${#now}-6:3}" \
    "$level" "$event"
  for kv in "$@"; do
    key=${kv%%=*}
    value=${kv#*=}
    if [[ $value =~ ^[A-Za-z0-9._:/@+,-]*$ ]]; then
      line+=" $key=$value"
    else
      value=${value//\\/\\\\}
      value=${value//\"/\\\"}
      value=${value//$'\n'/ }
      line+=" $key=\"$value\""
    fi
  done
  # fd 3 is the agent's stdout, so a log line inside a command substitution is not captured as a value.
  printf '%s\n' "$line" >&3
  if [[ -n $log_file ]]; then
    printf '%s\n' "$line" >>"$log_file" || true
  fi
}

# ---- time -----------------------------------------------------------------------------------------------
# Sets `uptime_ms`; a function that prints would cost a subshell per clock read.
clock() {
  local up
  read -r up _ </proc/uptime
  up=${up/./}
  uptime_ms=$((10#$up * 10))
}

sleep_ms() {
  local seconds
  printf -v seconds '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
  sleep "$seconds"
}

# Sets `backoff_ms` to the pause before retry number $1 (1-based): exponential from $2 ms, capped at $3 ms,
# with "equal jitter" (half fixed, half random) so instances booting together do not retry in step.
backoff() {
  local attempt=$1 first=$2 cap=$3 delay
  delay=$first
  while ((attempt > 1 && delay < cap)); do
    delay=$((delay * 2))
    attempt=$((attempt - 1))
  done
  ((delay > cap)) && delay=$cap
  backoff_ms=$((delay / 2 + (RANDOM * 32768 + RANDOM) % (delay / 2 + 1)))
}

# ---- IMDSv2 ---------------------------------------------------------------------------------------------
# The unit starts before the network is online: retry quickly at first (50 ms, doubling to 1 s) for about
# 30 s in all, so a DHCP lease that lands a moment after the agent starts costs no more than that moment.
imds_fetch_token() {
  local attempt=1 deadline
  clock
  deadline=$((uptime_ms + 30000))
  until imds_token=$(curl -sS --fail --connect-timeout 1 --max-time 2 -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$imds_endpoint/latest/api/token" 2>/dev/null); do
    clock
    if ((uptime_ms >= deadline)); then
      return 1
    fi
    backoff "$attempt" 50 1000
    sleep_ms "$backoff_ms"
    attempt=$((attempt + 1))
  done
  if ((attempt > 1)); then
    log info imds-ready attempts="$attempt"
  fi
}

# Prints a metadata value. Returns 4 when IMDS says the path does not exist (a missing tag), 1 on failure.
# The token goes to curl as a header file, not an argument, so it never shows in /proc/<pid>/cmdline. An
# expired token (the agent can outlive its 6 h TTL) is renewed once.
imds_get() {
  local status renewed=0
  while :; do
    status=$(curl -s --max-time 2 --retry 5 --retry-delay 1 --retry-connrefused \
      -H @<(printf 'X-aws-ec2-metadata-token: %s\n' "$imds_token") \
      -o "$work_dir/imds" -w '%{http_code}' "$imds_endpoint/latest/meta-data/$1") || status=000
    if [[ $status == 401 ]] && ((!renewed)) && imds_fetch_token; then
      renewed=1
      continue
    fi
    break
  done
  case $status in
    200) cat "$work_dir/imds" ;;
    404) return 4 ;;
    *)
      log error imds-failed path="$1" status="$status"
      return 1
      ;;
  esac
}

# Prints the value of an instance tag, nothing when the tag is absent.
imds_tag() {
  local rc=0
  imds_get "tags/instance/$1" || rc=$?
  ((rc == 0 || rc == 4))
}

read_identity() {
  if ! imds_fetch_token; then
    log error imds-unavailable endpoint="$imds_endpoint"
    return 1
  fi
  instance_id=$(imds_get instance-id)
  region=$(imds_get placement/region)
  role=$(imds_tag "$TAG_ROLE")
  pool=$(imds_tag "$TAG_POOL")
  export AWS_REGION=$region AWS_DEFAULT_REGION=$region
}

# Prints a whole number of seconds from instance tag $1, or $2 when the tag is absent or not such a number
# (logged: a bad tag must not take the watchdog away).
seconds_from_tag() {
  local value
  value=$(imds_tag "$1") || value=''
  if [[ -z $value ]]; then
    printf '%s' "$2"
  elif [[ $value =~ ^[0-9]{1,9}$ ]] && ((10#$value > 0)); then
    printf '%s' "$((10#$value))"
  else
    log warn tag-ignored tag="$1" value="$value" default="$2"
    printf '%s' "$2"
  fi
}

# ---- AWS CLI --------------------------------------------------------------------------------------------
# Stderr goes to a file so that only the error code is logged, never a whole message. A call running in the
# background sets its own `aws_error_file`.
aws_error_file=''
aws_call() {
  "${aws_cli[@]}" "$@" --cli-connect-timeout 5 --cli-read-timeout 15 2>"${aws_error_file:-$work_dir/aws-error}"
}

# The code of the last failed call: `An error occurred (Code) when calling ...`, or `unknown`.
aws_error_code() {
  local code
  code=$(sed -n 's/.*An error occurred (\([A-Za-z0-9._-]*\)).*/\1/p' "${aws_error_file:-$work_dir/aws-error}" \
    2>/dev/null | head -n 1)
  printf '%s' "${code:-unknown}"
}

# Sets one tag on this instance, up to 4 attempts with backoff (the CLI retries throttling on its own too);
# a refusal (IAM) is not retried. Returns 1 when it failed; the caller decides what that means.
tag_instance() {
  local key=$1 value=$2 attempt=1 error
  [[ -n $instance_id ]] || return 1
  until aws_call ec2 create-tags --resources "$instance_id" --tags "Key=$key,Value=$value" >/dev/null; do
    error=$(aws_error_code)
    if ((attempt >= 4)) || [[ $error == UnauthorizedOperation || $error == AccessDenied* ]]; then
      log warn tag-failed tag="$key" value="$value" attempts="$attempt" error="$error"
      return 1
    fi
    backoff "$attempt" 250 2000
    sleep_ms "$backoff_ms"
    attempt=$((attempt + 1))
  done
  log info tagged tag="$key" value="$value" attempts="$attempt"
}

# ---- endings --------------------------------------------------------------------------------------------
# Every ending that powers off says why on the instance first.
power_off() {
  local reason=$1
  if ((powered_off)); then
    return 0
  fi
  powered_off=1
  tag_instance "$TAG_REASON" "$reason" || true
  log info power-off reason="$reason"
  sync || true
  if ! "${poweroff_cmd[@]}"; then
    log error power-off-failed
  fi
}

# A handled failure: log it, power off with it as the reason, stop here.
fail() {
  local reason=$1
  shift
  log error "$reason" "$@"
  power_off "$reason"
  exit 0
}

on_signal() {
  signalled=1
  log warn stopped-by-signal
  local pid
  for pid in "$runner_pid" "$disk_pid" "$delete_pid"; do
    if [[ -n $pid ]]; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  if [[ -n $runner_pid ]]; then
    wait "$runner_pid" 2>/dev/null || true
  fi
  exit 143
}

on_exit() {
  local status=$?
  jit_config=''
  if ((!powered_off && !standing_down && !signalled)); then
    log error agent-failed status="$status"
    power_off agent-error
  fi
  if [[ -n $work_dir ]]; then
    rm -rf "$work_dir"
  fi
}

# ---- settings check -------------------------------------------------------------------------------------
check_settings() {
  local problems=() name
  if [[ ! $parameter_prefix =~ ^(/[A-Za-z0-9_.-]+)+$ ]]; then
    problems+=(WPR_PARAMETER_PREFIX)
  fi
  for name in jit_grace_seconds docker_wait_seconds pull_timeout_seconds stop_grace_seconds; do
    if [[ ! ${!name} =~ ^[0-9]{1,9}$ ]]; then
      problems+=("WPR_${name^^}")
    fi
  done
  # Zero would make the backoff spin, or a watchdog fire at once.
  for name in jit_backoff_first_ms jit_backoff_max_ms max_idle_seconds max_lifetime_seconds; do
    if [[ ! ${!name} =~ ^[1-9][0-9]{0,8}$ ]]; then
      problems+=("WPR_${name^^}")
    fi
  done
  if [[ $runner_disable_update != true && $runner_disable_update != false ]]; then
    problems+=(WPR_RUNNER_DISABLE_UPDATE)
  fi
  if ((${#problems[@]} > 0)); then
    fail agent-misconfigured invalid="${problems[*]}"
  fi
}

# ---- warm-up --------------------------------------------------------------------------------------------
resolve_warm_device() {
  local source parent
  if [[ $warm_device != auto ]]; then
    printf '%s' "$warm_device"
    return 0
  fi
  source=$(findmnt -n -o SOURCE /)
  parent=$(lsblk -n -d -o PKNAME "$source" 2>/dev/null || true)
  if [[ -n $parent ]]; then
    printf '/dev/%s' "$parent"
  else
    printf '%s' "$source"
  fi
}

# Reads every block once: a volume restored from a snapshot fetches blocks from S3 on first touch, which
# would otherwise slow the first job down. fio reads in parallel; dd is the fallback. A read that fails
# means a volume (or an image) that cannot serve jobs as promised: the warm-up fails.
warm_disk() {
  local device started bytes tool
  if ! device=$(resolve_warm_device) || [[ -z $device ]]; then
    log error warm-disk-failed reason=no-device
    return 1
  fi
  if [[ $device == none ]]; then
    log info warm-disk-skipped reason=disabled
    return 0
  fi
  clock
  started=$uptime_ms
  if command -v "$fio_cli" >/dev/null 2>&1; then
    tool='fio'
    bytes=$("$fio_cli" --name=hydrate --filename="$device" --rw=read --bs=1M --iodepth=32 --ioengine=libaio \
      --direct=1 --output-format=json 2>"$work_dir/disk-error" | jq -r '.jobs[0].read.io_bytes') || bytes=''
  else
    tool='dd'
    bytes=$(LC_ALL=C dd if="$device" of=/dev/null bs=1M 2>&1 | sed -n 's/^\([0-9][0-9]*\) bytes.*/\1/p') ||
      bytes=''
  fi
  if [[ ! $bytes =~ ^[1-9][0-9]*$ ]]; then
    log error warm-disk-failed device="$device" tool="$tool"
    return 1
  fi
  clock
  log info warm-disk-done device="$device" tool="$tool" bytes="$bytes" duration_ms=$((uptime_ms - started))
}

wait_for_docker() {
  local deadline
  clock
  deadline=$((uptime_ms + docker_wait_seconds * 1000))
  until "${docker_cli[@]}" info >/dev/null 2>&1; do
    clock
    if ((uptime_ms >= deadline)); then
      return 1
    fi
    sleep 1
  done
}

# Returns 2 when the pool wants images and docker never came up (the pool's jobs need it); each image is
# best effort: a missing one slows the first job down but does not make the instance unusable.
prepull_images() {
  local document images image pulled=0 failed=0
  if [[ -z $pool ]]; then
    log info prepull-skipped reason=no-pool-tag
    return 0
  fi
  if ! document=$(aws_call ssm get-parameter --name "$parameter_prefix/pools" --with-decryption \
    --query Parameter.Value --output text); then
    log warn prepull-skipped reason=pools-unreadable error="$(aws_error_code)"
    return 0
  fi
  if ! images=$(jq -r --arg pool "$pool" '.pools[]? | select(.name == $pool) | .prePullImages[]?' \
    <<<"$document" 2>/dev/null); then
    log warn prepull-skipped reason=pools-malformed
    return 0
  fi
  if [[ -z $images ]]; then
    log info prepull-skipped reason=no-images pool="$pool"
    return 0
  fi
  if ! wait_for_docker; then
    log error docker-unavailable waited_s="$docker_wait_seconds"
    return 2
  fi
  while IFS= read -r image; do
    # An image reference never starts with `-`: refuse anything docker could take for an option.
    if [[ ! $image =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]]; then
      log warn image-skipped reason=invalid-reference
      failed=$((failed + 1))
    elif timeout "$pull_timeout_seconds" "${docker_cli[@]}" pull --quiet "$image" >/dev/null 2>&1; then
      log info image-pulled image="$image"
      pulled=$((pulled + 1))
    else
      log warn image-pull-failed image="$image"
      failed=$((failed + 1))
    fi
  done <<<"$images"
  log info prepull-done pulled="$pulled" failed="$failed"
}

# The runner is a .NET program: `--version` fails fast when a library it needs (ICU, OpenSSL) is missing,
# without needing GitHub (unlike `config.sh --check`, which wants a URL and a token).
check_runner() {
  local version
  local -a as_user=()
  if [[ -n $runner_user ]]; then
    as_user=(runuser -u "$runner_user" --)
  fi
  if version=$(cd "$runner_dir" && "${as_user[@]}" ./bin/Runner.Listener --version 2>/dev/null | head -n 1) &&
    [[ -n $version ]]; then
    log info runner-checked version="$version"
    return 0
  fi
  log error runner-check-failed dir="$runner_dir"
  return 1
}

# Each failure has its own reason (a contract: the control plane retires the instance and counts why).
warm_up() {
  local started disk_status=0 prepull_status=0 runner_ok=1
  clock
  started=$uptime_ms
  log info warmup-started pool="$pool"
  warm_disk &
  disk_pid=$!
  prepull_images || prepull_status=$?
  check_runner || runner_ok=0
  if ((!runner_ok)); then
    # No use reading the rest of the volume for an instance that cannot serve.
    kill -TERM "$disk_pid" 2>/dev/null || true
  fi
  wait "$disk_pid" || disk_status=$?
  disk_pid=''
  if ((!runner_ok)); then
    fail warmup-runner-check-failed dir="$runner_dir"
  fi
  if ((disk_status != 0)); then
    fail warmup-disk-read-failed
  fi
  if ((prepull_status != 0)); then
    fail warmup-docker-unavailable
  fi
  if ! mkdir -p "$state_dir" 2>/dev/null || ! : 2>/dev/null >"$state_dir/warmed"; then
    fail warmup-marker-failed dir="$state_dir"
  fi
  clock
  log info warmup-done duration_ms=$((uptime_ms - started))
  power_off warmed
}

# ---- one job: the config --------------------------------------------------------------------------------
# Returns 0 with the config in `jit_config`; 10 not there (yet); 11 unreadable for good; 12 maybe transient.
fetch_jit() {
  if jit_config=$(aws_call ssm get-parameter --name "$1" --with-decryption --query Parameter.Value \
    --output text); then
    return 0
  fi
  jit_config=''
  last_error=$(aws_error_code)
  case $last_error in
    ParameterNotFound) return 10 ;;
    AccessDenied* | InvalidKeyId | KMS* | UnrecognizedClient* | ParameterVersionNotFound) return 11 ;;
    *) return 12 ;;
  esac
}

# Waits for the config with exponential backoff: the first retries come quickly (the config is usually
# written while the instance boots, so a miss is usually a matter of milliseconds), later ones slowly,
# because every booting agent shares Parameter Store's read quota (40 TPS by default).
wait_for_jit() {
  local name=$1 started deadline attempts=0 rc last='' pauses=''
  clock
  started=$uptime_ms
  deadline=$((started + jit_grace_seconds * 1000))
  log info jit-waiting parameter="$name" grace_s="$jit_grace_seconds"
  while :; do
    attempts=$((attempts + 1))
    rc=0
    fetch_jit "$name" || rc=$?
    case $rc in
      0) break ;;
      10) last=not-found ;;
      11) fail jit-access-denied parameter="$name" error="$last_error" ;;
      *)
        last=$last_error
        log warn jit-fetch-retry parameter="$name" error="$last_error"
        ;;
    esac
    clock
    if ((uptime_ms >= deadline)); then
      if [[ $last == not-found ]]; then
        fail no-jit-config parameter="$name" attempts="$attempts" waited_ms=$((uptime_ms - started)) \
          pauses_ms="$pauses"
      fi
      fail jit-fetch-failed parameter="$name" attempts="$attempts" error="$last" pauses_ms="$pauses"
    fi
    backoff "$attempts" "$jit_backoff_first_ms" "$jit_backoff_max_ms"
    # Never sleep past the end of the grace period: one last look at its end.
    ((uptime_ms + backoff_ms > deadline)) && backoff_ms=$((deadline - uptime_ms))
    pauses+="${pauses:+,}$backoff_ms"
    sleep_ms "$backoff_ms"
  done
  clock
  log info jit-received parameter="$name" attempts="$attempts" waited_ms=$((uptime_ms - started)) \
    pauses_ms="$pauses"
}

# A JIT config is base64 of a JSON object of the runner's settings files (`.runner`, `.credentials`, ...),
# each base64 too: anything else is refused. Unless told otherwise, sets `disableUpdate` in `.runner`: the
# JIT equivalent of `config.sh --disableupdate` (a JIT runner is never configured, so the flag cannot be
# passed), so that an outdated runner does not download itself at job start; the image is rebuilt weekly
# instead. That edit is best effort: a `.runner` it cannot read is handed over as it came (the runner
# judges it), since a job must not be lost to an optimisation.
# The config travels through pipes from the printf builtin only: no argument, no temporary file.
prepare_jit() {
  local patched
  [[ -n $jit_config && ${#jit_config} -le 65536 && $jit_config =~ ^[A-Za-z0-9+/]+=*$ ]] || return 1
  printf '%s' "$jit_config" | base64 -d 2>/dev/null |
    jq -e 'type == "object" and length > 0 and all(.[]; type == "string")' >/dev/null 2>&1 || return 1
  if [[ $runner_disable_update != true ]]; then
    return 0
  fi
  if patched=$(printf '%s' "$jit_config" | base64 -d 2>/dev/null |
    jq -ce '.[".runner"] |= (@base64d | ltrimstr("\ufeff") | fromjson
      | if type == "object" then .disableUpdate = true else error("not an object") end | tojson | @base64)' \
      2>/dev/null | base64 -w 0) && [[ -n $patched ]]; then
    jit_config=$patched
  else
    log warn runner-update-not-disabled reason=runner-settings-unreadable
  fi
}

# Taken, so gone: the config is deleted whatever happens next, in the background so that the runner does not
# wait for one more CLI start; the agent waits for it before powering off.
delete_jit() {
  (
    aws_error_file="$work_dir/aws-error-delete"
    if aws_call ssm delete-parameter --name "$1" >/dev/null; then
      log info jit-deleted parameter="$1"
    else
      log warn jit-delete-failed parameter="$1" error="$(aws_error_code)"
    fi
  ) &
  delete_pid=$!
}

# ---- one job: the runner --------------------------------------------------------------------------------
# The hooks write event lines into this FIFO. The agent holds it open for reading AND writing, so a hook's
# write never blocks while the agent lives and the agent's timed reads never see end-of-file.
open_events() {
  local fifo=$run_dir/events
  mkdir -p "$run_dir"
  chmod 0755 "$run_dir"
  rm -f "$fifo"
  mkfifo -m 0600 "$fifo"
  if [[ -n $runner_user ]]; then
    chown "$runner_user" "$fifo"
  fi
  exec 4<>"$fifo"
}

start_runner() {
  local -a launch=()
  if [[ -n $runner_user ]]; then
    launch+=(runuser -u "$runner_user" --)
  fi
  log info runner-starting user="${runner_user:-$(id -un)}" dir="$runner_dir"
  (
    cd "$runner_dir"
    # The runner and its jobs get none of the agent's settings or AWS overrides, only where to send events.
    unset "${!WPR_@}" "${!AWS_@}"
    export ACTIONS_RUNNER_INPUT_JITCONFIG=$jit_config
    export ACTIONS_RUNNER_HOOK_JOB_STARTED=$hook_dir/job-started.sh
    export ACTIONS_RUNNER_HOOK_JOB_COMPLETED=$hook_dir/job-completed.sh
    export WPR_AGENT_EVENTS=$run_dir/events
    exec "${launch[@]}" ./run.sh 3>&- 4>&-
  ) &
  runner_pid=$!
  jit_config=''
}

# The runner wrote a worker log: it took a job, whether or not the hook told us (a job-started script
# that is missing or broken must not get a busy runner killed as idle).
runner_took_job() {
  compgen -G "$runner_dir/_diag/Worker_*" >/dev/null
}

on_job_started() {
  local at=$1 source=$2
  job_started=1
  log info job-started at="$at" source="$source"
  tag_instance "$TAG_JOB_STARTED" "$at" || true
}

# One event line from a hook: `job-started <iso-time>` or `job-completed <iso-time>`. Anything else is
# ignored: the FIFO is writable by the runner user, so by the job too.
on_event() {
  local kind at
  read -r kind at _ <<<"$1"
  [[ $at =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]] || {
    log warn event-ignored
    return 0
  }
  case $kind in
    job-started)
      if ((!job_started)); then
        on_job_started "$at" hook
      fi
      ;;
    job-completed) log info job-completed at="$at" ;;
    *) log warn event-ignored ;;
  esac
}

# Reads at most one event line from the FIFO, waiting up to $1 seconds. A read that times out keeps what it
# had read of a line (bash does, unbuffered, a byte at a time), so a line is never cut in two on a busy
# machine: the rest completes it at the next read.
pending_event=''
read_event() {
  local chunk='' status=0
  IFS= read -r -t "$1" -u 4 chunk || status=$?
  if ((status == 0)); then
    on_event "$pending_event$chunk"
    pending_event=''
  elif ((status > 128)); then
    pending_event+=$chunk
  fi
}

stop_runner() {
  local deadline
  stop_reason=$1
  log warn runner-stopping reason="$stop_reason"
  kill -TERM "$runner_pid" 2>/dev/null || true
  clock
  deadline=$((uptime_ms + stop_grace_seconds * 1000))
  while kill -0 "$runner_pid" 2>/dev/null; do
    clock
    if ((uptime_ms >= deadline)); then
      log warn runner-killed
      kill -KILL "$runner_pid" 2>/dev/null || true
      break
    fi
    sleep_ms 100
  done
}

# Prints the idle bound in seconds and where it came from, when the bound first read has expired: the
# instance tag if it has one (the control plane may have raised it since); else, when the instance's pool
# keeps a hot tier (`hot` in the pool config), that tier's `maxIdleMinutes` (240 when unset, the control
# plane's default) plus the agent's default, so that the control plane retires its own idle runners before
# the agent would and a hot runner launched without the tag is not cut short; else the agent's default.
# Only an idle runner reaches this, once: one pool-config read, off every job's path.
idle_bound_now() {
  local seconds document minutes
  seconds=$(seconds_from_tag "$TAG_MAX_IDLE" '')
  if [[ -n $seconds ]]; then
    printf '%s tag' "$seconds"
    return 0
  fi
  if [[ -n $pool ]] && document=$(aws_call ssm get-parameter --name "$parameter_prefix/pools" \
    --with-decryption --query Parameter.Value --output text) &&
    minutes=$(jq -r --arg pool "$pool" 'first(.pools[]? | select(.name == $pool) | .hot
      | select(type == "object") | (.maxIdleMinutes // 240)) // empty' <<<"$document" 2>/dev/null) &&
    [[ $minutes =~ ^[0-9]{1,6}$ ]]; then
    printf '%s pool-config' "$((10#$minutes * 60 + max_idle_seconds))"
    return 0
  fi
  printf '%s default' "$max_idle_seconds"
}

# Until the runner exits: hook events, and the two watchdogs. No job within the idle bound: the bound is
# re-read from the instance tag before stopping, so the control plane can extend it at any time (a runner
# kept hot). Past the maximum lifetime, counted from the agent's start a few seconds after boot: stopped,
# job or not.
watch_runner() {
  local idle_s idle_source lifetime_s idle_deadline life_deadline now_iso
  idle_s=$(seconds_from_tag "$TAG_MAX_IDLE" "$max_idle_seconds")
  lifetime_s=$(seconds_from_tag "$TAG_MAX_LIFETIME" "$max_lifetime_seconds")
  idle_deadline=$((runner_started_ms + idle_s * 1000))
  life_deadline=$((agent_started_ms + lifetime_s * 1000))
  log info runner-watching max_idle_s="$idle_s" max_lifetime_s="$lifetime_s"
  while kill -0 "$runner_pid" 2>/dev/null; do
    # A read with a timeout is the loop's sleep: no process per tick, and a hook's line wakes it at once.
    read_event 0.25
    clock
    if ((uptime_ms >= life_deadline)); then
      stop_runner max-lifetime
      break
    fi
    if ((!job_started && uptime_ms >= idle_deadline)); then
      if runner_took_job; then
        TZ=UTC printf -v now_iso '%(%Y-%m-%dT%H:%M:%S)TZ' -1
        on_job_started "$now_iso" worker-log
        continue
      fi
      read -r idle_s idle_source <<<"$(idle_bound_now)"
      clock
      if ((runner_started_ms + idle_s * 1000 > uptime_ms)); then
        idle_deadline=$((runner_started_ms + idle_s * 1000))
        log info idle-bound-extended max_idle_s="$idle_s" source="$idle_source"
        continue
      fi
      stop_runner idle-timeout
      break
    fi
  done
  # Events the loop had no time for (a short job): every hook has written its whole line by now, so read
  # while there is input (`-t 0` only looks), each read bounded all the same.
  while read -r -t 0 -u 4; do
    read_event 1
  done
}

run_runner() {
  local status=0
  open_events
  clock
  runner_started_ms=$uptime_ms
  start_runner
  watch_runner
  wait "$runner_pid" || status=$?
  runner_pid=''
  exec 4<&-
  clock
  log info runner-exited status="$status" duration_ms=$((uptime_ms - runner_started_ms)) \
    job_started="$job_started"
  if ((!job_started)) && runner_took_job; then
    job_started=1
  fi
  if [[ -n $stop_reason ]]; then
    runner_reason=$stop_reason
  elif ((status != 0)); then
    # run.sh exits 0 even when the listener gave up; anything else means the runner itself broke.
    runner_reason=runner-failed
  elif ((!job_started)); then
    # The listener ended without a job: its registration was removed (the control plane released it) or
    # GitHub refused the config.
    runner_reason=no-job
  else
    runner_reason=job-done
  fi
}

serve_job() {
  local name="$parameter_prefix/jit/$instance_id"
  wait_for_jit "$name"
  delete_jit "$name"
  if ! prepare_jit; then
    jit_config=''
    wait "$delete_pid" || true
    fail jit-malformed parameter="$name"
  fi
  run_runner
  wait "$delete_pid" || true
  delete_pid=''
  power_off "$runner_reason"
}

# ---- main -----------------------------------------------------------------------------------------------
main() {
  exec 3>&1
  clock
  agent_started_ms=$uptime_ms
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/wpr-agent.XXXXXX")
  trap on_exit EXIT
  trap on_signal TERM INT
  read_identity
  if [[ -z $role ]]; then
    standing_down=1
    log info stand-down reason=no-role-tag instance="$instance_id"
    return 0
  fi
  log info boot instance="$instance_id" region="$region" role="$role" pool="$pool"
  check_settings
  case $role in
    pool)
      if [[ -e $state_dir/warmed ]]; then
        serve_job
      else
        warm_up
      fi
      ;;
    ephemeral) serve_job ;;
    *) fail unknown-role role="$role" ;;
  esac
}

main "$@"
