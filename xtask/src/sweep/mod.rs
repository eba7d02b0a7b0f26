//! `cargo xtask sweep`: each model at a range of worker counts, held alive while the whole process tree is
//! measured from outside; a least-squares line per model gives the memory one more worker costs (RSS, PSS,
//! USS, and an estimate of the kernel's share), a log-log SVG plot shows it, and a model that hits an OS limit
//! stops there with the limit recorded.

mod fit;
mod plot;

use std::{fmt::Write as _, fs::File, path::PathBuf, process::ExitCode, time::Instant};

use anyhow::bail;
use counter_core::{
    config::parse_count,
    model::{Model, StartMethod},
    units,
};
use serde::{Deserialize, Serialize};

use crate::{
    models::{self, ServerArgs},
    output::{self, RunDir, Table, Terminal},
    python::{self, interpreter::Interpreter},
    runner::{Program, TaskInterrupted, run_once},
    usage::Usage,
    workspace::{self, Profile},
};

/// Measure memory against workers for each model, fit the cost per worker, and plot it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  # 1 to 10 000 threads and processes, 1 to 1 000 000 tasks: about a minute.
  cargo xtask sweep
  # 1, 10, 100 workers (tasks by the thousand): a few seconds.
  cargo xtask sweep --quick
  # Stops at the limit, and says which.
  cargo xtask sweep --models threads --workers 1,100,1000,20000
  cargo xtask sweep --with-python --plot memory.svg")]
pub struct Args {
    /// The models to sweep, comma-separated [default: every model; one whose server cannot be started is skipped
    /// with one line]
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Vec<Model>,

    #[command(flatten)]
    servers: ServerArgs,

    /// Worker counts for every model, comma-separated [default: 1,10,100,1000,10000; async up to 1000000]
    #[arg(long, value_delimiter = ',', value_parser = |s: &str| parse_count("workers", s))]
    workers: Vec<u64>,

    /// A few seconds: 1, 10 and 100 workers (1, 1000 and 10 000 tasks)
    #[arg(long, conflicts_with = "workers")]
    quick: bool,

    /// How processes are started, comma-separated: a line per method, for ours and (with --with-python) for
    /// Python's multiprocessing
    #[arg(long, value_enum, value_delimiter = ',', value_name = "METHODS", default_values = ["fork", "forkserver", "spawn"])]
    starts: Vec<StartMethod>,

    /// Also sweep the Python reference programs (threading, multiprocessing, asyncio), on the PATH's python3
    /// and on each interpreter `cargo xtask python install` built
    #[arg(long)]
    with_python: bool,

    /// With --with-python: sweep them on this interpreter instead (repeat for several)
    #[arg(long, value_name = "PATH", requires = "with_python")]
    python: Vec<PathBuf>,

    /// Build profile of the frontends
    #[arg(long, value_enum, default_value_t = Profile::Release)]
    profile: Profile,

    /// Where to write the plot (by default in the run's own folder).
    #[arg(
        long,
        value_name = "FILE",
        help = "Where to write the plot [default: memory.svg in the run's folder, target/sweep/<time>-<pid>/]"
    )]
    plot: Option<PathBuf>,

    #[command(flatten)]
    exports: output::Exports,
}

/// One measurement: a model held with this many workers alive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// Workers alive.
    pub workers: u64,
    /// Processes in the tree.
    pub processes: u64,
    /// Threads in the tree.
    pub threads: u64,
    /// Summed RSS, KiB.
    pub rss_kib: u64,
    /// Summed PSS, KiB.
    pub pss_kib: u64,
    /// Summed USS, KiB.
    pub uss_kib: u64,
    /// How much the system's kernel stacks and page tables grew from just before the run to the sample, KiB:
    /// an estimate (system-wide figures).
    pub kernel_added_kib: i64,
    /// From the first spawn to every worker alive, seconds (the frontend's own `start_time_s`).
    pub start_s: f64,
    /// A model with a server: what the server holds for the clients once they are connected, KiB.
    pub server_kib: Option<f64>,
}

