//! `cargo xtask compare`: build the frontends, run each on the same workloads over the strategies asked for,
//! measure every run from the outside as well as reading its own report, and say only what the evidence holds.
//!
//! The runs of a scenario are interleaved (one run of each row in turn, round after round), so that a change in
//! the machine's load falls on every row alike; each row gets at least `--repeats` runs, and more while the 95%
//! interval of its median is wider than ±5% and its time budget lasts. Memory per extra worker is measured apart,
//! at a scale where it stands above the noise (1 against 1000 threads or processes, 1 against 100 000 tasks).
//!
//! Measuring ([`crate::runner`]), aggregating ([`results`], [`crate::stats`]), presenting ([`table`],
//! [`summary`]) and exporting ([`json`], [`crate::output`]) are separate: an exporter never measures and the runner
//! never formats.

mod json;
mod probe;

pub use self::json::SCHEMA_VERSION;
mod results;
mod scenario;
mod summary;
mod table;
#[cfg(test)]
mod tests;

use std::{
    fmt::Write as _,
    io::IsTerminal,
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use counter_core::{
    cli::value_name,
    config::{Strategy, Timer, Window, Work, parse_count, parse_count_up_to},
    duration::parse_duration,
    model::{Model, StartMethod},
    output::eprint,
    proc::load::MachineLoad,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use self::{
    results::{Row, RowKey},
    scenario::{Preset, Scenario},
};
use crate::{
    machine::Machine,
    models::{self, ServerArgs},
    output::{self, RunDir, Terminal},
    python,
    runner::{Program, Sample, TaskInterrupted, run_once},
    stats::Stats,
    workspace::{self, Profile},
};

/// The most measured runs a row may ask for: a thousand runs of the quickest row already take minutes.
const MAX_REPEATS: u64 = 1000;
/// The most unmeasured runs a row may ask for.
const MAX_WARMUP: u64 = 100;
/// The most runs a row gets to narrow its interval, beyond `--repeats`.
const MAX_ADAPTIVE_RUNS: usize = 30;
/// The interval a row aims for: its half-width as a fraction of the median.
const TARGET_HALF_WIDTH: f64 = 0.05;
/// How long the machine is watched, idle, before each scenario to see what else keeps it busy.
const BUSY_SAMPLE: Duration = Duration::from_millis(250);

/// The most pairs of memory-probe runs.
const MAX_PROBE_PAIRS: u64 = 100;

/// A count that may be zero, up to `max`.
fn zero_to(name: &'static str, max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |text: &str| match text.parse::<u64>() {
        Ok(value) if value <= max => Ok(value),
        _ => Err(format!("invalid {name} '{text}': it must be a whole number from 0 to {max}")),
    }
}

/// Run every frontend on the same workload and tabulate the results.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask compare             # the default scenarios: 1.5 to 3 minutes after the build (the first build
                                  # takes a few minutes on 2 cores)
  cargo xtask compare --preset seed --syncs racy --repeats 3 --warmup 0   # the seed: 10 s a run, 2 minutes here;
                                  # with every strategy and the default runs, about 14 minutes
  cargo xtask compare --work none --increments 1000000 --syncs racy,atomic
  cargo xtask compare --models threads,async --repeats 5 --export-markdown target/compare/table.md
  cargo xtask compare --pool 2 --models threads,processes   # adds rows on a pool of 2, as concurrent.futures")]
pub struct Args {
    /// The scenarios to run, unless workload flags are given
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    preset: Preset,

    /// The models to compare, comma-separated [default: every model; one whose server cannot be started is
    /// skipped with one line]
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Vec<Model>,

    #[command(flatten)]
    servers: ServerArgs,

    /// The strategies to compare, comma-separated [default: every strategy]
    #[arg(long, value_enum, value_delimiter = ',')]
    syncs: Vec<Strategy>,

    /// Measured runs per row at least (at most 1000); more, up to 30, while the median's 95% interval is wider than
    /// ±5% and the row's time budget lasts
    #[arg(long, default_value_t = 6, value_parser = |s: &str| parse_count_up_to("repeats", s, MAX_REPEATS))]
    repeats: u64,

    /// Time a row may spend on runs beyond --repeats to narrow its interval (0s: none)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = |s: &str| parse_duration(s))]
    row_budget: Duration,

    /// Pairs of runs (1 worker, then 1000 threads or processes or 100 000 tasks) that measure the memory of one
    /// more worker (0: none)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = zero_to("probe-pairs", MAX_PROBE_PAIRS))]
    probe_pairs: u64,

    /// Every column in the table (runs, min … max, parallelism, context switches, RSS, USS, ...), not only the
    /// ones read first
    #[arg(long)]
    wide: bool,

    /// Unmeasured runs per row before the measured ones (at most 100)
    #[arg(long, default_value_t = 1, value_parser = zero_to("warmup", MAX_WARMUP))]
    warmup: u64,

    /// Workers (passed to every frontend; any workload flag replaces the preset with one custom scenario)
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_count("workers", s))]
    workers: Option<u64>,

    /// Increments per worker (passed through)
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_count("increments", s))]
    increments: Option<u64>,

    /// Work per increment (passed through; the flag's help lists the kinds).
    #[arg(
        long,
        value_name = "WORK",
        value_parser = |s: &str| s.parse::<Work>(),
        help = "Work per increment: none, yield, sleep:<duration>, spin:<duration> (passed through)"
    )]
    work: Option<Work>,

    /// Where the work sits (passed through)
    #[arg(long, value_enum)]
    window: Option<Window>,

    /// How sleeps are timed (passed through)
    #[arg(long, value_enum)]
    timer: Option<Timer>,

    /// Also run threads and processes on a pool of N members (rows named `threads pool N`, `processes pool N`)
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_count("pool", s))]
    pool: Option<u64>,

    /// Run the processes (and, with --with-python, Python's process programs) once per start method,
    /// comma-separated: fork, forkserver, spawn (rows named `processes spawn`, ...); memory is probed per method
    #[arg(long, value_enum, value_delimiter = ',', value_name = "METHODS")]
    starts: Vec<StartMethod>,

    /// Also run the Python reference programs in python/ (threading, concurrent.futures, multiprocessing,
    /// process pools, asyncio) for the strategies they have (racy, mutex); skipped with a message if
    /// there is no python3
    #[arg(long)]
    with_python: bool,

    /// Build profile of the frontends
    #[arg(long, value_enum, default_value_t = Profile::Release)]
    profile: Profile,

    #[command(flatten)]
    exports: output::Exports,
}

