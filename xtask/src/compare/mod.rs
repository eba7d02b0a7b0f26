//! `cargo xtask compare`: build the three frontends, run each on the same workloads over the strategies
//! asked for, measure every run from the outside as well as reading its own report, and tabulate.
//!
//! Measuring ([`crate::runner`]), aggregating ([`results`], [`crate::stats`]), presenting ([`table`],
//! [`summary`]) and exporting ([`json`], [`crate::output`]) are separate: an exporter never measures and the runner
//! never formats.

mod json;
mod results;
mod scenario;
mod summary;
mod table;
#[cfg(test)]
mod tests;

use std::{fmt::Write as _, io::IsTerminal, path::Path, process::ExitCode, time::Instant};

use counter_core::{
    cli::value_name,
    config::{Strategy, Timer, Window, Work, parse_count, parse_count_up_to},
    model::Model,
    output::eprint,
    proc::memory::MemorySnapshot,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use self::{
    results::{Row, RowKey},
    scenario::{Preset, Scenario},
    summary::Probe,
};
use crate::{
    output::{self, RunDir, Terminal},
    python,
    runner::{Interrupted, Program, Sample, run_once},
    workspace::{self, Profile},
};

/// The most measured runs a row may ask for: a thousand runs of the quickest row already take minutes.
const MAX_REPEATS: u64 = 1000;
/// The most unmeasured runs a row may ask for.
const MAX_WARMUP: u64 = 100;

fn parse_warmup(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(value) if value <= MAX_WARMUP => Ok(value),
        _ => Err(format!("invalid warmup '{text}': it must be a whole number from 0 to {MAX_WARMUP}")),
    }
}

/// Run every frontend on the same workload and tabulate the results.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask compare                                  # the default scenarios, about a minute
  cargo xtask compare --preset seed                    # the seed program exactly, about 10 s a run
  cargo xtask compare --work none --increments 1000000 --syncs racy,atomic
  cargo xtask compare --models threads,async --repeats 5 --export-markdown target/compare/table.md
  cargo xtask compare --pool 2 --models threads,processes   # adds rows on a pool of 2, as concurrent.futures")]
pub struct Args {
    /// The scenarios to run, unless workload flags are given
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    preset: Preset,

    /// The models to compare, comma-separated
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["threads", "processes", "async"])]
    models: Vec<Model>,

    /// The strategies to compare, comma-separated
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["racy", "mutex", "atomic", "sharded"])]
    syncs: Vec<Strategy>,

    /// Measured runs per row (at most 1000)
    #[arg(long, default_value_t = 3, value_parser = |s: &str| parse_count_up_to("repeats", s, MAX_REPEATS))]
    repeats: u64,

    /// Unmeasured runs per row before the measured ones (at most 100)
    #[arg(long, default_value_t = 1, value_parser = parse_warmup)]
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

    /// Also run the Python reference programs in python/ (threading, concurrent.futures, multiprocessing,
    /// asyncio) for the strategies they have (racy, mutex); skipped with a message if there is no python3
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

/// Workers in the memory probe's larger run: enough that page granularity does not hide a small worker.
const PROBE_WORKERS: u64 = 101;

