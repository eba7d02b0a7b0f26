//! The shared-counter experiment with one tokio task per worker: the seed's "asyncio" alternative in Rust.
//!
//! Every worker is a task on a tokio runtime, `current-thread` by default (one thread, like asyncio's event
//! loop) or `multi-thread`. The tasks are spawned, report alive and wait on a [`tokio::sync::Notify`]; once all
//! are alive the memory snapshot is taken (and, with `--hold`, the runtime waits to be inspected), then they are
//! released together.
//!
//! What the work means here:
//! - `sleep:` awaits the runtime's timer. tokio's timer wheel ticks in whole milliseconds and rounds a sleep
//!   up, so 1000 relative sleeps of 10 ms take about 11.2 s; the default `--timer compensated` shortens each
//!   sleep by how late the previous ones woke, as every frontend does, and `--timer relative` shows the loss.
//! - `yield` yields to the scheduler; `spin:` busy-loops and `block:` calls `std::thread::sleep`: both hold the
//!   runtime's thread, which on `current-thread` runs every other task one after the other. `block:` is the
//!   classic mistake of a blocking call inside a task, kept here to be seen.
//!
//! Updates can be lost only where a task can be interrupted between its read and its write. On a
//! `current-thread` runtime that is only at an await: with the window `before` there is none, and the racy
//! strategy cannot lose an update; with the window `inside` and an awaiting work, it loses almost all of them.
#![warn(missing_docs)]

mod task;

use std::{
    io,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use counter_core::{
    cli::Interrupted,
    config::{Config, Window, Work},
    counter::{HeapCounter, HeapCounterError},
    cpu::CpuUsage,
    error::{ConfigError, CounterError},
    hold,
    proc::{self, limits, limits::LimitError, memory},
    report::{DETAIL_LIMIT, Measurements, Model, RunReport, RuntimeReport, WorkerReport, WorkerSummary},
    signals,
};
use nix::sys::signal::Signal;

use crate::task::{Shared, Start, TaskOutcome};

/// The binary's name, used in messages.
pub const PROGRAM: &str = "counter-async";

/// Which tokio runtime runs the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavor {
    /// One thread runs every task, like asyncio's event loop.
    CurrentThread,
    /// A pool of worker threads steals tasks from each other.
    MultiThread,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current-thread",
            Flavor::MultiThread => "multi-thread",
        }
    }
}

/// The runtime to use, on top of the shared [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Current-thread or multi-thread.
    pub flavor: Flavor,
    /// Worker threads of the multi-thread runtime; `None` means one per CPU.
    pub threads: Option<usize>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions { flavor: Flavor::CurrentThread, threads: None }
    }
}

