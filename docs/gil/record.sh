#!/usr/bin/env bash
# The runs behind the README's "Without the GIL": Rust threads and the Python thread programs on every
# interpreter found (the PATH's python3, and CPython 3.13 free-threaded and with the GIL from
# `cargo xtask python install`), on three workloads, and the memory sweep of threads and tasks.
# Usage: docs/gil/record.sh   (from the workspace root; about 15 minutes on 2 CPUs)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo xtask python install
out=docs/gil
header() {
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
    echo "# cargo xtask $*"
}
run() {
    local name=$1
    shift
    local args=("$@" --export-json "$out/$name.json" --export-markdown "$out/$name.md")
    { header "${args[@]}"; cargo xtask "${args[@]}" 2>&1 | grep -v '^ *\(Finished\|Running\|Compiling\) '; } |
        sed "s|$PWD/||g" >"$out/$name.txt"
}
common=(--models threads,async --syncs racy,mutex --with-python --probe-pairs 0 --row-budget 0s)
run seed compare --preset seed "${common[@]}" --repeats 3 --warmup 0
run contended compare "${common[@]}" --workers 5 --increments 200000 --work none --repeats 5 --warmup 1
run inside compare "${common[@]}" --workers 5 --increments 100 --work sleep:1ms --window inside --repeats 5 --warmup 1
run sweep sweep --models threads,async --with-python
