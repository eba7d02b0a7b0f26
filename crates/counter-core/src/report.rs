//! The run report: one flat, documented record of a run that every frontend fills the same way, printed as
//! text for people ([`crate::render`]) or as JSON for tools (`--format json`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{config::Config, cpu::CpuUsage, pool::PoolReport, proc::memory::MemorySnapshot};

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// Above this many workers (or processes), per-worker detail is left out and only the summary is kept, so that
/// a report of a million tasks stays small.
pub const DETAIL_LIMIT: usize = 1000;

/// How the workers are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// One OS thread per worker, in one process.
    Threads,
    /// One forked process per worker, sharing the counter through a shared-memory segment.
    Processes,
    /// One tokio task per worker.
    Async,
}

impl Model {
    /// Every model, in the order the project presents them.
    pub const ALL: [Model; 3] = [Model::Threads, Model::Processes, Model::Async];

    /// The binary that runs this model.
    pub fn binary(self) -> &'static str {
        match self {
            Model::Threads => "counter-threads",
            Model::Processes => "counter-processes",
            Model::Async => "counter-async",
        }
    }

    /// A short name: `threads`, `processes`, `async`.
    pub fn name(self) -> &'static str {
        match self {
            Model::Threads => "threads",
            Model::Processes => "processes",
            Model::Async => "async",
        }
    }

    /// What several workers are, in words.
    pub fn worker_noun_plural(self) -> &'static str {
        match self {
            Model::Threads => "threads",
            Model::Processes => "processes",
            Model::Async => "tasks",
        }
    }

    /// What one worker is, in words.
    pub fn worker_noun(self) -> &'static str {
        match self {
            Model::Threads => "thread",
            Model::Processes => "process",
            Model::Async => "task",
        }
    }
}

/// The async runtime a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeReport {
    /// `current-thread` or `multi-thread`.
    pub flavor: String,
    /// Runtime worker threads (1 for current-thread).
    pub threads: u64,
}

/// One worker's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Worker number, from 0.
    pub id: u64,
    /// The OS's id for it: thread id (TID) or process id (PID); none for an async task.
    pub os_id: Option<i64>,
    /// Increments it finished.
    pub increments_done: u64,
    /// Seconds from the start signal to its last increment.
    pub elapsed_s: f64,
    /// How the worker process ended (`exited 0`, `killed by SIGKILL`), for processes.
    pub exit_status: Option<String>,
    /// Its own CPU use and context switches from `wait4`, for processes.
    pub cpu: Option<CpuUsage>,
    /// Its `ru_maxrss` from `wait4`, KiB, for processes. Inherited from the parent at fork: an upper bound.
    pub max_rss_kib: Option<u64>,
}

/// The workers at a glance: always present, whatever the number of workers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    /// Workers that reported.
    pub count: u64,
    /// Increments they finished, summed.
    pub increments_done: u64,
    /// Fastest worker, seconds.
    pub elapsed_min_s: f64,
    /// Median worker, seconds.
    pub elapsed_median_s: f64,
    /// Slowest worker, seconds.
    pub elapsed_max_s: f64,
}

impl WorkerSummary {
    fn of(workers: &[WorkerReport]) -> WorkerSummary {
        let mut elapsed: Vec<f64> = workers.iter().map(|w| w.elapsed_s).collect();
        WorkerSummary::from_parts(workers.iter().map(|w| w.increments_done).sum(), &mut elapsed)
    }

    /// A summary from the increments done by all workers and each worker's elapsed seconds (sorted here).
    pub fn from_parts(increments_done: u64, elapsed: &mut [f64]) -> WorkerSummary {
        elapsed.sort_by(f64::total_cmp);
        WorkerSummary {
            count: elapsed.len() as u64,
            increments_done,
            elapsed_min_s: elapsed.first().copied().unwrap_or(0.0),
            elapsed_median_s: elapsed.get(elapsed.len() / 2).copied().unwrap_or(0.0),
            elapsed_max_s: elapsed.last().copied().unwrap_or(0.0),
        }
    }
}

/// Everything known about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Version of this layout; see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Threads, processes or async tasks.
    pub model: Model,
    /// Which program ran the model, when it is not this project's Rust frontend (the Python reference
    /// programs say `CPython 3.11.7 threading` and the like).
    #[serde(default)]
    pub implementation: Option<String>,
    /// The workload as run.
    pub config: Config,
    /// The async runtime, for the async model.
    pub runtime: Option<RuntimeReport>,
    /// The pool, for a pooled run; then `workers` lists the pool's members, not the logical workers.
    #[serde(default)]
    pub pool: Option<PoolReport>,
    /// Whether every worker finished every increment. False for a run stopped by a signal.
    pub complete: bool,
    /// `workers * increments`: the value a correct, complete run reaches.
    pub expected: u64,
    /// The counter's value at the end: the seed's "Final counter value".
    pub final_value: u64,
    /// Increments the workers made that the counter does not show: increments done minus final value.
    pub lost_updates: u64,
    /// `lost_updates` as a percentage of increments done.
    pub lost_percent: f64,
    /// Seconds from the start signal until the last worker finished.
    pub wall_time_s: f64,
    /// Seconds one worker would take if each piece of work took exactly its nominal time and nothing else cost
    /// anything: `increments * work`. Zero for `none` and `yield`.
    pub ideal_time_s: f64,
    /// `ideal_time_s / wall_time_s`, when there is an ideal time.
    pub efficiency: Option<f64>,
    /// Seconds to create every worker and see it alive.
    pub start_time_s: f64,
    /// CPU time and context switches of the whole run (every thread; reaped children included).
    pub cpu: CpuUsage,
    /// Memory of every process of the run, taken while all workers were alive.
    pub memory: MemorySnapshot,
    /// Peak RSS of the frontend's own process (`VmHWM`), KiB, read at the end of the run.
    pub peak_rss_kib: u64,
    /// Times a worker found the mutex's holder dead and recovered it.
    pub lock_recoveries: u64,
    /// Every worker's figures; empty above [`DETAIL_LIMIT`] workers (see `worker_summary`).
    pub workers: Vec<WorkerReport>,
    /// Whether `workers` lists every worker (`full`) or was left out (`summary`).
    pub worker_detail: WorkerDetail,
    /// The workers at a glance.
    pub worker_summary: WorkerSummary,
    /// Model-specific remarks: which lock was used and why, and the like.
    pub notes: Vec<String>,
}

