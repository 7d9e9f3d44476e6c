#!/usr/bin/env bash
# Installs what building TableSafe needs beyond the Rust toolchain: libclang for
# RocksDB's bindgen step. Idempotent; run as root (or with sudo available).
set -euo pipefail

have_libclang() {
  ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1
}

if have_libclang; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "setup: installing libclang-dev (RocksDB's bindgen needs it)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang-dev >/dev/null
have_libclang || { echo "setup: libclang still missing after apt-get" >&2; exit 1; }
