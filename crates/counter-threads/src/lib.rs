//! The shared-counter experiment with one OS thread per worker.
//!
//! All workers live in one process and share the counter on the heap. They are started behind a start line:
//! each thread is created, reports itself alive and waits; once all are alive the memory snapshot is taken
//! (and, with `--hold`, the process waits to be inspected), then all are released at once so that their
//! timings start together.
//!
//! Asking for more threads than the system allows ends in [`Error::Limit`] before any thread starts, because
//! Rust's standard library aborts the process when a thread cannot get its memory mappings.
#![warn(missing_docs)]

mod start_line;

use std::{
    io,
    thread::{self, ScopedJoinHandle},
    time::{Duration, Instant},
};

use counter_core::{
    cli::Interrupted,
    config::Config,
    counter::{Counter, HeapCounter, HeapCounterError},
    cpu::CpuUsage,
    error::{ConfigError, CounterError},
    hold,
    pool::{self, PoolReport, run_pool_member},
    proc::{limits, limits::LimitError, memory},
    report::{Measurements, Model, RunReport, WorkerReport},
    signals,
    workload::run_worker,
};
use nix::sys::signal::Signal;

use crate::start_line::StartLine;

/// The binary's name, used in messages.
pub const PROGRAM: &str = "counter-threads";

