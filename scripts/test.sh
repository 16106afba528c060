#!/usr/bin/env bash
# Runs everything CI checks: formatting, clippy (warnings are errors) and the
# whole test suite, including end-to-end tests that drive the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test

echo "== rustfmt" >&2
cargo fmt --all -- --check

echo "== clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== build" >&2
# The static in-sandbox init, and the example binaries the end-to-end tests
# run inside sandboxes (SPIFFE clients).
scripts/build-init.sh >/dev/null
cargo build --locked -p airlock -p airlock-sandbox --bins --examples

echo "== tests" >&2
cargo test --workspace --locked --no-fail-fast
