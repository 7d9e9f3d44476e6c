#!/usr/bin/env bash
# Installs what building TableSafe needs beyond the Rust toolchain: libclang for
# RocksDB's bindgen step. Idempotent; run as root (or with sudo available).
#
# The check asks for exactly what bindgen loads at build time (clang-sys with its
# `runtime` feature, crates/engine via rocksdb's `bindgen-runtime`):
#   - a shared library that clang-sys's search finds: in $LIBCLANG_PATH if set,
#     else under `llvm-config --prefix`, $LD_LIBRARY_PATH, $LIBRARY_PATH and
#     /usr/local/llvm*/lib*, /usr/local/lib*{,/*,/*/*}, /usr/lib*{,/*,/*/*}, named
#     libclang.so, libclang-*.so, libclang.so.* or libclang-*.so.*, but never a
#     `-cpp.` library: Debian's libclang-cpp.so.14 (on every fresh image) is the
#     C++ API, which clang-sys skips;
#   - that dlopen()s and exports clang_createIndex (what clang-sys calls first);
#   - and clang's builtin headers (stddef.h) beside it, which the bindgen parse of
#     rocksdb/c.h includes.
# Any one missing means `apt-get install libclang-dev`, which brings all three.
# `setup-build-deps.sh --check` only reports (exit 1 when something is missing).
set -euo pipefail

# Prints the libclang that bindgen would load, or nothing.
find_libclang() {
  python3 - <<'EOF'
import ctypes, glob, os, subprocess

names = ["libclang.so", "libclang-*.so", "libclang.so.*", "libclang-*.so.*"]

def candidates(directory):
    for name in names:
        for path in sorted(glob.glob(os.path.join(glob.escape(directory), name))):
            if "-cpp." not in os.path.basename(path):
                yield path

dirs = []
if os.environ.get("LIBCLANG_PATH"):
    p = os.environ["LIBCLANG_PATH"]
    dirs = [os.path.dirname(p)] if os.path.isfile(p) else [p]
else:
    try:
        prefix = subprocess.run(["llvm-config", "--prefix"], capture_output=True, text=True,
                                check=True).stdout.split("\n")[0]
        dirs += [os.path.join(prefix, d) for d in ("bin", "lib", "lib64")]
    except (OSError, subprocess.CalledProcessError):
        pass
    for var in ("LD_LIBRARY_PATH", "LIBRARY_PATH"):
        dirs += [d for d in os.environ.get(var, "").split(":") if d]
    for pattern in ["/usr/local/llvm*/lib*", "/usr/local/lib*/*/*", "/usr/local/lib*/*",
                    "/usr/local/lib*", "/usr/lib*/*/*", "/usr/lib*/*", "/usr/lib*"]:
        dirs += [d for d in sorted(glob.glob(pattern)) if os.path.isdir(d)]

for directory in dirs:
    for path in candidates(directory):
        try:
            lib = ctypes.CDLL(path)
            lib.clang_createIndex
        except (OSError, AttributeError):
            continue
        # libclang looks for its builtin headers in <lib>/clang/<version>/include, by the
        # path it was loaded from or (Debian) its LLVM's own lib directory.
        libdirs = {os.path.dirname(path), os.path.dirname(os.path.realpath(path))}
        libdirs.update(glob.glob("/usr/lib/llvm-*/lib"))
        if any(glob.glob(os.path.join(glob.escape(d), "clang", "*", "include", "stddef.h"))
               for d in libdirs):
            print(path)
            raise SystemExit(0)
EOF
}

found="$(find_libclang)"
if [ -n "$found" ]; then
  [ "${1:-}" = "--check" ] && echo "setup: libclang for bindgen: $found" >&2
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "setup: no libclang that bindgen can load (libclang-dev is not installed)" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "setup: installing libclang-dev (RocksDB's bindgen needs libclang and clang's headers)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang-dev >/dev/null
found="$(find_libclang)"
if [ -z "$found" ]; then
  echo "setup: libclang-dev is installed but bindgen still finds no libclang; set LIBCLANG_PATH" >&2
  exit 1
fi
echo "setup: libclang for bindgen: $found" >&2
