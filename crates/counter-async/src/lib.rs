//! The shared-counter experiment with one tokio task per worker: the seed's "asyncio" alternative in Rust.
//!
//! Every worker is a task on a tokio runtime, `current-thread` by default (one thread, like asyncio's event
//! loop) or `multi-thread`. The tasks are spawned, report alive and wait at a start gate; once all are alive
//! the memory snapshot is taken (and, with `--hold`, the runtime waits to be inspected), then they are released
//! together. A task is kept as small as tokio allows: see the `task` module (a sleeping task's future is 152
//! bytes, and a task about 490 bytes in all).
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
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
    task::Poll,
    time::{Duration, Instant},
};

use counter_core::{
    cli::Frontend,
    config::{Abilities, Config, ConfigError, Hold, Strategy, Window, Work},
    counter::{self, HeapCounter},
    cpu::CpuUsage,
    error::{Error as CoreError, RunError, RunInterrupted},
    extension::Extension,
    hold,
    model::Model,
    proc::{self, limits, limits::LimitError, memory},
    render::ModelWords,
    report::{Measurements, RunReport, WorkerReport, WorkerTally},
    signals,
    workload::{STOP_CHECK_INTERVAL, Start},
};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::task::{SMALL_FUTURE_BYTES, Shared, TaskFailure, TaskOutcome};

/// The model this crate runs.
pub const MODEL: Model = Model::Async;

/// How this crate's binary presents itself: what it can run, its help, its words.
pub const FRONTEND: Frontend = Frontend {
    model: MODEL,
    abilities: Abilities {
        binary: MODEL.binary(),
        blocking_work: true,
        no_pool: Some("its tasks already run on the runtime's threads"),
        no_fencing: Some(counter_core::config::IN_MEMORY_LOCK),
    },
    work_help: "Simulated work per increment: none, yield, sleep:<duration> (awaits the runtime's timer), \
                spin:<duration> (busy loop), or block:<duration> (a blocking sleep inside the task). Durations: \
                10ms, 250us, 1s",
    words: ModelWords { strategy: |_| None, why },
};

// What the frontend says it can run agrees with its model's facts, or the crate does not build.
const _: () = assert!(FRONTEND.agrees_with_its_model());

/// What only this model measures: the runtime that ran the tasks, under the report's `extension`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeFigures {
    /// `current-thread` or `multi-thread`.
    pub flavor: String,
    /// The runtime's worker threads (1 for current-thread).
    pub threads: u64,
}

impl RuntimeFigures {
    /// The report's section for these figures.
    pub fn extension(&self) -> Extension {
        Extension::new("runtime", self).line(
            "runtime",
            format!("tokio {} ({} thread{})", self.flavor, self.threads, if self.threads == 1 { "" } else { "s" }),
        )
    }
}

/// The one case where this model knows more than the generic explanation: on one thread, with nothing to await
/// between the read and the write, the racy strategy cannot lose an update.
fn why(report: &RunReport) -> Option<Vec<String>> {
    let runtime: RuntimeFigures = report.extension.as_ref()?.figures().ok()?;
    let config = &report.config;
    let one_thread_no_await_between =
        runtime.threads == 1 && config.strategy() == Strategy::Racy && config.window() == Window::Before;
    (one_thread_no_await_between && report.lost_updates == Some(0)).then(|| {
        vec![
            "no update was lost, and none can be here: on one thread, a task runs without interruption between two \
             awaits, and there is no await between the read and the write"
                .to_owned(),
        ]
    })
}

/// The stack each runtime thread reserves (tokio's default, set explicitly so that the limit check and the run
/// agree).
pub const RUNTIME_STACK_BYTES: u64 = 2 << 20;

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

/// Why a run produced no report: a reason every frontend shares, or [`AsyncError`].
pub type Error = RunError<AsyncError>;

/// What only this frontend can hit.
#[derive(Debug, thiserror::Error)]
pub enum AsyncError {
    /// The runtime could not be built.
    #[error("could not build the tokio {flavor} runtime with {threads} threads ({limits})")]
    Runtime {
        /// The flavor asked for.
        flavor: &'static str,
        /// Its threads.
        threads: usize,
        /// The limits in force, to tell which one was hit.
        limits: String,
        /// What tokio said.
        #[source]
        source: io::Error,
    },
}

/// Each a failed run (exit 1).
impl counter_core::error::FrontendError for AsyncError {}

