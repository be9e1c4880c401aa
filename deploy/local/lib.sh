# shellcheck shell=bash
# Shared helpers for the local service scripts in deploy/local/ (source it, do not run it).
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Layout (all under the git-ignored .cache/ at the repo root, overridable by env):
#   STS_CACHE_DIR   .cache                  build outputs and service state
#   STS_BIN_DIR     $STS_CACHE_DIR/bin      built binaries (weed, ...)
#   STS_LOG_DIR     $STS_CACHE_DIR/logs     one <name>.log per service (stdout+stderr)
#   STS_RUN_DIR     $STS_CACHE_DIR/run      one <name>.pid per service started by sts_daemon_start
#
# Functions (each documented where it is defined):
#   sts_log MSG...                      print "[name] MSG" to stderr
#   sts_die MSG...                      sts_log, then exit 1
#   sts_pid_file NAME                   path of NAME's pid file
#   sts_daemon_pid NAME                 print the pid of NAME if it is running (status 1 if not)
#   sts_daemon_start NAME CMD [ARG...]  start CMD detached, log to $STS_LOG_DIR/NAME.log, write pid file
#   sts_daemon_stop NAME [SECONDS]      TERM, wait up to SECONDS (default 20), then KILL; remove pid file
#   sts_port_open HOST PORT             status 0 if a TCP connect to HOST:PORT succeeds
#   sts_wait_until SECONDS DESC CMD...  run CMD every 0.5 s until it succeeds or SECONDS pass
#   sts_elapsed_since START_NS          print seconds (1 decimal) since a `date +%s%N` stamp
#   sts_apt_install PKG...              apt-get install PKG (root only) without starting its daemon

# Repo root, from this file's own location (deploy/local/lib.sh -> ../..).
STS_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${STS_CACHE_DIR:=$STS_REPO_ROOT/.cache}"
: "${STS_BIN_DIR:=$STS_CACHE_DIR/bin}"
: "${STS_LOG_DIR:=$STS_CACHE_DIR/logs}"
: "${STS_RUN_DIR:=$STS_CACHE_DIR/run}"
: "${STS_SCRIPT_NAME:=$(basename "${BASH_SOURCE[1]:-$0}" .sh)}"
export STS_REPO_ROOT STS_CACHE_DIR STS_BIN_DIR STS_LOG_DIR STS_RUN_DIR
mkdir -p "$STS_BIN_DIR" "$STS_LOG_DIR" "$STS_RUN_DIR"

# sts_log MSG... : a line on stderr, prefixed with the calling script's name.
sts_log() { printf '[%s] %s\n' "$STS_SCRIPT_NAME" "$*" >&2; }

# sts_die MSG... : log and exit 1.
sts_die() { sts_log "error: $*"; exit 1; }

# sts_pid_file NAME : the pid file of service NAME.
sts_pid_file() { printf '%s/%s.pid\n' "$STS_RUN_DIR" "$1"; }

# sts_daemon_pid NAME : prints the pid and returns 0 when NAME's pid file names a live process;
# removes a stale pid file and returns 1 otherwise.
sts_daemon_pid() {
  local f pid
  f="$(sts_pid_file "$1")"
  [ -s "$f" ] || return 1
  pid="$(cat "$f")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f "$f"
  return 1
}

# sts_daemon_start NAME CMD [ARG...] : start CMD in its own session (setsid), detached from this shell,
# stdin from /dev/null, stdout+stderr appended to $STS_LOG_DIR/NAME.log; write its pid to the pid file.
# No-op (status 0) if NAME is already running. The caller waits for readiness itself.
sts_daemon_start() {
  local name="$1"; shift
  local log pid
  if pid="$(sts_daemon_pid "$name")"; then
    sts_log "$name already running (pid $pid)"
    return 0
  fi
  log="$STS_LOG_DIR/$name.log"
  printf '\n=== %s start %s: %s\n' "$name" "$(date -u +%FT%TZ)" "$*" >>"$log"
  setsid "$@" </dev/null >>"$log" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$(sts_pid_file "$name")"
  sts_log "$name started (pid $pid, log $log)"
}

# sts_daemon_stop NAME [SECONDS] : stop NAME's process group (TERM, then KILL after SECONDS, default 20).
# No-op if it is not running.
sts_daemon_stop() {
  local name="$1" grace="${2:-20}" pid i
  if ! pid="$(sts_daemon_pid "$name")"; then
    sts_log "$name not running"
    return 0
  fi
  # setsid made the daemon a process-group leader: signal the group so children stop too.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    sts_log "$name did not stop in ${grace}s: killing"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(sts_pid_file "$name")"
  sts_log "$name stopped"
}

# sts_port_open HOST PORT : 0 if something accepts TCP connections on HOST:PORT.
sts_port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# sts_wait_until SECONDS DESC CMD... : poll CMD (quietly) every 0.5 s; 0 once it succeeds, 1 after SECONDS.
sts_wait_until() {
  local timeout="$1" desc="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      sts_log "timed out after ${timeout}s waiting for $desc"
      return 1
    fi
    sleep 0.5
  done
}

# sts_elapsed_since START_NS : seconds since START_NS (from `date +%s%N`), one decimal.
sts_elapsed_since() {
  local now
  now="$(date +%s%N)"
  awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f\n", (b - a) / 1e9 }'
}

# sts_apt_install PKG... : apt-get install PKG without letting the package start its own daemon (its
# default port may be taken: Alertmanager's 9093 is Kafka's controller here, Debian's redis-server is on
# ours), waiting for the dpkg lock of a parallel install by another service script.
sts_apt_install() {
  [ "$(id -u)" -eq 0 ] || sts_die "$* is not installed and this is not root"
  sts_log "installing $* with apt-get"
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # other service scripts may be installing in parallel (.ci/run) and their apt-get does not wait for
  # the lock: let them finish first, and skip the list update when the package is already known
  local i
  for ((i = 0; i < 300; i++)); do pgrep -x 'apt-get|dpkg' >/dev/null || break; sleep 1; done
  local rc=0
  if ! apt-cache policy "$@" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || rc=$?
  fi
  [ "$rc" -eq 0 ] && { apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >&2 || rc=$?; }
  [ "$created" -eq 1 ] && rm -f "$policy"
  return "$rc"
}

