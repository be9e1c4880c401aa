#!/usr/bin/env bash
# Alertmanager (Debian's `prometheus-alertmanager`) for local development and CI, on 127.0.0.1:9193 only
# (NOT its default 9093: that is Kafka's controller port here), clustering off, with the repo's
# deploy/prometheus/alertmanager.yml (every alert to the STS receiver) and its state in .cache/.
#
#   deploy/local/alertmanager.sh start    install the package if missing, start (no-op when running), wait
#   deploy/local/alertmanager.sh wait     wait until /-/ready answers (STS_ALERTMANAGER_WAIT_SECONDS, 60)
#   deploy/local/alertmanager.sh status   print running/stopped (exit 0 when running and ready)
#   deploy/local/alertmanager.sh stop     stop it (no-op when not running)
#
# Environment (defaults in brackets):
#   STS_ALERTMANAGER_PORT [9193]
#   STS_ALERTMANAGER_CONFIG [deploy/prometheus/alertmanager.yml]
#   STS_ALERTMANAGER_DATA_DIR [.cache/alertmanager/data]   silences and notification log
#   STS_ALERTMANAGER_WAIT_SECONDS [60]
#
# The STS receiver wants an admin-scope API key: the config reads it from .cache/alertmanager/sts-api-key
# (created empty, mode 600, when missing; put the key there, then restart). See docs/monitoring.md.
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${STS_ALERTMANAGER_PORT:=9193}"
: "${STS_ALERTMANAGER_CONFIG:=$STS_REPO_ROOT/deploy/prometheus/alertmanager.yml}"
: "${STS_ALERTMANAGER_DATA_DIR:=$STS_CACHE_DIR/alertmanager/data}"
: "${STS_ALERTMANAGER_WAIT_SECONDS:=60}"

NAME=alertmanager
URL="http://127.0.0.1:$STS_ALERTMANAGER_PORT"
KEY_FILE="$STS_CACHE_DIR/alertmanager/sts-api-key"
BIN=prometheus-alertmanager  # Debian's name for the alertmanager binary

install() {
  command -v "$BIN" >/dev/null && command -v amtool >/dev/null && return 0
  sts_apt_install prometheus-alertmanager
}

ready() { curl -fsS --max-time 2 "$URL/-/ready" >/dev/null 2>&1; }

wait_ready() {
  local t0
  t0="$(date +%s%N)"
  sts_daemon_pid "$NAME" >/dev/null || sts_die "alertmanager is not running (see $STS_LOG_DIR/$NAME.log)"
  sts_wait_until "$STS_ALERTMANAGER_WAIT_SECONDS" "Alertmanager on $URL" ready \
    || { tail -n 30 "$STS_LOG_DIR/$NAME.log" >&2; exit 1; }
  sts_log "Alertmanager ready after $(sts_elapsed_since "$t0") s: $URL"
}

start() {
  install
  mkdir -p "$STS_ALERTMANAGER_DATA_DIR"
  if [ ! -e "$KEY_FILE" ]; then
    (umask 077 && : >"$KEY_FILE")
  fi
  if sts_daemon_pid "$NAME" >/dev/null; then
    sts_log "alertmanager already running"
  else
    sts_port_open 127.0.0.1 "$STS_ALERTMANAGER_PORT" && sts_die "port $STS_ALERTMANAGER_PORT is taken by another server"
    amtool check-config "$STS_ALERTMANAGER_CONFIG" >&2 || sts_die "invalid config $STS_ALERTMANAGER_CONFIG"
    # --cluster.listen-address= (empty): no gossip port, one Alertmanager
    sts_daemon_start "$NAME" "$BIN" \
      --config.file="$STS_ALERTMANAGER_CONFIG" \
      --storage.path="$STS_ALERTMANAGER_DATA_DIR" \
      --web.listen-address="127.0.0.1:$STS_ALERTMANAGER_PORT" \
      --cluster.listen-address=
  fi
  wait_ready
}

status() {
  if sts_daemon_pid "$NAME" >/dev/null && ready; then
    echo "alertmanager running: $URL"
    return 0
  fi
  echo "alertmanager stopped"
  return 3
}

case "${1:-}" in
  start) start ;;
  wait) wait_ready ;;
  status) status ;;
  stop) sts_daemon_stop "$NAME" ;;
  *) echo "usage: $0 start|wait|status|stop" >&2; exit 2 ;;
esac
