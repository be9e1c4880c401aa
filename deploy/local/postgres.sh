#!/usr/bin/env bash
# PostgreSQL 15 (Debian's postgresql-15) for local development and CI: a private cluster in the
# git-ignored .cache/, owned by the `postgres` system user, on TCP 127.0.0.1:5432 only, with a role
# `sts` (password `sts`, may create databases) that owns a database `sts`.
#
#   deploy/local/postgres.sh start    install postgresql-15 if missing, initdb once, start, create role/db
#   deploy/local/postgres.sh wait     wait until `sts` can log in over TCP (STS_PG_WAIT_SECONDS, 60)
#   deploy/local/postgres.sh status   print running/stopped (exit 0 when running)
#   deploy/local/postgres.sh stop     fast shutdown (no-op when not running)
#   deploy/local/postgres.sh url      print the connection URL
#
# Environment (defaults in brackets):
#   STS_PG_PORT [5432]  STS_PG_USER [sts]  STS_PG_PASSWORD [sts]  STS_PG_DATABASE [sts]
#   STS_PG_DATA_DIR [.cache/postgres]   holds data/ (PGDATA) and run/ (unix socket); survives stop/start.
#                   If the postgres user cannot reach .cache/, the default is /var/lib/postgresql/sts-<id>.
#   STS_PG_WAIT_SECONDS [60]
#
# A private cluster (rather than Debian's `15 main`) keeps the setup the same on every machine and
# lets several checkouts keep separate data; its unix socket lives in its own folder so it never
# clashes with a system cluster's /var/run/postgresql.
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${STS_PG_PORT:=5432}"
: "${STS_PG_USER:=sts}"
: "${STS_PG_PASSWORD:=sts}"
: "${STS_PG_DATABASE:=sts}"
: "${STS_PG_DATA_DIR:=}"
: "${STS_PG_WAIT_SECONDS:=60}"

PG_MAJOR=15
PGBIN="/usr/lib/postgresql/$PG_MAJOR/bin"

# The postgres user must be able to reach the data folder. The default is .cache/postgres in the
# checkout; when a parent folder is closed to other users (a checkout under /root, say), fall back to a
# folder under the postgres user's home named after the checkout, so every checkout keeps its own.
# Called after `install`, since the postgres user only exists once the package is installed.
# The choice sticks: once this checkout's cluster is in the fallback folder, it stays there even if the
# checkout becomes reachable later (the embedded PostgreSQL wheel opens every parent of its binaries to
# other users when it runs as root, so a test run does exactly that), or `stop` would look in the wrong
# place and leave the server running on the port.
resolve_paths() {
  if [ -z "$STS_PG_DATA_DIR" ]; then
    local fallback
    fallback="/var/lib/postgresql/sts-$(printf '%s' "$STS_REPO_ROOT" | cksum | cut -d' ' -f1)"
    STS_PG_DATA_DIR="$STS_CACHE_DIR/postgres"
    if [ -f "$fallback/data/PG_VERSION" ] && [ ! -f "$STS_PG_DATA_DIR/data/PG_VERSION" ]; then
      STS_PG_DATA_DIR="$fallback"
    elif id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$STS_CACHE_DIR" 2>/dev/null; then
      STS_PG_DATA_DIR="$fallback"
      sts_log "the postgres user cannot reach $STS_CACHE_DIR: using $STS_PG_DATA_DIR"
    fi
  fi
  LOG="$STS_LOG_DIR/postgres.log"
  if id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$STS_LOG_DIR" 2>/dev/null; then
    LOG="$STS_PG_DATA_DIR/postgres.log"
  fi
  PGDATA="$STS_PG_DATA_DIR/data"
  SOCKDIR="$STS_PG_DATA_DIR/run"
}
URL="postgresql://$STS_PG_USER:$STS_PG_PASSWORD@127.0.0.1:$STS_PG_PORT/$STS_PG_DATABASE"

# As the postgres user, from / (the caller's folder may be closed to it).
as_pg() { (cd / && runuser -u postgres -- "$@"); }

