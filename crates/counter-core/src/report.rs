//! The run report: one flat, documented record of a run that every frontend fills the same way, printed as
//! text for people ([`crate::render`]) or as JSON for tools (`--format json`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    config::{Config, Strategy},
    cpu::CpuUsage,
    extension::Extension,
    model::Model,
    pool::{self, PoolReport},
    proc::memory::{DETAIL_LIMIT, MemorySnapshot},
    queue::QueueWaits,
    trace::{self, Counted, StepLog, TraceReport},
};

/// Bumped whenever a field changes meaning, appears or disappears. Version 2: `lost_updates` and `lost_percent`
/// may be null (a worker died before it reported), with `unreported_workers` and `lost_updates_bounds`. Version
/// 3: `retries`, and the `optimistic` strategy. Version 4: the two fields that held one model's own figures
/// each became `extension` (its `figures` keep their names), and `participants` with `participants_unreported`
/// came up from one model's figures to the report, for every model that shares a run across machines. Version
/// 5: `outcomes` (acknowledged, failed, indeterminate, and the verdict), and the `fenced` strategy. Version 6:
/// `trace` (`--trace`), and `config.trace`, its limit.
pub const SCHEMA_VERSION: u32 = 6;

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
    /// A summary from the increments done by all workers and each worker's elapsed seconds (sorted here).
    fn from_parts(increments_done: u64, elapsed: &mut [f64]) -> WorkerSummary {
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

/// The workers' reports as they come in: every one is counted, but only the first [`DETAIL_LIMIT`] are kept,
/// and none once there are more, so that a run of a million tasks keeps eight bytes per task, not a record.
#[derive(Debug, Clone, Default)]
pub struct WorkerTally {
    detail: Vec<WorkerReport>,
    elapsed_s: Vec<f64>,
    increments_done: u64,
}

impl WorkerTally {
    /// An empty tally for about `workers` reports.
    pub fn with_capacity(workers: u64) -> WorkerTally {
        let workers = usize::try_from(workers).unwrap_or(usize::MAX);
        WorkerTally {
            detail: Vec::with_capacity(workers.min(DETAIL_LIMIT)),
            elapsed_s: Vec::with_capacity(workers),
            increments_done: 0,
        }
    }

    /// Counts one worker's report.
    pub fn push(&mut self, report: WorkerReport) {
        self.increments_done = self.increments_done.saturating_add(report.increments_done);
        self.elapsed_s.push(report.elapsed_s);
        if self.elapsed_s.len() <= DETAIL_LIMIT {
            self.detail.push(report);
        } else if !self.detail.is_empty() {
            self.detail = Vec::new();
        }
    }

    /// Reports counted.
    pub fn len(&self) -> usize {
        self.elapsed_s.len()
    }

    /// Whether no report was counted.
    pub fn is_empty(&self) -> bool {
        self.elapsed_s.is_empty()
    }

    fn finish(mut self) -> (Vec<WorkerReport>, WorkerDetail, WorkerSummary) {
        let summary = WorkerSummary::from_parts(self.increments_done, &mut self.elapsed_s);
        let detail = if self.elapsed_s.len() > DETAIL_LIMIT { WorkerDetail::Summary } else { WorkerDetail::Full };
        (self.detail, detail, summary)
    }
}

impl FromIterator<WorkerReport> for WorkerTally {
    fn from_iter<I: IntoIterator<Item = WorkerReport>>(reports: I) -> Self {
        let mut tally = WorkerTally::default();
        for report in reports {
            tally.push(report);
        }
        tally
    }
}

/// What the lost updates can be when some workers' increments are unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostBounds {
    /// Fewest updates that can have been lost: the increments reported minus the final value.
    pub at_least: u64,
    /// Most: as if the unreported workers had done every increment they could have.
    pub at_most: u64,
}

