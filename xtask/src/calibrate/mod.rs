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
    usage::Usage,
    workspace::{self, Profile},
};

/// See [`crate::schema::CALIBRATE`].
pub const SCHEMA_VERSION: u32 = crate::schema::CALIBRATE;

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

    /// Build profile of the calibration and the frontends: release for figures, dev only to try the task out
    #[arg(long, value_enum, default_value_t = Profile::Release)]
    profile: Profile,

    #[command(flatten)]
    exports: output::Exports,
}

/// Seconds for people, with a sign when negative (a longer sleep that cost less: noise, said as it was measured).
fn signed_seconds(seconds: f64) -> String {
    if seconds < 0.0 { format!("-{}", units::seconds(-seconds)) } else { units::seconds(seconds) }
}

/// A count that may be negative, likewise.
fn signed_count(count: f64) -> String {
    format!("{count:.0}")
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
    /// The fastest and slowest of the rounds, for each of the four.
    pub bare_1_range_s: [f64; 2],
    /// See `bare_1_range_s`.
    pub loop_1_range_s: [f64; 2],
    /// See `bare_1_range_s`.
    pub bare_2_range_s: [f64; 2],
    /// See `bare_1_range_s`.
    pub loop_2_range_s: [f64; 2],
}

/// What the rounds say of a goal: above the noise one way or the other, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every round meets it.
    Met,
    /// No round meets it.
    NotMet,
    /// Some rounds do, some do not: the machine's noise is wider than the question.
    Noise,
}

impl Verdict {
    fn words(self) -> &'static str {
        match self {
            Verdict::Met => "met in every round",
            Verdict::NotMet => "not met in any round",
            Verdict::Noise => "indistinguishable here: the rounds fall on both sides",
        }
    }
}

/// The range of `a / b` over the rounds' ranges of `a` and of `b`.
fn ratio_range(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] / b[1], a[1] / b[0]]
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

    /// Whether the worker loop stays within [`OVERHEAD_GOAL`] of the bare loop, one worker, over the rounds.
    pub fn overhead_verdict(&self) -> Verdict {
        let [low, high] = ratio_range(self.loop_1_range_s, self.bare_1_range_s);
        if high <= OVERHEAD_GOAL {
            Verdict::Met
        } else if low > OVERHEAD_GOAL {
            Verdict::NotMet
        } else {
            Verdict::Noise
        }
    }

    /// Whether the worker loop scales from 1 to 2 workers as the bare loop does, within [`SCALING_GOAL`], over
    /// the rounds: the ranges of the two ratios, widened by the goal, must overlap for it to be met in some
    /// round, and the whole of each within the other's widened range for every round.
    pub fn scaling_verdict(&self) -> Verdict {
        let bare = ratio_range(self.bare_2_range_s, self.bare_1_range_s);
        let worker = ratio_range(self.loop_2_range_s, self.loop_1_range_s);
        let (farthest, nearest) = (
            (worker[1] / bare[0]).max(bare[1] / worker[0]) - 1.0,
            ((worker[0] / bare[1]).max(bare[0] / worker[1]) - 1.0).max(0.0),
        );
        if farthest <= SCALING_GOAL {
            Verdict::Met
        } else if nearest > SCALING_GOAL {
            Verdict::NotMet
        } else {
            Verdict::Noise
        }
    }
}

/// What the sleeping comparison says, one sentence per kind of sleeper.
fn sleeping_sentences(costs: &[sleeping::SleepCost]) -> String {
    let mut text = String::new();
    for cost in costs {
        let (ours_cpu, plain_cpu) = cost.cpu_per_second();
        let (ours_switches, plain_switches) = cost.switches_per_second();
        let _ = writeln!(
            text,
            "- {} {}: one more second of sleep cost ours {} of CPU and {} context switches, the plain sleep {} and {} \
             (one run of each); at {} ours used {} more CPU \
             than the plain sleep, what a run does besides sleeping.",
            cost.count,
            cost.sleepers,
            signed_seconds(ours_cpu),
            signed_count(ours_switches),
            signed_seconds(plain_cpu),
            signed_count(plain_switches),
            format_duration(Duration::from_secs_f64(cost.sleep_s)),
            signed_seconds(cost.ours[0].cpu_s - cost.plain[0].cpu_s),
        );
    }
    text
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

/// One strategy as a CSV line: its medians, seconds.
#[derive(Serialize)]
struct CsvRecord<'a> {
    strategy: &'a str,
    increments: u64,
    bare_1_s: f64,
    loop_1_s: f64,
    bare_2_s: f64,
    loop_2_s: f64,
}