/// What one more worker costs, from the least-squares line through a model's points, KiB per worker.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Fit {
    /// Summed RSS per worker: over-states processes, which share most of their pages.
    pub rss_kib: f64,
    /// PSS per worker: what the tree holds in RAM.
    pub pss_kib: f64,
    /// USS per worker.
    pub uss_kib: f64,
    /// Kernel stacks and page tables per worker: an estimate, from system-wide figures.
    pub kernel_kib_estimate: f64,
    /// Time to bring one more worker alive, seconds.
    pub start_s: f64,
    /// A model with a server: the server's memory per connection, KiB.
    pub server_kib: Option<f64>,
}

/// One model's sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSweep {
    /// `threads`, `processes`, `async`, `python3.11 threading`, …
    pub label: String,
    /// The points measured, by worker count.
    pub points: Vec<Point>,
    /// The cost per worker, when there are two points or more.
    pub fit: Option<Fit>,
    /// The error that stopped the sweep of this model (an OS limit), if any.
    pub stopped: Option<String>,
}

/// What is swept: one of our binaries, or a Python reference program, of a model.
#[derive(Debug, Clone)]
struct Swept {
    label: String,
    model: Model,
    python: bool,
    program: Program,
    /// The strategy the runs use: atomic for ours, racy for Python's (which has no atomics).
    strategy: &'static str,
    /// Flags besides the workload's: the start method.
    flags: Vec<String>,
}

/// The worker counts of a sweep: the model's own, and fewer for Python's programs, whose workers cost more
/// (an interpreter each for processes, a tenth of the largest count for the others).
fn default_counts(swept: &Swept, quick: bool) -> Vec<u64> {
    let (full, quick_counts) = models::of(swept.model).sweep_counts;
    if quick {
        return quick_counts.to_vec();
    }
    let largest = full.iter().copied().max().unwrap_or(1);
    match (swept.python, models::of(swept.model).workers_are_processes) {
        (false, _) => full.to_vec(),
        (true, true) => full.iter().copied().filter(|&count| count <= 100).collect(),
        (true, false) => full.iter().copied().filter(|&count| count <= largest / 10).collect(),
    }
}

/// Runs the sweep.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let exports = args.exports.open()?;
    let terminal = Terminal::new(&exports);
    if let Some(plot) = &args.plot {
        // Opened now, as the exports are: a plot path that cannot be written fails before the first run.
        File::create(plot).map_err(|e| Usage(format!("--plot {}: cannot be written: {e}", plot.display())))?;
    }
    let models = models::runnable(&models::asked(&args.models), &args.servers)?;
    let pythons = if args.with_python { python::interpreters(&args.python)? } else { Vec::new() };
    let packages: Vec<&str> = models.iter().map(|model| model.binary()).collect();
    let bin_dir = workspace::build(&packages, args.profile)?;
    let run_dir = RunDir::create(&workspace::results_dir("sweep"))?;
    crate::machine::Machine::now("sweep").record(run_dir.path())?;
    let plot = args.plot.clone().unwrap_or_else(|| run_dir.path().join("memory.svg"));
    let swept = to_sweep(args, &models, &pythons, &bin_dir);
    let mut sweeps = Vec::new();
    for one in &swept {
        let counts = if args.workers.is_empty() { default_counts(one, args.quick) } else { args.workers.clone() };
        output::note(&format!("sweeping {}: {counts:?} workers", one.label));
        sweeps.push(sweep_model(one, &counts)?);
    }
    let models = sweeps;
    let table = table(&models);
    plot::draw(&plot, &models)?;
    let json = serde_json::to_string_pretty(&models)?;
    run_dir.publish(&json)?;
    let page = if exports.wants_html() {
        let results = crate::report::RunResults::read(run_dir.path())?;
        Some(crate::report::page(None, results.as_ref())?)
    } else {
        None
    };
    exports.write(&json, &csv(&models)?, &output::to_markdown(&table), page.as_deref())?;
    let width = output::width();
    let mut text = String::new();
    text.push_str(
        "Memory sampled from /proc for the whole process tree while every worker was alive, before any started. \
         Per worker: slope of the least-squares line through the points. Start: from the first spawn to every \
         worker alive. Kernel: growth of KernelStack + PageTables in /proc/meminfo from just before the run to the \
         sample; system-wide, so an estimate. ~0: a figure the points do not resolve (a slope or a growth not above \
         zero), never a negative cost.\n\n",
    );
    for (model, one) in models.iter().zip(&swept) {
        let _ = writeln!(text, "{}", fit_sentence(model, one));
    }
    let _ = writeln!(
        text,
        "\nPlot: {}; results in {} ({} links to it); this sweep took {:.1} s.",
        plot.display(),
        run_dir.path().display(),
        run_dir.latest().display(),
        started.elapsed().as_secs_f64()
    );
    let text = format!("{}\n{}\n", output::render_to_width(&table, width), output::wrap(text.trim_end(), width));
    terminal.print(&text)?;
    if models.iter().all(|model| model.points.is_empty()) {
        bail!("no model produced a single point; see the table for why");
    }
    Ok(ExitCode::SUCCESS)
}

