"""The seed program with multiprocessing.Process, one process per worker, the counter in a shared Value."""

import multiprocessing as mp
import queue
import time

import counterlib as lib

PROGRAM = "counter_multiprocessing.py"


def worker(args, value, lock, alive, go, results, cpu, index, parent, written, steps):
    lib.die_with_parent(parent)
    alive.release()
    go.wait()
    limit = lib.trace_limit(args)
    log = lib.StepLog(index, limit) if limit else None
    results[index] = lib.increment_shared_value(args, value, lock, log, written)
    cpu[2 * index], cpu[2 * index + 1] = lib.own_cpu()
    if log:
        steps.put(log.pair())


def main():
    args = lib.arguments(PROGRAM, "The seed with one multiprocessing.Process per worker.", ["racy", "mutex"],
                         start_method=True)
    context = mp.get_context(args.start_method)
    value = context.Value("Q", 0, lock=False)
    lock = context.Lock()
    alive = context.Semaphore(0)
    go = context.Event()
    results = context.Array("d", args.workers, lock=False)
    # --trace: each write under the trace's own lock (see lib.write_telling); each worker's steps sent back.
    written, steps = context.Lock(), context.Queue()
    cpu = context.Array("d", 2 * args.workers, lock=False)
    started = time.perf_counter()
    parent = lib.worker_parent(args.start_method)
    processes = [context.Process(target=worker,
                                 args=(args, value, lock, alive, go, results, cpu, i, parent, written, steps))
                 for i in range(args.workers)]
    for process in processes:
        process.start()
    for _ in processes:
        alive.acquire()
    start_time = time.perf_counter() - started
    memory = lib.memory_snapshot(f"all {args.workers} worker processes alive, before they started")
    lib.hold(PROGRAM, args, "processes", "worker pids", [p.pid for p in processes])
    cpu_before = lib.cpu_usage()
    begin = time.perf_counter()
    go.set()
    # Taken before the joins: a worker whose steps are still in the pipe would not end.
    try:
        logs = [steps.get(timeout=60) for _ in processes] if args.trace else None
    except queue.Empty:
        lib.fail(PROGRAM, "a worker sent no steps within 60 s (--trace): it died, or is stuck")
    for process in processes:
        process.join()
    wall = time.perf_counter() - begin
    failed = [p for p in processes if p.exitcode != 0]
    if failed:
        lib.fail(PROGRAM, f"worker pid {failed[0].pid} ended with exit code {failed[0].exitcode}")
    worker_results = [(args.increments, results[i]) for i in range(args.workers)]
    notes = ["the counter is a multiprocessing.Value in shared memory; mutex is a multiprocessing.Lock",
             f"started with {args.start_method} (multiprocessing.get_context)"]
    # A forkserver's children are reaped by the server: their CPU time is what they reported.
    unreaped = (sum(cpu[0::2]), sum(cpu[1::2])) if args.start_method == "forkserver" else None
    lib.finish(PROGRAM, args, "processes", lib.implementation("multiprocessing"), value.value, worker_results,
               wall, start_time, memory, cpu_before, notes, unreaped_cpu=unreaped, trace_logs=logs)


if __name__ == "__main__":
    main()
