#!/usr/bin/env bash
# Records what the guide's chapter "Seeing the lost update" includes, into docs/trace/: one traced run of every
# model that is installed here, the racy read-then-write with a 1 ms sleep between the read and the write
# (collisions.txt: the trace's lines of each report); and what looking costs (cost.txt): the same runs with and
# without --trace, interleaved, RUNS rounds, the wall time per increment and the updates lost, for the tight
# loop (2 workers x 1,000,000 increments, no work) of the in-memory models and the seed-like io-like workload
# (5 workers x 30 increments, sleep:1ms before each) of every model.
# Usage: docs/trace/record.sh [RUNS]   (from the workspace root; builds the release binaries first)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-7}
out=docs/trace
cargo build --release --quiet --workspace --bins
header() {
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
    echo "# $1"
}
models=(counter-threads counter-processes counter-async)
for server in counter-redis counter-postgres counter-mariadb; do
    # A server model whose server is not installed says so and exits 2: it is left out, and the file says so.
    if target/release/$server --workers 1 --increments 1 --work none >/dev/null 2>&1; then
        models+=("$server")
    fi
done
{
    header "BIN --workers 5 --increments 20 --work sleep:1ms --window inside --trace (the trace's lines of the report)"
    for bin in "${models[@]}"; do
        echo
        echo "\$ $bin --workers 5 --increments 20 --work sleep:1ms --window inside --trace"
        target/release/$bin --workers 5 --increments 20 --work sleep:1ms --window inside --trace |
            sed -n '/^lost updates:/p; /^trace:/,/^strategy:/p' | grep -v '^strategy:'
    done
    # The Python reference program on threads, on each interpreter here: python3 and those `cargo xtask python
    # install` built (the free-threaded python3.13t among them).
    pythons=(python3)
    for built in target/python/*/.built; do
        [ -f "$built" ] && pythons+=("$(dirname "$built")/bin/$(cat "$built")")
    done
    for python in "${pythons[@]}"; do
        echo
        echo "\$ $(basename "$python") python/counter_threading.py --workers 5 --increments 20 --work sleep:1ms --window inside --trace"
        "$python" python/counter_threading.py --workers 5 --increments 20 --work sleep:1ms --window inside --trace |
            sed -n '/^lost updates:/p; /^trace:/,/^implementation:/p' | grep -v '^implementation:'
    done
} >"$out/collisions.txt"
{
    header "BIN FLAGS [--trace] --format json, interleaved, $runs rounds: median (min … max)"
    python3 - "$runs" "${models[@]}" <<'EOF'
import json, subprocess, sys

runs, models = int(sys.argv[1]), sys.argv[2:]
# Each workload: its flags, what --trace adds (every step kept), and the models it runs.
workloads = [
    ("tight loop", ["--workers", "2", "--increments", "1000000", "--work", "none"],
     ["--trace", "--trace-limit", "1000000"], ["counter-threads", "counter-processes", "counter-async"]),
    ("io-like", ["--workers", "5", "--increments", "30", "--work", "sleep:1ms"], ["--trace"], models),
]

def run(bin, flags, trace_flags):
    args = ["target/release/" + bin] + flags + trace_flags + ["--format", "json"]
    report = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    done = report["worker_summary"]["increments_done"]
    return report["wall_time_s"] * 1e9 / max(done / report["config"]["workers"], 1), report["lost_percent"]

def span(values, time):
    values = sorted(values)
    show = duration if time else percent
    return "%s (%s … %s)" % (show(values[len(values) // 2]), show(values[0]), show(values[-1]))

def duration(ns):
    return "%.1f ns" % ns if ns < 1e3 else "%.1f us" % (ns / 1e3) if ns < 1e6 else "%.3f ms" % (ns / 1e6)

def percent(x):
    return "%.1f" % x

print("%-12s %-18s %-30s %-30s %-22s %s" % ("workload", "model", "per increment", "with --trace",
                                             "lost %", "with --trace"))
for name, flags, trace_flags, bins in workloads:
    for bin in [b for b in bins if b in models]:
        plain, traced = [], []
        for _ in range(runs):
            plain.append(run(bin, flags, []))
            traced.append(run(bin, flags, trace_flags))
        print("%-12s %-18s %-30s %-30s %-22s %s" % (
            name, bin, span([p[0] for p in plain], True), span([t[0] for t in traced], True),
            span([p[1] for p in plain], False), span([t[1] for t in traced], False)))
EOF
} >"$out/cost.txt"