impl Args {
    fn custom_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                flags.extend([flag.to_owned(), value]);
            }
        };
        push("--workers", self.workers.map(|v| v.to_string()));
        push("--increments", self.increments.map(|v| v.to_string()));
        push("--work", self.work.map(|v| v.to_string()));
        push("--window", self.window.map(|v| value_name(&v)));
        push("--timer", self.timer.map(|v| value_name(&v)));
        flags
    }

    fn scenarios(&self) -> Vec<Scenario> {
        let flags = self.custom_flags();
        if flags.is_empty() { self.preset.scenarios() } else { vec![scenario::custom(flags)] }
    }
}

/// One scenario as it ran: its load, and its rows.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRun {
    /// Its name.
    pub name: &'static str,
    /// What it stands for.
    pub about: &'static str,
    /// The workload flags.
    pub flags: String,
    /// The machine's load just before it ran.
    pub load_before: Option<MachineLoad>,
    /// CPUs that other work kept busy just before it ran (sampled over a quarter of a second while idle).
    pub busy_cpus_before: Option<f64>,
    /// CPU time stolen by the hypervisor while it ran, percent.
    pub steal_percent: Option<f64>,
}

/// Runs the comparison; the exit code says whether every row succeeded.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let syncs = if args.syncs.is_empty() { Strategy::ALL.to_vec() } else { args.syncs.clone() };
    let args = &Args { models: models::runnable(&models::asked(&args.models), &args.servers), syncs, ..args.clone() };
    // Export files are opened before anything runs, so that a path that cannot be written fails at once.
    let exports = args.exports.open()?;
    let terminal = Terminal::new(&exports);
    let packages: Vec<&str> = args.models.iter().map(|model| model.binary()).collect();
    let bin_dir = workspace::build(&packages, args.profile)?;
    let run_dir = RunDir::create(&workspace::results_dir("compare"))?;
    Machine::now("compare").record(run_dir.path())?;
    let scenarios = args.scenarios();
    let targets = targets(args, &bin_dir);
    if let (Ok(load), Ok(busy)) = (MachineLoad::now(), MachineLoad::busy_cpus_over(BUSY_SAMPLE))
        && load.is_busy(busy)
    {
        eprint(&format!(
            "xtask: the machine is busy: other work keeps {busy:.1} of its {} CPUs busy, so timings and lost \
             updates will vary more than on a quiet machine\n",
            load.cpus
        ));
    }
    let cells: u64 = targets
        .iter()
        .map(|target| {
            target.syncs.iter().filter(|&&sync| !target.python || python::SYNCS.contains(&sync)).count() as u64
        })
        .sum();
    let progress = progress_bar(
        scenarios.len() as u64 * cells * (args.warmup + args.repeats)
            + 2 * args.probe_pairs * probe::count(&args.models, &args.starts),
    );
    let mut rows = Vec::new();
    let mut scenario_runs = Vec::new();
    let measured = measure_all(args, &scenarios, &targets, &run_dir, &progress, &mut rows, &mut scenario_runs)
        .and_then(|()| {
            probe::probe_all(&args.models, &args.starts, &args.servers, &bin_dir, args.probe_pairs, &progress)
        });
    progress.finish_and_clear();
    let probes = match measured {
        Ok(probes) => probes,
        Err(error) => {
            if error.is::<TaskInterrupted>() {
                // What was measured is kept: the raw reports are in the run's folder already, and the rows so far
                // go next to them (not published as the latest comparison, which it is not).
                let json = json::to_json(&scenario_runs, &rows, &[]);
                output::write(&run_dir.path().join("partial-results.json"), &json)?;
                eprint(&format!("xtask: the rows measured so far are in {}\n", run_dir.path().display()));
            }
            return Err(error);
        }
    };

    // Results first, then exports, then the text: a failed print must not lose a measurement.
    let json = json::to_json(&scenario_runs, &rows, &probes);
    run_dir.publish(&json)?;
    let page = if exports.wants_html() {
        let results = crate::report::RunResults::read(run_dir.path())?;
        Some(crate::report::page(results.as_ref(), None)?)
    } else {
        None
    };
    exports.write(&json, &json::to_csv(&rows), &table::markdown(&rows), page.as_deref())?;
    let mut text = tables_and_sentences(args, &scenario_runs, &rows, &probes);
    let _ = writeln!(
        text,
        "\nRaw reports and results.json are in {} ({} links to it); this comparison took {:.1} s.",
        run_dir.path().display(),
        run_dir.latest().display(),
        started.elapsed().as_secs_f64()
    );
    terminal.print(&text)?;
    let failed = rows.iter().filter(|row| row.failed_to_run()).count();
    if failed > 0 {
        eprint(&format!("xtask: {failed} row(s) failed; see the table\n"));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the comparison prints: a table per scenario, the legend, the sentences and any self-report mismatch.
fn tables_and_sentences(args: &Args, scenario_runs: &[ScenarioRun], rows: &[Row], probes: &[probe::Probe]) -> String {
    let width = terminal_width();
    let mut text = String::new();
    for scenario in scenario_runs {
        let _ = writeln!(text, "{}: {} ({})", scenario.name, scenario.flags, scenario.about);
        let scenario_rows: Vec<&Row> = rows.iter().filter(|row| row.scenario == scenario.name).collect();
        if let Some(other) = scenario_rows.iter().find(|row| row.workload != scenario.flags) {
            let why = models::of(other.model).contended.map_or("", |(_, why)| why);
            let _ =
                writeln!(text, "(the {} rows: {}, {why}; timed among themselves)", other.model.name(), other.workload);
        }
        let _ = writeln!(text, "{}\n", table::render(&scenario_rows, args.wide, width));
    }
    let _ = writeln!(text, "{}", table::legend(args.wide));
    let _ = writeln!(text);
    for sentence in summary::sentences(scenario_runs, rows, probes) {
        let _ = writeln!(text, "- {sentence}");
    }
    for row in rows.iter().filter(|row| row.self_report_mismatch.is_some()) {
        let _ = writeln!(
            text,
            "- note: {} {} {}: {}",
            row.scenario,
            row.label,
            row.sync.name(),
            row.self_report_mismatch.as_deref().unwrap_or("")
        );
    }
    text
}

/// The terminal's width when standard output is one (`$COLUMNS` first), else `None`: a fixed layout.
fn terminal_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(columns);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(terminal_size::Width(columns), _)| columns)
}

