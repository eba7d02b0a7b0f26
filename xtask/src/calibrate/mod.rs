//! `cargo xtask calibrate`: does the instrument dilute what it measures? For each lock-free strategy, the
//! frontends' own worker loop (no work, as in the contended scenario) next to a bare loop on a padded atomic,
//! the least a program can do per increment, each at 1 and 2 workers, measured in one optimised process
//! (`crates/counter-core/examples/calibrate.rs`), interleaved over five rounds, medians kept. Then sleeping
//! workers (threads, tasks) next to plain sleeps ([`sleeping`]).

mod sleeping;

use std::{fmt::Write as _, process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use counter_core::{
    config::parse_count_up_to,
    duration::{format_duration, parse_duration},
    units,
};
use serde::{Deserialize, Serialize};

use crate::{
    output::{self, RunDir, Table, Terminal},
    runner,
    workspace::{self, Profile},
};

/// The export's layout; bumped when a field changes. 2: the loops under `loops`, and `sleeping`.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a calibration measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct Document {
    /// See [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The worker loop against the bare loop, per strategy.
    pub loops: Vec<Calibration>,
    /// Sleeping workers against plain sleeps.
    pub sleeping: Vec<sleeping::SleepCost>,
}

/// The loop may cost at most this much more than the bare loop, one worker, no work.
pub const OVERHEAD_GOAL: f64 = 1.3;
/// The loop's 2-worker / 1-worker ratio may differ from the bare loop's by at most this share.
pub const SCALING_GOAL: f64 = 0.15;

/// Measure the worker loop against a bare loop, per strategy, at 1 and 2 workers.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Increments per worker in each measurement (at most 10 000 000 000)
    #[arg(long, default_value_t = 20_000_000, value_parser = |s: &str| parse_count_up_to("increments", s, 10_000_000_000))]
    increments: u64,

    /// Threads asleep at once, ours and plain ones
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = |s: &str| parse_count_up_to("sleeping-threads", s, 10_000))]
    sleeping_threads: u64,

    /// Tasks asleep at once, ours and plain ones
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = |s: &str| parse_count_up_to("sleeping-tasks", s, 1_000_000))]
    sleeping_tasks: u64,

    /// How long the sleepers sleep (and then twice as long), at least 10ms
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = sleep_length)]
    sleep: Duration,

    #[command(flatten)]
    exports: output::Exports,
}

/// A sleep long enough to be told from the start of a run, and short enough to wait for.
fn sleep_length(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text).map_err(|error| error.to_string())?;
    if (Duration::from_millis(10)..=Duration::from_secs(600)).contains(&duration) {
        Ok(duration)
    } else {
        Err(format!("invalid sleep '{text}': it must be from 10ms to 10m"))
    }
}

/// One strategy's figures, seconds for `increments` increments per worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// `racy`, `atomic`, `sharded`.
    pub strategy: String,
    /// Increments per worker.
    pub increments: u64,
    /// The bare loop, one worker.
    pub bare_1_s: f64,
    /// The worker loop, one worker.
    pub loop_1_s: f64,
    /// The bare loop, two workers at once.
    pub bare_2_s: f64,
    /// The worker loop, two workers at once.
    pub loop_2_s: f64,
}

impl Calibration {
    fn ns(&self, seconds: f64) -> f64 {
        seconds * 1e9 / self.increments as f64
    }

    /// The worker loop's time over the bare loop's, one worker.
    pub fn overhead(&self) -> f64 {
        self.loop_1_s / self.bare_1_s
    }

    /// How much longer 2 workers take than 1, for the bare loop and the worker loop.
    pub fn scaling(&self) -> (f64, f64) {
        (self.bare_2_s / self.bare_1_s, self.loop_2_s / self.loop_1_s)
    }
}

fn sleeping_table(costs: &[sleeping::SleepCost]) -> Table {
    let mut rows = Vec::new();
    for cost in costs {
        for (index, factor) in [1.0, 2.0].into_iter().enumerate() {
            let (ours, plain) = (&cost.ours[index], &cost.plain[index]);
            rows.push(vec![
                format!("{} {}", cost.count, cost.sleepers),
                format_duration(Duration::from_secs_f64(cost.sleep_s * factor)),
                units::seconds(ours.cpu_s),
                units::seconds(plain.cpu_s),
                (ours.voluntary_switches + ours.involuntary_switches).to_string(),
                (plain.voluntary_switches + plain.involuntary_switches).to_string(),
            ]);
        }
    }
    Table { headers: vec!["asleep", "for", "CPU ours", "CPU plain", "switches ours", "switches plain"], rows }
}