/// Everything known about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Version of this layout; see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Threads, processes or async tasks.
    pub model: Model,
    /// Which program ran the model, when it is not this project's Rust frontend (a reference program names its
    /// interpreter, version and module).
    #[serde(default)]
    pub implementation: Option<String>,
    /// The workload as run.
    pub config: Config,
    /// Copies of the binary that shared the run, on any machines (1 unless the model shares runs).
    pub participants: u64,
    /// Participants that had not reported when this report was made (stopped, paused past their heartbeat, or
    /// still at work when this one was interrupted): their increments are unknown.
    pub participants_unreported: u64,
    /// The pool, for a pooled run; then `workers` lists the pool's members, not the logical workers.
    #[serde(default)]
    pub pool: Option<PoolReport>,
    /// Whether every worker finished every increment and said so. False for a run stopped by a signal, or one
    /// in which a worker died.
    pub complete: bool,
    /// `workers * increments`: the value a correct, complete run reaches.
    pub expected: u64,
    /// The counter's value at the end: the seed's "Final counter value".
    pub final_value: u64,
    /// Increments the workers made that the counter does not show: increments done minus final value. Null
    /// when a worker ended without saying how many increments it made (see `lost_updates_bounds`).
    pub lost_updates: Option<u64>,
    /// `lost_updates` as a percentage of increments done; null with it.
    pub lost_percent: Option<f64>,
    /// Workers (or pool members) that ended without reporting their increments: killed during the run.
    pub unreported_workers: u64,
    /// What the lost updates can be when `lost_updates` is null.
    pub lost_updates_bounds: Option<LostBounds>,
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
    /// Peak RSS of the frontend's own process (`VmHWM`), KiB, read at the end of the run; null if it could not
    /// be read.
    pub peak_rss_kib: Option<u64>,
    /// Times a worker found the mutex's holder dead and recovered it.
    pub lock_recoveries: u64,
    /// Optimistic strategy: attempts that found the value changed since their read and were made again; `null`
    /// for the other strategies, and where the strategy is not available.
    #[serde(default)]
    pub retries: Option<u64>,
    /// What only this model measures: a named section of labelled lines and the model's own figures.
    #[serde(default)]
    pub extension: Option<Extension>,
    /// What became of every increment attempted, where the counter is in a store that can leave one unknown
    /// (a request sent and never answered): acknowledged, failed, indeterminate, and the final value checked
    /// against them. Null for a counter in memory, where every increment is acknowledged.
    #[serde(default)]
    pub outcomes: Option<Outcomes>,
    /// `--trace`: the steps kept, and every lost update attributed to a collision or a rollback; null without.
    #[serde(default)]
    pub trace: Option<TraceReport>,
    /// Every worker's figures; empty above [`DETAIL_LIMIT`] workers (see `worker_summary`).
    pub workers: Vec<WorkerReport>,
    /// Whether `workers` lists every worker (`full`) or was left out (`summary`).
    pub worker_detail: WorkerDetail,
    /// The workers at a glance.
    pub worker_summary: WorkerSummary,
    /// Model-specific remarks: which lock was used and why, and the like.
    pub notes: Vec<String>,
}

/// What became of the increments attempted, over every participant: each ended acknowledged (its write
/// answered), failed (refused, or never sent), or indeterminate (sent, and no answer came: it may or may not
/// have been applied). The final value is checked as Jepsen's counter checker does: it must lie between the
/// acknowledged increments and those plus the indeterminate ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    /// Increments whose write was answered: the counter must show them.
    pub acknowledged: u64,
    /// Increments refused by the store or never sent: the counter must not show them.
    pub failed: u64,
    /// Increments sent without an answer: the counter may show them or not.
    pub indeterminate: u64,
    /// The check of the final value against them.
    pub verdict: Verdict,
}

/// Where the final value lies against the outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Verdict {
    /// Exactly the acknowledged increments, and none was left unknown.
    Exact,
    /// Within [acknowledged, acknowledged + indeterminate]: `unknown` of the increments may or may not count.
    Consistent {
        /// The width of the uncertainty: the indeterminate increments.
        unknown: u64,
    },
    /// Below the acknowledged increments: `lost` acknowledged updates are not in the counter.
    LostAcknowledged {
        /// Acknowledged increments the counter does not show.
        lost: u64,
    },
    /// Above what was attempted and not refused: `above` increments the workers cannot have made.
    AboveBounds {
        /// How far above.
        above: u64,
    },
}

