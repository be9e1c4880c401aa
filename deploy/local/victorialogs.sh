#!/usr/bin/env bash
# VictoriaLogs (Apache-2.0) for local development and CI: the log store STS ships its JSON log lines
# to (STS_VLOGS_URL) and `sts logs` queries. Built from the Go module proxy into the git-ignored .cache/.
#
#   deploy/local/victorialogs.sh build    build .cache/bin/victoria-logs if missing or of another version
#   deploy/local/victorialogs.sh start    build if needed, start (no-op when already running), wait until ready
#   deploy/local/victorialogs.sh wait     wait until /health answers and a line round-trips (STS_VLOGS_WAIT_SECONDS, 60)
#   deploy/local/victorialogs.sh status   print running/stopped (exit 0 when running and ready)
#   deploy/local/victorialogs.sh stop     stop it (no-op when not running)
#
# Environment (defaults in brackets):
#   STS_VLOGS_PORT [9428]                               HTTP port (insert, select and /health), loopback only
#   STS_VLOGS_DATA_DIR [.cache/victorialogs/data]       storage (survives stop/start)
#   STS_VLOGS_RETENTION [7d]                            how long log lines are kept
#   STS_VLOGS_WAIT_SECONDS [60]
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VLOGS_MODULE=github.com/VictoriaMetrics/VictoriaLogs
VLOGS_VERSION=v1.52.1

: "${STS_VLOGS_PORT:=9428}"
: "${STS_VLOGS_DATA_DIR:=$STS_CACHE_DIR/victorialogs/data}"
: "${STS_VLOGS_RETENTION:=7d}"
: "${STS_VLOGS_WAIT_SECONDS:=60}"

NAME=victorialogs
VLOGS="$STS_BIN_DIR/victoria-logs"
VLOGS_STAMP="$STS_BIN_DIR/victoria-logs.version"
ENDPOINT="http://127.0.0.1:$STS_VLOGS_PORT"

build() {
  if [ -x "$VLOGS" ] && [ "$(cat "$VLOGS_STAMP" 2>/dev/null)" = "$VLOGS_VERSION" ]; then
    sts_log "victoria-logs $VLOGS_VERSION already built ($VLOGS)"
    return 0
  fi
  command -v go >/dev/null || sts_die "go is not installed (needed to build VictoriaLogs)"
  local t0 tmpbin
  t0="$(date +%s%N)"
  sts_log "building victoria-logs $VLOGS_VERSION; log $STS_LOG_DIR/victoria-logs-build.log"
  # go install into a scratch GOBIN, then move: a failed build never leaves a half-written binary.
  # GOTOOLCHAIN=local: never download a toolchain; -buildvcs=false: we build inside a git checkout.
  tmpbin="$STS_CACHE_DIR/build/victorialogs-bin"
  rm -rf "$tmpbin"
  mkdir -p "$tmpbin"
  if ! GOBIN="$tmpbin" GOTOOLCHAIN=local GOFLAGS="-buildvcs=false ${GOFLAGS:-}" \
        go install -trimpath -ldflags='-s -w' "$VLOGS_MODULE/app/victoria-logs@$VLOGS_VERSION" \
        >"$STS_LOG_DIR/victoria-logs-build.log" 2>&1; then
    tail -n 30 "$STS_LOG_DIR/victoria-logs-build.log" >&2
    sts_die "building victoria-logs failed (full log: $STS_LOG_DIR/victoria-logs-build.log)"
  fi
  mv "$tmpbin/victoria-logs" "$VLOGS"
  rm -rf "$tmpbin"
  printf '%s\n' "$VLOGS_VERSION" >"$VLOGS_STAMP"
  sts_log "built $VLOGS in $(sts_elapsed_since "$t0") s"
}

# Ready = /health answers "OK" and the select API answers a query.
probe() {
  [ "$(curl -fsS --max-time 2 "$ENDPOINT/health")" = "OK" ] || return 1
  curl -fsS --max-time 5 -o /dev/null "$ENDPOINT/select/logsql/query" \
    --data-urlencode 'query=_time:1m' --data-urlencode 'limit=1'
}

wait_ready() {
  local t0
  t0="$(date +%s%N)"
  sts_daemon_pid "$NAME" >/dev/null || sts_die "$NAME is not running (see $STS_LOG_DIR/$NAME.log)"
  if ! sts_wait_until "$STS_VLOGS_WAIT_SECONDS" "VictoriaLogs on $ENDPOINT" probe; then
    tail -n 30 "$STS_LOG_DIR/$NAME.log" >&2
    exit 1
  fi
  sts_log "VictoriaLogs ready on $ENDPOINT after $(sts_elapsed_since "$t0") s"
}

start() {
  if sts_daemon_pid "$NAME" >/dev/null; then
    sts_log "$NAME already running"
    wait_ready
    return 0
  fi
  if sts_port_open 127.0.0.1 "$STS_VLOGS_PORT"; then
    sts_die "port $STS_VLOGS_PORT is taken by a process this script did not start"
  fi
  build
  mkdir -p "$STS_VLOGS_DATA_DIR"
  sts_daemon_start "$NAME" "$VLOGS" \
      -httpListenAddr="127.0.0.1:$STS_VLOGS_PORT" \
      -storageDataPath="$STS_VLOGS_DATA_DIR" \
      -retentionPeriod="$STS_VLOGS_RETENTION" \
      -loggerLevel=WARN
  wait_ready
}

status() {
  local pid
  if pid="$(sts_daemon_pid "$NAME")"; then
    if probe >/dev/null 2>&1; then
      echo "victorialogs running (pid $pid), ready on $ENDPOINT"
      return 0
    fi
    echo "victorialogs running (pid $pid), not ready on $ENDPOINT"
    return 1
  fi
  echo "victorialogs stopped"
  return 3
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  wait) wait_ready ;;
  status) status ;;
  stop) sts_daemon_stop "$NAME" 20 ;;
  restart) sts_daemon_stop "$NAME" 20; start ;;
  *) echo "usage: $0 build|start|wait|status|stop|restart" >&2; exit 2 ;;
esac