/// Runs the comparison; the exit code says whether every row succeeded.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Export files are opened before anything runs, so that a path that cannot be written fails at once.
    let exports = args.exports.open()?;
    let terminal = Terminal::new(&exports);
    let packages: Vec<&str> = args.models.iter().map(|model| model.binary()).collect();
    let bin_dir = workspace::build(&packages, args.profile)?;
    let run_dir = RunDir::create(&workspace::target_dir().join("compare"))?;
    let scenarios = args.scenarios();
    let targets = targets(args, &bin_dir);
    let runs_per_row = args.warmup + args.repeats;
    let per_scenario: u64 =
        targets.iter().map(|target| u64::from(target.per_worker) + target.syncs.len() as u64 * runs_per_row).sum();
    let progress = progress_bar(scenarios.len() as u64 * per_scenario + 2 * args.models.len() as u64);
    let mut rows = Vec::new();
    let measured = measure_all(args, &scenarios, &targets, &run_dir, &progress, &mut rows)
        .and_then(|()| probe_memory(args, &bin_dir, &progress));
    progress.finish_and_clear();
    let probes = match measured {
        Ok(probes) => probes,
        Err(error) => {
            if error.is::<Interrupted>() {
                // What was measured is kept: the raw reports are in the run's folder already, and the rows so far
                // go next to them (not published as the latest comparison, which it is not).
                output::write(&run_dir.path().join("partial-results.json"), &json::to_json(&rows))?;
                eprint(&format!("xtask: the rows measured so far are in {}\n", run_dir.path().display()));
            }
            return Err(error);
        }
    };

    // Results first, then exports, then the text: a failed print must not lose a measurement.
    let json = json::to_json(&rows);
    run_dir.publish(&json)?;
    let table = table::build(&rows);
    exports.write(&json, &table)?;
    let mut text = output::render(&table) + "\n";
    for scenario in &scenarios {
        let _ = writeln!(text, "{}: {} ({})", scenario.name, scenario.flags.join(" "), scenario.about);
    }
    text.push_str(
        "Memory: sampled from /proc for the whole process tree while every worker was alive; summed over the tree.\n\n",
    );
    for sentence in summary::sentences(&rows, &probes) {
        let _ = writeln!(text, "- {sentence}");
    }
    for row in rows.iter().filter(|row| row.self_report_mismatch.is_some()) {
        let _ = writeln!(
            text,
            "- note: {} {} {}: {}",
            row.scenario,
            row.model,
            row.sync,
            row.self_report_mismatch.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(
        text,
        "\nRaw reports and results.json are in {} (target/compare/latest links to it); this comparison took {:.1} s.",
        run_dir.path().display(),
        started.elapsed().as_secs_f64()
    );
    terminal.print(&text)?;
    let failed = rows.iter().filter(|row| !row.ok()).count();
    if failed > 0 {
        eprint(&format!("xtask: {failed} row(s) failed; see the table\n"));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Every scenario, target and strategy: the rows, pushed as they are measured.
fn measure_all(
    args: &Args,
    scenarios: &[Scenario],
    targets: &[Target],
    run_dir: &RunDir,
    progress: &ProgressBar,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    for scenario in scenarios {
        for target in targets {
            let mut flags = scenario.flags.clone();
            flags.extend(target.extra_flags.iter().cloned());
            if target.python {
                flags = python::flags(&flags);
            }
            let baseline = if target.per_worker {
                progress.set_message(format!("{} {} 1-worker baseline", scenario.name, target.label));
                let mut baseline_flags = scenario::baseline_flags(scenario);
                if target.python {
                    baseline_flags = python::flags(&baseline_flags);
                }
                let sample = match run_once(&target.program, &baseline_flags) {
                    Ok(sample) => Some(sample.external),
                    Err(error) if error.is::<Interrupted>() => return Err(error),
                    Err(_) => None,
                };
                progress.inc(1);
                sample
            } else {
                None
            };
            for &strategy in &target.syncs {
                let key = RowKey {
                    scenario: scenario.name.to_owned(),
                    model: target.label.clone(),
                    kind: target.kind,
                    python: target.python,
                    sync: strategy.name().to_owned(),
                    flags: flags.join(" "),
                    workers: scenario.workers,
                };
                progress.set_message(format!("{} {} {}", key.scenario, key.model, key.sync));
                rows.push(measure_row(&target.program, key, args, baseline.as_ref(), run_dir, progress)?);
            }
        }
    }
    Ok(())
}

/// Something that gets rows: a frontend, a frontend on a pool, or a Python reference program.
struct Target {
    label: String,
    kind: Model,
    program: Program,
    syncs: Vec<Strategy>,
    extra_flags: Vec<String>,
    /// Whether the per-worker memory figure makes sense (not for a pool, whose memory follows its size).
    per_worker: bool,
    python: bool,
}

fn targets(args: &Args, bin_dir: &Path) -> Vec<Target> {
    let mut targets = Vec::new();
    for &model in &args.models {
        let program = Program::binary(bin_dir, model.binary());
        let plain = |label: String, extra_flags: Vec<String>, per_worker| Target {
            label,
            kind: model,
            program: program.clone(),
            syncs: args.syncs.clone(),
            extra_flags,
            per_worker,
            python: false,
        };
        targets.push(plain(model.name().to_owned(), Vec::new(), true));
        if let Some(size) = args.pool.filter(|_| model != Model::Async) {
            targets.push(plain(
                format!("{} pool {size}", model.name()),
                vec!["--pool".into(), size.to_string()],
                false,
            ));
        }
    }
    if args.with_python
        && let Some(interpreter) = python::interpreter_or_say()
    {
        for reference in python::PROGRAMS.iter().filter(|p| args.models.contains(&p.model)) {
            targets.push(Target {
                label: reference.label.to_owned(),
                kind: reference.model,
                program: reference.program(&interpreter),
                syncs: args.syncs.iter().copied().filter(|sync| python::SYNCS.contains(sync)).collect(),
                extra_flags: Vec::new(),
                per_worker: true,
                python: true,
            });
        }
    }
    targets
}

fn progress_bar(total: u64) -> ProgressBar {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar
}

/// Runs one row's warm-ups and repeats; a failed run makes the row a failed row.
fn measure_row(
    binary: &Program,
    key: RowKey,
    args: &Args,
    baseline: Option<&MemorySnapshot>,
    run_dir: &RunDir,
    progress: &ProgressBar,
) -> anyhow::Result<Row> {
    let scenario_flags: Vec<String> = key.flags.split_whitespace().map(str::to_owned).collect();
    let mut flags = scenario_flags;
    flags.extend(["--sync".to_owned(), key.sync.clone()]);
    let mut samples: Vec<Sample> = Vec::new();
    for run in 0..args.warmup + args.repeats {
        match run_once(binary, &flags) {
            Ok(sample) if run >= args.warmup => {
                let file = run_dir.path().join(&key.scenario).join(format!(
                    "{}-{}-{}.json",
                    key.model.replace(' ', "-"),
                    key.sync,
                    run - args.warmup + 1
                ));
                output::write(&file, &sample.raw_json)?;
                samples.push(sample);
            }
            Ok(_) => {}
            Err(error) if error.is::<Interrupted>() => return Err(error),
            Err(error) => {
                progress.inc(args.warmup + args.repeats - run);
                return Ok(Row::failed(key, format!("{error:#}")));
            }
        }
        progress.inc(1);
    }
    Ok(Row::measured(key, &samples, baseline))
}

/// Measures each model at 1 and [`PROBE_WORKERS`] workers for the summary's memory-per-worker sentence.
fn probe_memory(args: &Args, bin_dir: &Path, progress: &ProgressBar) -> anyhow::Result<Vec<Probe>> {
    let flags = |workers: u64| {
        ["--workers", &workers.to_string(), "--increments", "1", "--work", "none", "--sync", "atomic"]
            .map(str::to_owned)
    };
    let mut probes = Vec::new();
    for &model in &args.models {
        progress.set_message(format!("memory probe {}", model.name()));
        let binary = Program::binary(bin_dir, model.binary());
        let one = run_once(&binary, &flags(1));
        progress.inc(1);
        let many = run_once(&binary, &flags(PROBE_WORKERS));
        progress.inc(1);
        match (one, many) {
            (Ok(one), Ok(many)) => {
                let per = |figure: fn(&MemorySnapshot) -> u64| {
                    (figure(&many.external) as f64 - figure(&one.external) as f64) / (PROBE_WORKERS - 1) as f64
                };
                probes.push(Probe {
                    model,
                    workers: PROBE_WORKERS,
                    pss_kib: per(|m| m.pss_kib),
                    uss_kib: per(|m| m.uss_kib),
                    rss_kib: per(|m| m.rss_kib),
                });
            }
            (Err(error), _) | (_, Err(error)) if error.is::<Interrupted>() => return Err(error),
            _ => {}
        }
    }
    Ok(probes)
}
