#!/usr/bin/env bash
# wpr-agent: the instance agent of a warm-pool runner, run by wpr-agent.service on EVERY boot (user data runs
# only on the first one, which a stopped pool never sees again). It finds out what this boot is for, does it,
# and powers the instance off:
#
#   no `wpr:role` tag (an Image Builder build/test instance, a debug launch)  -> stand down, touch nothing
#   `wpr:role=pool`, no marker ($WPR_STATE_DIR/warmed)                       -> warm up: read the root volume
#       once (EBS hydration), pre-pull the pool's container images, check the runner starts, write the
#       marker, power off; the control plane sees `stopped` and marks the instance ready
#   `wpr:role=pool` with the marker, or `wpr:role=ephemeral`                  -> poll SSM for this instance's
#       JIT config (`<prefix>/jit/<instance-id>`) for a grace period (it may land a few seconds after boot),
#       take it (read with decryption, then delete), run the runner once as an unprivileged user, power off
#       when it exits, whatever its exit status
#
# Invariants
# - The JIT config is a secret: it lives in this process's memory and reaches the runner only through the
#   environment (ACTIONS_RUNNER_INPUT_JITCONFIG, which actions/runner reads and scrubs like `--jitconfig`).
#   It is never an argument of any command (argv is world-readable in /proc/<pid>/cmdline), never logged,
#   never tagged, never written to a file by this script.
# - Every path ends in power-off, except standing down and a stop signal (someone stopped the unit, or the
#   system is already shutting down). A failure first sets the tag `wpr:agent-reason=<reason>` on the
#   instance so the control plane can tell a broken instance from a finished one.
# - No step waits without a bound: IMDS and AWS CLI calls have timeouts, the JIT wait has its grace period,
#   docker has a start deadline and every image pull a timeout.
#
# Gotchas
# - Instance tags reach IMDS only when the launch template enables them (InstanceMetadataTags=enabled);
#   without them every instance looks unmanaged and stands down, leaving it running for the reconciler.
# - Timing uses /proc/uptime (monotonic): the wall clock may jump when chrony syncs right after boot.
#
# Log lines (stdout, so the journal) are `ts=... level=... event=... key=value ...`; values with spaces are
# double-quoted. Every external command is overridable through WPR_* variables, see the settings below.
set -euo pipefail

readonly TAG_POOL='wpr:pool'
readonly TAG_ROLE='wpr:role'
readonly TAG_REASON='wpr:agent-reason'

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
# `auto` is the disk holding /, `none` skips the read, anything else is a path (a small file in tests).
warm_device=${WPR_WARM_DEVICE:-auto}
jit_grace_seconds=${WPR_JIT_GRACE_SECONDS:-60}
jit_poll_ms=${WPR_JIT_POLL_MS:-1000}
docker_wait_seconds=${WPR_DOCKER_WAIT_SECONDS:-60}
pull_timeout_seconds=${WPR_PULL_TIMEOUT_SECONDS:-600}
# 0: no limit of our own (GitHub's job timeouts apply; the reconciler retires instances stuck for too long).
runner_timeout_seconds=${WPR_RUNNER_TIMEOUT_SECONDS:-0}
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
uptime_ms=0
powered_off=0
standing_down=0
signalled=0

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

