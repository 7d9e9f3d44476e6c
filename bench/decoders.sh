#!/usr/bin/env bash
# Long run of the decoder property tests: every decoder of outside bytes
# (PlainBuffer, filters, shard iterators, protobuf requests, repository objects,
# record streams, manifests) on random and mutated input, a million cases per
# property by default (the README's test command runs 2,000). Prints a table:
# crate, cases per property, seconds. The backup crate's manifest property
# verifies the repository each case: it takes most of the time.
#   DECODER_CASES=n bench/decoders.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tablesafe/target}"
export CARGO_TERM_COLOR=never
export DECODER_CASES="${DECODER_CASES:-1000000}"
# --workspace keeps the feature set of the test build, so RocksDB is not rebuilt.
binaries=$(cargo test --release --workspace --locked --test decoders --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "decoders":
        print(m["package_id"].split("#")[-1].split("@")[0], m["executable"])
')
printf '%-20s %12s %10s\n' "crate" "cases/prop" "seconds"
while read -r crate executable; do
  start=$(date +%s)
  "$executable" -q >"/tmp/decoders-$crate.log" 2>&1 || {
    echo "FAILED: $crate at $DECODER_CASES cases; see /tmp/decoders-$crate.log" >&2; exit 1; }
  printf '%-20s %12s %10s\n' "$crate" "$DECODER_CASES" "$(( $(date +%s) - start ))"
done <<< "$binaries"
