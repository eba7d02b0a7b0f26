"""What the Python reference programs share: flags, work, /proc memory figures, --hold and the JSON report.

The programs run the seed's workload with CPython's own tools (threading, multiprocessing, asyncio,
concurrent.futures) and print the same report as the Rust binaries (`--format json`), so that
`cargo xtask compare --with-python` and `cargo xtask sweep --with-python` measure them the same way.
"""

import argparse
import json
import os
import platform
import re
import resource
import select
import sys
import time

READY_PREFIX = "holding:"
UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
WORK_ALLOWED = "none, yield, sleep:<duration>, spin:<duration>"


def die_with_parent(parent_pid):
    """In a worker process: be killed when the parent dies, even by `kill -9`, as the Rust workers are.

    Linux's PR_SET_PDEATHSIG through the C library; then close the race with a parent that died before the call.
    `parent_pid` is None when the parent is not the main program (a forkserver's child, whose server ends when
    the main program does): then only a parent already gone (re-parented to init) ends the worker.
    """
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if (parent_pid is not None and os.getppid() != parent_pid) or os.getppid() == 1:
        os._exit(3)


START_METHODS = ["fork", "forkserver", "spawn"]


def worker_parent(start_method):
    """The pid a worker's parent must have: this process, unless a forkserver forks the workers."""
    return None if start_method == "forkserver" else os.getpid()


