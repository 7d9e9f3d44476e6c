#!/usr/bin/env bash
# Run the web console's browser tests (tests/console/, pytest + selenium + headless chromium)
# against an already-built TableSafe binary.
#
#   TABLESAFE_BIN       server binary (default ~/.cache/tablesafe/target/release/tablesafe)
#   TABLESAFE_VENV      Python virtualenv (default ~/.cache/tablesafe/venv)
#   TABLESAFE_TEST_OUT  screenshots go to $TABLESAFE_TEST_OUT/console/ (default
#                       ${CARGO_TARGET_DIR:-~/.cache/tablesafe/target}/test-output)
#   PYTEST_ARGS         extra pytest arguments (e.g. "-x -s")
#
# Installs what the tests need first (scripts/setup-test-deps.sh: selenium in the venv,
# Debian's chromium and chromium-driver). This script never builds the server.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export TABLESAFE_BIN="${TABLESAFE_BIN:-$HOME/.cache/tablesafe/target/release/tablesafe}"
VENV="${TABLESAFE_VENV:-$HOME/.cache/tablesafe/venv}"
OUT="${TABLESAFE_TEST_OUT:-${CARGO_TARGET_DIR:-$HOME/.cache/tablesafe/target}/test-output}/console"

if [ ! -x "$TABLESAFE_BIN" ]; then
    echo "run.sh: tablesafe binary not found or not executable: $TABLESAFE_BIN" >&2
    echo "run.sh: build the server first (this script does not build it), or set TABLESAFE_BIN" >&2
    exit 2
fi

if ! "$ROOT/scripts/setup-test-deps.sh"; then
    echo "run.sh: installing test dependencies failed" >&2
    exit 2
fi

echo "=== web console browser tests ==="
# shellcheck disable=SC2086
(cd "$HERE" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} .)
rc=$?
echo "run.sh: screenshots in $OUT"
if [ $rc -ne 0 ]; then
    echo "run.sh: console tests failed (pytest exit $rc)" >&2
    exit 1
fi
