#!/usr/bin/env bash
# Records what 1000 sleeping threads of ours cost next to 1000 plain sleeping threads (the example
# plain_sleeping_threads), interleaved round after round, into docs/calibrate/start-line.txt: CPU time (user +
# system) and voluntary context switches from wait4, per program and per round, with the command, the date and
# the commit on its first lines.
# Usage: docs/calibrate/start-line.sh [ROUNDS] [THREADS] [SLEEP_MS]   (from the workspace root; 12, 1000, 1000)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-12} threads=${2:-1000} sleep_ms=${3:-1000}
cargo build --release --quiet -p counter-threads --bin counter-threads
cargo build --release --quiet -p counter-core --example plain_sleeping_threads
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
    echo "# docs/calibrate/start-line.sh $rounds $threads $sleep_ms"
    python3 - "$rounds" "$threads" "$sleep_ms" <<'PY'
import os, statistics, subprocess, sys
rounds, threads, sleep_ms = (int(arg) for arg in sys.argv[1:4])
programs = {
    "ours": ["target/release/counter-threads", "--workers", str(threads), "--increments", "1",
             "--work", f"sleep:{sleep_ms}ms", "--format", "json"],
    "plain": ["target/release/examples/plain_sleeping_threads", str(threads), str(sleep_ms)],
}
runs = {name: [] for name in programs}
for round_ in range(rounds):
    order = list(programs) if round_ % 2 == 0 else list(reversed(programs))
    for name in order:
        # Written to /dev/null opened write-only, as a shell's > does (a read-write one reads as a closed stdout).
        with open(os.devnull, "w") as sink:
            child = subprocess.Popen(programs[name], stdout=sink, stderr=sink)
            _, status, usage = os.wait4(child.pid, 0)
        if status != 0:
            sys.exit(f"{name} failed: {status}")
        runs[name].append((usage.ru_utime + usage.ru_stime, usage.ru_nvcsw))
print(f"{threads} threads sleeping {sleep_ms} ms once, {rounds} rounds, interleaved")
for name, measured in runs.items():
    cpu = [c for c, _ in measured]
    switches = [s for _, s in measured]
    print(f"{name:6} CPU median {statistics.median(cpu):.3f} s ({min(cpu):.3f} to {max(cpu):.3f}); "
          f"voluntary switches median {statistics.median(switches):.0f} ({min(switches)} to {max(switches)})")
ratios = sorted(o[0] / p[0] for o, p in zip(runs["ours"], runs["plain"]))
print(f"ours / plain CPU, per round: median {statistics.median(ratios):.2f}, {ratios[0]:.2f} to {ratios[-1]:.2f}")
PY
} >docs/calibrate/start-line.txt
cat docs/calibrate/start-line.txt
