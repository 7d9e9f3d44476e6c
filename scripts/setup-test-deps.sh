#!/usr/bin/env bash
# Install the test dependencies: the official Tablestore SDKs used by the compatibility suites in
# tests/sdk/, and the S3-compatible server (moto) of the repository's storage tests.
#
#   * Python: a virtualenv at ${TABLESAFE_VENV:-$HOME/.cache/tablesafe/venv} with pinned
#     tablestore (PyPI) and pytest, and moto[server], whose `moto_server` is the S3-compatible
#     server of the repository's storage tests (crates/repo/tests/support/s3.rs,
#     scripts/s3-test-server.sh), and selenium, which drives the browser of the web console's
#     tests (tests/console/).
#   * Node:   tests/sdk/node/node_modules with the pinned `tablestore` npm package.
#   * Debian: restic and zstd, what the backup benchmark compares against
#     (crates/backup/benches/backup_restore.rs runs `restic` and `zstd` from PATH), and
#     systemd's `systemd-analyze`, which checks packaging/tablesafe.service
#     (crates/cli/tests/operations.rs); chromium and chromium-driver (/usr/bin/chromium,
#     /usr/bin/chromedriver), the headless browser of the console tests, which selenium is
#     pointed at explicitly so that selenium-manager never downloads a browser or driver.
#
# Idempotent: reruns are fast when everything is already installed at the pinned versions.
# Needs only python3 (3.11+, with the venv module) and node+npm on PATH.
set -euo pipefail

TABLESTORE_PY_VERSION="6.4.8"
PYTEST_VERSION="8.3.5"
MOTO_VERSION="5.2.5"
# The newest selenium 4.x installable beside the others: 4.52.0 and later require
# certifi>=2026.10.23, which the package index does not offer yet.
SELENIUM_VERSION="4.51.0"
TABLESTORE_NODE_VERSION="5.6.5"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TABLESAFE_VENV:-$HOME/.cache/tablesafe/venv}"
NODE_DIR="$ROOT/tests/sdk/node"

log() { echo "[setup-test-deps] $*" >&2; }

# ---------------------------------------------------------------- Python
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    log "python3 not found on PATH"; exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv at $VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! "$PYTHON" -m venv "$VENV"; then
        log "python3 -m venv failed (on Debian: apt-get install python3-venv)"
        rm -rf "$VENV"
        exit 1
    fi
fi

py_ok() {
    [ -x "$VENV/bin/moto_server" ] || return 1
    "$VENV/bin/python" - "$TABLESTORE_PY_VERSION" "$PYTEST_VERSION" "$MOTO_VERSION" \
        "$SELENIUM_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
want_ts, want_pt, want_moto, want_sel = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
assert version("tablestore") == want_ts, version("tablestore")
assert version("pytest") == want_pt, version("pytest")
assert version("moto") == want_moto, version("moto")
assert version("selenium") == want_sel, version("selenium")
import tablestore  # noqa: F401  (import must work, e.g. native deps present)
import pytest      # noqa: F401
import moto.server  # noqa: F401  (the [server] extra: flask, werkzeug)
# What tests/sdk/python/test_first_day_tools.py loads (cryptography comes with moto).
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: F401
# What tests/console/console_support.py loads.
from selenium import webdriver  # noqa: F401
from selenium.webdriver.chrome.service import Service  # noqa: F401
from selenium.webdriver.support.ui import WebDriverWait  # noqa: F401
PY
}

if py_ok; then
    log "python deps already satisfied (tablestore==$TABLESTORE_PY_VERSION, pytest==$PYTEST_VERSION, moto==$MOTO_VERSION, selenium==$SELENIUM_VERSION)"
else
    log "installing python deps into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "tablestore==$TABLESTORE_PY_VERSION" "pytest==$PYTEST_VERSION" "moto[server]==$MOTO_VERSION" \
        "selenium==$SELENIUM_VERSION"
    if ! py_ok; then
        log "python deps still not importable after install"; exit 1
    fi
fi

# ---------------------------------------------------------------- Node
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "node/npm not found on PATH"; exit 1
fi

node_ok() {
    (cd "$NODE_DIR" && node -e '
        const v = require("tablestore/package.json").version;
        if (v !== process.argv[1]) { process.exit(1); }
        require("tablestore");
        require("mocha"); // runs the SDK'"'"'s own tests (tests/sdk/node/alibaba)
    ' "$TABLESTORE_NODE_VERSION") >/dev/null 2>&1
}

if node_ok; then
    log "node deps already satisfied (tablestore@$TABLESTORE_NODE_VERSION)"
else
    log "installing node deps in $NODE_DIR"
    if [ -f "$NODE_DIR/package-lock.json" ]; then
        (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    else
        (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error)
    fi
    if ! node_ok; then
        log "node tablestore@$TABLESTORE_NODE_VERSION not loadable after install"; exit 1
    fi
fi

# ---------------------------------------------------------------- Debian
# Checked the way the benchmark uses them: the commands run.
debian_ok() {
    restic version >/dev/null 2>&1 && zstd --version >/dev/null 2>&1 && systemd-analyze --version >/dev/null 2>&1
}
if debian_ok; then
    log "restic, zstd and systemd-analyze already installed"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing restic, zstd and systemd (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends restic zstd systemd >/dev/null
    debian_ok || { log "restic, zstd or systemd-analyze does not run after apt-get install"; exit 1; }
else
    log "restic, zstd or systemd-analyze missing and not root: apt-get install restic zstd systemd"
fi

# The console tests' browser: Debian's chromium and its chromedriver, at the paths
# tests/console/console_support.py gives selenium (binary_location and Service(executable_path)).
browser_ok() {
    /usr/bin/chromium --version >/dev/null 2>&1 && /usr/bin/chromedriver --version >/dev/null 2>&1
}
if browser_ok; then
    log "chromium and chromedriver already installed ($(/usr/bin/chromium --version 2>/dev/null))"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium and chromium-driver (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null
    browser_ok || { log "/usr/bin/chromium or /usr/bin/chromedriver does not run after apt-get install"; exit 1; }
else
    log "chromium or chromedriver (/usr/bin/chromium, /usr/bin/chromedriver) missing and not root: apt-get install chromium chromium-driver"
    exit 1
fi

log "ok: venv=$VENV node_modules=$NODE_DIR/node_modules"
