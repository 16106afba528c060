#!/usr/bin/env bash
# Installs what Airlock needs on a Debian machine that already has the Rust
# toolchain: system packages through apt, only where missing. Idempotent.
#
#   scripts/setup.sh          packages to build and run Airlock
#   scripts/setup.sh --test   also what the test suite drives (runtimes, clients)
set -euo pipefail

want=(ca-certificates curl openssl pkg-config gcc)
if [[ "${1:-}" == "--test" ]]; then
    want+=(asciinema bsdutils gnutls-bin git iproute2 nftables procps psmisc python3 runc runsc debootstrap sqlite3)
    # airlock-proxy: its tests drive curl, git (smart HTTP via git http-backend)
    # and the Python SDKs; its benchmark compares against squid with wrk.
    want+=(python3-pip wrk squid)
fi

missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq || true
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || {
    echo "setup: cargo not found; install the Rust toolchain (https://rustup.rs) first" >&2
    exit 1
}

# The tests drive the official OpenAI and Anthropic Python SDKs: airlock-proxy's
# with the python3 on PATH, the end-to-end suite inside sandboxes, whose
# `host` image sees the host's /usr, so with /usr/bin/python3 specifically
# (a python3 first on PATH may be another interpreter, e.g. pyenv's).
if [[ "${1:-}" == "--test" ]]; then
    for py in python3 /usr/bin/python3; do
        "$py" -c "import openai, anthropic" 2>/dev/null && continue
        echo "setup: installing the openai and anthropic Python SDKs for $py" >&2
        sudo=""
        [[ "$py" == /usr/bin/* && $(id -u) -ne 0 ]] && sudo="sudo"
        $sudo "$py" -m pip install --quiet openai anthropic 2>/dev/null ||
            $sudo "$py" -m pip install --quiet --break-system-packages openai anthropic
    done
fi

# airlock-proxy's tests run the claude CLI (npm) against the proxy.
if [[ "${1:-}" == "--test" ]] && ! command -v claude >/dev/null; then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    if ! command -v npm >/dev/null; then
        echo "setup: installing nodejs and npm" >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    echo "setup: installing the claude CLI (@anthropic-ai/claude-code)" >&2
    $sudo npm install -g --silent @anthropic-ai/claude-code >/dev/null
fi
