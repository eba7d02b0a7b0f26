//! The results of `compare`: one flat, documented row per scenario x model x strategy, aggregated over the
//! repeats, with the memory measured from outside. Exporters and the table only read these rows.

use counter_core::{model::Model, proc::memory::MemorySnapshot};
use serde::Serialize;

use crate::{runner::Sample, stats::Stats};

/// Above this difference between the frontend's own memory figures and ours, the row says so.
const MISMATCH_TOLERANCE: f64 = 0.05;

/// One row of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name: `io-like`, `cpu-contended`, `seed`, `custom`.
    pub scenario: String,
    /// The row's label: `threads`, `processes pool 2`, `python threading`.
    pub model: String,
    /// The model the row runs, whatever its label says.
    pub kind: Model,
    /// Whether the row runs a Python reference program rather than our binary.
    pub python: bool,
    /// `racy`, `mutex`, `atomic` or `sharded`.
    pub sync: String,
    /// The workload flags given to the frontend.
    pub flags: String,
    /// Why the row has no figures, if it failed.
    pub error: Option<String>,
    /// Runs measured (warm-up runs excluded).
    pub runs: usize,
    /// Workers per run.
    pub workers: u64,
    /// `workers * increments`.
    pub expected: u64,
    /// Final counter value over the runs.
    pub final_value: Stats,
    /// Lost updates over the runs.
    pub lost_updates: Stats,
    /// Wall time from the start signal to the last worker's end, seconds.
    pub wall_time_s: Stats,
    /// The ideal time (`increments * work`), seconds; 0 when the work takes no time.
    pub ideal_time_s: f64,
    /// Ideal time over median wall time, when there is an ideal time.
    pub efficiency: Option<f64>,
    /// User + system CPU seconds of the whole process tree, from `wait4`.
    pub cpu_s: Stats,
    /// Voluntary + involuntary context switches of the whole tree, from `wait4`.
    pub context_switches: Stats,
    /// Processes in the tree while every worker was alive (median).
    pub processes: f64,
    /// Threads in the tree while every worker was alive (median).
    pub threads: f64,
    /// Summed RSS of the tree, KiB (median). Counts shared pages once per process.
    pub rss_kib: f64,
    /// Summed PSS of the tree, KiB (median): what the tree holds in RAM.
    pub pss_kib: f64,
    /// Summed USS of the tree, KiB (median).
    pub uss_kib: f64,
    /// RSS per extra worker against a 1-worker run of the same model, KiB.
    pub per_worker_rss_kib: Option<f64>,
    /// PSS per extra worker against a 1-worker run, KiB.
    pub per_worker_pss_kib: Option<f64>,
    /// USS per extra worker against a 1-worker run, KiB.
    pub per_worker_uss_kib: Option<f64>,
    /// Where the frontend's own memory figures differ from ours by more than 5%.
    pub self_report_mismatch: Option<String>,
}

/// What identifies a row.
#[derive(Debug, Clone)]
pub struct RowKey {
    /// Scenario name.
    pub scenario: String,
    /// The row's label.
    pub model: String,
    /// The model it runs.
    pub kind: Model,
    /// Whether it runs a Python reference program.
    pub python: bool,
    /// Strategy name.
    pub sync: String,
    /// Workload flags.
    pub flags: String,
    /// Workers per run.
    pub workers: u64,
}

fn collect(samples: &[Sample], figure: impl Fn(&Sample) -> f64) -> Stats {
    Stats::of(&samples.iter().map(figure).collect::<Vec<_>>())
}

impl Row {
    /// A failed row.
    pub fn failed(key: RowKey, error: String) -> Row {
        Row::new(key, &[], None, Some(error))
    }

    /// A row from its runs, and the 1-worker baseline of its model if there is one.
    pub fn measured(key: RowKey, samples: &[Sample], baseline: Option<&MemorySnapshot>) -> Row {
        Row::new(key, samples, baseline, None)
    }

    fn new(key: RowKey, samples: &[Sample], baseline: Option<&MemorySnapshot>, error: Option<String>) -> Row {
        let memory = |figure: fn(&MemorySnapshot) -> u64| collect(samples, |s| figure(&s.external) as f64).median;
        let (rss, pss, uss) = (memory(|m| m.rss_kib), memory(|m| m.pss_kib), memory(|m| m.uss_kib));
        let extra_workers = key.workers.saturating_sub(1) as f64;
        let per_worker = |total: f64, base: fn(&MemorySnapshot) -> u64| {
            baseline
                .filter(|_| extra_workers > 0.0 && !samples.is_empty())
                .map(|b| (total - base(b) as f64) / extra_workers)
        };
        let wall = collect(samples, |s| s.report.wall_time_s);
        let ideal = samples.first().map_or(0.0, |s| s.report.ideal_time_s);
        Row {
            runs: samples.len(),
            expected: samples.first().map_or(0, |s| s.report.expected),
            final_value: collect(samples, |s| s.report.final_value as f64),
            // A run that succeeded has every worker's count, so its loss is known.
            lost_updates: collect(samples, |s| s.report.lost_updates.unwrap_or_default() as f64),
            efficiency: (ideal > 0.0 && wall.median > 0.0).then(|| ideal / wall.median),
            wall_time_s: wall,
            ideal_time_s: ideal,
            cpu_s: collect(samples, |s| s.cpu.user_s + s.cpu.sys_s),
            context_switches: collect(samples, |s| (s.cpu.voluntary_switches + s.cpu.involuntary_switches) as f64),
            processes: memory(|m| m.processes),
            threads: memory(|m| m.threads),
            per_worker_rss_kib: per_worker(rss, |m| m.rss_kib),
            per_worker_pss_kib: per_worker(pss, |m| m.pss_kib),
            per_worker_uss_kib: per_worker(uss, |m| m.uss_kib),
            rss_kib: rss,
            pss_kib: pss,
            uss_kib: uss,
            self_report_mismatch: mismatch(samples),
            error,
            scenario: key.scenario,
            model: key.model,
            kind: key.kind,
            python: key.python,
            sync: key.sync,
            flags: key.flags,
            workers: key.workers,
        }
    }

    /// Whether the row has figures.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Compares each run's self-reported memory with ours; describes the worst difference above the tolerance.
fn mismatch(samples: &[Sample]) -> Option<String> {
    let mut worst: Option<(f64, String)> = None;
    for sample in samples {
        let (ours, theirs) = (&sample.external, &sample.report.memory);
        for (name, ours, theirs) in [
            ("RSS", ours.rss_kib, theirs.rss_kib),
            ("PSS", ours.pss_kib, theirs.pss_kib),
            ("USS", ours.uss_kib, theirs.uss_kib),
        ] {
            let difference = ours.abs_diff(theirs) as f64 / ours.max(1) as f64;
            if difference > MISMATCH_TOLERANCE && worst.as_ref().is_none_or(|(w, _)| difference > *w) {
                let text = format!(
                    "{name}: self-reported {theirs} KiB, measured {ours} KiB ({:.0}% apart)",
                    difference * 100.0
                );
                worst = Some((difference, text));
            }
        }
    }
    worst.map(|(_, text)| text)
}