def fail(program, message):
    """Bad input: one line naming the bad value and what is allowed, exit 2 (as the Rust binaries)."""
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_count(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1 or value > 2**64 - 1 or not text.strip().isdigit():
            raise argparse.ArgumentTypeError(f"invalid {name} '{text}': it must be a whole number from 1 to {2**64 - 1}")
        return value
    return parse


def parse_duration(text):
    match = re.fullmatch(r"(\d+)([a-z]+)", text)
    if not match or match.group(2) not in UNITS:
        raise argparse.ArgumentTypeError(f"invalid duration '{text}' (allowed: a whole number and one of ns, us, ms, s, m, h)")
    return int(match.group(1)) * UNITS[match.group(2)]


def parse_work(text):
    kind, _, argument = text.partition(":")
    if kind in ("none", "yield") and not argument:
        return (kind, 0.0, text)
    if kind in ("sleep", "spin") and argument:
        return (kind, parse_duration(argument), text)
    raise argparse.ArgumentTypeError(f"invalid work '{text}' (allowed: {WORK_ALLOWED})")


def parse_hold(text):
    if text == "stdin":
        return "stdin"
    if text.isdigit():
        return float(text)
    return parse_duration(text)


def arguments(program, description, syncs, pool=False, start_method=False):
    """The shared flags; `syncs` lists the strategies this program can run; `start_method` adds
    --start-method, for the programs that start processes."""
    parser = argparse.ArgumentParser(prog=program, description=description)
    parser.add_argument("--workers", type=parse_count("workers"), default=5)
    parser.add_argument("--increments", type=parse_count("increments"), default=1000)
    parser.add_argument("--work", type=parse_work, default=parse_work("sleep:10ms"))
    parser.add_argument("--window", choices=["before", "inside"], default="before")
    parser.add_argument("--sync", choices=syncs, default="racy")
    parser.add_argument("--timer", choices=["relative"], default="relative",
                        help="sleeps are relative, as the seed's time.sleep")
    parser.add_argument("--hold", type=parse_hold)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    if pool:
        parser.add_argument("--pool", type=parse_count("pool"), default=None,
                            help="pool size (max_workers); default one per worker")
    if start_method:
        parser.add_argument("--start-method", choices=START_METHODS, default="fork",
                            help="how multiprocessing starts each process (multiprocessing.get_context)")
    parser.add_argument("--trace", action="store_true",
                        help="record each increment and attribute every lost update (collision or rollback)")
    parser.add_argument("--trace-limit", type=parse_count("trace-limit"), default=None,
                        help="with --trace: the most steps each worker keeps (default 100000)")
    args = parser.parse_args()
    if args.trace_limit is not None and not args.trace:
        parser.error("the argument --trace-limit requires --trace")
    if args.workers * args.increments > 2**64 - 1:
        fail(program, f"{args.workers} workers x {args.increments} increments overflows the 64-bit counter")
    return args


def do_work(work):
    """The blocking work of one increment."""
    kind, seconds, _ = work
    if kind == "sleep":
        time.sleep(seconds)
    elif kind == "yield":
        time.sleep(0)
    elif kind == "spin":
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass


def increment_shared_value(args, value, lock, log=None, written=None):
    """One process worker's loop on a shared `multiprocessing.Value`: the work, and the increment (under `lock`
    with the mutex strategy), `args.increments` times. Returns the seconds it took. With --trace, each increment
    goes into `log`, its write under `written` (see `write_telling`)."""
    start = time.perf_counter()
    cell = ValueCell(value)
    for _ in range(args.increments):
        if args.window == "before":
            do_work(args.work)
        if args.sync == "mutex":
            lock.acquire()
        if log is not None:
            read = value.value
            read_ns = time.monotonic_ns()
            if args.window == "inside":
                do_work(args.work)
            log.record(read + 1, *write_telling(cell, read, written), read_ns)
        elif args.window == "inside":
            read = value.value
            do_work(args.work)
            value.value = read + 1
        else:
            value.value += 1
        if args.sync == "mutex":
            lock.release()
    return time.perf_counter() - start


# --- /proc: the same figures as the Rust probe (smaps_rollup and status) ---

def _kib(text, key):
    match = re.search(rf"^{key}:\s+(\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def process_memory(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        rollup = f.read()
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    return {
        "pid": pid,
        "rss_kib": _kib(rollup, "Rss"),
        "pss_kib": _kib(rollup, "Pss"),
        "uss_kib": _kib(rollup, "Private_Clean") + _kib(rollup, "Private_Dirty"),
        "swap_kib": _kib(rollup, "Swap"),
        "peak_rss_kib": _kib(status, "VmHWM"),
        "threads": _kib(status, "Threads"),
    }


def process_tree(root):
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
                parents[int(name)] = int(stat[stat.rfind(")") + 2:].split()[1])
            except OSError:
                pass
    tree, i = [root], 0
    while i < len(tree):
        tree.extend(child for child, parent in parents.items() if parent == tree[i])
        i += 1
    return tree


def memory_snapshot(taken):
    per_process = []
    for pid in process_tree(os.getpid()):
        try:
            per_process.append(process_memory(pid))
        except OSError:
            pass
    total = lambda key: sum(p[key] for p in per_process)
    return {
        "taken": taken,
        "processes": len(per_process),
        "threads": total("threads"),
        "rss_kib": total("rss_kib"),
        "pss_kib": total("pss_kib"),
        "uss_kib": total("uss_kib"),
        "swap_kib": total("swap_kib"),
        "per_process": per_process if len(per_process) <= 1000 else [],
    }


def cpu_usage():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "user_s": own.ru_utime + children.ru_utime,
        "sys_s": own.ru_stime + children.ru_stime,
        "voluntary_switches": own.ru_nvcsw + children.ru_nvcsw,
        "involuntary_switches": own.ru_nivcsw + children.ru_nivcsw,
    }


def own_cpu():
    """This process's own CPU time (user, system), for a worker whose parent is not the main program: a
    forkserver's children are reaped by the server, so their time never reaches the main program's
    RUSAGE_CHILDREN, and they report it themselves."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime, own.ru_stime


def hold(program, args, model_noun, ids_label, ids):
    """--hold: announce, then wait (a duration, or a line on stdin)."""
    if args.hold is None:
        return
    until = "until a line arrives on stdin" if args.hold == "stdin" else f"for {args.hold}s"
    shown = " ".join(str(i) for i in ids[:32]) + (f" ... and {len(ids) - 32} more" if len(ids) > 32 else "")
    print(f"{READY_PREFIX} {program} pid {os.getpid()}: {args.workers} worker {model_noun} alive, "
          f"waiting to start {until}; {ids_label}: {shown}", file=sys.stderr, flush=True)
    if args.hold == "stdin":
        select.select([sys.stdin], [], [])
        sys.stdin.readline()
    else:
        time.sleep(args.hold)


# --- --trace: the steps, and every lost update attributed, as counter_core::trace does it ---

TRACE_LIMIT = 100_000
LOSSES_KEPT = 50


def trace_limit(args):
    """The most steps each worker keeps, when the run is traced; None otherwise."""
    if not args.trace:
        return None
    return args.trace_limit or TRACE_LIMIT


class StepLog:
    """One worker's steps (worker, wrote, overwrote, read_ns, wrote_ns), up to its limit; those past it are
    counted, not kept. `record` takes what `write_telling` answers as it comes: (wrote, overwrote, wrote_ns,
    read_ns)."""

    def __init__(self, worker, limit):
        self.worker, self.limit, self.steps, self.not_kept = worker, limit, [], 0

    def record(self, wrote, overwrote, wrote_ns, read_ns):
        if len(self.steps) < self.limit:
            self.steps.append((self.worker, wrote, overwrote, read_ns, wrote_ns))
        else:
            self.not_kept += 1

    def pair(self):
        """What `attribute` takes of it."""
        return (self.steps, self.not_kept)


class ListCell:
    """A counter kept as a list's one item."""

    def __init__(self, items):
        self.items = items

    def swap(self, new):
        old, self.items[0] = self.items[0], new
        return old


class ValueCell:
    """A counter kept in a `multiprocessing.Value`."""

    def __init__(self, value):
        self.value = value

    def swap(self, new):
        old, self.value.value = self.value.value, new
        return old


def write_telling(cell, read, lock):
    """--trace: writes `read + 1` into `cell`, telling what the write overwrote and when it happened. Under
    `lock` (the trace's own; None where nothing else runs between two awaits) the write and the reading of what
    it overwrote are one step, so the loss at each write is exact; the read stays outside it, and with it the
    race."""
    if lock is None:
        return cell.swap(read + 1), time.monotonic_ns()
    with lock:
        return cell.swap(read + 1), time.monotonic_ns()


def attribute(logs, lost):
    """The trace report of `logs` (per worker: (steps, not_kept), each step (worker, wrote, overwrote, read_ns,
    wrote_ns)): each write's loss is what it overwrote plus one less what it wrote, summed in the order of the
    writes, each loss kept with the write it overwrote."""
    not_kept = sum(skipped for _, skipped in logs)
    steps = sorted((step for kept, _ in logs for step in kept), key=lambda step: (step[4], step[0]))
    as_dict = lambda s: {"worker": s[0], "wrote": s[1], "overwrote": s[2], "read_ns": s[3], "wrote_ns": s[4]}
    report = {"kept": len(steps), "not_kept": not_kept, "collisions": 0, "rollbacks": 0, "rolled_back": 0,
              "restored": 0, "attributed": 0, "agrees": None, "losses": [], "steps": [], "prevented": None}
    writers, value, around = {}, 0, []
    for index, step in enumerate(steps):
        overwrote = step[2] if step[2] is not None else value
        deficit = overwrote + 1 - step[1]
        if deficit < 0:
            report["restored"] += -deficit
        elif deficit > 0:
            kind = "collision" if deficit == 1 else "rollback"
            if kind == "collision":
                report["collisions"] += 1
            else:
                report["rollbacks"] += 1
                report["rolled_back"] += deficit
            before = writers.get(overwrote)
            if before is not None and len(report["losses"]) < LOSSES_KEPT:
                report["losses"].append({"kind": kind, "before": as_dict(before), "late": as_dict(step),
                                         "lost": deficit})
                around.append(index)
        value = step[1]
        writers[step[1]] = step
    report["attributed"] = report["collisions"] + report["rolled_back"] - report["restored"]
    if not_kept == 0:
        report["agrees"] = report["attributed"] == lost
    chosen = sorted({i for at in around[:3] for i in range(max(at - 12, 0), min(at + 13, len(steps)))})
    report["steps"] = [as_dict(steps[i]) for i in chosen]
    return report


def trace_lines(trace):
    """The report's lines of a trace: what it attributes, then the first collision in four lines."""
    kept = f"{trace['kept']} steps kept"
    if trace["not_kept"]:
        kept += f", {trace['not_kept']} past --trace-limit not kept"
    parts = [f"{trace['collisions']} lost to collisions"]
    if trace["rollbacks"]:
        noun = "rollback" if trace["rollbacks"] == 1 else "rollbacks"
        parts.append(f"{trace['rolled_back']} to {trace['rollbacks']} {noun}")
    if trace["restored"]:
        parts.append(f"{trace['restored']} given back by late writes")
    if trace["agrees"] is True:
        agreement = ("; none lost, as the final value says" if trace["attributed"] == 0
                     else "; that is every lost update counted from the final value")
    elif trace["agrees"] is False:
        agreement = "; not the count from the final value"
    else:
        agreement = "; not every step was kept, so this is a part" if trace["not_kept"] else ""
    lines = [f"{kept}: {', '.join(parts)}{agreement}"]
    losses = trace["losses"]
    first = next((loss for loss in losses if loss["kind"] == "collision"), losses[0] if losses else None)
    if first is not None:
        origin = min(step["read_ns"] for step in trace["steps"])
        a, b = first["before"], first["late"]
        late = (f"worker {b['worker']} wrote {b['wrote']} over worker {a['worker']}'s {a['wrote']}: one increment lost"
                if first["kind"] == "collision" else
                f"worker {b['worker']} wrote {b['wrote']} over {a['wrote']}: {first['lost']} increments lost")
        events = sorted([(a["read_ns"], f"worker {a['worker']} read {a['wrote'] - 1}"),
                         (b["read_ns"], f"worker {b['worker']} read {b['wrote'] - 1}"),
                         (a["wrote_ns"], f"worker {a['worker']} wrote {a['wrote']}"), (b["wrote_ns"], late)])
        title = "first collision" if first["kind"] == "collision" else "first loss, a rollback"
        for i, (at, what) in enumerate(events):
            lines.append(f"{title if i == 0 else '':<22} {(at - origin) / 1e6:>10.3f} ms  {what}")
    return lines


def finish(program, args, model, implementation, final_value, worker_results, wall_time_s, start_time_s,
           memory, cpu_before, notes, pool=None, unreaped_cpu=None, trace_logs=None):
    """Prints the report, the same shape as the Rust binaries' RunReport. `unreaped_cpu` is the (user, system)
    time of workers this program did not reap itself (see `own_cpu`); `trace_logs`, each worker's steps with
    --trace (see `attribute`)."""
    expected = args.workers * args.increments
    done = sum(increments for increments, _ in worker_results)
    lost = max(done - final_value, 0)
    ideal = args.increments * args.work[1]
    elapsed = sorted(seconds for _, seconds in worker_results)
    cpu_after = cpu_usage()
    workers = [
        {"id": i, "os_id": None, "increments_done": increments, "elapsed_s": seconds,
         "exit_status": None, "cpu": None, "max_rss_kib": None}
        for i, (increments, seconds) in enumerate(worker_results)
    ]
    cpu = {key: cpu_after[key] - cpu_before[key] for key in cpu_after}
    if unreaped_cpu is not None:
        cpu["user_s"] += unreaped_cpu[0]
        cpu["sys_s"] += unreaped_cpu[1]
    report = {
        "schema_version": 6,
        "model": model,
        "implementation": implementation,
        "config": {"workers": args.workers, "increments": args.increments, "work": args.work[2],
                   "window": args.window, "sync": args.sync, "timer": "relative", "pool": pool,
                   "hold": None if args.hold is None else str(args.hold), "trace": trace_limit(args)},
        "participants": 1,
        "participants_unreported": 0,
        "extension": interpreter_extension(),
        "pool": None,
        "complete": done == expected,
        "expected": expected,
        "final_value": final_value,
        "lost_updates": lost,
        "lost_percent": lost * 100.0 / done if done else 0.0,
        "trace": None if trace_logs is None else attribute(trace_logs, lost),
        # Every worker reports before the program ends, so the loss is always known here.
        "unreported_workers": 0,
        "lost_updates_bounds": None,
        "wall_time_s": wall_time_s,
        "ideal_time_s": ideal,
        "efficiency": ideal / wall_time_s if ideal > 0 and wall_time_s > 0 and done == expected else None,
        "start_time_s": start_time_s,
        "cpu": cpu,
        "memory": memory,
        "peak_rss_kib": process_memory(os.getpid())["peak_rss_kib"],
        "lock_recoveries": 0,
        # CPython has no compare-and-swap on shared memory: no optimistic strategy, so no retries.
        "retries": None,
        "workers": workers if len(workers) <= 1000 else [],
        "worker_detail": "full" if len(workers) <= 1000 else "summary",
        "worker_summary": {
            "count": len(elapsed), "increments_done": done,
            "elapsed_min_s": elapsed[0] if elapsed else 0.0,
            "elapsed_median_s": elapsed[len(elapsed) // 2] if elapsed else 0.0,
            "elapsed_max_s": elapsed[-1] if elapsed else 0.0,
        },
        "notes": notes,
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(f"Final counter value: {final_value}")
        print(f"expected:      {expected} ({args.workers} workers x {args.increments} increments)")
        print(f"lost updates:  {lost} ({report['lost_percent']:.2f}% of {done} increments done)")
        for i, line in enumerate(trace_lines(report["trace"]) if report["trace"] else []):
            print(f"{'trace:' if i == 0 else '':<15}{line}")
        print(f"implementation: {implementation}, sync {args.sync}, work {args.work[2]}, window {args.window}")
        print(f"wall time:     {wall_time_s:.3f} s (ideal {ideal:.3f} s)")
        print(f"interpreter:   {report['extension']['lines'][0]['text']}")
        print(f"memory:        {memory['taken']}: {memory['processes']} processes, {memory['threads']} threads; "
              f"RSS {memory['rss_kib']} KiB, PSS {memory['pss_kib']} KiB, USS {memory['uss_kib']} KiB")
        for note in notes:
            print(f"note:          {note}")


def implementation(module):
    return f"CPython {platform.python_version()}{'t' if interpreter()['free_threaded_build'] else ''} {module}"


def interpreter():
    """Which CPython ran the program: its version, whether it is the free-threaded build (PEP 703,
    `Py_GIL_DISABLED`), and whether the GIL was enabled in this run (a free-threaded build can turn it back on:
    `PYTHON_GIL=1`, or an extension module that needs it)."""
    import sysconfig

    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    gil_enabled = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
    return {"python_version": platform.python_version(), "free_threaded_build": free_threaded,
            "gil_enabled": gil_enabled}


def interpreter_extension():
    """The report's `extension`: the interpreter, as a line for people and as figures."""
    facts = interpreter()
    build = "free-threaded build" if facts["free_threaded_build"] else "GIL build"
    gil = "GIL enabled" if facts["gil_enabled"] else "GIL disabled"
    text = f"CPython {facts['python_version']}, {build}, {gil}"
    return {"name": "interpreter", "lines": [{"label": "interpreter", "text": text}], "figures": facts}


def threads_note():
    """What the interpreter lets threads do, from the run's own interpreter."""
    if interpreter()["gil_enabled"]:
        return ("the GIL lets one thread run Python at a time and switches only at its switch points (every 5 ms, "
                "or when a thread blocks, as in time.sleep)")
    return "no GIL in this run: the threads ran Python at the same time, one per CPU"
