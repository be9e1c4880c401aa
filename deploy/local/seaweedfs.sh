#!/usr/bin/env bash
# SeaweedFS S3 gateway for local development and CI: `weed mini` (master + volume + filer + S3 in one
# process) bound to 127.0.0.1, built from the Go module proxy into the git-ignored .cache/.
#
#   deploy/local/seaweedfs.sh build    build .cache/bin/weed if missing or of another version
#   deploy/local/seaweedfs.sh start    build if needed, start (no-op when already running), wait until ready
#   deploy/local/seaweedfs.sh wait     wait until S3 serves a signed PUT/GET (STS_S3_WAIT_SECONDS, 120)
#   deploy/local/seaweedfs.sh status   print running/stopped (exit 0 when running and ready)
#   deploy/local/seaweedfs.sh stop     stop it (no-op when not running)
#
# Environment (defaults in brackets):
#   STS_S3_PORT [8333]                    S3 port; master 9333, volume 9340, filer 8888, admin 12535
#                                         (each gRPC on port+10000; the admin server cannot be disabled)
#   STS_S3_ACCESS_KEY [sts]               credentials of the one admin identity
#   STS_S3_SECRET_KEY [sts-secret-key]
#   STS_SEAWEEDFS_DATA_DIR [.cache/seaweedfs/data]   where objects are kept (survives stop/start)
#   STS_S3_WAIT_SECONDS [120]
#
# The same names are read by STS itself (sts.config: s3_access_key, s3_secret_key), so exporting
# them once configures both sides. Telemetry, WebDAV, the admin UI, the Iceberg and Lance endpoints
# are switched off: nothing here tries to reach the internet or takes a port we do not list.
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Upstream tags are not semver, so the module is pinned at a pseudo-version the proxy serves.
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6

: "${STS_S3_PORT:=8333}"
: "${STS_S3_ACCESS_KEY:=sts}"
: "${STS_S3_SECRET_KEY:=sts-secret-key}"
: "${STS_SEAWEEDFS_DATA_DIR:=$STS_CACHE_DIR/seaweedfs/data}"
: "${STS_S3_WAIT_SECONDS:=120}"

NAME=seaweedfs
WEED="$STS_BIN_DIR/weed"
WEED_STAMP="$STS_BIN_DIR/weed.version"
BUILD_DIR="$STS_CACHE_DIR/build/seaweedfs"
ENDPOINT="http://127.0.0.1:$STS_S3_PORT"
PROBE_BUCKET=sts-readiness-probe

build() {
  if [ -x "$WEED" ] && [ "$(cat "$WEED_STAMP" 2>/dev/null)" = "$SEAWEEDFS_VERSION" ]; then
    sts_log "weed $SEAWEEDFS_VERSION already built ($WEED)"
    return 0
  fi
  command -v go >/dev/null || sts_die "go is not installed (needed to build SeaweedFS)"
  local t0
  t0="$(date +%s%N)"
  sts_log "building weed $SEAWEEDFS_VERSION (cold: 7-14 min, ~2 GB of module cache + ~2 GB of build cache); log $STS_LOG_DIR/weed-build.log"
  mkdir -p "$BUILD_DIR"
  # A throw-away wrapper module: `go install module@version` refuses modules whose go.mod has
  # `replace` directives, so we require SeaweedFS and repeat the replace its go.mod needs. The wrapper
  # sits inside this git checkout: -buildvcs=false keeps go from stamping (or failing on) its VCS state.
  # GOTOOLCHAIN=local: SeaweedFS needs go >= 1.26.6; never download a toolchain.
  cat >"$BUILD_DIR/go.mod" <<EOF
module sts.local/weedbuild

go 1.26

require $SEAWEEDFS_MODULE $SEAWEEDFS_VERSION

replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0
EOF
  rm -f "$BUILD_DIR/go.sum"
  if ! (cd "$BUILD_DIR" && GOFLAGS="-mod=mod -buildvcs=false ${GOFLAGS:-}" GOTOOLCHAIN=local \
        go build -trimpath -ldflags='-s -w' -o "$WEED.tmp" "$SEAWEEDFS_MODULE/weed") \
        >"$STS_LOG_DIR/weed-build.log" 2>&1; then
    tail -n 30 "$STS_LOG_DIR/weed-build.log" >&2
    sts_die "building weed failed (full log: $STS_LOG_DIR/weed-build.log)"
  fi
  mv "$WEED.tmp" "$WEED"
  printf '%s\n' "$SEAWEEDFS_VERSION" >"$WEED_STAMP"
  sts_log "built $WEED in $(sts_elapsed_since "$t0") s"
}

