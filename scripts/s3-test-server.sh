#!/usr/bin/env bash
# A local S3-compatible server for trying TableSafe's repository by hand: moto from the test
# virtualenv (scripts/setup-test-deps.sh installs it). The Rust tests do not need this script;
# they start their own server (crates/repo/tests/support/s3.rs).
#
#   scripts/s3-test-server.sh start [PORT]         start on 127.0.0.1:PORT (default 9900) in the
#                                                  background; prints the endpoint
#   scripts/s3-test-server.sh bucket NAME [PORT]   create a bucket
#   scripts/s3-test-server.sh stop [PORT]          stop the server started by `start`
#
# moto accepts any credentials; a repository URL for it looks like
#   AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
#     s3://NAME/prefix?endpoint=http://127.0.0.1:9900&region=us-east-1
# Everything lives in memory and is gone when the server stops.
set -euo pipefail

VENV="${TABLESAFE_VENV:-$HOME/.cache/tablesafe/venv}"
STATE="${XDG_RUNTIME_DIR:-$HOME/.cache/tablesafe}"
log() { echo "[s3-test-server] $*" >&2; }

cmd="${1:-}"
case "$cmd" in
    start|stop) PORT="${2:-9900}" ;;
    bucket) NAME="${2:?usage: $0 bucket NAME [PORT]}"; PORT="${3:-9900}" ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
PIDFILE="$STATE/moto-$PORT.pid"
LOGFILE="$STATE/moto-$PORT.log"

# One HTTP request with an empty body through the venv's Python (no curl needed); prints the status.
http() {
    "$VENV/bin/python" - "$1" "http://127.0.0.1:$PORT$2" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[2], data=b"" if sys.argv[1] == "PUT" else None, method=sys.argv[1])
try:
    print(urllib.request.urlopen(req, timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}

case "$cmd" in
start)
    if [ ! -x "$VENV/bin/moto_server" ]; then
        log "$VENV/bin/moto_server not found; run scripts/setup-test-deps.sh"; exit 1
    fi
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        log "already running (pid $(cat "$PIDFILE"))"; echo "http://127.0.0.1:$PORT"; exit 0
    fi
    mkdir -p "$STATE"
    nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOGFILE" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 300); do
        if http GET / >/dev/null 2>&1; then
            log "running (pid $(cat "$PIDFILE"), log $LOGFILE)"
            echo "http://127.0.0.1:$PORT"
            exit 0
        fi
        if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
            log "moto_server exited; see $LOGFILE"; tail -20 "$LOGFILE" >&2; rm -f "$PIDFILE"; exit 1
        fi
        sleep 0.2
    done
    log "moto_server did not answer within 60 s; see $LOGFILE"; exit 1
    ;;
bucket)
    status="$(http PUT "/$NAME")"
    [ "$status" = 200 ] || { log "creating bucket $NAME failed (HTTP $status)"; exit 1; }
    log "bucket $NAME ready"
    ;;
stop)
    if [ -f "$PIDFILE" ]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE"
        log "stopped"
    else
        log "not running on port $PORT"
    fi
    ;;
esac
