#!/usr/bin/env bash
# Run the official-SDK compatibility suites (Python tablestore 6.4.8, Node tablestore 5.6.5)
# against an already-built TableSafe binary.
#
#   TABLESAFE_BIN   server binary (default ~/.cache/tablesafe/target/release/tablesafe)
#   TABLESAFE_CROSSCHECK_BIN  the Rust client's cross-check binary, used by test_rust_client.py
#                   (default ~/.cache/tablesafe/target/release/examples/crosscheck; the test
#                   fails if it is missing)
#   TABLESAFE_VENV  Python virtualenv (default ~/.cache/tablesafe/venv)
#   PYTEST_ARGS     extra pytest arguments (e.g. "-k rows -x")
#   SKIP_NODE=1 / SKIP_PYTHON=1   run only one suite
#
# This script never builds the server; build it first (e.g. cargo test --release --workspace --no-run).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export TABLESAFE_BIN="${TABLESAFE_BIN:-$HOME/.cache/tablesafe/target/release/tablesafe}"
VENV="${TABLESAFE_VENV:-$HOME/.cache/tablesafe/venv}"

if [ ! -x "$TABLESAFE_BIN" ]; then
    echo "run.sh: tablesafe binary not found or not executable: $TABLESAFE_BIN" >&2
    echo "run.sh: build the server first (this script does not build it), or set TABLESAFE_BIN" >&2
    exit 2
fi

if ! "$ROOT/scripts/setup-test-deps.sh"; then
    echo "run.sh: installing test dependencies failed" >&2
    exit 2
fi

status=0

if [ "${SKIP_PYTHON:-0}" != "1" ]; then
    echo "=== Python SDK suite (tablestore 6.4.8) ==="
    # shellcheck disable=SC2086
    (cd "$HERE/python" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-})
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "run.sh: Python suite failed (pytest exit $rc)" >&2
        status=1
    fi
fi

if [ "${SKIP_NODE:-0}" != "1" ]; then
    echo "=== Node SDK suite (tablestore 5.6.5) ==="
    (cd "$HERE/node" && node --test test/*.test.js)
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "run.sh: Node suite failed (node --test exit $rc)" >&2
        status=1
    fi
fi

exit $status
