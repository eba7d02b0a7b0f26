//! The shared-counter experiment with one OS thread per worker.
//!
//! All workers live in one process and share the counter on the heap. They are started behind a start line:
//! each thread is created, reports itself alive and waits; once all are alive the memory snapshot is taken
//! (and, with `--hold`, the process waits to be inspected), then all are released at once so that their
//! timings start together. However the coordinator leaves the scope (an error, a signal, a panic), the start
//! line's guard sends every waiting worker home first, so the scope's join never waits for a parked thread.
//!
//! Asking for more threads than the system allows ends in a limit error (exit 2) before any thread starts,
//! because Rust's standard library aborts the process when a thread cannot get its memory mappings.
#![warn(missing_docs)]

mod start_line;

use std::{
    io,
    thread::{self, ScopedJoinHandle},
    time::Duration,
};

use counter_core::{
    cli::{Frontend, WORK_HELP},
    config::Abilities,
    config::{Config, Hold},
    counter::CounterError,
    counter::{Counter, HeapCounter},
    cpu::CpuUsage,
    error::{Error as CoreError, RunError, RunInterrupted},
    hold,
    model::Model,
    pool::run_pool_member,
    proc::{limits, limits::LimitError, memory},
    render::ModelWords,
    report::{Measurements, RunReport, WorkerReport, WorkerTally},
    signals,
    trace::StepLog,
    workload::{OnSignal, run_worker, run_worker_traced},
};

use crate::start_line::StartLine;

/// The model this crate runs.
pub const MODEL: Model = Model::Threads;

/// How this crate's binary presents itself: what it can run, its help, its words.
pub const FRONTEND: Frontend = Frontend {
    model: MODEL,
    abilities: Abilities {
        binary: MODEL.binary(),
        blocking_work: false,
        no_pool: None,
        no_fencing: Some(counter_core::config::IN_MEMORY_LOCK),
    },
    work_help: WORK_HELP,
    words: ModelWords::GENERIC,
};

// What the frontend says it can run agrees with its model's facts, or the crate does not build.
const _: () = assert!(FRONTEND.agrees_with_its_model());

/// The stack each worker thread reserves (std's default, set explicitly so that the limit check and the run
/// agree). Only the pages a worker touches count in its memory.
pub const WORKER_STACK_BYTES: u64 = 2 << 20;

/// Why a run produced no report: a reason every frontend shares, or [`ThreadsError`].
pub type Error = RunError<ThreadsError>;

/// What only this frontend can hit.
#[derive(Debug, thiserror::Error)]
pub enum ThreadsError {
    /// The OS refused a new thread for a reason other than a limit.
    #[error("could not start thread {index} of {requested} ({limits}); the {index} already started were stopped")]
    Spawn {
        /// How many had started.
        index: u64,
        /// How many were asked for.
        requested: u64,
        /// The limits in force, to tell which one was hit.
        limits: String,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
}

/// Each a failed run (exit 1).
impl counter_core::error::FrontendError for ThreadsError {}

/// Runs the workload with one thread per worker and reports what happened.
pub fn run(config: &Config) -> Result<RunReport, Error> {
    let members = config.members();
    limits::check_threads(members, WORKER_STACK_BYTES).map_err(CoreError::LimitCheck)??;
    let heap = HeapCounter::new(config.strategy(), members)?;
    let counter = heap.counter();
    let line = StartLine::new(members);
    let cpu_before = CpuUsage::of_this_process();
    let pid = std::process::id() as i32;

    thread::scope(|scope| {
        // Dropped on every way out of this closure, a panic included: no worker stays parked on the line.
        let _aborts_on_the_way_out = line.guard();
        let mut handles = Vec::with_capacity(usize::try_from(members).unwrap_or(0));
        for index in 0..members {
            let line = &line;
            let spawned = thread::Builder::new()
                .name(format!("worker-{index}"))
                .stack_size(WORKER_STACK_BYTES as usize)
                .spawn_scoped(scope, move || worker(counter, config, index, line));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(source) => return Err(spawn_failed(index, members, source)),
            }
        }
        let interrupted = |signal, measured: Measurements| {
            Error::from(RunInterrupted { signal, partial: Box::new(RunReport::new(MODEL, config, measured)) })
        };
        let stopped = Measurements { stopped: true, ..Measurements::default() };
        let tids = match line.wait_until_alive() {
            Ok(tids) => tids,
            Err(signal) => return Err(interrupted(signal, stopped)),
        };
        let start_time = line.alive_after();
        let memory = memory::snapshot(&[pid], format!("all {members} threads alive, before they started"))
            .map_err(CoreError::Probe)?;
        if let Some(hold_for) = config.hold() {
            announce_hold(config, hold_for, pid, &tids);
            // Threads cannot die alone: a panic would end the whole process, so there is nothing to watch.
            if let hold::Outcome::Signal(signal) = hold::wait(hold_for, &mut || true) {
                return Err(interrupted(signal, Measurements { memory, start_time, ..stopped }));
            }
        }
        if let Some(pool) = config.pool() {
            counter.jobs().submit(counter_core::pool::job_count(config, pool.jobs));
        }
        let go = line.go();
        let (workers, traces) = collect(handles, members)?;
        let wall_time = go.elapsed();
        let signal = signals::received();
        let measured = Measurements {
            final_value: counter.total(),
            wall_time,
            start_time,
            cpu: CpuUsage::of_this_process().since(cpu_before),
            memory,
            peak_rss_kib: memory::peak_rss_kib(pid).ok(),
            lock_recoveries: counter.dead_owner_recoveries(),
            retries: counter.retries(),
            workers,
            stopped: signal.is_some(),
            queue_waits: config.pool().map(|_| counter.jobs().waits()),
            trace: config.trace().map(|_| (traces, None)),
            ..Measurements::default()
        };
        match signal {
            Some(signal) => Err(interrupted(signal, measured)),
            None => Ok(RunReport::new(MODEL, config, measured)),
        }
    })
}

