#!/usr/bin/env bash
# Records what the guide's chapter "Three servers" includes, into docs/mariadb/: the lost-update matrix of
# MariaDB (every strategy at each isolation level, and repeatable read with snapshot isolation on), 5 clients x
# 1000 increments with no work, each run on a private server of its own (matrix.txt); and one sweep of every
# model at 1, 10, 100 and 300 workers, the servers' memory per connection beside our workers' (sweep.txt).
# Usage: docs/mariadb/record.sh [RUNS]   (from the workspace root; builds the release binaries first)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
out=docs/mariadb
cargo build --release --quiet --workspace --bins
header() {
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
    echo "# $1"
}
bin=target/release/counter-mariadb
{
    header "$bin --workers 5 --increments 1000 --work none --sync S --isolation I [--snapshot-isolation on] --format json, $runs runs each"
    printf '%-11s %-26s %8s %8s %9s %10s %8s\n' strategy isolation final lost refused lock_waits wall_ms
    for setting in read-committed repeatable-read repeatable-read+snapshot serializable; do
        flags=(--isolation "${setting%+snapshot}")
        [[ $setting == *+snapshot ]] && flags+=(--snapshot-isolation on)
        for sync in racy mutex atomic sharded optimistic; do
            for _ in $(seq "$runs"); do
                "$bin" --workers 5 --increments 1000 --work none --sync "$sync" "${flags[@]}" --format json |
                    python3 -c '
import json, sys
r = json.load(sys.stdin)
f = r["extension"]["figures"]
print("%-11s %-26s %8d %8d %9d %10d %8.0f" % (sys.argv[1], sys.argv[2], r["final_value"], r["lost_updates"],
      f["refused"], f.get("lock_waits", 0), r["wall_time_s"] * 1000))' "$sync" "$setting"
            done
        done
    done
} >"$out/matrix.txt"
{
    header "cargo xtask sweep --workers 1,10,100,300"
    cargo xtask sweep --workers 1,10,100,300 2>&1 | grep -v '^ *\(Finished\|Running\|Compiling\) '
} | sed "s|$PWD/||g" >"$out/sweep.txt"
