//! `cargo xtask report`: the latest comparison and sweep as one self-contained HTML page with charts
//! (`target/report/index.html`); `compare --export-html` and `sweep --export-html` write the same page for their
//! own run. The page is built from the runs' `results.json` and `machine.json`, never from anything measured now.

pub mod charts;
mod html;
mod validate;

use std::{
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use serde_json::Value;

use self::{charts::Dot, html::Page};
use crate::{machine::Machine, output::Terminal, usage::Usage, workspace};

/// Build one HTML page, with charts, from the latest compare and sweep results.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  # Then open target/report/index.html.
  cargo xtask compare && cargo xtask sweep && cargo xtask report
  cargo xtask report --compare target/compare/20261126T233127Z-23151 \\
      --output /tmp/page.html")]
pub struct Args {
    /// The comparison to show: a run's folder, or its results.json [default: target/compare/latest, or
    /// `$COUNTER_LAB_RESULTS/compare/latest` when that is set]
    #[arg(long, value_name = "PATH")]
    compare: Option<PathBuf>,

    /// The sweep to show: a run's folder, or its results.json [default: target/sweep/latest, or
    /// `$COUNTER_LAB_RESULTS/sweep/latest`]
    #[arg(long, value_name = "PATH")]
    sweep: Option<PathBuf>,

    /// Where to write the page [default: target/report/index.html, or `$COUNTER_LAB_RESULTS/report/index.html`]
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// One run's results, with the machine it ran on.
#[derive(Debug, Clone)]
pub struct RunResults {
    /// `results.json`, as read.
    pub results: Value,
    /// `machine.json`, when the run recorded one.
    pub machine: Option<Machine>,
    /// Its folder.
    pub folder: PathBuf,
}

impl RunResults {
    /// Reads a run from its folder (or its `results.json`); `None` when there is none.
    pub fn read(path: &Path) -> anyhow::Result<Option<RunResults>> {
        let folder =
            if path.is_dir() { path.to_path_buf() } else { path.parent().map(Path::to_path_buf).unwrap_or_default() };
        let file = folder.join("results.json");
        if !file.exists() {
            return Ok(None);
        }
        let text = fs::read_to_string(&file).with_context(|| format!("could not read {}", file.display()))?;
        let results = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
        let folder = fs::canonicalize(&folder).unwrap_or(folder);
        Ok(Some(RunResults { results, machine: Machine::of_run(&folder), folder }))
    }
}

/// Runs the task.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let compare_path = args.compare.clone().unwrap_or_else(|| workspace::results_dir("compare").join("latest"));
    let sweep_path = args.sweep.clone().unwrap_or_else(|| workspace::results_dir("sweep").join("latest"));
    let output = args.output.clone().unwrap_or_else(|| workspace::results_dir("report").join("index.html"));
    let compare = RunResults::read(&compare_path)?;
    let sweep = RunResults::read(&sweep_path)?;
    if compare.is_none() && sweep.is_none() {
        return Err(Usage(format!(
            "no results to show: neither {} nor {} holds a results.json; run `cargo xtask compare` or `cargo xtask \
             sweep` first",
            compare_path.display(),
            sweep_path.display()
        ))
        .into());
    }
    let page = page(compare.as_ref(), sweep.as_ref())?;
    write(&output, &page)?;
    Terminal::new(&crate::output::Exports::default().open()?).print(&format!(
        "Report: {} ({} KiB, self-contained: open it in any browser, offline)\n",
        output.display(),
        page.len() / 1024
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes a page, creating its folder.
pub fn write(path: &Path, page: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    }
    fs::write(path, page).with_context(|| format!("could not write {}", path.display()))
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or(0.0)
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or("")
}

/// The page for a comparison, a sweep, or both.
pub fn page(compare: Option<&RunResults>, sweep: Option<&RunResults>) -> anyhow::Result<String> {
    let mut page = Page::default();
    page.heading(1, "Shared counter: results");
    page.paragraph(
        "Five workers each add 1 to a shared counter after some simulated work: threads, processes, async tasks \
         and Redis clients, with five ways of keeping the counter right. Every figure below comes from the runs \
         named in the last section, as they were recorded; none was measured when this page was made.",
    );
    // Everything is checked before anything is drawn; a stop signal is looked for between the long steps.
    if let Some(compare) = compare {
        validate::compare(&compare.results, &compare.folder.join("results.json"))?;
    }
    if let Some(sweep) = sweep {
        validate::sweep(&sweep.results, &sweep.folder.join("results.json"))?;
    }
    if let Some(compare) = compare {
        crate::runner::check_signals()?;
        compare_section(&mut page, &compare.results)?;
    }
    if let Some(sweep) = sweep {
        crate::runner::check_signals()?;
        sweep_section(&mut page, &sweep.results)?;
    }
    page.heading(2, "Where these figures come from");
    for (name, run) in [("Comparison", compare), ("Sweep", sweep)] {
        let Some(run) = run else { continue };
        page.heading(3, name);
        page.definitions(&provenance(run));
    }
    Ok(page.finish("Shared counter: results"))
}

fn provenance(run: &RunResults) -> Vec<(&'static str, String)> {
    // Inside the workspace, the folder is shown from its root: the page says nothing of where the clone lives.
    let root = workspace::root();
    let folder = run.folder.strip_prefix(&root).unwrap_or(&run.folder);
    let mut pairs = vec![("results", folder.display().to_string())];
    match &run.machine {
        Some(machine) => pairs.extend([
            ("command", machine.command.clone()),
            ("date", machine.date_utc.clone()),
            (
                "machine",
                format!(
                    "{} CPUs ({}), {:.1} GiB, Linux {}",
                    machine.cpus,
                    machine.cpu_model,
                    machine.memory_total_kib as f64 / 1024.0 / 1024.0,
                    machine.kernel
                ),
            ),
            (
                "versions",
                format!(
                    "{}; tokio {}; {}; {}",
                    machine.rustc,
                    machine.tokio,
                    machine.python.clone().unwrap_or_else(|| "no python3".to_owned()),
                    if machine.servers.is_empty() { "no server".to_owned() } else { machine.servers.join(", ") }
                ),
            ),
        ]),
        None => pairs.push(("machine", "not recorded with this run".to_owned())),
    }
    pairs
}

/// The rows of one scenario that have figures.
fn rows_of<'a>(results: &'a Value, scenario: &str) -> Vec<&'a Value> {
    results["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|row| text(row, "scenario") == scenario && row["error"].is_null() && row["unavailable"].is_null())
        .collect()
}

fn row_label(row: &Value, scenario_flags: &str) -> String {
    let label = format!("{} {}", text(row, "label"), text(row, "sync"));
    let workload = text(row, "workload");
    if workload.is_empty() || workload == scenario_flags {
        label
    } else {
        let increments = workload.split("--increments ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap_or("?");
        format!("{label} ({increments} increments)")
    }
}

fn compare_section(page: &mut Page, results: &Value) -> anyhow::Result<()> {
    page.heading(2, "Comparison");
    scenario_charts(page, results)?;
    memory_chart(page, results)?;
    if let Some(sentences) = results["sentences"].as_array() {
        page.heading(3, "What the comparison says");
        let sentences: Vec<String> = sentences.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect();
        page.list(&sentences);
    }
    rows_table(page, results);
    Ok(())
}

/// Per scenario: the wall time of every row, and the losses of the rows that lost updates.
fn scenario_charts(page: &mut Page, results: &Value) -> anyhow::Result<()> {
    for scenario in results["scenarios"].as_array().into_iter().flatten() {
        let (name, flags) = (text(scenario, "name"), text(scenario, "flags"));
        let rows = rows_of(results, name);
        if rows.is_empty() {
            continue;
        }
        page.heading(3, &format!("{name}: {}", text(scenario, "about")));
        page.paragraph(&format!("Workload: {flags}."));
        let dots: Vec<Dot> = rows
            .iter()
            .map(|row| Dot {
                label: row_label(row, flags),
                values: vec![(
                    0,
                    number(&row["wall_median_s"]) * 1000.0,
                    number(&row["wall_ci_low_s"]) * 1000.0,
                    number(&row["wall_ci_high_s"]) * 1000.0,
                )],
            })
            .collect();
        let spread = {
            let walls: Vec<f64> = rows.iter().map(|row| number(&row["wall_median_s"])).filter(|w| *w > 0.0).collect();
            walls.iter().copied().fold(0.0, f64::max) / walls.iter().copied().fold(f64::INFINITY, f64::min)
        };
        let log = spread > 10.0;
        page.figure(
            &charts::dot_plot(&dots, &["wall time"], "wall time, ms", log)?,
            &format!(
                "Wall time of each model and strategy: the median of its runs, and its 95% interval as a bar{}; \
                 where bars overlap, the rows cannot be told apart.",
                if log { ", on a log scale (each step is ten times the one before)" } else { "" }
            ),
        );
        let lossy: Vec<&Value> = rows.iter().copied().filter(|row| number(&row["runs_with_loss"]) > 0.0).collect();
        if !lossy.is_empty() {
            let dots: Vec<Dot> = lossy
                .iter()
                .map(|row| {
                    let expected = number(&row["expected"]).max(1.0);
                    Dot {
                        label: format!(
                            "{} ({} of {} runs)",
                            row_label(row, flags),
                            number(&row["runs_with_loss"]),
                            number(&row["runs"])
                        ),
                        values: vec![(
                            1,
                            number(&row["lost_median"]) / expected * 100.0,
                            number(&row["lost_median"]) / expected * 100.0,
                            number(&row["lost_max"]) / expected * 100.0,
                        )],
                    }
                })
                .collect();
            page.figure(
                &charts::dot_plot(&dots, &["lost"], "updates lost, % of the increments", false)?,
                "Updates lost, as a share of the increments: the median run, with a bar to the worst; the label says \
                 in how many runs any was lost. Every other row lost none.",
            );
        }
    }
    Ok(())
}

/// The memory one more worker costs, from compare's probe.
fn memory_chart(page: &mut Page, results: &Value) -> anyhow::Result<()> {
    let probes: Vec<&Value> = results["memory_per_worker"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|probe| probe["error"].is_null())
        .collect();
    if !probes.is_empty() {
        page.heading(3, "Memory of one more worker");
        let dots: Vec<Dot> = probes
            .iter()
            .map(|probe| {
                let start = probe["start_method"].as_str().map(|s| format!(" ({s})")).unwrap_or_default();
                let figure = |name: &str, series: usize| {
                    let stats = &probe[name];
                    (
                        series,
                        number(&stats["median"]).max(1.0),
                        number(&stats["min"]).max(1.0),
                        number(&stats["max"]).max(1.0),
                    )
                };
                Dot {
                    label: format!("{}{start} at {}", text(probe, "model"), number(&probe["workers"])),
                    values: vec![figure("pss_bytes", 0), figure("uss_bytes", 1)],
                }
            })
            .collect();
        page.figure(
            &charts::dot_plot(&dots, &["PSS", "USS"], "bytes per extra worker (log)", true)?,
            "Memory one more worker costs, from pairs of runs with 1 worker and with many: PSS (the tree's real \
             total, shared pages split) and USS (pages of its own), median of the pairs with their range; log scale.",
        );
    }
    Ok(())
}

/// Every row of the comparison, as its table.
fn rows_table(page: &mut Page, results: &Value) {
    page.heading(3, "Every row");
    let header = [
        "scenario",
        "model",
        "sync",
        "final",
        "lost (median)",
        "runs with loss",
        "wall median",
        "95% interval",
        "runs",
        "CPU",
        "parallelism",
        "PSS",
        "USS",
        "retries",
    ];
    let mut table = Vec::new();
    for row in results["rows"].as_array().into_iter().flatten() {
        let mut cells =
            vec![text(row, "scenario").to_owned(), text(row, "label").to_owned(), text(row, "sync").to_owned()];
        if let Some(why) = row["error"].as_str().or_else(|| row["unavailable"].as_str()) {
            cells.push(why.to_owned());
            cells.resize(header.len(), String::new());
        } else {
            let ms = |field: &str| format!("{:.2} ms", number(&row[field]) * 1000.0);
            cells.extend([
                format!("{:.0}", number(&row["final_median"])),
                format!("{:.0}", number(&row["lost_median"])),
                format!("{:.0}", number(&row["runs_with_loss"])),
                ms("wall_median_s"),
                format!("{} … {}", ms("wall_ci_low_s"), ms("wall_ci_high_s")),
                format!("{:.0}", number(&row["runs"])),
                format!("{:.3} s", number(&row["cpu_median_s"])),
                format!("{:.2}", number(&row["parallelism_median"])),
                format!("{:.1} MiB", number(&row["pss_bytes"]) / 1_048_576.0),
                format!("{:.1} MiB", number(&row["uss_bytes"]) / 1_048_576.0),
                row["retries_median"].as_f64().map(|r| format!("{r:.0}")).unwrap_or_default(),
            ]);
        }
        table.push(cells);
    }
    page.table(&header, &table);
}

fn sweep_section(page: &mut Page, results: &Value) -> anyhow::Result<()> {
    page.heading(2, "Memory against workers");
    let models: Vec<&Value> = results.as_array().into_iter().flatten().collect();
    let series: Vec<(String, Vec<(f64, f64)>)> = models
        .iter()
        .map(|model| {
            let points = model["points"].as_array().into_iter().flatten();
            let line = points.map(|p| (number(&p["workers"]), number(&p["pss_kib"]).max(1.0))).collect();
            (text(model, "label").to_owned(), line)
        })
        .filter(|(_, line): &(String, Vec<(f64, f64)>)| !line.is_empty())
        .collect();
    if series.is_empty() {
        page.figure(&charts::empty("the sweep has no point")?, "No model produced a point.");
        return Ok(());
    }
    page.figure(
        &charts::lines(&series, "workers (log)", "PSS of the process tree, KiB (log)")?,
        "Memory of the whole process tree (summed PSS) with every worker alive, against the number of workers, \
         both on log scales: a line's height at the right is what that many workers hold, and parallel lines cost \
         the same per worker; the table gives each line's fitted cost of one more worker.",
    );
    let header = [
        "model",
        "points",
        "PSS per worker",
        "USS per worker",
        "summed RSS per worker",
        "kernel (est.)",
        "start one more",
        "server per connection",
    ];
    let kib = |value: f64| {
        if value.abs() >= 1.0 { format!("{value:.1} KiB") } else { format!("{:.0} B", value * 1024.0) }
    };
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|model| {
            let fit = &model["fit"];
            let points = model["points"].as_array().map_or(0, Vec::len);
            if fit.is_null() {
                let why = model["stopped"].as_str().unwrap_or("too few points for a fit");
                let mut cells = vec![text(model, "label").to_owned(), points.to_string(), why.to_owned()];
                cells.resize(header.len(), String::new());
                return cells;
            }
            vec![
                text(model, "label").to_owned(),
                points.to_string(),
                kib(number(&fit["pss_kib"])),
                kib(number(&fit["uss_kib"])),
                kib(number(&fit["rss_kib"])),
                kib(number(&fit["kernel_kib_estimate"])),
                format!("{:.1} us", number(&fit["start_s"]) * 1e6),
                fit["server_kib"].as_f64().map(kib).unwrap_or_default(),
            ]
        })
        .collect();
    page.table(&header, &rows);
    Ok(())
}
