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

pub(crate) mod answers;
pub(crate) mod json;
mod measure;
mod plan;
mod present;
pub(crate) mod probe;
pub(crate) mod results;
mod scenario;
pub(crate) mod seen;
mod shared;
mod summary;
mod table;
#[cfg(test)]
mod tests;

use std::{
    fmt::Write as _,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use counter_core::{
    cli::value_name,
    config::{Strategy, Timer, Window, Work, parse_count, parse_count_up_to},
    duration::parse_duration,
    model::{Model, StartMethod},
    proc::load::MachineLoad,
};

use self::scenario::{Preset, Scenario};
use crate::{
    machine::Machine,
    models::{self, ServerArgs},
    output::{self, RunDir, Terminal},
    python,
    runner::TaskInterrupted,
    workspace::{self, Profile},
};

/// The most measured runs a row may ask for: a thousand runs of the quickest row already take minutes.
const MAX_REPEATS: u64 = 1000;
/// The most unmeasured runs a row may ask for.
const MAX_WARMUP: u64 = 100;

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
  # The default scenarios: about a minute after the build (see the README).
  cargo xtask compare
  # The seed: 10 s a run, twice (two timers); 5 minutes with 1 strategy, 3 runs.
  cargo xtask compare --preset seed --syncs racy --repeats 3 --warmup 0
  cargo xtask compare --work none --increments 1000000 --syncs racy,atomic
  cargo xtask compare --models threads,async --export-markdown table.md
  # Rows on a pool of 2 besides, as concurrent.futures runs them.
  cargo xtask compare --pool 2 --models threads,processes")]
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
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = |s: &str| parse_duration(s))]
    row_budget: Duration,

    /// Time the measuring may take, from the first run to the last: every row's --repeats runs and the memory
    /// probe come first, then runs that narrow wide intervals while the budget lasts (none starts that could
    /// not end within it)
    #[arg(long, value_name = "DURATION", default_value = "55s", value_parser = |s: &str| parse_duration(s))]
    budget: Duration,

    /// Pairs of runs (1 worker, then 1000 threads or processes or 100 000 tasks) that measure the memory of one
    /// more worker (0: none)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = zero_to("probe-pairs", MAX_PROBE_PAIRS))]
    probe_pairs: u64,

    /// The model whose racy run is traced once after the measuring (5 workers x 20 increments, 1 ms between each
    /// read and its write), for the page's interleaving and findings.md [default: threads, or the first model]
    #[arg(long, value_name = "MODEL", value_enum)]
    trace_model: Option<Model>,

    /// Every column in the table (runs, min … max, parallelism, context switches, RSS, USS, ...), not only the
    /// ones read first
    #[arg(long)]
    wide: bool,

    /// Print every finding under the tables (they are always written to the run's findings.md)
    #[arg(long)]
    details: bool,

    /// Unmeasured runs of each program per scenario (its first row's), before the measured ones: they load the
    /// program and warm its server (at most 100)
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
    /// process pools, asyncio) for the strategies they have (racy, mutex), on the PATH's python3 and on
    /// each interpreter `cargo xtask python install` built (rows named `python3.13t threading`, ...)
    #[arg(long)]
    with_python: bool,

    /// With --with-python: run them on this interpreter instead (repeat for several)
    #[arg(long, value_name = "PATH", requires = "with_python")]
    python: Vec<PathBuf>,

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

/// Says so in one line when other work keeps the machine busy.
fn note_a_busy_machine() {
    if let (Ok(load), Ok(busy)) = (MachineLoad::now(), MachineLoad::busy_cpus_over(measure::BUSY_SAMPLE))
        && load.is_busy(busy)
    {
        output::note(&format!(
            "xtask: the machine is busy: other work keeps {busy:.1} of its {} CPUs busy, so timings and lost \
             updates will vary more than on a quiet machine",
            load.cpus
        ));
    }
}

/// The cells to measure: each scenario's rows, a strategy each (Python only where its programs have it).
fn cells(scenarios: &[scenario::Scenario], targets: &[plan::Target]) -> u64 {
    scenarios
        .iter()
        .flat_map(|scenario| targets.iter().filter(move |target| !(target.python && scenario.ours_only)))
        .map(|target| {
            target.syncs.iter().filter(|&&sync| !target.python || python::SYNCS.contains(&sync)).count() as u64
        })
        .sum()
}

/// The plan, in one line before the first run: what gets measured, and in what time.
fn plan_line(args: &Args, scenarios: usize, cells: u64, probes: u64) -> String {
    let probe = if args.probe_pairs == 0 {
        String::new()
    } else {
        format!(", then {} pairs of runs for the memory of one more worker", args.probe_pairs * probes)
    };
    format!(
        "xtask: plan: {cells} rows in {scenarios} scenario(s), {} runs each at least{probe}, then runs that narrow \
         wide intervals while the {:.0} s budget lasts",
        args.repeats,
        args.budget.as_secs_f64()
    )
}

/// What the measuring gave, and how long it took.
struct Measured {
    rows: Vec<results::Row>,
    scenario_runs: Vec<results::ScenarioRun>,
    probes: Vec<probe::Probe>,
    took: Duration,
}

