"""The seed program with threading.Thread, one thread per worker, and the same flags and report as counter-threads."""

import os
import threading
import time

import counterlib as lib

PROGRAM = "counter_threading.py"


def main():
    args = lib.arguments(PROGRAM, "The seed with one threading.Thread per worker.", ["racy", "mutex"])
    limit = lib.trace_limit(args)
    # --trace: each worker's steps, each write under the trace's own lock (see lib.write_telling).
    logs = [lib.StepLog(index, limit) for index in range(args.workers)] if limit else []
    written = threading.Lock()
    value = [0]
    cell = lib.ListCell(value)
    lock = threading.Lock()
    alive = threading.Barrier(args.workers + 1)
    go = threading.Event()
    results = [None] * args.workers
    tids = [0] * args.workers

    def increment(index):
        if args.sync == "mutex":
            with lock:
                update_traced(index) if limit else update()
        else:
            update_traced(index) if limit else update()

    def update():
        # The increment is written inline, as in the seed: a function call between the read and the write would
        # be a GIL check point and change what is measured. That is why the programs do not share this code.
        if args.window == "inside":
            read = value[0]
            lib.do_work(args.work)
            value[0] = read + 1
        else:
            value[0] += 1

    def update_traced(index):
        read = value[0]
        read_ns = time.monotonic_ns()
        if args.window == "inside":
            lib.do_work(args.work)
        logs[index].record(read + 1, *lib.write_telling(cell, read, written), read_ns)

    def worker(index):
        tids[index] = threading.get_native_id()
        alive.wait()
        go.wait()
        start = time.perf_counter()
        for _ in range(args.increments):
            if args.window == "before":
                lib.do_work(args.work)
            increment(index)
        results[index] = (args.increments, time.perf_counter() - start)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,), name=f"worker-{i}") for i in range(args.workers)]
    for thread in threads:
        thread.start()
    alive.wait()
    start_time = time.perf_counter() - started
    memory = lib.memory_snapshot(f"all {args.workers} threads alive, before they started")
    lib.hold(PROGRAM, args, "threads", "worker tids", tids)
    cpu_before = lib.cpu_usage()
    begin = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - begin
    notes = [lib.threads_note()]
    lib.finish(PROGRAM, args, "threads", lib.implementation("threading"), value[0], results, wall, start_time,
               memory, cpu_before, notes, trace_logs=[log.pair() for log in logs] if limit else None)


if __name__ == "__main__":
    main()
