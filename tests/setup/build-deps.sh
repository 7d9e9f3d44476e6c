#!/usr/bin/env bash
# Tests scripts/setup-build-deps.sh on a machine as a fresh one is: Debian's
# libclang-cpp (the C++ API, on every fresh image) present, libclang itself absent.
#
# It builds that machine out of this one without touching it: an overlay of / in a
# private mount namespace (writes go to a tmpfs), in which libclang-dev and
# libclang1-* are purged. There it checks that
#   1. `--check` reports libclang missing although libclang-cpp.so.* is there,
#   2. the script installs libclang-dev and then finds a libclang that dlopen()s,
#   3. bindgen itself (a small crate built offline against the Cargo registry
#      this checkout's lock file has fetched) parses a header with that libclang,
#      which is exactly the step of RocksDB's build that failed on fresh machines.
# Needs root (mount, chroot) and the Debian mirrors (apt-get); about a minute.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [ "${1:-}" != "--inside" ]; then
  work="$(mktemp -d /tmp/tablesafe-build-deps.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  exec unshare --mount --propagation private "$0" --inside "$work"
fi
work="$2"

fail() { echo "build-deps test: FAIL: $*" >&2; exit 1; }

mount -t tmpfs tmpfs "$work"
mkdir -p "$work/upper" "$work/wk" "$work/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/wk" "$work/root"
for d in proc sys dev dev/pts; do mount --rbind "/$d" "$work/root/$d"; done
mount --bind /etc/resolv.conf "$work/root/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$work/root/src" && mount --bind "$ROOT" "$work/root/src"
in_root() { chroot "$work/root" /usr/bin/env -i PATH="$PATH" HOME="$HOME" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
  RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" bash -c "$1"; }

# The fresh machine: no libclang, only libclang-cpp.
in_root 'DEBIAN_FRONTEND=noninteractive dpkg --purge --force-depends $(dpkg-query -W -f "\${Package}\n" "libclang-dev" "libclang-*-dev" "libclang-common-*-dev" "libclang1-*" 2>/dev/null | grep -v "^libclang-rt\|^libclang-cpp") >/dev/null 2>&1 || true'
in_root 'ls /usr/lib/x86_64-linux-gnu/libclang-cpp.so.* /usr/lib/llvm-*/lib/libclang-cpp.so.* >/dev/null 2>&1' \
  || fail "libclang-cpp is not on this machine, so the test does not reproduce a fresh one"

echo "== build-deps: --check on a machine with only libclang-cpp"
if in_root '/src/scripts/setup-build-deps.sh --check'; then
  fail "--check found a libclang where only libclang-cpp is installed"
fi

echo "== build-deps: the script installs libclang-dev"
in_root "/src/scripts/setup-build-deps.sh" || { [ -n "${DEBUG_SHELL:-}" ] && in_root "$DEBUG_SHELL"; fail "setup-build-deps.sh failed"; }
in_root 'dpkg-query -W -f "\${Status}" libclang-dev | grep -q "install ok installed"' \
  || fail "libclang-dev was not installed"
in_root '/src/scripts/setup-build-deps.sh --check' || fail "--check fails after the install"

echo "== build-deps: bindgen parses a header with the libclang it installed"
probe="$work/root/tmp/bindgen-probe"
mkdir -p "$probe/src"
bindgen_version="$(grep -A1 '^name = "bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p' | head -1)"
[ -n "$bindgen_version" ] || fail "no bindgen in Cargo.lock"
cat >"$probe/Cargo.toml" <<EOF
[package]
name = "bindgen-probe"
version = "0.0.0"
edition = "2021"
[dependencies]
bindgen = { version = "=$bindgen_version", default-features = false, features = ["runtime"] }
EOF
cp "$ROOT/Cargo.lock" "$probe/Cargo.lock"  # the versions this checkout builds with
cat >"$probe/src/main.rs" <<'EOF'
fn main() {
    let out = bindgen::Builder::default()
        .header_contents("probe.h", "#include <stddef.h>\n#include <stdint.h>\ntypedef struct { size_t n; uint64_t v; } probe_t;\nint probe_fn(probe_t *p);\n")
        .generate()
        .expect("bindgen could not run libclang");
    let text = out.to_string();
    assert!(text.contains("pub struct probe_t") && text.contains("pub fn probe_fn"), "{text}");
    println!("bindgen ok");
}
EOF
in_root "cd /tmp/bindgen-probe && CARGO_TARGET_DIR=/tmp/bindgen-probe/target cargo run --quiet --offline 2>&1 | tail -5" \
  | tee "$work/probe.out"
grep -q "bindgen ok" "$work/probe.out" || fail "bindgen did not run with the installed libclang"
[ -n "${DEBUG_SHELL:-}" ] && in_root "$DEBUG_SHELL"
echo "build-deps: 3 passed, 0 failed"
