#!/usr/bin/env bash
# Redis (Debian's `redis-server`) for local development and CI: the rate limiter's shared store when
# several API processes run (docs/auth.md). Loopback only, port 6379, no persistence (rate-limit buckets
# are worth nothing after a restart), working folder in the git-ignored .cache/.
#
#   deploy/local/redis.sh start    install redis-server if missing, start (no-op when running), wait
#   deploy/local/redis.sh wait     wait until it answers PING (STS_REDIS_WAIT_SECONDS, 30)
#   deploy/local/redis.sh status   print running/stopped (exit 0 when running and answering)
#   deploy/local/redis.sh stop     stop it (no-op when not running)
#   deploy/local/redis.sh url      print the URL for STS_REDIS_URL
#
# Environment (defaults in brackets):
#   STS_REDIS_PORT [6379]  STS_REDIS_DATA_DIR [.cache/redis]  STS_REDIS_MAXMEMORY [64mb]
#   STS_REDIS_WAIT_SECONDS [30]
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${STS_REDIS_PORT:=6379}"
: "${STS_REDIS_DATA_DIR:=$STS_CACHE_DIR/redis}"
: "${STS_REDIS_MAXMEMORY:=64mb}"
: "${STS_REDIS_WAIT_SECONDS:=30}"

NAME=redis
URL="redis://127.0.0.1:$STS_REDIS_PORT/0"

install() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  sts_apt_install redis-server
}

ping() { [ "$(redis-cli -h 127.0.0.1 -p "$STS_REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

wait_ready() {
  local t0
  t0="$(date +%s%N)"
  sts_daemon_pid "$NAME" >/dev/null || sts_die "redis is not running (see $STS_LOG_DIR/$NAME.log)"
  sts_wait_until "$STS_REDIS_WAIT_SECONDS" "Redis on 127.0.0.1:$STS_REDIS_PORT" ping \
    || { tail -n 30 "$STS_LOG_DIR/$NAME.log" >&2; exit 1; }
  sts_log "Redis ready after $(sts_elapsed_since "$t0") s: $URL"
}

start() {
  install
  mkdir -p "$STS_REDIS_DATA_DIR"
  if sts_daemon_pid "$NAME" >/dev/null; then
    sts_log "redis already running"
  else
    sts_port_open 127.0.0.1 "$STS_REDIS_PORT" && sts_die "port $STS_REDIS_PORT is taken by another server"
    # --save "" and --appendonly no: nothing written to disk; allkeys-lru: buckets are cheap to lose
    sts_daemon_start "$NAME" redis-server \
      --bind 127.0.0.1 --port "$STS_REDIS_PORT" --protected-mode yes \
      --dir "$STS_REDIS_DATA_DIR" --save "" --appendonly no \
      --maxmemory "$STS_REDIS_MAXMEMORY" --maxmemory-policy allkeys-lru \
      --daemonize no --loglevel notice --logfile ""
  fi
  wait_ready
}

status() {
  if sts_daemon_pid "$NAME" >/dev/null && ping; then
    echo "redis running: $URL"
    return 0
  fi
  echo "redis stopped"
  return 3
}

case "${1:-}" in
  start) start ;;
  wait) wait_ready ;;
  status) status ;;
  stop) sts_daemon_stop "$NAME" ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|wait|status|stop|url" >&2; exit 2 ;;
esac
