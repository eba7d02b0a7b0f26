#!/usr/bin/env bash
# The lost-update matrix: every strategy at every isolation level, 5 clients x 1000 increments with no work (the
# contended case), each run on a private cluster of its own. Prints one line per run from its JSON report.
# Usage: docs/postgres/matrix.sh [RUNS]   (from the workspace root; builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
cargo build --release --quiet -p counter-postgres
bin=target/release/counter-postgres
echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
echo "# $bin --workers 5 --increments 1000 --work none --sync S --isolation I --format json, $runs runs each"
printf '%-11s %-16s %8s %8s %9s %10s %8s\n' strategy isolation final lost refused lock_waits wall_ms
for isolation in read-committed repeatable-read serializable; do
    for sync in racy mutex atomic sharded optimistic; do
        for _ in $(seq "$runs"); do
            "$bin" --workers 5 --increments 1000 --work none --sync "$sync" --isolation "$isolation" --format json |
                python3 -c '
import json, sys
r = json.load(sys.stdin)
f = r["extension"]["figures"]
print("%-11s %-16s %8d %8d %9d %10d %8.0f" % (sys.argv[1], sys.argv[2], r["final_value"], r["lost_updates"],
      f["serialization_failures"], f.get("lock_waits", 0), r["wall_time_s"] * 1000))' "$sync" "$isolation"
        done
    done
done
