#!/usr/bin/env bash
# Prometheus (Debian's `prometheus`) for local development and CI, on 127.0.0.1:9090 only, with the repo's
# deploy/prometheus/prometheus.yml (scrape config + alert rules) and its data in the git-ignored .cache/.
#
#   deploy/local/prometheus.sh start    install the package if missing, start (no-op when running), wait
#   deploy/local/prometheus.sh wait     wait until /-/ready answers (STS_PROMETHEUS_WAIT_SECONDS, 60)
#   deploy/local/prometheus.sh status   print running/stopped (exit 0 when running and ready)
#   deploy/local/prometheus.sh stop     stop it (no-op when not running)
#   deploy/local/prometheus.sh reload   re-read the config and rules (POST /-/reload)
#   deploy/local/prometheus.sh env      print the export line that makes STS processes register for scraping
#
# Environment (defaults in brackets):
#   STS_PROMETHEUS_PORT [9090]
#   STS_PROMETHEUS_CONFIG [deploy/prometheus/prometheus.yml]
#   STS_PROMETHEUS_DATA_DIR [.cache/prometheus/data]     the TSDB (survives stop/start)
#   STS_PROMETHEUS_RETENTION [15d]
#   STS_PROMETHEUS_WAIT_SECONDS [60]
#
# STS processes are found by file-based service discovery: every `sts run`/`sts demo`/`sts serve` started
# with STS_METRICS_TARGETS_DIR=.cache/prometheus/targets writes a target file there (docs/monitoring.md).
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${STS_PROMETHEUS_PORT:=9090}"
: "${STS_PROMETHEUS_CONFIG:=$STS_REPO_ROOT/deploy/prometheus/prometheus.yml}"
: "${STS_PROMETHEUS_DATA_DIR:=$STS_CACHE_DIR/prometheus/data}"
: "${STS_PROMETHEUS_RETENTION:=15d}"
: "${STS_PROMETHEUS_WAIT_SECONDS:=60}"

NAME=prometheus
TARGETS_DIR="$STS_CACHE_DIR/prometheus/targets"
URL="http://127.0.0.1:$STS_PROMETHEUS_PORT"

install() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
  sts_apt_install prometheus
}

ready() { curl -fsS --max-time 2 "$URL/-/ready" >/dev/null 2>&1; }

wait_ready() {
  local t0
  t0="$(date +%s%N)"
  sts_daemon_pid "$NAME" >/dev/null || sts_die "prometheus is not running (see $STS_LOG_DIR/$NAME.log)"
  sts_wait_until "$STS_PROMETHEUS_WAIT_SECONDS" "Prometheus on $URL" ready \
    || { tail -n 30 "$STS_LOG_DIR/$NAME.log" >&2; exit 1; }
  sts_log "Prometheus ready after $(sts_elapsed_since "$t0") s: $URL"
}

start() {
  install
  mkdir -p "$STS_PROMETHEUS_DATA_DIR" "$TARGETS_DIR"
  if sts_daemon_pid "$NAME" >/dev/null; then
    sts_log "prometheus already running"
  else
    sts_port_open 127.0.0.1 "$STS_PROMETHEUS_PORT" && sts_die "port $STS_PROMETHEUS_PORT is taken by another server"
    promtool check config "$STS_PROMETHEUS_CONFIG" >&2 || sts_die "invalid config $STS_PROMETHEUS_CONFIG"
    # the STS consoles (/consoles/sts-overview.html; docs/dashboard.md) use the console library that
    # Debian's package ships among its examples
    local console_flags=() lib
    for lib in /usr/share/doc/prometheus/examples/console_libraries /etc/prometheus/console_libraries; do
      if [ -f "$lib/prom.lib" ]; then
        console_flags=(--web.console.templates="$STS_REPO_ROOT/deploy/prometheus/consoles"
                       --web.console.libraries="$lib")
        break
      fi
    done
    sts_daemon_start "$NAME" prometheus \
      --config.file="$STS_PROMETHEUS_CONFIG" \
      --storage.tsdb.path="$STS_PROMETHEUS_DATA_DIR" \
      --storage.tsdb.retention.time="$STS_PROMETHEUS_RETENTION" \
      --web.listen-address="127.0.0.1:$STS_PROMETHEUS_PORT" \
      --web.enable-lifecycle \
      "${console_flags[@]}"
  fi
  wait_ready
  sts_log "STS processes register with: export STS_METRICS_TARGETS_DIR=$TARGETS_DIR"
}

status() {
  if sts_daemon_pid "$NAME" >/dev/null && ready; then
    echo "prometheus running: $URL"
    return 0
  fi
  echo "prometheus stopped"
  return 3
}

case "${1:-}" in
  start) start ;;
  wait) wait_ready ;;
  status) status ;;
  stop) sts_daemon_stop "$NAME" ;;
  reload) curl -fsS -X POST "$URL/-/reload" && sts_log "reloaded" ;;
  env) echo "export STS_METRICS_TARGETS_DIR=$TARGETS_DIR" ;;
  *) echo "usage: $0 start|wait|status|stop|reload|env" >&2; exit 2 ;;
esac
