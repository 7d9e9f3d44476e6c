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
#   PYCLIENT_PYTEST_ARGS  extra pytest arguments of the Python client's suite
#   SKIP_NODE=1 / SKIP_PYTHON=1 / SKIP_PYCLIENT=1   skip a suite
#
# After the Python SDK suite, the Python client (clients/python, package `tablesafe`) is
# pip-installed into the virtualenv from this checkout and its own tests run: unit tests,
# then integration tests against servers they start from TABLESAFE_BIN.
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

if [ "${SKIP_PYCLIENT:-0}" != "1" ]; then
    echo "=== Python client (clients/python) ==="
    # Build with the virtualenv's own setuptools when it can build wheels (61+, with the
    # `wheel` package or 70.1+: no download); otherwise pip fetches one into an isolated
    # build environment.
    isolation=""
    if "$VENV/bin/python" - >/dev/null 2>&1 <<'PY'
import sys
import setuptools
major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
try:
    import wheel  # noqa: F401
    has_wheel = True
except ImportError:
    has_wheel = False
sys.exit(0 if (major, minor) >= (61, 0) and (has_wheel or (major, minor) >= (70, 1)) else 1)
PY
    then
        isolation="--no-build-isolation"
    fi
    # shellcheck disable=SC2086
    if "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $isolation \
        "$ROOT/clients/python"; then
        # shellcheck disable=SC2086
        (cd "$ROOT/clients/python" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests \
            ${PYCLIENT_PYTEST_ARGS:-})
        rc=$?
        if [ $rc -ne 0 ]; then
            echo "run.sh: Python client suite failed (pytest exit $rc)" >&2
            status=1
        fi
    else
        echo "run.sh: pip install of clients/python into $VENV failed" >&2
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

    echo "=== Node SDK's own tests (tablestore 5.6.5 test/, via mocha) ==="
    (cd "$HERE/node" && node alibaba/run.js)
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "run.sh: Node SDK's own tests failed (alibaba/run.js exit $rc)" >&2
        status=1
    fi
fi

exit $status
