#!/usr/bin/env bash
# Builds airlock-init (PID 1 of every sandbox) as a static binary and prints
# its absolute path on stdout (build output goes to stderr).
#
# Static because it runs inside images that may have no libc or another one.
# There is no musl target on our machines, so it is glibc linked statically
# (`+crt-static` on the gnu target). An explicit --target keeps these
# RUSTFLAGS from invalidating the ordinary (dynamic) builds in target/.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --profile init -p airlock-init --target "$target" >&2

bin="${CARGO_TARGET_DIR:-$PWD/target}/$target/init/airlock-init"
# A dynamic binary would fail inside images without a compatible libc: refuse it.
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "build-init: $bin is dynamically linked" >&2
    exit 1
fi
echo "$bin"
