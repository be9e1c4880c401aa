#!/usr/bin/env bash
# Local Apicurio Registry 3.3 (a Confluent-compatible schema registry for the Kafka bus), no container.
#
#   deploy/local/apicurio.sh build    fetch the runnable app from Maven Central into .cache/apicurio (cached)
#   deploy/local/apicurio.sh start    build if needed and start the registry (idempotent)
#   deploy/local/apicurio.sh wait     block until the Confluent API answers (APICURIO_WAIT_SECONDS, 120),
#                                     then set the global compatibility to BACKWARD and read it back
#   deploy/local/apicurio.sh status   exit 0 when running and answering, 3 otherwise
#   deploy/local/apicurio.sh stop     stop the registry (TERM, then KILL after 30 s)
#
# Listens on 127.0.0.1:${APICURIO_PORT:-8081} (management ${APICURIO_MANAGEMENT_PORT:-9000}); the
# Confluent-compatible API (STS_SCHEMA_REGISTRY_URL) is http://127.0.0.1:8081/apis/ccompat/v7
# The app lives in .cache/apicurio, its log in .cache/logs/apicurio.log, the pid in .cache/run (lib.sh).
# APICURIO_HEAP sets -Xmx (default 384m).
#
# Apicurio 3.3 is compiled for Java 21: the script takes the first Java >= 21 among $APICURIO_JAVA_HOME,
# $JAVA_HOME and /usr/lib/jvm/* (the machine's default Java 17 cannot run it; 3.0.x, which could, is not
# fully served by Maven Central: its parent POM is missing).
#
# Storage: in memory by default (the registry forgets its schemas when stopped; fine for tests, the
# codec registers its schemas again at start). To keep them, point it at PostgreSQL before `start`:
#   export APICURIO_STORAGE_KIND=sql APICURIO_STORAGE_SQL_KIND=postgresql \
#          APICURIO_DATASOURCE_URL=jdbc:postgresql://127.0.0.1:5432/apicurio \
#          APICURIO_DATASOURCE_USERNAME=... APICURIO_DATASOURCE_PASSWORD=...
# (JDBC needs TCP, not a unix socket). Quarkus reads these environment variables directly.
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE="$STS_REPO_ROOT/deploy/local"
CACHE="$STS_CACHE_DIR/apicurio"
VERSION="${APICURIO_VERSION:-3.3.3}"
APP="$CACHE/app-$VERSION"
LOGS="$CACHE/logs"                     # Maven output
REGISTRY_LOG="$STS_LOG_DIR/apicurio.log"  # the registry's own log (its console output)
PORT="${APICURIO_PORT:-8081}"
MANAGEMENT_PORT="${APICURIO_MANAGEMENT_PORT:-9000}"  # Quarkus health/metrics
HEAP="${APICURIO_HEAP:-384m}"
WAIT_SECONDS="${APICURIO_WAIT_SECONDS:-120}"
BASE="http://127.0.0.1:$PORT/apis/ccompat/v7"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.11.0"

log() { sts_log "$@"; }
die() { sts_die "$@"; }
running_pid() { sts_daemon_pid apicurio; }

java_major() {
  # "17.0.15" -> 17, "25.0.3" -> 25, "1.8.0_402" -> 1
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'
}

find_java() {
  local candidate major
  for candidate in ${APICURIO_JAVA_HOME:+"$APICURIO_JAVA_HOME/bin/java"} ${JAVA_HOME:+"$JAVA_HOME/bin/java"} \
    /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
    [[ -x "$candidate" ]] || continue
    major="$(java_major "$candidate")"
    if [[ -n "$major" ]] && ((major >= 21)); then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

port_open() { sts_port_open 127.0.0.1 "$1"; }

cmd_build() {
  [[ -f "$APP/quarkus-run.jar" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  mkdir -p "$CACHE" "$LOGS"
  local t0=$SECONDS dl="$CACHE/download"
  log "downloading apicurio-registry-app $VERSION (Maven) into $CACHE"
  # The runnable app is an attached artifact (classifier "all", type tar.gz) of apicurio-registry-app.
  # `copy` needs no project; -f names one anyway so that a pom.xml in the caller's directory is ignored.
  mvn -B -q -f "$HERE/kafka/pom.xml" "$DEP_PLUGIN:copy" \
    -Dartifact="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all" -DoutputDirectory="$dl" \
    >"$LOGS/maven.log" 2>&1 || die "maven download failed (see $LOGS/maven.log)"
  rm -rf "$APP.tmp"
  mkdir -p "$APP.tmp"
  tar -xzf "$dl/apicurio-registry-app-$VERSION-all.tar.gz" -C "$APP.tmp"
  [[ -f "$APP.tmp/quarkus-run.jar" ]] || die "no quarkus-run.jar in the archive"
  rm -rf "$APP" "$dl"
  mv "$APP.tmp" "$APP"
  log "app ready ($((SECONDS - t0)) s)"
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid)"
    return 0
  fi
  port_open "$PORT" && die "port $PORT is taken by a process this script did not start"
  local java
  java="$(find_java)" || die "no Java 21 or newer found (set APICURIO_JAVA_HOME); Apicurio 3.3 needs it"
  cmd_build
  log "Java: $java"
  # Quarkus resolves lib/ and app/ relative to the jar; the working directory holds nothing of value.
  (
    cd "$APP"
    sts_daemon_start apicurio "$java" "-Xmx$HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" \
      -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$MANAGEMENT_PORT" \
      -Dquarkus.log.console.json=false -jar quarkus-run.jar
  )
}

probe() { curl -fsS -m 2 -o /dev/null "$BASE/subjects" 2>/dev/null; }

set_backward() {
  # Apicurio starts with no compatibility rule (Confluent's NONE); STS evolves schemas BACKWARD.
  curl -fsS -m 5 -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data '{"compatibility":"BACKWARD"}' "$BASE/config" >/dev/null || die "PUT $BASE/config failed"
  local got
  got="$(curl -fsS -m 5 "$BASE/config")"
  [[ "$got" == *'"BACKWARD"'* ]] || die "global compatibility reads back as $got, not BACKWARD"
}

cmd_wait() {
  local deadline=$((SECONDS + WAIT_SECONDS)) t0=$SECONDS
  while ((SECONDS < deadline)); do
    if probe; then
      set_backward
      log "ready on $BASE after $((SECONDS - t0)) s of waiting (compatibility BACKWARD)"
      return 0
    fi
    running_pid >/dev/null || die "the registry is not running (see $REGISTRY_LOG)"
    sleep 0.5
  done
  die "not ready after $WAIT_SECONDS s (see $REGISTRY_LOG)"
}

cmd_status() {
  local pid
  if pid="$(running_pid)" && probe; then
    echo "apicurio: running (pid $pid) at $BASE"
    return 0
  fi
  echo "apicurio: not running"
  return 3
}

cmd_stop() { sts_daemon_stop apicurio 30; }

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start ;;
  wait) cmd_wait ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  *) echo "usage: $0 build|start|wait|status|stop" >&2; exit 2 ;;
esac