/// Every row to its least runs, the memory probe, then runs that narrow wide intervals while the budget lasts;
/// an interruption keeps what was measured in the run's folder.
fn measure_everything(
    args: &Args,
    (scenarios, targets): (&[Scenario], &[plan::Target]),
    (servers, shared): (&ServerArgs, &[(Model, i32)]),
    bin_dir: &std::path::Path,
    run_dir: &RunDir,
) -> anyhow::Result<Measured> {
    let cells = cells(scenarios, targets);
    let started = Instant::now();
    let rounds = measure::Rounds {
        repeats: args.repeats,
        warmup: args.warmup,
        row_budget: args.row_budget,
        deadline: started + args.budget,
    };
    let probes_planned = probe::count(&args.models, &args.starts);
    output::note(&plan_line(args, scenarios.len(), cells, probes_planned));
    let progress = measure::progress_bar(cells * rounds.most_per_row() + 2 * args.probe_pairs * probes_planned);
    let (mut rows, mut scenario_runs) = (Vec::new(), Vec::new());
    let measured = measure::measure_all(&rounds, scenarios, targets, run_dir, &progress).and_then(|mut measuring| {
        let probes = probe::probe_all(
            &args.models,
            &args.starts,
            (servers, shared),
            bin_dir,
            (args.probe_pairs, &rounds),
            &progress,
        );
        let narrowed =
            probes.and_then(|probes| measure::narrow(&rounds, &mut measuring, run_dir, &progress).map(|()| probes));
        measure::finish(measuring, &mut rows, &mut scenario_runs);
        narrowed
    });
    progress.finish_and_clear();
    match measured {
        Ok(probes) => Ok(Measured { rows, scenario_runs, probes, took: started.elapsed() }),
        Err(error) => {
            if error.is::<TaskInterrupted>() {
                // What was measured is kept: the raw reports are in the run's folder already, and the rows so far
                // go next to them (not published as the latest comparison, which it is not).
                let json = json::to_json(&scenario_runs, &rows, &[], None);
                output::write(&run_dir.path().join("partial-results.json"), &json)?;
                output::note(&format!("xtask: the rows measured so far are in {}", run_dir.path().display()));
            }
            Err(error)
        }
    }
}

/// Runs the comparison; the exit code says whether every row succeeded.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let syncs = if args.syncs.is_empty() { Strategy::ALL.to_vec() } else { args.syncs.clone() };
    let args = &Args { models: models::runnable(&models::asked(&args.models), &args.servers)?, syncs, ..args.clone() };
    // Export files are opened before anything runs, so that a path that cannot be written fails at once.
    let exports = args.exports.open()?;
    let terminal = Terminal::new(&exports);
    // A named interpreter that does not work is a bad request, found before the build.
    let pythons = if args.with_python { python::interpreters(&args.python)? } else { Vec::new() };
    let packages: Vec<&str> = args.models.iter().map(|model| model.binary()).collect();
    let bin_dir = workspace::build(&packages, args.profile)?;
    let run_dir = RunDir::create(&workspace::results_dir("compare"))?;
    Machine::now("compare").record(run_dir.path())?;
    let scenarios = args.scenarios();
    // Kept to the end of the comparison: dropping them stops the servers.
    let (shared_servers, servers) = shared::start(&args.models, &args.servers, &bin_dir);
    let shared: Vec<(Model, i32)> = shared_servers.iter().map(|server| (server.model, server.pid())).collect();
    let asked = plan::Asked {
        models: &args.models,
        syncs: &args.syncs,
        starts: &args.starts,
        pool: args.pool,
        servers: &servers,
        pythons: &pythons,
    };
    let targets = plan::targets(&asked, &bin_dir);
    note_a_busy_machine();
    let measured = measure_everything(args, (&scenarios, &targets), (&servers, &shared), &bin_dir, &run_dir)?;
    let Measured { rows, scenario_runs, probes, took: measuring_took } = measured;
    let traced = args.trace_model.filter(|model| args.models.contains(model)).or(args.models.first().copied());
    let seen = match traced {
        Some(model) => seen::run(model, &bin_dir, &servers)?,
        None => None,
    };

    // Results first, then exports, then the text: a failed print must not lose a measurement.
    let json = json::to_json(&scenario_runs, &rows, &probes, seen.as_ref());
    run_dir.publish(&json)?;
    let page = if exports.wants_html() {
        let results = crate::report::RunResults::read(run_dir.path())?;
        Some(crate::report::page(results.as_ref(), None)?)
    } else {
        None
    };
    exports.write(&json, &json::to_csv(&rows)?, &table::markdown(&rows), page.as_deref())?;
    let (mut text, mut findings) = present::text(args.wide, args.details, &scenario_runs, &rows, &probes);
    if let Some(seen) = &seen {
        let _ = write!(findings, "\n{}\n", seen.findings().join("\n"));
    }
    output::write(&run_dir.path().join("findings.md"), &findings)?;
    let where_ = format!(
        "Raw reports and results.json are in {} ({} links to it); this comparison took {:.1} s, {:.1} s of it \
         measuring (budget {:.0} s).",
        run_dir.path().display(),
        run_dir.latest().display(),
        started.elapsed().as_secs_f64(),
        measuring_took.as_secs_f64(),
        args.budget.as_secs_f64()
    );
    let _ = writeln!(text, "\n{}", output::wrap(&where_, output::width()));
    terminal.print(&text)?;
    let failed = rows.iter().filter(|row| row.failed_to_run()).count();
    if failed > 0 {
        output::note(&format!("xtask: {failed} row(s) failed; see the table"));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
