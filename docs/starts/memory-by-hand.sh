#!/bin/bash
# Memory and start time of the process tree at 1, 100 and 1000 workers, one run each, for every start method:
# Python's multiprocessing program, then counter-processes (built first: cargo build --release).
# Columns: method, workers, processes in the tree, summed RSS, PSS, USS (KiB), start time (s).
# memory-by-hand.txt is this script's output on the machine in docs/compare/README.md.
cd "$(dirname "$0")/../../python" || exit 1
for m in fork forkserver spawn; do
  for n in 1 100 1000; do
    python3 counter_multiprocessing.py --workers $n --increments 1 --work none --start-method $m --format json | python3 -c "
import json,sys; r=json.load(sys.stdin); m=r['memory']; print('$m', $n, m['processes'], m['rss_kib'], m['pss_kib'], m['uss_kib'], r['start_time_s'])"
  done
done
for m in fork forkserver spawn; do
  for n in 1 100 1000; do
    ../target/release/counter-processes --workers $n --increments 1 --work none --sync atomic --start $m --format json | python3 -c "
import json,sys; r=json.load(sys.stdin); m=r['memory']; print('rust $m', $n, m['processes'], m['rss_kib'], m['pss_kib'], m['uss_kib'], r['start_time_s'])"
  done
done
