//! The results of `compare`: one flat row per scenario x model x strategy, aggregated over its runs, every
//! figure a number in a fixed unit named in the field (`wall_median_s`, `pss_bytes`), as hyperfine's exports
//! are. The table, the sentences and the exporters only read these rows.

use counter_core::{config::Strategy, model::Model, proc::load::MachineLoad};
use serde::{Deserialize, Serialize};

use crate::{models, runner::Sample, stats::Stats};

/// Above this difference between the frontend's own memory figures and ours, the row says so.
const MISMATCH_TOLERANCE: f64 = 0.05;

/// One scenario as it ran: its load, and its rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRun {
    /// Its name.
    pub name: String,
    /// What it stands for.
    pub about: String,
    /// The workload flags.
    pub flags: String,
    /// The machine's load just before it ran.
    pub load_before: Option<MachineLoad>,
    /// CPUs that other work kept busy just before it ran (sampled over a quarter of a second while idle).
    pub busy_cpus_before: Option<f64>,
    /// CPU time stolen by the hypervisor while it ran, percent.
    pub steal_percent: Option<f64>,
}

/// One row of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Scenario name: `io-like`, `cpu-contended`, `seed`, `custom`.
    pub scenario: String,
    /// The row's label: `threads`, `processes pool 2`, `python3.13t threading`.
    pub label: String,
    /// The model the row runs, whatever its label says.
    pub model: Model,
    /// Whether the row runs a Python reference program rather than our binary.
    pub python: bool,
    /// A Python row: whether its runs had the GIL enabled, as their reports say (`null` for ours, and when the
    /// runs disagree or do not say).
    pub gil_enabled: Option<bool>,
    /// `racy`, `mutex`, `atomic`, `sharded` or `optimistic`.
    pub sync: Strategy,
    /// The workload flags given to the program.
    pub flags: String,
    /// The scenario's workload for this row (its flags without the program's own: start method, pool, server):
    /// rows timed on the same workload can be compared.
    pub workload: String,
    /// Why the row has no figures, if it failed.
    pub error: Option<String>,
    /// Why the row has no figures, if the program has no such strategy (not a failure).
    pub unavailable: Option<String>,
    /// Optimistic strategy: median compare-and-swap retries per run.
    pub retries_median: Option<f64>,
    /// A model with a server: round trips per increment, median over the runs.
    pub round_trips_per_increment_median: Option<f64>,
    /// A model with a server: a round trip's median latency, microseconds (the median over the runs of each run's
    /// median).
    pub latency_median_us: Option<f64>,
    /// A model with a server: a round trip's 99th percentile, microseconds (the median over the runs).
    pub latency_p99_us: Option<f64>,
    /// A model whose server refuses conflicting transactions: those refused (and made again), median over the
    /// runs.
    pub refused_median: Option<f64>,
    /// Runs measured (warm-up runs excluded).
    pub runs: usize,
    /// Workers per run.
    pub workers: u64,
    /// `workers * increments`.
    pub expected: u64,
    /// Final counter value, median over the runs.
    pub final_median: f64,
    /// Lost updates, median over the runs.
    pub lost_median: f64,
    /// Lost updates, most in one run.
    pub lost_max: f64,
    /// Runs that lost at least one update.
    pub runs_with_loss: usize,
    /// Wall time from the start signal to the last worker's end, median, seconds.
    pub wall_median_s: f64,
    /// Low end of the median's confidence interval, seconds.
    pub wall_ci_low_s: f64,
    /// High end of the median's confidence interval, seconds.
    pub wall_ci_high_s: f64,
    /// The interval's coverage (0.95 or more from 6 runs on).
    pub wall_ci_level: f64,
    /// Fastest run, seconds.
    pub wall_min_s: f64,
    /// Slowest run, seconds.
    pub wall_max_s: f64,
    /// Mean, seconds.
    pub wall_mean_s: f64,
    /// Sample standard deviation, seconds.
    pub wall_stddev_s: f64,
    /// Runs outside Tukey's fences.
    pub wall_outliers: usize,
    /// The ideal time (`increments * work`), seconds; 0 when the work takes no time.
    pub ideal_s: f64,
    /// User + system CPU seconds of the whole process tree, median, from `wait4`.
    pub cpu_median_s: f64,
    /// The run's own CPU time (its start included) over its wall time from the start signal, median: how many
    /// workers ran at once on average when the run is long next to its start.
    pub parallelism_median: f64,
    /// The same, lowest in one run.
    pub parallelism_min: f64,
    /// Voluntary + involuntary context switches of the whole tree, median.
    pub context_switches_median: f64,
    /// Processes in the tree while every worker was alive (median).
    pub processes: f64,
    /// Threads in the tree while every worker was alive (median).
    pub threads: f64,
    /// Summed RSS of the tree, bytes (median). Counts shared pages once per process.
    pub rss_bytes: f64,
    /// Summed PSS of the tree, bytes (median): what the tree holds in RAM.
    pub pss_bytes: f64,
    /// Summed USS of the tree, bytes (median).
    pub uss_bytes: f64,
    /// Where the frontend's own memory figures differ from ours by more than 5%.
    pub self_report_mismatch: Option<String>,
    /// Wall time statistics, for the sentences.
    #[serde(skip)]
    pub wall: Stats,
}

