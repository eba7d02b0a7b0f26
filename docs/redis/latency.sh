#!/usr/bin/env bash
# A Redis round trip, three ways, on one private server (a Unix socket, no network): counter-redis with one client
# back to back (steady state), with five clients back to back, and with five clients that sleep 1 ms before each
# increment (they wake together, as the seed's workers do); and redis-benchmark's INCR with one client, for
# reference. Prints each run's median and p99 from counter-redis's JSON report, and redis-benchmark's percentiles.
# Usage: docs/redis/latency.sh [RUNS]   (from the workspace root; builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
cargo build --release --quiet -p counter-redis
bin=target/release/counter-redis
dir=$(mktemp -d)
redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 --save '' --appendonly no \
    --dir "$dir" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [ -S "$dir/redis.sock" ] && break; sleep 0.1; done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r), $(redis-server --version | cut -d' ' -f3)"
printf '%-38s %10s %10s\n' case median_us p99_us
one() {
    local name=$1
    shift
    for _ in $(seq "$runs"); do
        "$bin" --redis "unix://$dir/redis.sock" --sync atomic --format json "$@" | python3 -c '
import json, sys
f = json.load(sys.stdin)["extension"]["figures"]
print("%-38s %10.1f %10.1f" % (sys.argv[1], f["latency_median_us"], f["latency_p99_us"]))' "$name"
    done
}
one "1 client, back to back" --workers 1 --increments 20000 --work none
one "5 clients, back to back" --workers 5 --increments 4000 --work none
one "5 clients, sleep:1ms before each" --workers 5 --increments 200 --work sleep:1ms
for _ in $(seq "$runs"); do
    echo "# redis-benchmark -s SOCKET -c 1 -n 20000 -t incr --csv"
    redis-benchmark -s "$dir/redis.sock" -c 1 -n 20000 -t incr --csv
done