/// One row being measured.
struct Cell<'a> {
    key: RowKey,
    program: &'a Program,
    flags: Vec<String>,
    samples: Vec<Sample>,
    error: Option<String>,
    /// Why the program has no such strategy: the row is not run.
    unavailable: Option<&'static str>,
    spent: Duration,
}

impl Cell<'_> {
    /// Whether the row wants another run: fewer than `--repeats`, or an interval still wider than the target
    /// while its budget lasts.
    fn wants_more(&self, args: &Args) -> bool {
        if self.error.is_some() || self.unavailable.is_some() {
            return false;
        }
        let runs = self.samples.len();
        if (runs as u64) < args.repeats {
            return true;
        }
        let wall = Stats::of(&self.samples.iter().map(|s| s.report.wall_time_s).collect::<Vec<_>>());
        runs < MAX_ADAPTIVE_RUNS && self.spent < args.row_budget && wall.relative_half_width() > TARGET_HALF_WIDTH
    }

    /// One run; a failure makes the row a failed row, an interruption ends the comparison.
    fn run(&mut self, measured: bool, run_dir: &RunDir) -> anyhow::Result<()> {
        let started = Instant::now();
        match run_once(self.program, &self.flags) {
            Ok(sample) if measured => {
                self.spent += started.elapsed();
                let file = run_dir.path().join(&self.key.scenario).join(format!(
                    "{}-{}-{}.json",
                    self.key.label.replace(' ', "-"),
                    self.key.sync.name(),
                    self.samples.len() + 1
                ));
                output::write(&file, &sample.raw_json)?;
                self.samples.push(sample);
            }
            Ok(_) => {}
            Err(error) if error.is::<TaskInterrupted>() => return Err(error),
            Err(error) => self.error = Some(counter_core::secrets::redact(&format!("{error:#}"))),
        }
        Ok(())
    }

    fn into_row(self) -> Row {
        match (self.error, self.unavailable) {
            (Some(error), _) => Row::failed(self.key, error),
            (None, Some(why)) => Row::unavailable(self.key, why),
            (None, None) => Row::measured(self.key, &self.samples),
        }
    }
}