/// A thread that could not be started: a limit (exit 2) when the OS says it is out of resources, else a failure.
fn spawn_failed(index: u64, requested: u64, source: io::Error) -> Error {
    let limits = limits::summary();
    if source.raw_os_error() == Some(nix::errno::Errno::EAGAIN as i32) {
        return Error::from(LimitError {
            request: format!("{requested} threads"),
            limit: "the task limits",
            value: format!("{index} threads could be started"),
            detail: format!("thread {index} was refused ({source}); {limits}; the ones already started were stopped"),
        });
    }
    RunError::Frontend(ThreadsError::Spawn { index, requested, limits, source })
}

/// What a worker thread hands back: its report, and its steps when the run is traced.
type Finished = Option<(WorkerReport, Option<StepLog>)>;

/// One worker thread: report alive, wait for the start, run the loop.
fn worker(counter: Counter<'_>, config: &Config, index: u64, line: &StartLine) -> Result<Finished, CounterError> {
    let tid = i64::from(nix::unistd::gettid().as_raw());
    // The index is below `members`, which the counter and the line were sized for, and fits in usize on every
    // target that can hold that many threads.
    if !line.arrive_and_wait(index as usize, tid) {
        return Ok(None);
    }
    // The index fits in u32: a run has far fewer threads than that.
    let mut log = config.trace().map(|limit| StepLog::new(index as u32, limit, config.increments()));
    let outcome = match (config.pool(), &mut log) {
        (None, None) => run_worker(counter, config, index as usize, &OnSignal)?,
        (None, Some(log)) => run_worker_traced(counter, config, index as usize, &OnSignal, log)?,
        (Some(pool), _) => run_pool_member(counter, config, pool.jobs, index as usize, &OnSignal)?,
    };
    let report = WorkerReport {
        id: index,
        os_id: Some(tid),
        increments_done: outcome.increments_done,
        elapsed_s: outcome.elapsed.as_secs_f64(),
        exit_status: None,
        cpu: None,
        max_rss_kib: None,
    };
    Ok(Some((report, log)))
}

type WorkerHandle<'scope> = ScopedJoinHandle<'scope, Result<Finished, CounterError>>;

/// Joins every worker and gathers their reports, in worker order, and their steps.
fn collect(handles: Vec<WorkerHandle<'_>>, members: u64) -> Result<(WorkerTally, Vec<StepLog>), Error> {
    let mut reports = WorkerTally::with_capacity(members);
    let mut traces = Vec::new();
    let mut first_error = None;
    for (worker, handle) in (0u64..).zip(handles) {
        match handle.join() {
            Ok(Ok(Some((report, log)))) => {
                reports.push(report);
                traces.extend(log);
            }
            Ok(Ok(None)) => {}
            Ok(Err(source)) => {
                first_error.get_or_insert(CoreError::Worker { model: MODEL, worker, source });
            }
            Err(_) => {
                first_error.get_or_insert(CoreError::WorkerPanicked { model: MODEL, worker });
            }
        }
    }
    first_error.map_or(Ok((reports, traces)), |error| Err(error.into()))
}

fn announce_hold(config: &Config, hold_for: Hold, pid: i32, tids: &[i64]) {
    hold::announce(
        hold_for,
        &hold::Announcement {
            model: MODEL,
            workers: config.members(),
            ids_label: "worker tids",
            ids: tids,
            extra: String::new(),
            tries: vec![
                format!("ps -L -o pid,tid,nlwp,rss,comm -p {pid}"),
                format!("pmap -x {pid} | tail -n 1"),
                format!("cat /proc/{pid}/smaps_rollup"),
                format!("smem -k -P '^\\S*{}'", MODEL.binary()),
            ],
        },
    );
}

/// How long workers may take to report alive before the coordinator looks at signals again.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);
