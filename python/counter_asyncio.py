"""The seed program with asyncio, one task per worker: the seed's asyncio alternative."""

import asyncio
import time

import counterlib as lib

PROGRAM = "counter_asyncio.py"


async def work(spec):
    kind, seconds, _ = spec
    if kind == "sleep":
        await asyncio.sleep(seconds)
    elif kind == "yield":
        await asyncio.sleep(0)
    elif kind == "spin":
        lib.do_work(spec)


async def run(args):
    value = [0]
    cell = lib.ListCell(value)
    lock = asyncio.Lock()
    limit = lib.trace_limit(args)
    # --trace: each task's steps; one thread, so a write and the reading of what it overwrote are one step.
    logs = [lib.StepLog(index, limit) for index in range(args.workers)] if limit else []
    alive = [0]
    go = asyncio.Event()
    results = [None] * args.workers

    async def worker(index):
        alive[0] += 1
        await go.wait()
        start = time.perf_counter()
        for _ in range(args.increments):
            if args.window == "before":
                await work(args.work)
            if args.sync == "mutex":
                await lock.acquire()
            if limit:
                read = value[0]
                read_ns = time.monotonic_ns()
                if args.window == "inside":
                    await work(args.work)
                logs[index].record(read + 1, *lib.write_telling(cell, read, None), read_ns)
            elif args.window == "inside":
                read = value[0]
                await work(args.work)
                value[0] = read + 1
            else:
                value[0] += 1
            if args.sync == "mutex":
                lock.release()
        results[index] = (args.increments, time.perf_counter() - start)

    started = time.perf_counter()
    tasks = [asyncio.create_task(worker(i)) for i in range(args.workers)]
    while alive[0] < args.workers:
        await asyncio.sleep(0.001)
    start_time = time.perf_counter() - started
    memory = lib.memory_snapshot(f"all {args.workers} tasks alive, before they started")
    lib.hold(PROGRAM, args, "tasks", "tasks have no OS id; thread ids", [])
    cpu_before = lib.cpu_usage()
    begin = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - begin
    notes = ["one event loop thread: a task can only be interrupted at an await"]
    lib.finish(PROGRAM, args, "async", lib.implementation("asyncio"), value[0], results, wall, start_time, memory,
               cpu_before, notes, trace_logs=[log.pair() for log in logs] if limit else None)


def main():
    args = lib.arguments(PROGRAM, "The seed with one asyncio task per worker.", ["racy", "mutex"])
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
