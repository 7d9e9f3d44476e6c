#!/usr/bin/env bash
# Runs every test of TableSafe on a fresh machine: installs build and test
# dependencies from the package registries (test ones first: the Rust tests use the
# virtualenv's S3 server), builds, runs the Rust tests, then the
# compatibility suites through the official Python and Node SDKs, then the web console's
# browser tests (headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

# The RocksDB build takes ~15 minutes on 2 cores; keep it outside the checkout so
# that repeated runs (and CI's fresh clones) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tablesafe/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scripts/setup-build-deps.sh
# The install step checked on a machine as a fresh one is (only libclang-cpp): an
# overlay of / where libclang is purged; needs root for its mount namespace.
echo "== setup script test"
if [ "$(id -u)" = 0 ]; then
  tests/setup/build-deps.sh
else
  echo "skipped: tests/setup/build-deps.sh needs root (mount namespace, chroot)"
fi
# Before the Rust tests: they need the test virtualenv too (moto_server, the S3 server of the
# repository's storage tests). tests/sdk/run.sh calls it again; it is idempotent and fast then.
scripts/setup-test-deps.sh

# One profile and one command for everything: RocksDB's C++ is rebuilt whenever
# the feature set of its dependency graph changes, and `--release --workspace`
# (tests) shares its build with `cargo bench` (docs/ARCHITECTURE.md, "Builds").
echo "== build"
cargo test --release --workspace --locked --no-run

echo "== rust tests"
cargo test --release --workspace --locked

echo "== sdk compatibility tests"
export TABLESAFE_BIN="$CARGO_TARGET_DIR/release/tablesafe"
export TABLESAFE_CROSSCHECK_BIN="$CARGO_TARGET_DIR/release/examples/crosscheck"
tests/sdk/run.sh

echo "== web console browser tests"
tests/console/run.sh