/// Whether a report lists every worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerDetail {
    /// Each worker is listed.
    Full,
    /// Too many workers to list: only the summary.
    Summary,
}

/// What a frontend measured; [`RunReport::new`] derives the rest.
#[derive(Debug, Clone, Default)]
pub struct Measurements {
    /// The counter's value at the end.
    pub final_value: u64,
    /// From the start signal until the last worker finished.
    pub wall_time: Duration,
    /// To create every worker and see it alive.
    pub start_time: Duration,
    /// CPU use of the run.
    pub cpu: CpuUsage,
    /// The memory snapshot taken with every worker alive.
    pub memory: MemorySnapshot,
    /// Peak RSS of the frontend's process, KiB.
    pub peak_rss_kib: u64,
    /// Recoveries of the mutex from a dead holder.
    pub lock_recoveries: u64,
    /// Each worker's figures.
    pub workers: Vec<WorkerReport>,
    /// The summary, for a frontend that kept no record per worker (too many); otherwise made from `workers`.
    pub summary: Option<WorkerSummary>,
    /// Model-specific remarks.
    pub notes: Vec<String>,
    /// The async runtime, if any.
    pub runtime: Option<RuntimeReport>,
    /// The pool, if any.
    pub pool: Option<PoolReport>,
}

impl RunReport {
    /// Assembles a report: the expected value, lost updates and efficiency are derived here, the same way for
    /// every frontend.
    pub fn new(model: Model, config: &Config, measured: Measurements) -> RunReport {
        let expected = config.expected().unwrap_or(u64::MAX);
        let listed = !measured.workers.is_empty() || measured.summary.is_none();
        let worker_summary = measured.summary.unwrap_or_else(|| WorkerSummary::of(&measured.workers));
        let done = worker_summary.increments_done;
        let lost_updates = done.saturating_sub(measured.final_value);
        let ideal = config.ideal_worker_time().unwrap_or_default();
        let wall_time_s = measured.wall_time.as_secs_f64();
        let complete = done == expected;
        let (workers, worker_detail) = if measured.workers.len() > DETAIL_LIMIT || !listed {
            (Vec::new(), WorkerDetail::Summary)
        } else {
            (measured.workers, WorkerDetail::Full)
        };
        RunReport {
            schema_version: SCHEMA_VERSION,
            model,
            implementation: None,
            config: config.clone(),
            runtime: measured.runtime,
            pool: measured.pool,
            complete,
            expected,
            final_value: measured.final_value,
            lost_updates,
            lost_percent: if done == 0 { 0.0 } else { lost_updates as f64 * 100.0 / done as f64 },
            wall_time_s,
            ideal_time_s: ideal.as_secs_f64(),
            efficiency: (!ideal.is_zero() && wall_time_s > 0.0 && complete).then(|| ideal.as_secs_f64() / wall_time_s),
            start_time_s: measured.start_time.as_secs_f64(),
            cpu: measured.cpu,
            memory: measured.memory,
            peak_rss_kib: measured.peak_rss_kib,
            lock_recoveries: measured.lock_recoveries,
            workers,
            worker_detail,
            worker_summary,
            notes: measured.notes,
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // A report is plain data (numbers, strings, vectors): serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: u64, increments_done: u64) -> WorkerReport {
        WorkerReport {
            id,
            os_id: None,
            increments_done,
            elapsed_s: id as f64,
            exit_status: None,
            cpu: None,
            max_rss_kib: None,
        }
    }

    #[test]
    fn lost_updates_are_done_minus_counted() {
        let config = Config::default();
        let workers = (0..5).map(|id| worker(id, 1000)).collect();
        let report = RunReport::new(
            Model::Threads,
            &config,
            Measurements { final_value: 4990, wall_time: Duration::from_secs(20), workers, ..Measurements::default() },
        );
        assert!(report.complete);
        assert_eq!((report.expected, report.lost_updates), (5000, 10));
        assert_eq!(report.final_value + report.lost_updates, report.expected);
        assert!((report.lost_percent - 0.2).abs() < 1e-9);
        assert_eq!(report.efficiency, Some(0.5));
        assert!((report.worker_summary.elapsed_median_s - 2.0).abs() < 1e-9);
    }

    #[test]
    fn json_round_trips() {
        let config = Config::default();
        let report = RunReport::new(
            Model::Processes,
            &config,
            Measurements { workers: vec![worker(0, 3)], ..Measurements::default() },
        );
        let back: RunReport = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(back, report);
        assert!(!back.complete);
    }

    #[test]
    fn many_workers_are_summarised() {
        let config = Config { workers: DETAIL_LIMIT as u64 + 1, increments: 1, ..Config::default() };
        let workers = (0..=DETAIL_LIMIT as u64).map(|id| worker(id, 1)).collect();
        let report = RunReport::new(
            Model::Async,
            &config,
            Measurements { final_value: 1001, workers, ..Measurements::default() },
        );
        assert_eq!(report.worker_detail, WorkerDetail::Summary);
        assert!(report.workers.is_empty());
        assert_eq!(report.worker_summary.count, 1001);
        assert!(report.complete);
    }
}
