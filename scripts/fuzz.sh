#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that read untrusted bytes
# (crates/fuzz), with cargo-fuzz and libFuzzer.
#
#   scripts/fuzz.sh                  every target, 60 s each
#   scripts/fuzz.sh audit_store 600  one target, ten minutes
#   scripts/fuzz.sh --list           the targets
#
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs
# cargo-fuzz from crates.io when missing. The corpus grows in fuzz/corpus/
# (seeded from each target's real inputs); a crash lands in
# fuzz/artifacts/TARGET/ and this script exits non-zero. The test suite
# runs the same targets briefly on stable (cargo test -p airlock-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^airlock-fuzz-harness$')
if [[ "${1:-}" == "--list" ]]; then
    echo "$targets"
    exit 0
fi
if [[ $# -ge 1 ]]; then
    if ! grep -qx -- "$1" <<<"$targets"; then
        echo "fuzz: no target named '$1'; see scripts/fuzz.sh --list" >&2
        exit 2
    fi
    targets=$1
fi
seconds=${2:-60}
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: '$seconds' is not a number of seconds" >&2
    exit 2
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

cargo run -q -p airlock-fuzz --bin airlock-fuzz-seeds -- fuzz/corpus
for t in $targets; do
    echo "== $t (${seconds}s)" >&2
    (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -max_len=65536)
done