impl CsvRecord<'_> {
    fn of(row: &Calibration) -> CsvRecord<'_> {
        CsvRecord {
            strategy: &row.strategy,
            increments: row.increments,
            bare_1_s: row.bare_1_s,
            loop_1_s: row.loop_1_s,
            bare_2_s: row.bare_2_s,
            loop_2_s: row.loop_2_s,
        }
    }
}

/// Runs the calibration.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(html) = &args.exports.html {
        return Err(Usage(format!(
            "--export-html {}: calibrate draws no page; compare and sweep do, and so does cargo xtask report",
            html.display()
        ))
        .into());
    }
    let exports = args.exports.open()?;
    let terminal = Terminal::new(&exports);
    let program = workspace::build_example("counter-core", "calibrate", args.profile)?;
    let plain_threads = workspace::build_example("counter-core", "plain_sleeping_threads", args.profile)?;
    let plain_tasks = workspace::build_example("counter-async", "plain_sleeping_tasks", args.profile)?;
    let bin_dir = workspace::build(&["counter-threads", "counter-async"], args.profile)?;
    let run_dir = RunDir::create(&workspace::results_dir("calibrate"))?;
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
    let csv = output::to_csv(rows.iter().map(CsvRecord::of))?;
    exports.write(&json, &csv, &output::to_markdown(&table), None)?;
    terminal.print(&text(&document, &table, &run_dir))?;
    Ok(ExitCode::SUCCESS)
}

/// What the calibration prints: the loops' table and what it says, then the sleeping workers' and what it says.
fn text(document: &Document, table: &Table, run_dir: &RunDir) -> String {
    let width = output::width();
    let mut prose = String::new();
    let _ = writeln!(
        prose,
        "bare: a loop on a padded atomic, the least a program can do per increment; loop: the frontends' worker \
         loop (no work). ns/inc: one worker, median of 5 rounds; 2w/1w: two workers' time over one's.\n"
    );
    for row in &document.loops {
        let (bare, worker) = row.scaling();
        let overhead = ratio_range(row.loop_1_range_s, row.bare_1_range_s);
        let _ = writeln!(
            prose,
            "- {}: the worker loop takes {:.2}x the bare loop's time ({:.2}x … {:.2}x over the rounds; goal at most \
             {OVERHEAD_GOAL}x: {}); with 2 workers it scales as {worker:.2}x against the bare loop's {bare:.2}x \
             (goal within {:.0}%: {}).",
            row.strategy,
            row.overhead(),
            overhead[0],
            overhead[1],
            row.overhead_verdict().words(),
            SCALING_GOAL * 100.0,
            row.scaling_verdict().words(),
        );
    }
    let mut sleeping_prose = String::new();
    let _ = writeln!(
        sleeping_prose,
        "ours: counter-threads or counter-async, every worker asleep for the whole run (--increments 1); plain: a \
         program that only sleeps as many threads or tasks. CPU: user + system, from wait4.\n"
    );
    sleeping_prose.push_str(&sleeping_sentences(&document.sleeping));
    let _ = writeln!(
        sleeping_prose,
        "\nResults in {} ({} links to it).",
        run_dir.path().display(),
        run_dir.latest().display()
    );
    format!(
        "{}\n{}\n\n{}\n{}\n",
        output::render_to_width(table, width),
        output::wrap(prose.trim_end(), width),
        output::render_to_width(&sleeping_table(&document.sleeping), width),
        output::wrap(sleeping_prose.trim_end(), width),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration(loop_1: [f64; 2], loop_2: [f64; 2]) -> Calibration {
        Calibration {
            strategy: "atomic".to_owned(),
            increments: 1,
            bare_1_s: 1.0,
            loop_1_s: f64::midpoint(loop_1[0], loop_1[1]),
            bare_2_s: 2.0,
            loop_2_s: f64::midpoint(loop_2[0], loop_2[1]),
            bare_1_range_s: [0.99, 1.01],
            loop_1_range_s: loop_1,
            bare_2_range_s: [1.98, 2.02],
            loop_2_range_s: loop_2,
        }
    }

    #[test]
    fn a_verdict_is_given_only_where_every_round_agrees() {
        let close = calibration([1.0, 1.02], [2.0, 2.04]);
        assert_eq!((close.overhead_verdict(), close.scaling_verdict()), (Verdict::Met, Verdict::Met));
        let slow = calibration([1.5, 1.6], [6.0, 6.4]);
        assert_eq!((slow.overhead_verdict(), slow.scaling_verdict()), (Verdict::NotMet, Verdict::NotMet));
        // Rounds on both sides of the goal: noise, said as such, never "not met".
        let noisy = calibration([1.0, 1.5], [1.6, 3.0]);
        assert_eq!((noisy.overhead_verdict(), noisy.scaling_verdict()), (Verdict::Noise, Verdict::Noise));
    }
}
