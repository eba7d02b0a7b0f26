"""The seed program on a concurrent.futures.ThreadPoolExecutor: the seed's pool alternative.

Each worker's loop is one submitted job; --pool sets max_workers (default: one thread per worker).
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import counterlib as lib

PROGRAM = "counter_futures.py"


def main():
    args = lib.arguments(PROGRAM, "The seed on a ThreadPoolExecutor.", ["racy", "mutex"], pool=True)
    size = args.pool or args.workers
    value = [0]
    cell = lib.ListCell(value)
    lock = threading.Lock()
    limit = lib.trace_limit(args)
    # --trace: each job's steps, each write under the trace's own lock (see lib.write_telling).
    logs = [lib.StepLog(index, limit) for index in range(args.workers)] if limit else []
    written = threading.Lock()
    alive = threading.Barrier(size + 1)
    go = threading.Event()

    def warm_up():
        # Starts every pool thread and keeps it until all exist, so that the memory is taken with the pool full.
        alive.wait()
        go.wait()

    def worker(index):
        start = time.perf_counter()
        for _ in range(args.increments):
            if args.window == "before":
                lib.do_work(args.work)
            if args.sync == "mutex":
                lock.acquire()
            if limit:
                read = value[0]
                read_ns = time.monotonic_ns()
                if args.window == "inside":
                    lib.do_work(args.work)
                logs[index].record(read + 1, *lib.write_telling(cell, read, written), read_ns)
            elif args.window == "inside":
                read = value[0]
                lib.do_work(args.work)
                value[0] = read + 1
            else:
                value[0] += 1
            if args.sync == "mutex":
                lock.release()
        return (args.increments, time.perf_counter() - start)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=size) as pool:
        warm = [pool.submit(warm_up) for _ in range(size)]
        alive.wait()
        start_time = time.perf_counter() - started
        memory = lib.memory_snapshot(f"all {size} pool threads alive, before they started")
        lib.hold(PROGRAM, args, "threads", "pool size", [size])
        cpu_before = lib.cpu_usage()
        begin = time.perf_counter()
        go.set()
        for future in warm:
            future.result()
        futures = [pool.submit(worker, index) for index in range(args.workers)]
        results = [future.result() for future in futures]
        wall = time.perf_counter() - begin
    notes = [f"a ThreadPoolExecutor(max_workers={size}) ran {args.workers} jobs, one per worker", lib.threads_note()]
    lib.finish(PROGRAM, args, "threads", lib.implementation("concurrent.futures"), value[0], results, wall,
               start_time, memory, cpu_before, notes, pool={"size": size, "jobs": "worker"},
               trace_logs=[log.pair() for log in logs] if limit else None)


if __name__ == "__main__":
    main()