impl Verdict {
    /// The check of `final_value` against `acknowledged` and `indeterminate` increments.
    pub fn of(final_value: u64, acknowledged: u64, indeterminate: u64) -> Verdict {
        let most = acknowledged.saturating_add(indeterminate);
        if final_value < acknowledged {
            Verdict::LostAcknowledged { lost: acknowledged - final_value }
        } else if final_value > most {
            Verdict::AboveBounds { above: final_value - most }
        } else if indeterminate == 0 {
            Verdict::Exact
        } else {
            Verdict::Consistent { unknown: indeterminate }
        }
    }
}

/// A participant's increments that were not acknowledged, where a store can leave one unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsettled {
    /// Refused, or never sent.
    pub failed: u64,
    /// Sent without an answer.
    pub indeterminate: u64,
}

/// The other participants' share of a run shared across machines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OtherParticipants {
    /// How many other participants there were.
    pub count: u64,
    /// Those that stopped before they reported.
    pub unreported: u64,
    /// Increments the other participants reported done.
    pub increments_done: u64,
    /// Increments they were asked for (a participant that never reported counts as asked for what this one was).
    pub expected: u64,
    /// Workers of participants that never reported, counted as this one's number of workers each.
    pub unreported_workers: u64,
    /// What the other participants reported as not acknowledged.
    pub unsettled: Unsettled,
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
    /// Peak RSS of the frontend's process, KiB, if it could be read.
    pub peak_rss_kib: Option<u64>,
    /// Recoveries of the mutex from a dead holder.
    pub lock_recoveries: u64,
    /// Retries of the optimistic strategy.
    pub retries: Option<u64>,
    /// What only this model measures.
    pub extension: Option<Extension>,
    /// The other participants of a run shared across machines: the counter holds their increments too, so the
    /// loss is counted over all of them.
    pub others: Option<OtherParticipants>,
    /// Each worker's figures, as reported.
    pub workers: WorkerTally,
    /// Where the store can leave an increment unknown: this participant's increments not acknowledged (its
    /// workers' `increments_done` are the acknowledged ones).
    pub unsettled: Option<Unsettled>,
    /// Workers (or pool members) that ended without reporting: their increments are unknown.
    pub unreported_workers: u64,
    /// Whether the run was stopped before its end (a signal): then it is not complete, whatever was done.
    pub stopped: bool,
    /// The pool's queue, for a pooled run.
    pub queue_waits: Option<QueueWaits>,
    /// Model-specific remarks.
    pub notes: Vec<String>,
    /// `--trace`: every worker's steps; and refused attempts the store made again, if it has them.
    pub trace: Option<(Vec<StepLog>, Option<u64>)>,
}

/// What a traced run's report says of the trace's cost.
const TRACE_NOTE: &str = "--trace reads the clock twice per increment, keeps each step, and makes each write tell what \
                          it overwrote: a traced run is slower than an untraced one, most in a tight loop, and its \
                          losses move with its timing (the guide's \"Seeing the lost update\" measures both)";