impl RuntimeOptions {
    /// Checks the combination: `threads` only with `multi-thread`, and at least one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (self.flavor, self.threads) {
            (Flavor::CurrentThread, Some(threads)) => Err(ConfigError::Conflict(format!(
                "--threads {threads} needs --flavor multi-thread: a current-thread runtime has exactly one thread"
            ))),
            (Flavor::MultiThread, Some(0)) => Err(ConfigError::Conflict(
                "invalid --threads '0': a multi-thread runtime needs at least 1 worker thread".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    fn thread_count(&self) -> usize {
        match self.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => {
                self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            }
        }
    }
}

/// Memory budgeted per task when checking that a run fits: about twice what a task takes here.
const BYTES_PER_TASK: u64 = 1024;

/// Why a run produced no report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration this frontend cannot run.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// More tasks than memory allows.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The limits could not be read.
    #[error("could not read the available memory")]
    LimitCheck(#[source] io::Error),
    /// The runtime could not be built.
    #[error("could not build the tokio {flavor} runtime")]
    Runtime {
        /// The flavor asked for.
        flavor: &'static str,
        /// What tokio said.
        #[source]
        source: io::Error,
    },
    /// The counter could not be set up.
    #[error("could not set up the counter")]
    Counter(#[from] HeapCounterError),
    /// A counter operation failed in a task.
    #[error("task {worker} failed")]
    Worker {
        /// The task's number.
        worker: u64,
        /// What failed.
        #[source]
        source: CounterError,
    },
    /// A task panicked.
    #[error("task {worker} panicked")]
    WorkerPanicked {
        /// The task's number.
        worker: u64,
    },
    /// The memory figures could not be read.
    #[error("could not read this process's memory figures")]
    Probe(#[source] io::Error),
    /// SIGINT or SIGTERM.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

counter_core::frontend_error!(Error);

/// Runs the workload with one tokio task per worker and reports what happened.
pub fn run(config: &Config, options: &RuntimeOptions) -> Result<RunReport, Error> {
    config.validate()?;
    options.validate()?;
    let shard_bytes = if config.sync == counter_core::config::Sync::Sharded { 64 } else { 0 };
    limits::check_tasks_memory(config.workers, BYTES_PER_TASK + shard_bytes).map_err(Error::LimitCheck)??;
    let threads = options.thread_count();
    let runtime = match options.flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread().enable_time().build(),
        Flavor::MultiThread => {
            tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_time().build()
        }
    }
    .map_err(|source| Error::Runtime { flavor: options.flavor.name(), source })?;
    let shared = Arc::new(Shared::new(HeapCounter::new(config.sync, config.workers)?, config.clone()));
    let runtime_report = RuntimeReport { flavor: options.flavor.name().to_owned(), threads: threads as u64 };
    let mut measured =
        Measurements { runtime: Some(runtime_report), notes: notes(config, options), ..Measurements::default() };
    let cpu_before = CpuUsage::of_this_process();
    let outcome = runtime.block_on(coordinate(&shared, &mut measured));
    // Tasks still pending (after an abort) are dropped with the runtime, before the report is made.
    drop(runtime);
    measured.final_value = shared.counter.counter().total();
    measured.lock_recoveries = shared.counter.counter().dead_owner_recoveries();
    measured.cpu = CpuUsage::of_this_process().since(cpu_before);
    measured.peak_rss_kib = memory::of_process(std::process::id() as i32).map_or(0, |m| m.peak_rss_kib);
    let stopped = match outcome {
        Ok(()) => signals::received(),
        Err(Stop::Signal(signal)) => Some(signal),
        Err(Stop::Failed(error)) => return Err(error),
    };
    let report = RunReport::new(Model::Async, config, measured);
    match stopped {
        Some(signal) => Err(Error::Interrupted(Interrupted { signal, partial: Box::new(report) })),
        None => Ok(report),
    }
}

enum Stop {
    Signal(Signal),
    Failed(Error),
}

/// Spawns the tasks, waits until all are alive, measures, holds, starts them, and collects their outcomes.
async fn coordinate(shared: &Arc<Shared>, measured: &mut Measurements) -> Result<(), Stop> {
    let workers = shared.config.workers;
    let started = Instant::now();
    let handles: Vec<_> = (0..workers).map(|index| tokio::spawn(task::run(Arc::clone(shared), index))).collect();
    while shared.ready.load(Ordering::Relaxed) < workers {
        if let Some(signal) = signals::received() {
            shared.release(Start::Abort);
            return Err(Stop::Signal(signal));
        }
        // Lets the tasks run their first poll (on current-thread they share this thread).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    measured.start_time = started.elapsed();
    let pid = std::process::id() as i32;
    let taken = format!("all {workers} tasks alive, before they started");
    measured.memory = match memory::snapshot(&[pid], taken) {
        Ok(memory) => memory,
        Err(error) => {
            shared.release(Start::Abort);
            return Err(Stop::Failed(Error::Probe(error)));
        }
    };
    if let Some(hold_for) = shared.config.hold {
        announce_hold(hold_for, workers, pid);
        // The tasks are all parked on the start signal, so blocking this thread for the hold starves nobody.
        if let hold::Outcome::Signal(signal) = hold::wait(hold_for, &mut || true) {
            shared.release(Start::Abort);
            return Err(Stop::Signal(signal));
        }
    }
    let go = Instant::now();
    shared.release(Start::Go);
    let mut outcomes = Vec::with_capacity(handles.len());
    let mut failure = None;
    for (worker, handle) in (0u64..).zip(handles) {
        match handle.await {
            Ok(Ok(outcome)) => outcomes.push(outcome),
            Ok(Err(source)) => {
                failure.get_or_insert(Error::Worker { worker, source });
            }
            Err(_) => {
                failure.get_or_insert(Error::WorkerPanicked { worker });
            }
        }
    }
    measured.wall_time = go.elapsed();
    if let Some(error) = failure {
        return Err(Stop::Failed(error));
    }
    record_outcomes(measured, &outcomes);
    Ok(())
}

/// Per-task detail up to [`DETAIL_LIMIT`] tasks; above it only the summary, built without a record per task.
fn record_outcomes(measured: &mut Measurements, outcomes: &[TaskOutcome]) {
    if outcomes.len() <= DETAIL_LIMIT {
        measured.workers = outcomes
            .iter()
            .map(|outcome| WorkerReport {
                id: outcome.index,
                os_id: None,
                increments_done: outcome.increments_done,
                elapsed_s: outcome.elapsed.as_secs_f64(),
                exit_status: None,
                cpu: None,
                max_rss_kib: None,
            })
            .collect();
    } else {
        let mut elapsed: Vec<f64> = outcomes.iter().map(|outcome| outcome.elapsed.as_secs_f64()).collect();
        let increments_done = outcomes.iter().map(|outcome| outcome.increments_done).sum();
        measured.summary = Some(WorkerSummary::from_parts(increments_done, &mut elapsed));
    }
}

/// What this run's choices mean, for the report.
fn notes(config: &Config, options: &RuntimeOptions) -> Vec<String> {
    let mut notes = Vec::new();
    if config.sync == counter_core::config::Sync::Mutex {
        notes.push(match config.window {
            Window::Inside => "the lock is held across the work, which may await: it is tokio's async mutex, \
                               which a waiting task yields on instead of blocking the thread"
                .to_owned(),
            Window::Before => "the lock is held only for the read and the write, never across an await: it is \
                               the counter's blocking mutex, cheaper than an async one"
                .to_owned(),
        });
    }
    match config.work {
        Work::Spin(_) | Work::Block(_) if options.flavor == Flavor::CurrentThread => notes.push(format!(
            "{} holds the runtime's only thread: the tasks run one after the other, never at the same time",
            config.work
        )),
        Work::Block(_) => notes.push(format!(
            "{} blocks a runtime thread: at most {} tasks run at once",
            config.work,
            options.thread_count()
        )),
        _ => {}
    }
    notes
}

fn announce_hold(hold_for: counter_core::config::Hold, workers: u64, pid: i32) {
    let tids = proc::threads_of(pid).unwrap_or_default();
    hold::announce(
        hold_for,
        &hold::Announcement {
            model: Model::Async,
            workers,
            ids_label: "tasks have no OS id; this process's thread tids",
            ids: &tids,
            extra: String::new(),
            tries: vec![
                format!("ps -L -o pid,tid,nlwp,rss,comm -p {pid}"),
                format!("pmap -x {pid} | tail -n 1"),
                format!("cat /proc/{pid}/smaps_rollup"),
            ],
        },
    );
}