/// Every scenario in turn; within one, the rows' runs interleaved, round after round.
fn measure_all(
    args: &Args,
    scenarios: &[Scenario],
    targets: &[Target],
    run_dir: &RunDir,
    progress: &ProgressBar,
    rows: &mut Vec<Row>,
    scenario_runs: &mut Vec<ScenarioRun>,
) -> anyhow::Result<()> {
    for scenario in scenarios {
        let busy_cpus_before = MachineLoad::busy_cpus_over(BUSY_SAMPLE).ok();
        let load_before = MachineLoad::now().ok();
        let mut cells = Vec::new();
        for target in targets {
            let workload = scenario.flags_for(target.model);
            let mut flags = workload.clone();
            flags.extend(target.extra_flags.iter().cloned());
            if target.python {
                flags = python::flags(&flags);
            }
            for &strategy in &target.syncs {
                let mut row_flags = flags.clone();
                row_flags.extend(["--sync".to_owned(), strategy.name().to_owned()]);
                let key = RowKey {
                    scenario: scenario.name.to_owned(),
                    label: target.label.clone(),
                    model: target.model,
                    python: target.python,
                    sync: strategy,
                    flags: counter_core::secrets::redact(&flags.join(" ")),
                    workload: workload.join(" "),
                    workers: scenario.workers,
                };
                let unavailable = target.python.then(|| python::unavailable(strategy)).flatten();
                cells.push(Cell {
                    key,
                    program: &target.program,
                    flags: row_flags,
                    samples: Vec::new(),
                    error: None,
                    unavailable,
                    spent: Duration::ZERO,
                });
            }
        }
        for round in 0..args.warmup {
            progress.set_message(format!("{} warm-up {}", scenario.name, round + 1));
            for cell in cells.iter_mut().filter(|cell| cell.error.is_none() && cell.unavailable.is_none()) {
                cell.run(false, run_dir)?;
                progress.inc(1);
            }
        }
        let mut round = 0;
        loop {
            let wanting: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].wants_more(args)).collect();
            if wanting.is_empty() {
                break;
            }
            round += 1;
            progress.set_message(format!("{} round {round}", scenario.name));
            for index in wanting {
                if cells[index].samples.len() as u64 >= args.repeats {
                    progress.inc_length(1);
                }
                cells[index].run(true, run_dir)?;
                progress.inc(1);
            }
        }
        let steal_percent =
            load_before.and_then(|before| MachineLoad::now().ok().map(|after| after.steal_percent_since(&before)));
        scenario_runs.push(ScenarioRun {
            name: scenario.name,
            about: scenario.about,
            flags: scenario.flags.join(" "),
            load_before,
            busy_cpus_before,
            steal_percent,
        });
        rows.extend(cells.into_iter().map(Cell::into_row));
    }
    Ok(())
}

