#!/usr/bin/env bash
# Records what blocks a tokio runtime: 5 tasks x 100 increments of 10 ms of work (ideal 1 s), with the work
# awaited (sleep:), blocking the thread (block:) or spinning (spin:), on a current-thread runtime and on a
# multi-thread one of 2 threads; the wall time of one run each, as a Markdown table the guide includes.
# Usage: docs/async/record.sh   (from the workspace root; about 20 s after the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p counter-async
wall() {
    target/release/counter-async --workers 5 --increments 100 --work "$1" "${@:2}" --format json |
        python3 -c 'import json, sys; print("%.3f s" % json.load(sys.stdin)["wall_time_s"])'
}
{
    echo "| \`--work\` | current-thread | multi-thread, 2 threads |"
    echo "|---|---|---|"
    for work in sleep:10ms block:10ms spin:10ms; do
        echo "| \`$work\` | $(wall "$work") | $(wall "$work" --flavor multi-thread --threads 2) |"
    done
    echo
    echo "*Recorded $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)): \`docs/async/record.sh\`.*"
} >docs/async/blocking.md
