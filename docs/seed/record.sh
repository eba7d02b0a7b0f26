#!/usr/bin/env bash
# Records the seed program in Rust (5 threads x 1000 increments after 10 ms of sleep, no lock), as the README
# shows it: the command, the date, the commit and the machine on the first lines, then what it printed.
# Usage: docs/seed/record.sh   (from the workspace root; about 10 s after the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p counter-threads
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
    echo "# target/release/counter-threads"
    target/release/counter-threads
} >docs/seed/threads.txt
