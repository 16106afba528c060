#!/usr/bin/env bash
# Runs every Airlock benchmark (not a test: numbers, not pass/fail) and keeps
# each one's report under bench/results/. Needs root (sandboxes) and the
# peers the comparisons use (runc, runsc, squid, wrk: scripts/setup.sh --test).
#
#   bench/run.sh              all of them
#   bench/run.sh ca audit     only these (ca, audit, policy, proxy, sandbox)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build-init.sh >/dev/null

all=(ca audit policy proxy sandbox)
selected=("${@:-${all[@]}}")
mkdir -p bench/results
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
for b in "${selected[@]}"; do
    case "$b" in
        ca) cmd=(cargo bench -p airlock-ca) ;;
        audit) cmd=(cargo bench -p airlock-audit --bench audit) ;;
        policy) cmd=(cargo bench -p airlock-policy --bench decide) ;;
        proxy) cmd=(cargo bench -p airlock-control --bench proxy) ;;
        sandbox) cmd=(cargo bench -p airlock-sandbox --bench sandbox) ;;
        *) echo "unknown benchmark $b (use: ${all[*]})" >&2; exit 2 ;;
    esac
    out="bench/results/$b.txt"
    echo "== $b: ${cmd[*]}" >&2
    { echo "# $(date -u +%FT%TZ) on $machine"; echo "# ${cmd[*]}"; "${cmd[@]}" 2>&1; } | tee "$out"
done
