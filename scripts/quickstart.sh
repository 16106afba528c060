#!/usr/bin/env bash
# Quick start: set up this machine, build Airlock, create a local cluster
# (embedded SQLite, local node) with a bootstrap admin, start the server,
# log in as that admin, and keep the server running in the foreground.
#
#   AIRLOCK_DEV_DIR   where the cluster lives (default: ./.airlock-dev)
#   AIRLOCK_LISTEN    listen address (default: 127.0.0.1:8443)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --bin airlock
bin="$PWD/target/release/airlock"

dev="${AIRLOCK_DEV_DIR:-$PWD/.airlock-dev}"
listen="${AIRLOCK_LISTEN:-127.0.0.1:8443}"
data="$dev/data"
export AIRLOCK_HOME="$dev/home"
mkdir -p "$dev"

if [[ ! -e "$data/state.db" ]]; then
    password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    umask 077
    echo "$password" > "$dev/admin-password"
    echo "$password" | "$bin" server init --data-dir "$data" --admin admin --password-stdin
fi

"$bin" server start --data-dir "$data" --listen "$listen" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do
    curl -skf "https://$listen/v1/health" >/dev/null && break
    sleep 0.1
done

fingerprint="$(sha256sum <(openssl x509 -in "$data/ca/ca.crt" -outform der) | cut -d' ' -f1)"
"$bin" login --server "https://$listen" --user admin --password-stdin \
    --ca-fingerprint "$fingerprint" < "$dev/admin-password"
"$bin" whoami

cat <<INFO

Airlock is running at https://$listen (Ctrl-C stops it).
  admin password:  $dev/admin-password
  try, in another shell:
    export AIRLOCK_HOME=$AIRLOCK_HOME
    $bin whoami
    $bin admin user add alice --roles developer
    $bin admin user ls
INFO
wait $server
