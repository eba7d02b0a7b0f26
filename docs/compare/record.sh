#!/usr/bin/env bash
# Records the comparisons the README quotes, each into docs/compare/<name>.{txt,json,md}: what the command
# printed (into a pipe: 80 columns), with the command, the date and the commit on its first lines.
# Usage: docs/compare/record.sh [NAME...]   (from the workspace root; all of them by default, about 20 minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/compare
declare -A commands=(
    [default]="compare"
    [seed]="compare --preset seed --with-python --python python3 --syncs racy --repeats 3 --warmup 0 --probe-pairs 0"
    [python]="compare --with-python --python python3 --repeats 3 --warmup 0 --row-budget 0s --probe-pairs 0"
    [starts]="compare --starts fork,forkserver,spawn --with-python --python python3 --models processes --repeats 3 --warmup 0 --row-budget 0s"
    [redis]="compare --models redis"
    [answers]="compare"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(default seed python starts redis)
# Warms compare's own build (its packages, with their features as they are built together): the time each
# recording gives is then the comparison's, not a build's.
cargo xtask compare --syncs atomic --workers 1 --increments 1 --work none --repeats 1 --warmup 0 --probe-pairs 0 \
    --budget 1s >/dev/null 2>&1
for name in "${names[@]}"; do
    read -r -a args <<<"${commands[$name]:?unknown run $name}"
    args+=(--export-json "$out/$name.json" --export-markdown "$out/$name.md")
    {
        echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
        echo "# cargo xtask ${args[*]}"
        cargo xtask "${args[@]}" 2>&1 | grep -v '^ *\(Finished\|Running\|Compiling\) '
    } | sed "s|$PWD/||g" >"$out/$name.txt"
done
