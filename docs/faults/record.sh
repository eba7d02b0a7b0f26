#!/usr/bin/env bash
# Records the faults run the README quotes into docs/faults/faults.{txt,json,md}: what the command printed (into
# a pipe: 80 columns), with the command, the date, the commit and the machine on its first lines.
# Usage: docs/faults/record.sh [RUNS] [SEED]   (from the workspace root; about 3 minutes with 10 runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-10}
seed=${2:-20261130}
out=docs/faults
args=(faults --runs "$runs" --seed "$seed" --export-json "$out/faults.json" --export-markdown "$out/faults.md")
cargo build --release --quiet -p counter-redis
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
    echo "# cargo xtask ${args[*]}"
    cargo xtask "${args[@]}" 2>&1 | grep -v '^ *\(Finished\|Running\|Compiling\) \|^faults: '
} | sed "s|$PWD/||g" >"$out/faults.txt"