# A signed request with curl's SigV4 support (curl >= 7.75).
s3_curl() {
  curl -fsS --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$STS_S3_ACCESS_KEY:$STS_S3_SECRET_KEY" "$@"
}

# Ready = a signed PUT then GET of a small object round-trips (the health endpoint answers before the
# volume server has registered, when writes would still fail).
probe() {
  curl -fsS --max-time 2 -o /dev/null "$ENDPOINT/healthz" || return 1
  s3_curl -o /dev/null -X PUT "$ENDPOINT/$PROBE_BUCKET" 2>/dev/null || true  # exists already: fine
  # curl does not send the payload hash header that SeaweedFS needs to check the signature of a body
  s3_curl -o /dev/null -X PUT --data-binary 'ok' -H 'Content-Type: text/plain' \
    -H "x-amz-content-sha256: $(printf ok | sha256sum | cut -d' ' -f1)" \
    "$ENDPOINT/$PROBE_BUCKET/probe" || return 1
  [ "$(s3_curl "$ENDPOINT/$PROBE_BUCKET/probe")" = "ok" ]
}

wait_ready() {
  local t0
  t0="$(date +%s%N)"
  sts_daemon_pid "$NAME" >/dev/null || sts_die "$NAME is not running (see $STS_LOG_DIR/$NAME.log)"
  if ! sts_wait_until "$STS_S3_WAIT_SECONDS" "SeaweedFS S3 on $ENDPOINT" probe; then
    tail -n 30 "$STS_LOG_DIR/$NAME.log" >&2
    exit 1
  fi
  sts_log "S3 ready on $ENDPOINT after $(sts_elapsed_since "$t0") s"
}

start() {
  if sts_daemon_pid "$NAME" >/dev/null; then
    sts_log "$NAME already running"
    wait_ready
    return 0
  fi
  if sts_port_open 127.0.0.1 "$STS_S3_PORT"; then
    sts_die "port $STS_S3_PORT is taken by a process this script did not start"
  fi
  build
  mkdir -p "$STS_SEAWEEDFS_DATA_DIR"
  # The admin identity comes from these two variables (SeaweedFS reads them at start); exported
  # rather than passed on the command line so the secret stays out of the log and `ps`.
  export AWS_ACCESS_KEY_ID="$STS_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$STS_S3_SECRET_KEY"
  sts_daemon_start "$NAME" "$WEED" mini \
      -dir="$STS_SEAWEEDFS_DATA_DIR" \
      -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -master.telemetry=false \
      -master.port=9333 -volume.port=9340 -filer.port=8888 \
      -s3.port="$STS_S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 \
      -s3.autoCreateBucket=false \
      -webdav=false -admin.ui=false -admin.port.legacy=0
  wait_ready
}

status() {
  local pid
  if pid="$(sts_daemon_pid "$NAME")"; then
    if probe >/dev/null 2>&1; then
      echo "seaweedfs running (pid $pid), S3 ready on $ENDPOINT"
      return 0
    fi
    echo "seaweedfs running (pid $pid), S3 not ready on $ENDPOINT"
    return 1
  fi
  echo "seaweedfs stopped"
  return 3
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  wait) wait_ready ;;
  status) status ;;
  stop) sts_daemon_stop "$NAME" 30 ;;
  restart) sts_daemon_stop "$NAME" 30; start ;;
  *) echo "usage: $0 build|start|wait|status|stop|restart" >&2; exit 2 ;;
esac
