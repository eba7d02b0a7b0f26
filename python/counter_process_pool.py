"""The seed program on a concurrent.futures.ProcessPoolExecutor: the seed's pool alternative, with processes.

Each worker's loop is one submitted job; --pool sets max_workers (default: one process per worker). The counter
is a multiprocessing.Value, handed to each pool process when it starts (a shared Value cannot travel with a
job), as are the lock and the start signals.
"""

import os
import time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp

import counterlib as lib

PROGRAM = "counter_process_pool.py"

# Set in each pool process by `initialize`.
shared = {}


def initialize(value, lock, alive, go, parent, written):
    lib.die_with_parent(parent)
    shared.update(value=value, lock=lock, alive=alive, go=go, written=written)


def warm_up():
    # Keeps this pool process busy until every one exists, so that the memory is taken with the pool full.
    shared["alive"].release()
    shared["go"].wait()


def worker(args, index):
    limit = lib.trace_limit(args)
    log = lib.StepLog(index, limit) if limit else None
    elapsed = lib.increment_shared_value(args, shared["value"], shared["lock"], log, shared["written"])
    # The pool process's own CPU time so far, which grows with each job it runs: the last job's is its total.
    return (args.increments, elapsed, os.getpid(), lib.own_cpu(), log.pair() if log else None)


def main():
    args = lib.arguments(PROGRAM, "The seed on a ProcessPoolExecutor.", ["racy", "mutex"], pool=True,
                         start_method=True)
    size = args.pool or args.workers
    context = mp.get_context(args.start_method)
    value = context.Value("Q", 0, lock=False)
    lock = context.Lock()
    alive = context.Semaphore(0)
    go = context.Event()
    started = time.perf_counter()
    # --trace: each write under the trace's own lock (see lib.write_telling).
    initargs = (value, lock, alive, go, lib.worker_parent(args.start_method), context.Lock())
    with ProcessPoolExecutor(max_workers=size, mp_context=context, initializer=initialize,
                             initargs=initargs) as pool:
        warm = [pool.submit(warm_up) for _ in range(size)]
        for _ in range(size):
            alive.acquire()
        start_time = time.perf_counter() - started
        memory = lib.memory_snapshot(f"all {size} pool processes alive, before they started")
        lib.hold(PROGRAM, args, "processes", "pool size", [size])
        cpu_before = lib.cpu_usage()
        begin = time.perf_counter()
        go.set()
        for future in warm:
            future.result()
        futures = [pool.submit(worker, args, index) for index in range(args.workers)]
        finished = [future.result() for future in futures]
        wall = time.perf_counter() - begin
    results = [(increments, seconds) for increments, seconds, _, _, _ in finished]
    per_process = {}
    for _, _, pid, (user, system), _ in finished:
        previous = per_process.get(pid, (0.0, 0.0))
        per_process[pid] = (max(previous[0], user), max(previous[1], system))
    # A forkserver's children are reaped by the server: their CPU time is what they reported.
    unreaped = None
    if args.start_method == "forkserver":
        unreaped = (sum(u for u, _ in per_process.values()), sum(s for _, s in per_process.values()))
    notes = [f"a ProcessPoolExecutor(max_workers={size}) ran {args.workers} jobs, one per worker; the counter is "
             "a multiprocessing.Value handed to each pool process when it starts",
             f"started with {args.start_method} (multiprocessing.get_context)"]
    lib.finish(PROGRAM, args, "processes", lib.implementation("concurrent.futures"), value.value, results, wall,
               start_time, memory, cpu_before, notes, pool={"size": size, "jobs": "worker"}, unreaped_cpu=unreaped,
               trace_logs=[log for *_, log in finished] if args.trace else None)


if __name__ == "__main__":
    main()