install() {
  [ -x "$PGBIN/pg_ctl" ] && return 0
  [ "$(id -u)" -eq 0 ] || sts_die "postgresql-$PG_MAJOR is not installed and this is not root"
  sts_log "installing postgresql-$PG_MAJOR with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "postgresql-$PG_MAJOR" >&2
  # The package may create and start Debian's own `15 main` cluster on our port: stop it.
  if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | awk '{print $1, $2, $4}' \
      | grep -qx "$PG_MAJOR main online"; then
    sts_log "stopping Debian's $PG_MAJOR/main cluster that the package started"
    pg_ctlcluster "$PG_MAJOR" main stop || true
  fi
}

running() { [ -f "$PGDATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

init_cluster() {
  [ -f "$PGDATA/PG_VERSION" ] && return 0
  sts_log "initdb $PGDATA"
  mkdir -p "$PGDATA" "$SOCKDIR"
  chown -R postgres:postgres "$STS_PG_DATA_DIR"
  chmod 700 "$PGDATA"
  as_pg test -x "$STS_PG_DATA_DIR" \
    || sts_die "the postgres user cannot reach $STS_PG_DATA_DIR (a parent folder is not o+x): set STS_PG_DATA_DIR"
  # Local (socket) logins: peer, so only the postgres system user is admin. TCP: passwords.
  as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  cat >>"$PGDATA/postgresql.conf" <<EOF

# --- deploy/local/postgres.sh
listen_addresses = '127.0.0.1'
port = $STS_PG_PORT
unix_socket_directories = '$SOCKDIR'
EOF
}

psql_admin() { as_pg "$PGBIN/psql" -h "$SOCKDIR" -p "$STS_PG_PORT" -U postgres -d postgres -qAtX "$@"; }

ensure_role_and_db() {
  psql_admin -v ON_ERROR_STOP=1 -v user="$STS_PG_USER" -v pw="$STS_PG_PASSWORD" <<'SQL' >/dev/null
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pw') \gexec
SQL
  psql_admin -v ON_ERROR_STOP=1 -v user="$STS_PG_USER" -v db="$STS_PG_DATABASE" <<'SQL' >/dev/null
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

login_ok() {
  PGPASSWORD="$STS_PG_PASSWORD" "$PGBIN/psql" -h 127.0.0.1 -p "$STS_PG_PORT" -U "$STS_PG_USER" \
    -d "$STS_PG_DATABASE" -qAtX -c 'SELECT 1' >/dev/null 2>&1
}

wait_ready() {
  local t0
  t0="$(date +%s%N)"
  running || sts_die "postgres is not running (see $LOG)"
  sts_wait_until "$STS_PG_WAIT_SECONDS" "PostgreSQL login as $STS_PG_USER on 127.0.0.1:$STS_PG_PORT" login_ok \
    || { tail -n 30 "$LOG" >&2; exit 1; }
  sts_log "PostgreSQL ready after $(sts_elapsed_since "$t0") s: $URL"
}

start() {
  install
  resolve_paths
  init_cluster
  if running; then
    sts_log "postgres already running ($PGDATA)"
  else
    if sts_port_open 127.0.0.1 "$STS_PG_PORT"; then
      sts_die "port $STS_PG_PORT is taken by another server (Debian's cluster? try: pg_ctlcluster $PG_MAJOR main stop)"
    fi
    mkdir -p "$SOCKDIR"
    chown postgres:postgres "$SOCKDIR"
    touch "$LOG"
    chown postgres:postgres "$LOG"
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t "$STS_PG_WAIT_SECONDS" start >/dev/null \
      || { tail -n 30 "$LOG" >&2; sts_die "pg_ctl start failed"; }
  fi
  ensure_role_and_db
  wait_ready
}

stop() {
  if running; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    sts_log "postgres stopped"
  else
    sts_log "postgres not running"
  fi
}

status() {
  if running; then
    echo "postgres running: $URL"
    return 0
  fi
  echo "postgres stopped"
  return 3
}

case "${1:-}" in
  start | restart) ;;
  *) resolve_paths ;;
esac
case "${1:-}" in
  start) start ;;
  wait) wait_ready ;;
  status) status ;;
  stop) stop ;;
  restart) resolve_paths; stop; start ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|wait|status|stop|restart|url" >&2; exit 2 ;;
esac