/// What one more worker of a swept model costs, in one line.
fn fit_sentence(model: &ModelSweep, one: &Swept) -> String {
    let server_words = models::of(one.model).server_memory_figure.map_or("the server's memory", |(_, words)| words);
    match (&model.fit, &model.stopped) {
        (Some(fit), _) if fit.server_kib.is_some() => format!(
            "- {}: {} PSS, {} USS, {} summed RSS per client (the client and its private server); {server_words} \
             {} more per connection; {} to connect one more{}",
            model.label,
            cost(fit.pss_kib),
            cost(fit.uss_kib),
            cost(fit.rss_kib),
            cost(fit.server_kib.unwrap_or_default()),
            units::seconds(fit.start_s),
            model.stopped.as_ref().map(|why| format!("; stopped: {why}")).unwrap_or_default()
        ),
        (Some(fit), _) => format!(
            "- {}: {} PSS, {} USS, {} summed RSS per worker; kernel about {} more (estimate); {} to start \
             one more{}",
            model.label,
            cost(fit.pss_kib),
            cost(fit.uss_kib),
            cost(fit.rss_kib),
            cost(fit.kernel_kib_estimate),
            units::seconds(fit.start_s),
            model.stopped.as_ref().map(|why| format!("; stopped: {why}")).unwrap_or_default()
        ),
        (None, Some(why)) => format!("- {}: stopped: {why}", model.label),
        (None, None) => format!("- {}: too few points for a fit", model.label),
    }
}

/// What the sweep measures: each model (once per start method, if it has them), then the Python programs.
fn to_sweep(args: &Args, models: &[Model], pythons: &[Interpreter], bin_dir: &std::path::Path) -> Vec<Swept> {
    let mut swept: Vec<Swept> = Vec::new();
    for &model in models {
        let description = models::of(model);
        for (start, mut flags) in description.variants(&args.starts) {
            let label =
                start.map_or_else(|| model.name().to_owned(), |start| format!("{} {}", model.name(), start.name()));
            flags.extend(args.servers.flags(description.model));
            let program = Program::binary(bin_dir, model.binary());
            swept.push(Swept { label, model, python: false, program, strategy: "atomic", flags });
        }
    }
    for interpreter in pythons {
        for reference in python::PROGRAMS.iter().filter(|p| !p.pooled && models.contains(&p.model)) {
            for (label, flags) in reference.variants(interpreter, &args.starts) {
                let program = reference.program(interpreter);
                swept.push(Swept { label, model: reference.model, python: true, program, strategy: "racy", flags });
            }
        }
    }
    swept
}

