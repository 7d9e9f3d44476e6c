#!/usr/bin/env bash
# Archiver lag (write acknowledged → change durable in the repository) under a
# steady single-row write load, and the replay rate of a restore to a point in
# time: crates/backup/benches/archiver.rs (its header says what it does). The
# markdown tables go to stdout, progress and cargo to stderr, so
# `bench/archiver.sh 2>/dev/null` prints only the result. Settings: BENCH_SECONDS,
# BENCH_RATE, BENCH_WRITERS, BENCH_PRELOAD, BENCH_INTERVALS_MS, TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."

# Share the RocksDB build with the tests and the other benches (a target dir of
# its own would compile RocksDB's C++ again, ~15 minutes on 2 cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tablesafe/target}"

exec cargo bench --workspace --bench archiver "$@"