/// Why a run produced no report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration this frontend cannot run.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// More threads than the system allows.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The limits could not be read.
    #[error("could not read the system's thread limits")]
    LimitCheck(#[source] io::Error),
    /// The counter could not be set up.
    #[error("could not set up the counter")]
    Counter(#[from] HeapCounterError),
    /// A counter operation failed in a worker.
    #[error("worker thread {worker} failed")]
    Worker {
        /// The worker's number.
        worker: u64,
        /// What failed.
        #[source]
        source: CounterError,
    },
    /// A worker thread panicked.
    #[error("worker thread {worker} panicked")]
    WorkerPanicked {
        /// The worker's number.
        worker: u64,
    },
    /// The OS refused a new thread.
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
    /// The memory figures could not be read.
    #[error("could not read this process's memory figures")]
    Probe(#[source] io::Error),
    /// SIGINT or SIGTERM.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

counter_core::frontend_error!(Error);

/// Runs the workload with one thread per worker and reports what happened.
pub fn run(config: &Config) -> Result<RunReport, Error> {
    config.validate()?;
    config.refuse_block_work(PROGRAM)?;
    let members = config.members();
    limits::check_threads(members).map_err(Error::LimitCheck)??;
    let heap = HeapCounter::new(config.sync, members)?;
    let counter = heap.counter();
    let line = StartLine::default();
    let cpu_before = CpuUsage::of_this_process();
    let pid = std::process::id() as i32;

    thread::scope(|scope| {
        let started = Instant::now();
        let mut handles = Vec::new();
        for index in 0..members {
            let line = &line;
            let spawned = thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn_scoped(scope, move || worker(counter, config, index, line));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(source) => {
                    line.abort();
                    join_all(handles);
                    return Err(Error::Spawn { index, requested: members, limits: limits::summary(), source });
                }
            }
        }
        let interrupted = |signal: Signal, measured: Measurements| {
            Error::Interrupted(Interrupted {
                signal,
                partial: Box::new(RunReport::new(Model::Threads, config, measured)),
            })
        };
        let tids = match line.wait_until_alive(members) {
            Ok(tids) => tids,
            Err(signal) => {
                line.abort();
                join_all(handles);
                return Err(interrupted(signal, Measurements::default()));
            }
        };
        let start_time = started.elapsed();
        let memory =
            memory::snapshot(&[pid], format!("all {members} threads alive, before they started")).map_err(Error::Probe);
        let memory = match memory {
            Ok(memory) => memory,
            Err(error) => {
                line.abort();
                join_all(handles);
                return Err(error);
            }
        };
        if let Some(hold_for) = config.hold {
            announce_hold(config, hold_for, pid, &tids);
            // Threads cannot die alone: a panic would end the whole process, so there is nothing to watch.
            if let hold::Outcome::Signal(signal) = hold::wait(hold_for, &mut || true) {
                line.abort();
                join_all(handles);
                return Err(interrupted(signal, Measurements { memory, start_time, ..Measurements::default() }));
            }
        }
        if let Some(pool) = config.pool {
            counter.jobs().submit(pool::job_count(config, pool.jobs));
        }
        let go = line.go();
        let workers = collect(handles)?;
        let wall_time = go.elapsed();
        let measured = Measurements {
            final_value: counter.total(),
            wall_time,
            start_time,
            cpu: CpuUsage::of_this_process().since(cpu_before),
            memory,
            peak_rss_kib: memory::of_process(pid).map_or(0, |m| m.peak_rss_kib),
            lock_recoveries: counter.dead_owner_recoveries(),
            workers,
            pool: config.pool.map(|pool| PoolReport::of(counter, pool.size, pool.jobs)),
            notes: pool::notes(config, Model::Threads),
            ..Measurements::default()
        };
        match signals::received() {
            Some(signal) => Err(interrupted(signal, measured)),
            None => Ok(RunReport::new(Model::Threads, config, measured)),
        }
    })
}

/// One worker thread: report alive, wait for the start, run the loop.
fn worker(
    counter: Counter<'_>,
    config: &Config,
    index: u64,
    line: &StartLine,
) -> Result<Option<WorkerReport>, CounterError> {
    let tid = i64::from(nix::unistd::gettid().as_raw());
    if !line.arrive_and_wait(tid) {
        return Ok(None);
    }
    let should_stop = || signals::received().is_some();
    // The index is below `members`, which the counter was sized for, and fits in usize on every target that can
    // hold that many threads.
    let outcome = match config.pool {
        None => run_worker(counter, config, index as usize, &should_stop)?,
        Some(pool) => run_pool_member(counter, config, pool.jobs, index as usize, &should_stop)?,
    };
    Ok(Some(WorkerReport {
        id: index,
        os_id: Some(tid),
        increments_done: outcome.increments_done,
        elapsed_s: outcome.elapsed.as_secs_f64(),
        exit_status: None,
        cpu: None,
        max_rss_kib: None,
    }))
}

type WorkerHandle<'scope> = ScopedJoinHandle<'scope, Result<Option<WorkerReport>, CounterError>>;

/// Joins every worker and gathers their reports, in worker order.
fn collect(handles: Vec<WorkerHandle<'_>>) -> Result<Vec<WorkerReport>, Error> {
    let mut reports = Vec::with_capacity(handles.len());
    let mut first_error = None;
    for (worker, handle) in (0u64..).zip(handles) {
        match handle.join() {
            Ok(Ok(Some(report))) => reports.push(report),
            Ok(Ok(None)) => {}
            Ok(Err(source)) => {
                first_error.get_or_insert(Error::Worker { worker, source });
            }
            Err(_) => {
                first_error.get_or_insert(Error::WorkerPanicked { worker });
            }
        }
    }
    first_error.map_or(Ok(reports), Err)
}

/// Joins workers that were told to abort; their results do not matter any more.
fn join_all(handles: Vec<WorkerHandle<'_>>) {
    for handle in handles {
        let _ = handle.join();
    }
}

fn announce_hold(config: &Config, hold_for: counter_core::config::Hold, pid: i32, tids: &[i64]) {
    hold::announce(
        hold_for,
        &hold::Announcement {
            model: Model::Threads,
            workers: config.members(),
            ids_label: "worker tids",
            ids: tids,
            extra: String::new(),
            tries: vec![
                format!("ps -L -o pid,tid,nlwp,rss,comm -p {pid}"),
                format!("pmap -x {pid} | tail -n 1"),
                format!("cat /proc/{pid}/smaps_rollup"),
                format!("smem -k -P '^\\S*{PROGRAM}'"),
            ],
        },
    );
}

/// How long workers may take to report alive before the coordinator looks at signals again.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);