impl RunReport {
    /// Assembles a report: the expected value, lost updates, efficiency, the pool's figures and notes, and how
    /// much per-worker detail to keep are derived here, the same way for every frontend.
    pub fn new(model: Model, config: &Config, measured: Measurements) -> RunReport {
        let elsewhere = measured.others.unwrap_or_default();
        let expected = config.expected().saturating_add(elsewhere.expected);
        let (workers, worker_detail, worker_summary) = measured.workers.finish();
        let done = worker_summary.increments_done.saturating_add(elsewhere.increments_done);
        let unreported = measured.unreported_workers.saturating_add(elsewhere.unreported_workers);
        let (lost_updates, lost_updates_bounds) = if unreported == 0 {
            (Some(done.saturating_sub(measured.final_value)), None)
        } else {
            // Each unreported worker did at most its increments, and all of them together at most what the
            // others left of the expected total (a pool's members share the jobs).
            let most_unreported = unreported.saturating_mul(config.increments()).min(expected.saturating_sub(done));
            let bounds = LostBounds {
                at_least: done.saturating_sub(measured.final_value),
                at_most: done.saturating_add(most_unreported).saturating_sub(measured.final_value),
            };
            (None, Some(bounds))
        };
        let ideal = config.ideal_worker_time();
        let wall_time_s = measured.wall_time.as_secs_f64();
        let complete = done == expected && unreported == 0 && !measured.stopped;
        let outcomes = measured.unsettled.map(|unsettled| {
            let (failed, indeterminate) = (
                unsettled.failed.saturating_add(elsewhere.unsettled.failed),
                unsettled.indeterminate.saturating_add(elsewhere.unsettled.indeterminate),
            );
            Outcomes {
                acknowledged: done,
                failed,
                indeterminate,
                verdict: Verdict::of(measured.final_value, done, indeterminate),
            }
        });
        let mut notes = measured.notes;
        notes.extend(pool::notes(config, model));
        let trace = measured.trace.map(|(logs, prevented)| {
            notes.push(TRACE_NOTE.to_owned());
            let own_words = config.strategy() == Strategy::Sharded;
            let counted = Counted { own_words, lost: lost_updates.filter(|_| elsewhere.count == 0) };
            TraceReport { prevented, ..trace::attribute(logs, counted) }
        });
        RunReport {
            schema_version: SCHEMA_VERSION,
            model,
            implementation: None,
            config: config.clone(),
            participants: 1 + elsewhere.count,
            participants_unreported: elsewhere.unreported,
            pool: config
                .pool()
                .map(|pool| PoolReport::new(pool.size, pool.jobs, measured.queue_waits.unwrap_or_default())),
            complete,
            expected,
            final_value: measured.final_value,
            lost_updates,
            lost_percent: lost_updates.map(|lost| if done == 0 { 0.0 } else { lost as f64 * 100.0 / done as f64 }),
            unreported_workers: unreported,
            lost_updates_bounds,
            wall_time_s,
            ideal_time_s: ideal.as_secs_f64(),
            efficiency: (!ideal.is_zero() && wall_time_s > 0.0 && complete).then(|| ideal.as_secs_f64() / wall_time_s),
            start_time_s: measured.start_time.as_secs_f64(),
            cpu: measured.cpu,
            memory: measured.memory,
            peak_rss_kib: measured.peak_rss_kib,
            lock_recoveries: measured.lock_recoveries,
            retries: measured.retries,
            extension: measured.extension,
            outcomes: outcomes.filter(|_| unreported == 0),
            trace,
            workers,
            worker_detail,
            worker_summary,
            notes,
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // A report is plain data (numbers, strings, vectors) with string keys: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Every field path of a JSON document, in order: `config.sync`, `workers[].id` (an array's first element
/// stands for all). What a schema version promises its readers; the tests pin it per version.
pub fn field_paths(value: &serde_json::Value) -> Vec<String> {
    fn walk(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    out.push(path.clone());
                    walk(value, &path, out);
                }
            }
            serde_json::Value::Array(items) => {
                if let Some(first) = items.first() {
                    walk(first, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Jobs, Pool, Request};

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
    fn lost_updates_are_what_the_workers_did_that_the_counter_lacks() {
        let workers = (0..5).map(|id| worker(id, 1000)).collect();
        let measured =
            Measurements { final_value: 4990, wall_time: Duration::from_secs(20), workers, ..Measurements::default() };
        let report = RunReport::new(Model::Threads, &Config::default(), measured);
        assert!(report.complete);
        assert_eq!(report.expected, 5000);
        assert_eq!(report.lost_updates, Some(10));
        assert_eq!(report.lost_percent, Some(0.2));
        assert_eq!(report.efficiency, Some(0.5), "10 s ideal in 20 s");
        assert!((report.worker_summary.elapsed_median_s - 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_worker_that_never_reported_makes_the_loss_unknown_not_zero() {
        // Two of three workers reported 1000 each; the third was killed. The counter shows 2500.
        let config = Request { workers: 3, ..Request::default() }.validate().unwrap();
        let measured = Measurements {
            final_value: 2500,
            workers: (0..2).map(|id| worker(id, 1000)).collect(),
            unreported_workers: 1,
            ..Measurements::default()
        };
        let report = RunReport::new(Model::Processes, &config, measured);
        assert!(!report.complete);
        assert_eq!((report.lost_updates, report.lost_percent), (None, None));
        assert_eq!(report.lost_updates_bounds, Some(LostBounds { at_least: 0, at_most: 500 }));
        assert_eq!(report.efficiency, None);
    }

    #[test]
    fn a_stopped_run_is_never_complete() {
        let config = Request { workers: 1, increments: 1, ..Request::default() }.validate().unwrap();
        let measured = Measurements {
            final_value: 1,
            workers: [worker(0, 1)].into_iter().collect(),
            stopped: true,
            ..Measurements::default()
        };
        let report = RunReport::new(Model::Threads, &config, measured);
        assert!(!report.complete);
        assert_eq!(report.efficiency, None, "no efficiency for a run cut short");
    }

    #[test]
    fn json_round_trips() {
        let measured = Measurements { workers: [worker(0, 3)].into_iter().collect(), ..Measurements::default() };
        let report = RunReport::new(Model::Processes, &Config::default(), measured);
        let back: RunReport = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(back, report);
        assert!(!back.complete);
    }

    #[test]
    fn many_workers_are_summarised() {
        let config =
            Request { workers: DETAIL_LIMIT as u64 + 1, increments: 1, ..Request::default() }.validate().unwrap();
        let workers = (0..=DETAIL_LIMIT as u64).map(|id| worker(id, 1)).collect();
        let report = RunReport::new(
            Model::Async,
            &config,
            Measurements { final_value: 1001, workers, ..Measurements::default() },
        );
        assert_eq!(report.worker_detail, WorkerDetail::Summary);
        assert!(report.workers.is_empty());
        assert_eq!(report.worker_summary.count, 1001);
        assert_eq!(report.worker_summary.increments_done, 1001);
    }

    #[test]
    fn the_json_report_keeps_its_field_names() {
        // xtask and the Python programs read these names: renaming one is a new schema version.
        let workers = [WorkerReport {
            exit_status: Some("exited 0".into()),
            cpu: Some(CpuUsage::default()),
            max_rss_kib: Some(1),
            ..worker(0, 1)
        }];
        let measured = Measurements { workers: workers.into_iter().collect(), ..Measurements::default() };
        let report = RunReport::new(Model::Processes, &Config::default(), measured);
        let paths = field_paths(&serde_json::to_value(&report).unwrap());
        // The snapshot is named after the version: a field that moves shows as a change to the snapshot of a
        // version already published, which is wrong; raise SCHEMA_VERSION and record a new one instead.
        insta::assert_snapshot!(format!("field_names_of_schema_version_{SCHEMA_VERSION}"), paths.join("\n"));
    }

    #[test]
    fn a_pool_is_described_from_the_config() {
        let config = Request { workers: 2, pool: Some(Pool { size: 3, jobs: Jobs::Worker }), ..Request::default() }
            .validate()
            .unwrap();
        let waits = QueueWaits { jobs: 2, middle_job: Duration::from_millis(1), longest: Duration::from_millis(2) };
        let report = RunReport::new(
            Model::Threads,
            &config,
            Measurements { queue_waits: Some(waits), ..Measurements::default() },
        );
        let pool = report.pool.expect("a pooled run reports its pool");
        assert_eq!((pool.size, pool.job_count), (3, 2));
        assert!(report.notes.iter().any(|note| note.contains("1 member finds no job")), "{:?}", report.notes);
    }
}