/// What identifies a row.
#[derive(Debug, Clone)]
pub struct RowKey {
    /// Scenario name.
    pub scenario: String,
    /// The row's label.
    pub label: String,
    /// The model it runs.
    pub model: Model,
    /// Whether it runs a Python reference program.
    pub python: bool,
    /// Strategy name.
    pub sync: Strategy,
    /// Workload flags.
    pub flags: String,
    /// The scenario's workload for this row.
    pub workload: String,
    /// Workers per run.
    pub workers: u64,
}

fn collect(samples: &[Sample], figure: impl Fn(&Sample) -> f64) -> Stats {
    Stats::of(&samples.iter().map(figure).collect::<Vec<_>>())
}

/// The run's own CPU time over its wall time. Its CPU time includes the run's start (workers made, memory
/// sampled) while the wall time starts at the start signal, so this is how many workers ran at once only when the
/// run is long next to its start; for a short run it can pass the number of CPUs, and is named for what it is.
pub fn parallelism(sample: &Sample) -> f64 {
    let cpu = sample.report.cpu.user_s + sample.report.cpu.sys_s;
    if sample.report.wall_time_s > 0.0 { cpu / sample.report.wall_time_s } else { 0.0 }
}

impl Row {
    /// A failed row.
    pub fn failed(key: RowKey, error: String) -> Row {
        Row::new(key, &[], Some(error))
    }

    /// A row for a strategy that the program does not have, and why.
    pub fn unavailable(key: RowKey, why: &str) -> Row {
        Row { unavailable: Some(why.to_owned()), ..Row::new(key, &[], None) }
    }

    /// A row from its runs.
    pub fn measured(key: RowKey, samples: &[Sample]) -> Row {
        Row::new(key, samples, None)
    }

    fn new(key: RowKey, samples: &[Sample], error: Option<String>) -> Row {
        let bytes = |figure: fn(&counter_core::proc::memory::MemorySnapshot) -> u64| {
            collect(samples, |s| figure(&s.external) as f64).median * 1024.0
        };
        // A run that succeeded has every worker's count, so its loss is known.
        let lost = collect(samples, |s| s.report.lost_updates.unwrap_or_default() as f64);
        let wall = collect(samples, |s| s.report.wall_time_s);
        let parallelism = collect(samples, parallelism);
        let retries: Vec<f64> = samples.iter().filter_map(|s| s.report.retries).map(|r| r as f64).collect();
        // A model's own figures, by name, from the runs whose report has them.
        let own = |name: &str| {
            let values: Vec<f64> = samples.iter().filter_map(|s| s.report.extension.as_ref()?.number(name)).collect();
            (!values.is_empty()).then(|| Stats::of(&values).median)
        };
        let gil: Vec<bool> =
            samples.iter().filter_map(|s| s.report.extension.as_ref()?.figures.get("gil_enabled")?.as_bool()).collect();
        Row {
            gil_enabled: (!gil.is_empty() && gil.len() == samples.len() && gil.iter().all(|&on| on == gil[0]))
                .then(|| gil[0]),
            unavailable: None,
            retries_median: (!retries.is_empty()).then(|| Stats::of(&retries).median),
            round_trips_per_increment_median: own("round_trips_per_increment"),
            latency_median_us: own("latency_median_us"),
            latency_p99_us: own("latency_p99_us"),
            refused_median: models::of(key.model).refusals_figure.and_then(own),
            runs: samples.len(),
            expected: samples.first().map_or(0, |s| s.report.expected),
            final_median: collect(samples, |s| s.report.final_value as f64).median,
            lost_median: lost.median,
            lost_max: lost.max,
            runs_with_loss: samples.iter().filter(|s| s.report.lost_updates.unwrap_or_default() > 0).count(),
            wall_median_s: wall.median,
            wall_ci_low_s: wall.ci_low,
            wall_ci_high_s: wall.ci_high,
            wall_ci_level: wall.ci_level,
            wall_min_s: wall.min,
            wall_max_s: wall.max,
            wall_mean_s: wall.mean,
            wall_stddev_s: wall.stddev,
            wall_outliers: wall.outliers,
            ideal_s: samples.first().map_or(0.0, |s| s.report.ideal_time_s),
            cpu_median_s: collect(samples, |s| s.cpu.user_s + s.cpu.sys_s).median,
            parallelism_median: parallelism.median,
            parallelism_min: parallelism.min,
            context_switches_median: collect(samples, |s| {
                (s.cpu.voluntary_switches + s.cpu.involuntary_switches) as f64
            })
            .median,
            processes: collect(samples, |s| s.external.processes as f64).median,
            threads: collect(samples, |s| s.external.threads as f64).median,
            rss_bytes: bytes(|m| m.rss_kib),
            pss_bytes: bytes(|m| m.pss_kib),
            uss_bytes: bytes(|m| m.uss_kib),
            self_report_mismatch: mismatch(samples),
            wall,
            error,
            scenario: key.scenario,
            label: key.label,
            model: key.model,
            python: key.python,
            sync: key.sync,
            flags: key.flags,
            workload: key.workload,
            workers: key.workers,
        }
    }