/// Runs the workload with one tokio task per worker and reports what happened.
pub fn run(config: &Config, options: &RuntimeOptions) -> Result<RunReport, Error> {
    options.validate()?;
    // The counter's share of each task: its slot, for a strategy that gives every worker one.
    let counter_bytes = counter::layout(config.strategy(), config.workers()).map_or(0, |layout| layout.size() as u64);
    let per_task = BYTES_PER_TASK + counter_bytes / config.workers();
    limits::check_async_tasks(config.workers(), per_task).map_err(CoreError::LimitCheck)??;
    let threads = options.thread_count();
    if options.flavor == Flavor::MultiThread {
        // tokio panics (and then hangs) when it cannot start a worker thread, and std aborts when a thread
        // cannot get its mappings: the limits are checked first.
        limits::check_threads(threads as u64, RUNTIME_STACK_BYTES).map_err(CoreError::LimitCheck)??;
    }
    if config.workers() > task::MAX_TASKS {
        return Err(LimitError {
            request: format!("{} tasks", config.workers()),
            limit: "tasks per run",
            value: task::MAX_TASKS.to_string(),
            detail: "a task keeps its index in 32 bits".to_owned(),
        }
        .into());
    }
    let runtime = build_runtime(options.flavor, threads)?;
    let shared = Arc::new(Shared::new(HeapCounter::new(config.strategy(), config.workers())?, config.clone()));
    let runtime_figures = RuntimeFigures { flavor: options.flavor.name().to_owned(), threads: threads as u64 };
    let mut measured = Measurements {
        extension: Some(runtime_figures.extension()),
        notes: notes(config, options),
        ..Measurements::default()
    };
    let cpu_before = CpuUsage::of_this_process();
    let outcome = runtime.block_on(coordinate(&shared, &mut measured));
    // Tasks still pending (after an abort) are dropped with the runtime, before the report is made.
    drop(runtime);
    measured.final_value = shared.counter.counter().total();
    measured.lock_recoveries = shared.counter.counter().dead_owner_recoveries();
    measured.retries = shared.counter.counter().retries();
    measured.cpu = CpuUsage::of_this_process().since(cpu_before);
    measured.peak_rss_kib = memory::peak_rss_kib(std::process::id() as i32).ok();
    let stopped = match outcome {
        Ok(()) => signals::received(),
        Err(Stop::Signal(signal)) => {
            // Stopped after the start: every task has ended or been dropped, and its slot says what it did.
            if shared.started()
                && let Ok(outcomes) = shared.outcomes()
            {
                measured.workers = outcomes.map(report_of).collect();
            }
            Some(signal)
        }
        Err(Stop::Failed(error)) => return Err(error.into()),
    };
    measured.stopped = stopped.is_some();
    measured.trace = config.trace().map(|_| (shared.take_traces(), None));
    let report = RunReport::new(MODEL, config, measured);
    match stopped {
        Some(signal) => Err(RunInterrupted { signal, partial: Box::new(report) }.into()),
        None => Ok(report),
    }
}

/// Builds the runtime. tokio panics when it cannot start a worker thread, and a thread it cannot start is a
/// limit (exit 2, naming the limits), as it is for `counter-threads`; any other failure is the runtime's.
fn build_runtime(flavor: Flavor, threads: usize) -> Result<tokio::runtime::Runtime, Error> {
    let build = || match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread().enable_time().build(),
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_stack_size(RUNTIME_STACK_BYTES as usize)
            .enable_time()
            .build(),
    };
    let out_of_threads = |why: String| {
        Error::from(LimitError {
            request: format!("a tokio {} runtime with {threads} threads", flavor.name()),
            limit: "the task limits",
            value: "a thread could not be started".to_owned(),
            detail: format!("{why}; {}", limits::summary()),
        })
    };
    match catch_unwind(AssertUnwindSafe(build)) {
        Ok(Ok(runtime)) => Ok(runtime),
        Ok(Err(source)) if matches!(source.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::OutOfMemory) => {
            Err(out_of_threads(source.to_string()))
        }
        Ok(Err(source)) => Err(RunError::Frontend(AsyncError::Runtime {
            flavor: flavor.name(),
            threads,
            limits: limits::summary(),
            source,
        })),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "tokio panicked while starting its threads".to_owned());
            Err(out_of_threads(message))
        }
    }
}

/// Why the coordination stopped.
type Stop = counter_core::error::Stop<CoreError>;

