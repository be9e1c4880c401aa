#!/usr/bin/env bash
# Local single-node Apache Kafka 4.3 (KRaft: one process is broker and controller), no container.
#
#   deploy/local/kafka.sh build    copy the broker's jars from Maven Central into .cache/kafka/libs (cached)
#   deploy/local/kafka.sh start    build if needed, format the storage once, start the broker (idempotent)
#   deploy/local/kafka.sh wait     block until the broker answers metadata requests (KAFKA_WAIT_SECONDS, 90)
#   deploy/local/kafka.sh status   exit 0 when running and answering, 3 otherwise
#   deploy/local/kafka.sh stop     stop the broker (TERM, then KILL after 30 s)
#   deploy/local/kafka.sh clean    stop and delete the data (not the jars)
#
# Listens on 127.0.0.1:${KAFKA_PORT:-9092} (controller ${KAFKA_CONTROLLER_PORT:-9093}); STS URL
# kafka://127.0.0.1:9092. Jars, data and the broker's log4j logs live under .cache/kafka (git-ignored);
# the JVM's console output in .cache/logs/kafka.log and the pid in .cache/run/kafka.pid (lib.sh layout).
# KAFKA_HEAP sets -Xmx (default 512m).
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE="$STS_REPO_ROOT/deploy/local"
ROOT="$STS_REPO_ROOT"
CACHE="$STS_CACHE_DIR/kafka"
LIBS="$CACHE/libs"
DATA="${KAFKA_DATA_DIR:-$CACHE/data}"
LOGS="$CACHE/logs"
CONF="$CACHE/server.properties"
POM="$HERE/kafka/pom.xml"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${KAFKA_HEAP:-512m}"
WAIT_SECONDS="${KAFKA_WAIT_SECONDS:-90}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.11.0"

log() { sts_log "$@"; }
die() { sts_die "$@"; }
running_pid() { sts_daemon_pid kafka; }

port_open() { sts_port_open 127.0.0.1 "$1"; }

cmd_build() {
  # The jar set is keyed by the pom's checksum: an edited pom rebuilds, an unchanged one is instant.
  local stamp want
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  stamp="$LIBS/.pom.sha256"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  log "downloading the broker's jars (Maven) into $LIBS"
  local tmp="$CACHE/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$CACHE"
  local t0=$SECONDS
  mkdir -p "$LOGS"
  mvn -B -q -f "$POM" "$DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime -DoutputDirectory="$tmp" \
    >"$LOGS/maven.log" 2>&1 || die "maven download failed (see $LOGS/maven.log)"
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  log "jars ready ($(find "$LIBS" -name "*.jar" | wc -l) jars, $((SECONDS - t0)) s)"
}

java_args() {
  # java_args HEAP LOG_DIR: every JVM gets an explicit heap limit (an unbounded one takes a quarter
  # of the machine).
  JAVA_ARGS=(java "-Xmx$1" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.properties" -Dkafka.logs.dir="$2"
    -cp "$LIBS/*")
}

java_tool() {
  # a Kafka tool (storage format, probe): small heap, logs apart from the broker's
  java_args 128m "$LOGS/tools"
  "${JAVA_ARGS[@]}" "$@"
}

render_config() {
  mkdir -p "$DATA" "$LOGS"
  sed -e "s|@DATA_DIR@|$DATA|g" -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    "$HERE/kafka/server.properties.in" >"$CONF"
}

format_storage() {
  # Formatting happens once per data directory; --ignore-formatted makes a rerun harmless.
  [[ -f "$DATA/meta.properties" ]] && return 0
  local cluster_id
  cluster_id="$(java_tool kafka.tools.StorageTool random-uuid 2>>"$LOGS/storage-tool.log" | tail -1)"
  [[ -n "$cluster_id" ]] || die "StorageTool random-uuid printed nothing (see $LOGS/storage-tool.log)"
  java_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" --ignore-formatted \
    >>"$LOGS/storage-tool.log" 2>&1 || die "storage format failed (see $LOGS/storage-tool.log)"
  log "storage formatted (cluster id $cluster_id)"
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid)"
    return 0
  fi
  if port_open "$PORT" || port_open "$CONTROLLER_PORT"; then
    die "port $PORT or $CONTROLLER_PORT is taken by a process this script did not start"
  fi
  command -v java >/dev/null || die "java not found (Java 17+ is needed)"
  cmd_build
  render_config
  format_storage
  java_args "$HEAP" "$LOGS"
  sts_daemon_start kafka "${JAVA_ARGS[@]}" kafka.Kafka "$CONF"
  log "broker logs in $LOGS (server.log, controller.log)"
}

probe() {
  # Ready = the broker answers a metadata request and lists itself. The project's venv (confluent-kafka)
  # answers in milliseconds; without it, fall back to the Kafka tools (a JVM start per probe).
  # KAFKA_PROBE=java forces the fallback.
  local py="$ROOT/.venv/bin/python"
  if [[ "${KAFKA_PROBE:-auto}" != java && -x "$py" ]] && "$py" -c 'import confluent_kafka' 2>/dev/null; then
    "$py" - "$PORT" <<'EOF' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{sys.argv[1]}", "log_level": 0})
md = admin.list_topics(timeout=2)
sys.exit(0 if md.brokers else 1)
EOF
  else
    port_open "$PORT" || return 1
    java_tool org.apache.kafka.tools.BrokerApiVersionsCommand \
      --bootstrap-server "127.0.0.1:$PORT" >/dev/null 2>&1
  fi
}

cmd_wait() {
  local deadline=$((SECONDS + WAIT_SECONDS)) t0=$SECONDS
  while ((SECONDS < deadline)); do
    if probe; then
      log "ready on 127.0.0.1:$PORT after $((SECONDS - t0)) s of waiting"
      return 0
    fi
    running_pid >/dev/null || die "the broker is not running (see $LOGS/server.log, $STS_LOG_DIR/kafka.log)"
    sleep 0.5
  done
  die "not ready after $WAIT_SECONDS s (see $LOGS/server.log)"
}

cmd_status() {
  local pid
  if pid="$(running_pid)" && probe; then
    echo "kafka: running (pid $pid) on 127.0.0.1:$PORT"
    return 0
  fi
  echo "kafka: not running"
  return 3
}

cmd_stop() { sts_daemon_stop kafka 30; }

cmd_clean() {
  cmd_stop
  rm -rf "$DATA" "$LOGS" "$CONF"
  log "data removed"
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start ;;
  wait) cmd_wait ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  clean) cmd_clean ;;
  *) echo "usage: $0 build|start|wait|status|stop|clean" >&2; exit 2 ;;
esac