/// Measures one model at each count, smallest first; the first failure (an OS limit) ends the model's sweep.
fn sweep_model(swept: &Swept, counts: &[u64]) -> anyhow::Result<ModelSweep> {
    let (label, program, sync) = (&swept.label, &swept.program, swept.strategy);
    let mut points = Vec::new();
    let mut stopped = None;
    let mut counts = counts.to_vec();
    counts.sort_unstable();
    counts.dedup();
    for workers in counts {
        let mut flags: Vec<String> =
            ["--workers", &workers.to_string(), "--increments", "1", "--work", "none", "--sync", sync]
                .map(str::to_owned)
                .into();
        flags.extend(swept.flags.iter().cloned());
        match run_once(program, &flags) {
            Ok(sample) => points.push(Point {
                workers,
                processes: sample.external.processes,
                threads: sample.external.threads,
                rss_kib: sample.external.rss_kib,
                pss_kib: sample.external.pss_kib,
                uss_kib: sample.external.uss_kib,
                kernel_added_kib: sample.kernel_added_kib,
                start_s: sample.report.start_time_s,
                server_kib: models::of(swept.model)
                    .server_memory_figure
                    .and_then(|(figure, _)| sample.report.extension.as_ref()?.number(figure))
                    .map(|bytes| bytes / 1024.0),
            }),
            Err(error) if error.is::<TaskInterrupted>() => return Err(error),
            Err(error) => {
                stopped = Some(format!("at {workers} workers: {error:#}"));
                break;
            }
        }
    }
    let slope = |figure: fn(&Point) -> f64| {
        fit::line(&points.iter().map(|p| (p.workers as f64, figure(p))).collect::<Vec<_>>()).map(|(s, _)| s)
    };
    let fit = match (
        slope(|p| p.rss_kib as f64),
        slope(|p| p.pss_kib as f64),
        slope(|p| p.uss_kib as f64),
        slope(|p| p.kernel_added_kib as f64),
        slope(|p| p.start_s),
    ) {
        (Some(rss_kib), Some(pss_kib), Some(uss_kib), Some(kernel_kib_estimate), Some(start_s)) => {
            let server_kib =
                points.iter().all(|p| p.server_kib.is_some()).then(|| slope(|p| p.server_kib.unwrap_or(0.0))).flatten();
            Some(Fit { rss_kib, pss_kib, uss_kib, kernel_kib_estimate, start_s, server_kib })
        }
        _ => None,
    };
    Ok(ModelSweep { label: label.clone(), points, fit, stopped })
}

/// One point as a CSV line: its model's label, then its figures.
#[derive(Serialize)]
struct CsvRecord<'a> {
    model: &'a str,
    workers: u64,
    processes: u64,
    threads: u64,
    rss_kib: u64,
    pss_kib: u64,
    uss_kib: u64,
    kernel_added_kib: i64,
    start_s: f64,
}

/// Every point as CSV, numbers only.
fn csv(models: &[ModelSweep]) -> anyhow::Result<String> {
    output::to_csv(models.iter().flat_map(|model| {
        model.points.iter().map(|p| CsvRecord {
            model: &model.label,
            workers: p.workers,
            processes: p.processes,
            threads: p.threads,
            rss_kib: p.rss_kib,
            pss_kib: p.pss_kib,
            uss_kib: p.uss_kib,
            kernel_added_kib: p.kernel_added_kib,
            start_s: p.start_s,
        })
    }))
}

/// A cost per worker for people: `~0` where the points do not resolve it (not above zero), never a negative one.
fn cost(kib: f64) -> String {
    if kib > 0.0 { units::kib(kib) } else { "~0".to_owned() }
}

fn table(models: &[ModelSweep]) -> Table {
    let headers = vec!["model", "workers", "procs", "threads", "RSS", "PSS", "USS", "kernel", "start"];
    let mut rows = Vec::new();
    for model in models {
        for point in &model.points {
            rows.push(vec![
                model.label.clone(),
                point.workers.to_string(),
                point.processes.to_string(),
                point.threads.to_string(),
                units::whole_kib(point.rss_kib),
                units::whole_kib(point.pss_kib),
                units::whole_kib(point.uss_kib),
                cost(point.kernel_added_kib as f64),
                units::seconds(point.start_s),
            ]);
        }
        if let Some(fit) = &model.fit {
            rows.push(vec![
                model.label.clone(),
                "per worker".to_owned(),
                String::new(),
                String::new(),
                cost(fit.rss_kib),
                cost(fit.pss_kib),
                cost(fit.uss_kib),
                cost(fit.kernel_kib_estimate),
                units::seconds(fit.start_s),
            ]);
        }
        if let Some(why) = &model.stopped {
            let mut row = vec![model.label.clone(), "stopped".to_owned(), why.clone()];
            row.resize(headers.len(), String::new());
            rows.push(row);
        }
    }
    Table { headers, rows }
}