fn table(rows: &[Calibration]) -> Table {
    Table {
        headers: vec!["strategy", "bare ns/inc", "loop ns/inc", "loop / bare", "2w/1w bare", "2w/1w loop"],
        rows: rows
            .iter()
            .map(|row| {
                let (bare, worker) = row.scaling();
                vec![
                    row.strategy.clone(),
                    format!("{:.2}", row.ns(row.bare_1_s)),
                    format!("{:.2}", row.ns(row.loop_1_s)),
                    format!("{:.2}x", row.overhead()),
                    format!("{bare:.2}x"),
                    format!("{worker:.2}x"),
                ]
            })
            .collect(),
    }
}

/// Runs the calibration.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let exports = args.exports.open()?;
    let terminal = Terminal::new(&exports);
    let program = workspace::build_example("counter-core", "calibrate")?;
    let plain_threads = workspace::build_example("counter-core", "plain_sleeping_threads")?;
    let plain_tasks = workspace::build_example("counter-async", "plain_sleeping_tasks")?;
    let bin_dir = workspace::build(&["counter-threads", "counter-async"], Profile::Release)?;
    let run_dir = RunDir::create(&workspace::target_dir().join("calibrate"))?;
    let output =
        counter_core::child::dies_with_us(std::process::Command::new(&program).arg(args.increments.to_string()))
            .output()
            .with_context(|| format!("could not run {}", program.display()))?;
    runner::check_signals()?;
    if !output.status.success() {
        bail!("{} failed ({}): {}", program.display(), output.status, String::from_utf8_lossy(&output.stderr));
    }
    let rows: Vec<Calibration> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("the calibration printed something else than its figures")?;
    let sleeping = vec![
        sleeping::measure(
            "threads",
            &bin_dir.join("counter-threads"),
            &plain_threads,
            args.sleeping_threads,
            args.sleep,
        )?,
        sleeping::measure("tasks", &bin_dir.join("counter-async"), &plain_tasks, args.sleeping_tasks, args.sleep)?,
    ];
    let document = Document { schema_version: SCHEMA_VERSION, loops: rows, sleeping };
    let rows = &document.loops;
    let json = serde_json::to_string_pretty(&document)?;
    run_dir.publish(&json)?;
    let table = table(rows);
    let mut csv = "strategy,increments,bare_1_s,loop_1_s,bare_2_s,loop_2_s\n".to_owned();
    for row in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{}",
            row.strategy, row.increments, row.bare_1_s, row.loop_1_s, row.bare_2_s, row.loop_2_s
        );
    }
    exports.write(&json, &csv, &output::to_markdown(&table))?;
    let mut text = output::render_to_width(&table, None) + "\n";
    let _ = writeln!(
        text,
        "bare: a loop on a padded atomic, the least a program can do per increment; loop: the frontends' worker \
         loop (no work). ns/inc: one worker, median of 5 rounds; 2w/1w: two workers' time over one's.\n"
    );
    for row in rows {
        let (bare, worker) = row.scaling();
        let _ = writeln!(
            text,
            "- {}: the worker loop takes {:.2}x the bare loop's time ({}; goal at most {OVERHEAD_GOAL}x); with 2 \
             workers it scales as {worker:.2}x against the bare loop's {bare:.2}x, {:.0}% apart ({}; goal within {:.0}%).",
            row.strategy,
            row.overhead(),
            if row.overhead() <= OVERHEAD_GOAL { "met" } else { "not met" },
            (worker / bare - 1.0).abs() * 100.0,
            if (worker / bare - 1.0).abs() <= SCALING_GOAL { "met" } else { "not met" },
            SCALING_GOAL * 100.0
        );
    }
    text.push('\n');
    text.push_str(&output::render_to_width(&sleeping_table(&document.sleeping), None));
    let _ = writeln!(
        text,
        "\nours: counter-threads or counter-async, every worker asleep for the whole run (--increments 1); plain: a \
         program that only sleeps as many threads or tasks. CPU: user + system, from wait4.\n"
    );
    for cost in &document.sleeping {
        let (ours_cpu, plain_cpu) = cost.cpu_per_second();
        let (ours_switches, plain_switches) = cost.switches_per_second();
        let _ = writeln!(
            text,
            "- {} {}: one more second of sleep cost ours {} of CPU and {ours_switches:.0} context switches, the plain \
             sleep {} and {plain_switches:.0}; at {} ours used {} more CPU than the plain sleep (its start line, \
             memory probe and report).",
            cost.count,
            cost.sleepers,
            units::seconds(ours_cpu.max(0.0)),
            units::seconds(plain_cpu.max(0.0)),
            format_duration(Duration::from_secs_f64(cost.sleep_s)),
            units::seconds((cost.ours[0].cpu_s - cost.plain[0].cpu_s).max(0.0)),
        );
    }
    let _ = writeln!(text, "\nResults in {} (target/calibrate/latest links to it).", run_dir.path().display());
    terminal.print(&text)?;
    Ok(ExitCode::SUCCESS)
}