/// Spawns the tasks, waits until all are alive, measures, holds, starts them, and collects their outcomes.
async fn coordinate(shared: &Arc<Shared>, measured: &mut Measurements) -> Result<(), Stop> {
    let workers = shared.config.workers();
    let started = Instant::now();
    let mut future_bytes = 0;
    for index in 0..workers {
        // `run` refused more than MAX_TASKS tasks, so every index fits.
        future_bytes = task::spawn(shared, index as u32);
    }
    while shared.ready() < workers {
        if let Some(signal) = signals::received() {
            shared.release(Start::Abort);
            return Err(Stop::Signal(signal));
        }
        // Lets the tasks run their first poll (on current-thread they share this thread).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    measured.notes.push(future_note(future_bytes));
    measured.start_time = started.elapsed();
    let pid = std::process::id() as i32;
    let taken = format!("all {workers} tasks alive, before they started");
    measured.memory = match memory::snapshot(&[pid], taken) {
        Ok(memory) => memory,
        Err(error) => {
            shared.release(Start::Abort);
            return Err(Stop::Failed(CoreError::Probe(error)));
        }
    };
    if let Some(hold_for) = shared.config.hold() {
        announce_hold(hold_for, workers, pid);
        // The tasks are all parked on the start signal: blocking this thread for the hold starves nobody, and
        // no thread is added to the process while it is measured from outside.
        if let hold::Outcome::Signal(signal) = hold::wait(hold_for, &mut || true) {
            shared.release(Start::Abort);
            return Err(Stop::Signal(signal));
        }
    }
    let go = Instant::now();
    shared.release(Start::Go);
    let signal = until_ended_or_signal(shared).await;
    measured.wall_time = go.elapsed();
    if let Some(signal) = signal {
        // The tasks still running are dropped with the runtime, wherever they are; their slots say what they did.
        shared.stop();
        return Err(Stop::Signal(signal));
    }
    let outcomes = shared.outcomes().map_err(|failure| {
        Stop::Failed(match failure {
            TaskFailure::Counter { index, source } => CoreError::Worker { model: MODEL, worker: index, source },
            TaskFailure::Panicked { index } => CoreError::WorkerPanicked { model: MODEL, worker: index },
        })
    })?;
    let mut tally = WorkerTally::with_capacity(workers);
    outcomes.for_each(|outcome| tally.push(report_of(outcome)));
    measured.workers = tally;
    Ok(())
}

/// Waits until every task has ended, or until a stop signal comes first, and returns that signal. This future
/// alone looks for a signal, every [`STOP_CHECK_INTERVAL`]: the tasks never do, so a sleeping task stays asleep.
async fn until_ended_or_signal(shared: &Shared) -> Option<Signal> {
    let mut ended = std::pin::pin!(shared.all_ended());
    let mut tick = std::pin::pin!(tokio::time::sleep(STOP_CHECK_INTERVAL));
    std::future::poll_fn(|cx| {
        if ended.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        loop {
            if let Some(signal) = signals::received() {
                return Poll::Ready(Some(signal));
            }
            if tick.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            tick.as_mut().reset(tokio::time::Instant::now() + STOP_CHECK_INTERVAL);
        }
    })
    .await
}

/// What a task's future weighs, for the report: the part of a task's memory this crate decides.
fn future_note(bytes: usize) -> String {
    let cell = if bytes <= SMALL_FUTURE_BYTES { "fits" } else { "does not fit" };
    format!(
        "each task's future is {bytes} B; it {cell} in tokio's 256-byte task cell (a future of at most \
         {SMALL_FUTURE_BYTES} B does)"
    )
}

fn report_of(outcome: TaskOutcome) -> WorkerReport {
    WorkerReport {
        id: outcome.index,
        os_id: None,
        increments_done: outcome.increments_done,
        elapsed_s: outcome.elapsed.as_secs_f64(),
        exit_status: None,
        cpu: None,
        max_rss_kib: None,
    }
}

/// What this run's choices mean, for the report.
fn notes(config: &Config, options: &RuntimeOptions) -> Vec<String> {
    let mut notes = Vec::new();
    if config.strategy().takes_lock() {
        notes.push(match config.window() {
            Window::Inside => "the lock is held across the work, which may await: it is tokio's async mutex, \
                               which a waiting task yields on instead of blocking the thread"
                .to_owned(),
            Window::Before => "the lock is held only for the read and the write, never across an await: it is \
                               the counter's blocking mutex, cheaper than an async one"
                .to_owned(),
        });
    }
    match config.work() {
        Work::Spin(_) | Work::Block(_) if options.flavor == Flavor::CurrentThread => notes.push(format!(
            "{} holds the runtime's only thread: the tasks run one after the other, never at the same time",
            config.work()
        )),
        Work::Block(_) => notes.push(format!(
            "{} blocks a runtime thread: at most {} tasks run at once",
            config.work(),
            options.thread_count()
        )),
        _ => {}
    }
    notes
}

fn announce_hold(hold_for: Hold, workers: u64, pid: i32) {
    let tids = proc::threads_of(pid).unwrap_or_default();
    hold::announce(
        hold_for,
        &hold::Announcement {
            model: MODEL,
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