/// Something that gets rows: a frontend, a frontend on a pool, or a Python reference program.
struct Target {
    label: String,
    model: Model,
    program: Program,
    syncs: Vec<Strategy>,
    extra_flags: Vec<String>,
    python: bool,
}

fn targets(args: &Args, bin_dir: &Path) -> Vec<Target> {
    let mut targets = Vec::new();
    for &model in &args.models {
        let description = models::of(model);
        let program = Program::binary(bin_dir, model.binary());
        let plain = |label: String, mut extra_flags: Vec<String>| {
            extra_flags.extend(description.server_flags(&args.servers));
            Target { label, model, program: program.clone(), syncs: args.syncs.clone(), extra_flags, python: false }
        };
        for (start, flags) in description.variants(&args.starts) {
            let label =
                start.map_or_else(|| model.name().to_owned(), |start| format!("{} {}", model.name(), start.name()));
            targets.push(plain(label, flags));
        }
        if let Some(size) = args.pool.filter(|_| description.pools) {
            targets.push(plain(format!("{} pool {size}", model.name()), vec!["--pool".into(), size.to_string()]));
        }
    }
    if args.with_python
        && let Some(interpreter) = python::interpreter_or_say()
    {
        for reference in python::PROGRAMS.iter().filter(|p| args.models.contains(&p.model)) {
            let target = |label: String, extra_flags: Vec<String>| Target {
                label,
                model: reference.model,
                program: reference.program(&interpreter),
                syncs: args.syncs.iter().copied().filter(|sync| python::has_row(*sync)).collect(),
                extra_flags,
                python: true,
            };
            for (label, flags) in reference.variants(&args.starts) {
                targets.push(target(label, flags));
            }
        }
    }
    targets
}

fn progress_bar(total: u64) -> ProgressBar {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    // `wide_msg` takes what is left of the terminal's width and no more, so the line never wraps.
    if let Ok(style) = ProgressStyle::with_template("{bar:20} {pos}/{len} runs {elapsed} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}