# ---- IMDSv2 ---------------------------------------------------------------------------------------------
imds_fetch_token() {
  imds_token=$(curl -sS --fail --max-time 2 --retry 10 --retry-delay 1 --retry-connrefused -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$imds_endpoint/latest/api/token")
}

# Prints a metadata value. Returns 4 when IMDS says the path does not exist (a missing tag), 1 on failure.
# The token goes to curl as a header file, not an argument, so it never shows in /proc/<pid>/cmdline.
imds_get() {
  local status
  status=$(curl -s --max-time 2 --retry 5 --retry-delay 1 --retry-connrefused \
    -H @<(printf 'X-aws-ec2-metadata-token: %s\n' "$imds_token") \
    -o "$work_dir/imds" -w '%{http_code}' "$imds_endpoint/latest/meta-data/$1") || status=000
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

# ---- AWS CLI --------------------------------------------------------------------------------------------
# Stderr goes to a file so that only the error code is logged, never a whole message.
aws_call() {
  "${aws_cli[@]}" "$@" --cli-connect-timeout 5 --cli-read-timeout 15 2>"$work_dir/aws-error"
}

# The code of the last failed call: `An error occurred (Code) when calling ...`, or `unknown`.
aws_error_code() {
  local code
  code=$(sed -n 's/.*An error occurred (\([A-Za-z0-9._-]*\)).*/\1/p' "$work_dir/aws-error" 2>/dev/null | head -n 1)
  printf '%s' "${code:-unknown}"
}

tag_reason() {
  if [[ -z $instance_id ]]; then
    return 0
  fi
  if aws_call ec2 create-tags --resources "$instance_id" --tags "Key=$TAG_REASON,Value=$1" >/dev/null; then
    log info reason-tagged reason="$1"
  else
    log warn reason-tag-failed reason="$1" error="$(aws_error_code)"
  fi
}

# ---- endings --------------------------------------------------------------------------------------------
power_off() {
  if ((powered_off)); then
    return 0
  fi
  powered_off=1
  log info power-off reason="$1"
  sync || true
  if ! "${poweroff_cmd[@]}"; then
    log error power-off-failed
  fi
}

# A handled failure: say why on the instance, power off, stop here.
fail() {
  local reason=$1
  shift
  log error "$reason" "$@"
  tag_reason "$reason"
  power_off "$reason"
  exit 0
}

on_signal() {
  signalled=1
  log warn stopped-by-signal
  local pid
  for pid in "$runner_pid" "$disk_pid"; do
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
    tag_reason agent-error
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
  for name in jit_grace_seconds jit_poll_ms docker_wait_seconds pull_timeout_seconds runner_timeout_seconds; do
    if [[ ! ${!name} =~ ^[0-9]+$ ]]; then
      problems+=("WPR_${name^^}")
    fi
  done
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
# would otherwise slow the first job down. fio reads in parallel; dd is the fallback.
warm_disk() {
  local device started bytes tool
  if ! device=$(resolve_warm_device) || [[ -z $device ]]; then
    log warn warm-disk-skipped reason=no-device
    return 0
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
  if [[ -z $bytes ]]; then
    log warn warm-disk-failed device="$device" tool="$tool"
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

# Best effort: a missing or failing image slows the first job down but does not make the instance unusable.
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
    log warn prepull-skipped reason=docker-unavailable
    return 0
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

warm_up() {
  local started disk_status=0
  clock
  started=$uptime_ms
  log info warmup-started pool="$pool"
  warm_disk &
  disk_pid=$!
  prepull_images
  if ! check_runner; then
    wait "$disk_pid" || true
    disk_pid=''
    fail warmup-failed step=runner-check
  fi
  wait "$disk_pid" || disk_status=$?
  disk_pid=''
  mkdir -p "$state_dir"
  : >"$state_dir/warmed"
  clock
  log info warmup-done duration_ms=$((uptime_ms - started)) disk_ok=$((disk_status == 0))
  power_off warmed
}

# ---- one job --------------------------------------------------------------------------------------------
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

jit_well_formed() {
  # A JIT config is base64 of a JSON object (the runner's own settings files). It reaches base64 through a
  # pipe from the printf builtin: no argument, and no temporary file as a large here-string could make.
  [[ -n $jit_config && ${#jit_config} -le 65536 && $jit_config =~ ^[A-Za-z0-9+/]+=*$ ]] || return 1
  printf '%s' "$jit_config" | base64 -d 2>/dev/null | jq -e 'type == "object" and length > 0' >/dev/null 2>&1
}

run_runner() {
  local started status=0
  local -a launch=()
  if ((runner_timeout_seconds > 0)); then
    launch+=(timeout --kill-after=30 "$runner_timeout_seconds")
  fi
  if [[ -n $runner_user ]]; then
    launch+=(runuser -u "$runner_user" --)
  fi
  log info runner-starting user="${runner_user:-$(id -un)}" dir="$runner_dir"
  clock
  started=$uptime_ms
  (
    cd "$runner_dir"
    # The runner and its jobs get none of the agent's settings or AWS overrides.
    unset "${!WPR_@}" "${!AWS_@}"
    export ACTIONS_RUNNER_INPUT_JITCONFIG=$jit_config
    exec "${launch[@]}" ./run.sh 3>&-
  ) &
  runner_pid=$!
  jit_config=''
  wait "$runner_pid" || status=$?
  runner_pid=''
  clock
  log info runner-exited status="$status" duration_ms=$((uptime_ms - started))
  # run.sh exits 0 even when the listener gave up; anything else means the runner itself broke.
  if ((status != 0)); then
    tag_reason runner-failed
  fi
}

serve_job() {
  local name="$parameter_prefix/jit/$instance_id" started deadline attempts=0 rc last='' pause
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
        fail no-jit-config parameter="$name" attempts="$attempts" waited_ms=$((uptime_ms - started))
      fi
      fail jit-fetch-failed parameter="$name" attempts="$attempts" error="$last"
    fi
    # Jitter spreads a burst of instances booting together over Parameter Store's shared read quota.
    pause=$((jit_poll_ms + RANDOM % (jit_poll_ms / 2 + 1)))
    sleep_ms "$pause"
  done
  clock
  log info jit-received parameter="$name" attempts="$attempts" waited_ms=$((uptime_ms - started))

  # Taken, so gone: whatever happens next, the config is never read twice.
  if aws_call ssm delete-parameter --name "$name" >/dev/null; then
    log info jit-deleted parameter="$name"
  else
    log warn jit-delete-failed parameter="$name" error="$(aws_error_code)"
  fi

  if ! jit_well_formed; then
    jit_config=''
    fail jit-malformed parameter="$name"
  fi
  run_runner
  power_off job-done
}

# ---- main -----------------------------------------------------------------------------------------------
main() {
  exec 3>&1
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