    /// Whether the row has figures.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.unavailable.is_none()
    }

    /// Whether the row failed (a row whose strategy the program lacks did not).
    pub fn failed_to_run(&self) -> bool {
        self.error.is_some()
    }

    /// The row as a CSV record: numbers at full precision, no units in cells.
    pub fn csv_record(&self) -> CsvRecord<'_> {
        CsvRecord {
            scenario: &self.scenario,
            label: &self.label,
            sync: self.sync.name(),
            error: self.error.as_deref(),
            unavailable: self.unavailable.as_deref(),
            runs: self.runs,
            workers: self.workers,
            expected: self.expected,
            final_median: self.final_median,
            lost_median: self.lost_median,
            lost_max: self.lost_max,
            runs_with_loss: self.runs_with_loss,
            wall_median_s: self.wall_median_s,
            wall_ci_low_s: self.wall_ci_low_s,
            wall_ci_high_s: self.wall_ci_high_s,
            wall_ci_level: self.wall_ci_level,
            wall_min_s: self.wall_min_s,
            wall_max_s: self.wall_max_s,
            cpu_median_s: self.cpu_median_s,
            parallelism_median: self.parallelism_median,
            context_switches_median: self.context_switches_median,
            processes: self.processes,
            threads: self.threads,
            rss_bytes: self.rss_bytes,
            pss_bytes: self.pss_bytes,
            uss_bytes: self.uss_bytes,
            retries_median: self.retries_median,
            round_trips_per_increment_median: self.round_trips_per_increment_median,
            latency_median_us: self.latency_median_us,
            latency_p99_us: self.latency_p99_us,
            refused_median: self.refused_median,
            gil_enabled: self.gil_enabled,
        }
    }
}

/// A row as one CSV line: the fields of [`Row`] that are one figure each, named as in the JSON export.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct CsvRecord<'a> {
    pub scenario: &'a str,
    pub label: &'a str,
    pub sync: &'static str,
    pub error: Option<&'a str>,
    pub unavailable: Option<&'a str>,
    pub runs: usize,
    pub workers: u64,
    pub expected: u64,
    pub final_median: f64,
    pub lost_median: f64,
    pub lost_max: f64,
    pub runs_with_loss: usize,
    pub wall_median_s: f64,
    pub wall_ci_low_s: f64,
    pub wall_ci_high_s: f64,
    pub wall_ci_level: f64,
    pub wall_min_s: f64,
    pub wall_max_s: f64,
    pub cpu_median_s: f64,
    pub parallelism_median: f64,
    pub context_switches_median: f64,
    pub processes: f64,
    pub threads: f64,
    pub rss_bytes: f64,
    pub pss_bytes: f64,
    pub uss_bytes: f64,
    pub retries_median: Option<f64>,
    pub round_trips_per_increment_median: Option<f64>,
    pub latency_median_us: Option<f64>,
    pub latency_p99_us: Option<f64>,
    pub refused_median: Option<f64>,
    pub gil_enabled: Option<bool>,
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
