//! `cargo xtask report`: the latest comparison and sweep as one self-contained HTML page with charts
//! (`target/report/index.html`); `compare --export-html` and `sweep --export-html` write the same page for their
//! own run. The page is built from the runs' `results.json` and `machine.json`, never from anything measured now.

pub mod charts;
mod faults;
mod html;
mod validate;

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use serde_json::Value;

use counter_core::{config::Strategy, model::Model, units};

use self::{
    charts::{Dot, Layout, Line, Style},
    html::Page,
};
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

    /// The faults run to show: a run's folder, or its results.json [default: target/faults/latest, or
    /// `$COUNTER_LAB_RESULTS/faults/latest`, when there is one]
    #[arg(long, value_name = "PATH")]
    faults: Option<PathBuf>,

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
    let faults_path = args.faults.clone().unwrap_or_else(|| workspace::results_dir("faults").join("latest"));
    let compare = RunResults::read(&compare_path)?;
    let sweep = RunResults::read(&sweep_path)?;
    let faults = RunResults::read(&faults_path)?;
    if let (Some(given), None) = (&args.faults, &faults) {
        return Err(Usage(format!("--faults {}: no results.json there", given.display())).into());
    }
    if compare.is_none() && sweep.is_none() && faults.is_none() {
        return Err(Usage(format!(
            "no results to show: neither {} nor {} holds a results.json; run `cargo xtask compare` or `cargo xtask \
             sweep` first",
            compare_path.display(),
            sweep_path.display()
        ))
        .into());
    }
    let page = page_with_faults(compare.as_ref(), sweep.as_ref(), faults.as_ref())?;
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

/// The page for a comparison, a sweep, or both: what it shows and what was found first, then the charts, the
/// full tables, and where the figures come from.
pub fn page(compare: Option<&RunResults>, sweep: Option<&RunResults>) -> anyhow::Result<String> {
    page_with_faults(compare, sweep, None)
}

/// [`page`], with a faults run's section after the others when there is one.
pub fn page_with_faults(
    compare: Option<&RunResults>,
    sweep: Option<&RunResults>,
    faults: Option<&RunResults>,
) -> anyhow::Result<String> {
    // Everything is checked before anything is drawn; a stop signal is looked for between the long steps.
    if let Some(compare) = compare {
        validate::compare(&compare.results, &compare.folder.join("results.json"))?;
    }
    if let Some(sweep) = sweep {
        validate::sweep(&sweep.results, &sweep.folder.join("results.json"))?;
    }
    if let Some(faults) = faults {
        validate::faults(&faults.results, &faults.folder.join("results.json"))?;
    }
    let mut page = Page::default();
    page.heading(1, "Shared counter: results");
    page.headline(&headline(compare, sweep, faults));
    let mut found = Vec::new();
    if let Some(compare) = compare {
        found.extend(compare_findings(&compare.results));
    }
    if let Some(sweep) = sweep {
        found.extend(sweep_findings(&sweep.results));
    }
    if let Some(faults) = faults {
        found.extend(faults::findings(&faults.results));
    }
    if !found.is_empty() {
        page.heading(2, "Findings");
        page.findings(&found);
    }
    if let Some(compare) = compare {
        crate::runner::check_signals()?;
        compare_section(&mut page, &compare.results);
    }
    if let Some(sweep) = sweep {
        crate::runner::check_signals()?;
        sweep_section(&mut page, &sweep.results);
    }
    if let Some(faults) = faults {
        faults::section(&mut page, &faults.results);
    }
    page.heading(2, "Where these figures come from");
    for (name, run) in [("Comparison", compare), ("Sweep", sweep), ("Faults", faults)] {
        let Some(run) = run else { continue };
        page.heading(3, name);
        page.definitions(&provenance(run));
    }
    Ok(page.finish("Shared counter: results"))
}

/// What the page shows, from the runs themselves: the models and strategies compared, on which workloads,
/// when, on what machine; the counts swept.
fn headline(compare: Option<&RunResults>, sweep: Option<&RunResults>, faults: Option<&RunResults>) -> String {
    let mut parts = Vec::new();
    if let Some(run) = compare {
        let rows = run.results["rows"].as_array().map_or(&[][..], Vec::as_slice);
        let mut families: Vec<String> = rows.iter().map(|row| family(text(row, "label"))).collect();
        sort_families(&mut families);
        let mut syncs: Vec<&str> = rows.iter().map(|row| text(row, "sync")).collect();
        syncs.sort_by_key(|sync| strategy_order(sync));
        syncs.dedup();
        let scenarios: Vec<String> = run.results["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|scenario| format!("{} ({})", text(scenario, "name"), workload_words(text(scenario, "flags"))))
            .collect();
        parts.push(format!(
            "A comparison of {} with {}, on {}, {}",
            families.join(", "),
            syncs.join(", "),
            scenarios.join(" and "),
            recorded(run)
        ));
    }
    if let Some(run) = sweep {
        let models = run.results.as_array().map_or(&[][..], Vec::as_slice);
        let counts: Vec<f64> = models
            .iter()
            .flat_map(|model| model["points"].as_array().into_iter().flatten().map(|point| number(&point["workers"])))
            .collect();
        let (least, most) =
            (counts.iter().copied().fold(f64::INFINITY, f64::min), counts.iter().copied().fold(0.0, f64::max));
        if least.is_finite() {
            parts.push(format!(
                "A sweep of the memory of {} lines from {least:.0} to {most:.0} workers, {}",
                models.len(),
                recorded(run)
            ));
        }
    }
    if let Some(run) = faults {
        parts.push(format!("{}, {}", faults::headline(&run.results), recorded(run)));
    }
    parts.join(". ")
        + ". Every figure comes from these runs as they were recorded; none was measured when this \
                        page was made."
}

/// When and where a run was recorded.
fn recorded(run: &RunResults) -> String {
    match &run.machine {
        Some(machine) => format!("recorded {} on {} CPUs ({})", machine.date_utc, machine.cpus, machine.cpu_model),
        None => "when and where it ran was not recorded".to_owned(),
    }
}

/// A workload's flags in words: `5 workers x 200 increments, sleep:1ms before each`.
fn workload_words(flags: &str) -> String {
    let value = |name: &str| {
        let words: Vec<&str> = flags.split_whitespace().collect();
        words.iter().position(|word| *word == name).and_then(|i| words.get(i + 1)).copied()
    };
    let mut text =
        format!("{} workers x {} increments", value("--workers").unwrap_or("?"), value("--increments").unwrap_or("?"));
    match (value("--work"), value("--window")) {
        (Some("none") | None, _) => text.push_str(", no work"),
        (Some(work), Some("inside")) => {
            let _ = write!(text, ", {work} inside the read-modify-write");
        }
        (Some(work), _) => {
            let _ = write!(text, ", {work} before each");
        }
    }
    text
}

/// The family a row or a line belongs to, which its colour and marker follow on every chart: its model
/// (`processes` for `processes pool 2`), or for a Python row its interpreter (`python3.13t`).
fn family(label: &str) -> String {
    label.split(' ').next().unwrap_or_default().to_owned()
}

/// Families in a fixed order: the models as listed, then the interpreters by name.
fn sort_families(families: &mut Vec<String>) {
    let rank = |family: &String| Model::ALL.iter().position(|model| model.name() == family).unwrap_or(Model::ALL.len());
    families.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    families.dedup();
}

fn strategy_order(sync: &str) -> usize {
    Strategy::ALL.iter().position(|strategy| strategy.name() == sync).unwrap_or(Strategy::ALL.len())
}

/// The look of each family: every family of the page gets its own, in [`sort_families`]' order.
#[derive(Debug)]
struct Looks(Vec<String>);

impl Looks {
    fn of<'a>(labels: impl Iterator<Item = &'a str>) -> Looks {
        let mut families: Vec<String> = labels.map(family).collect();
        sort_families(&mut families);
        Looks(families)
    }

    fn style(&self, label: &str) -> Style {
        let family = family(label);
        charts::style(self.0.iter().position(|known| *known == family).unwrap_or(self.0.len()))
    }

    /// The legend of the families among `labels`.
    fn legend<'a>(&self, labels: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
        let mut present: Vec<String> = labels.map(family).collect();
        sort_families(&mut present);
        present.into_iter().map(|family| (charts::legend_marker(self.style(&family), false), family)).collect()
    }
}

/// The findings of a comparison, each with its figures: per scenario, which rows lost updates and how many,
/// and the fastest and slowest rows with their ratio when their intervals are apart; the memory of one more
/// worker per model.
fn compare_findings(results: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for scenario in results["scenarios"].as_array().into_iter().flatten() {
        let name = text(scenario, "name");
        let rows = rows_of(results, name);
        if rows.is_empty() {
            continue;
        }
        let percent = |row: &Value, field: &str| number(&row[field]) * 100.0 / number(&row["expected"]).max(1.0);
        let lossy: Vec<String> = rows
            .iter()
            .filter(|row| number(&row["runs_with_loss"]) > 0.0)
            .map(|row| {
                format!(
                    "{} {} {:.2}% (up to {:.2}%, in {:.0} of {:.0} runs)",
                    text(row, "label"),
                    text(row, "sync"),
                    percent(row, "lost_median"),
                    percent(row, "lost_max"),
                    number(&row["runs_with_loss"]),
                    number(&row["runs"])
                )
            })
            .collect();
        found.push(if lossy.is_empty() {
            format!("{name}: no row lost an update, in any run.")
        } else {
            format!(
                "{name}: updates lost (median share of the increments): {}; the {} other rows lost none.",
                lossy.join("; "),
                rows.len() - lossy.len()
            )
        });
        // Rows timed on another workload (a slow model's, with fewer increments) are compared among themselves.
        let mut workloads: Vec<&str> = Vec::new();
        for row in &rows {
            if !workloads.contains(&text(row, "workload")) {
                workloads.push(text(row, "workload"));
            }
        }
        for workload in workloads {
            let group: Vec<&Value> = rows.iter().copied().filter(|row| text(row, "workload") == workload).collect();
            found.extend(timing_finding(name, text(scenario, "flags"), workload, &group));
        }
    }
    let probes: Vec<String> = results["memory_per_worker"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|probe| probe["error"].is_null())
        .map(|probe| {
            let start = probe["start_method"].as_str().map(|s| format!(" ({s})")).unwrap_or_default();
            format!(
                "{}{start} {} PSS, {} USS",
                text(probe, "model"),
                units::bytes(number(&probe["pss_bytes"]["median"]).max(0.0) as u64),
                units::bytes(number(&probe["uss_bytes"]["median"]).max(0.0) as u64)
            )
        })
        .collect();
    if !probes.is_empty() {
        found.push(format!("One more worker costs (median of the probe's pairs): {}.", probes.join("; ")));
    }
    found
}

/// Which row was fastest and which slowest among rows timed on one workload, with the ratio when their
/// intervals are apart, or that they cannot be told apart.
fn timing_finding(name: &str, scenario_flags: &str, workload: &str, rows: &[&Value]) -> Option<String> {
    let by_wall = |a: &&&Value, b: &&&Value| number(&a["wall_median_s"]).total_cmp(&number(&b["wall_median_s"]));
    let (fastest, slowest) = (rows.iter().min_by(by_wall)?, rows.iter().max_by(by_wall)?);
    let heading = if workload.is_empty() || workload == scenario_flags {
        name.to_owned()
    } else {
        format!("{name} ({})", workload_words(workload))
    };
    let name_of = |row: &Value| format!("{} {}", text(row, "label"), text(row, "sync"));
    let wall = |row: &Value| units::seconds(number(&row["wall_median_s"]));
    if rows.len() < 2 {
        return None;
    }
    Some(if number(&slowest["wall_ci_low_s"]) > number(&fastest["wall_ci_high_s"]) {
        format!(
            "{heading}: fastest {} ({}), slowest {} ({}): {:.1}x as long.",
            name_of(fastest),
            wall(fastest),
            name_of(slowest),
            wall(slowest),
            number(&slowest["wall_median_s"]) / number(&fastest["wall_median_s"]).max(f64::MIN_POSITIVE)
        )
    } else {
        format!(
            "{heading}: every row took from {} to {}, and their intervals overlap: indistinguishable in wall time.",
            wall(fastest),
            wall(slowest)
        )
    })
}

/// The sweep's finding: each line's fitted cost of one more worker.
fn sweep_findings(results: &Value) -> Vec<String> {
    let fitted: Vec<String> = results
        .as_array()
        .into_iter()
        .flatten()
        .filter(|model| !model["fit"].is_null())
        .map(|model| {
            let pss = number(&model["fit"]["pss_kib"]);
            let cost = if pss > 0.0 { units::bytes((pss * 1024.0) as u64) } else { "below resolution".to_owned() };
            format!("{} {cost}", text(model, "label"))
        })
        .collect();
    if fitted.is_empty() {
        return Vec::new();
    }
    vec![format!("Memory per worker, fitted over the sweep's points (PSS): {}.", fitted.join("; "))]
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

fn compare_section(page: &mut Page, results: &Value) {
    page.heading(2, "Comparison");
    let looks = Looks::of(results["rows"].as_array().into_iter().flatten().map(|row| text(row, "label")));
    scenario_charts(page, results, &looks);
    memory_chart(page, results);
    if let Some(sentences) = results["sentences"].as_array() {
        page.heading(3, "What the comparison says");
        let sentences: Vec<String> = sentences.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect();
        page.list(&sentences);
    }
    rows_table(page, results);
}

/// Both layouts of a dot plot.
fn dot_plots(dots: &[Dot], x_description: &str, log: bool) -> (String, String) {
    (
        charts::dot_plot(dots, x_description, log, Layout::Wide),
        charts::dot_plot(dots, x_description, log, Layout::Narrow),
    )
}

/// Per scenario: the wall time of every row, and the losses of the rows that lost updates; rows grouped by
/// strategy, so that like is next to like, each model in its own colour and marker.
fn scenario_charts(page: &mut Page, results: &Value, looks: &Looks) {
    for scenario in results["scenarios"].as_array().into_iter().flatten() {
        let (name, flags) = (text(scenario, "name"), text(scenario, "flags"));
        let mut rows = rows_of(results, name);
        if rows.is_empty() {
            continue;
        }
        rows.sort_by_key(|row| strategy_order(text(row, "sync")));
        page.heading(3, &format!("{name}: {}", text(scenario, "about")));
        page.paragraph(&format!("Workload: {}.", workload_words(flags)));
        let legend = looks.legend(rows.iter().map(|row| text(row, "label")));
        let dots: Vec<Dot> = rows
            .iter()
            .map(|row| Dot {
                label: row_label(row, flags),
                style: looks.style(text(row, "label")),
                values: vec![charts::Value {
                    median: number(&row["wall_median_s"]) * 1000.0,
                    low: number(&row["wall_ci_low_s"]) * 1000.0,
                    high: number(&row["wall_ci_high_s"]) * 1000.0,
                    hollow: false,
                }],
            })
            .collect();
        let spread = {
            let walls: Vec<f64> = rows.iter().map(|row| number(&row["wall_median_s"])).filter(|w| *w > 0.0).collect();
            walls.iter().copied().fold(0.0, f64::max) / walls.iter().copied().fold(f64::INFINITY, f64::min)
        };
        let log = spread > 10.0;
        let (wide, narrow) = dot_plots(&dots, "wall time, ms", log);
        page.figure(
            &wide,
            &narrow,
            &legend,
            &format!(
                "Wall time of each model and strategy, grouped by strategy: the median of its runs, and its 95% \
                 interval as a bar{}; where bars overlap, the rows cannot be told apart.",
                if log { ", on a log scale" } else { "" }
            ),
        );
        let lossy: Vec<&Value> = rows.iter().copied().filter(|row| number(&row["runs_with_loss"]) > 0.0).collect();
        if !lossy.is_empty() {
            let dots: Vec<Dot> = lossy
                .iter()
                .map(|row| {
                    let expected = number(&row["expected"]).max(1.0);
                    let median = number(&row["lost_median"]) / expected * 100.0;
                    Dot {
                        label: format!(
                            "{} ({} of {} runs)",
                            row_label(row, flags),
                            number(&row["runs_with_loss"]),
                            number(&row["runs"])
                        ),
                        style: looks.style(text(row, "label")),
                        values: vec![charts::Value {
                            median,
                            low: median,
                            high: number(&row["lost_max"]) / expected * 100.0,
                            hollow: false,
                        }],
                    }
                })
                .collect();
            let (wide, narrow) = dot_plots(&dots, "updates lost, % of the increments", false);
            page.figure(
                &wide,
                &narrow,
                &looks.legend(lossy.iter().map(|row| text(row, "label"))),
                "Updates lost, as a share of the increments: the median run, with a bar to the worst; the label says \
                 in how many runs any was lost. Every other row lost none.",
            );
        }
    }
}

/// The memory one more worker costs, from compare's probe.
fn memory_chart(page: &mut Page, results: &Value) {
    let probes: Vec<&Value> = results["memory_per_worker"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|probe| probe["error"].is_null())
        .collect();
    if probes.is_empty() {
        return;
    }
    page.heading(3, "Memory of one more worker");
    let looks = Looks::of(probes.iter().map(|probe| text(probe, "model")));
    let dots: Vec<Dot> = probes
        .iter()
        .map(|probe| {
            let start = probe["start_method"].as_str().map(|s| format!(" ({s})")).unwrap_or_default();
            let figure = |name: &str, hollow: bool| {
                let stats = &probe[name];
                charts::Value {
                    median: number(&stats["median"]).max(1.0),
                    low: number(&stats["min"]).max(1.0),
                    high: number(&stats["max"]).max(1.0),
                    hollow,
                }
            };
            Dot {
                label: format!("{}{start} at {}", text(probe, "model"), number(&probe["workers"])),
                style: looks.style(text(probe, "model")),
                values: vec![figure("pss_bytes", false), figure("uss_bytes", true)],
            }
        })
        .collect();
    let (wide, narrow) = dot_plots(&dots, "bytes per extra worker (log)", true);
    let neutral = Style { colour: "#000000", marker: charts::Marker::Circle };
    let mut legend = looks.legend(probes.iter().map(|probe| text(probe, "model")));
    legend.push((charts::legend_marker(neutral, false), "PSS (filled)".to_owned()));
    legend.push((charts::legend_marker(neutral, true), "USS (hollow)".to_owned()));
    page.figure(
        &wide,
        &narrow,
        &legend,
        "Memory one more worker costs, from pairs of runs with 1 worker and with many: PSS (the tree's real \
         total, shared pages split) and USS (pages of its own), median of the pairs with their range; log scale.",
    );
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

fn sweep_section(page: &mut Page, results: &Value) {
    page.heading(2, "Memory against workers");
    let models: Vec<&Value> = results.as_array().into_iter().flatten().collect();
    let lines = sweep_lines(&models);
    if lines.is_empty() {
        page.figure(
            &charts::empty("the sweep has no point", Layout::Wide),
            &charts::empty("the sweep has no point", Layout::Narrow),
            &[],
            "No model produced a point.",
        );
        return;
    }
    let legend: Vec<(String, String)> =
        lines.iter().map(|line| (charts::legend_marker(line.style, false), line.name.clone())).collect();
    let draw = |layout| charts::lines(&lines, "workers (log)", "PSS of the process tree, KiB (log)", layout, false);
    page.figure(
        &draw(Layout::Wide),
        &draw(Layout::Narrow),
        &legend,
        "Memory of the whole process tree (summed PSS) with every worker alive, against the number of workers, \
         both on log scales: a line's height at the right is what that many workers hold, and parallel lines cost \
         the same per worker; lines of one model are told apart by dashes; the table gives each line's fitted cost \
         of one more worker.",
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
}

/// The sweep's lines: one per model (and start method, interpreter), each model in its colour and marker, the
/// second and later lines of one model dashed, then dotted.
pub fn sweep_lines(models: &[&Value]) -> Vec<Line> {
    let looks = Looks::of(models.iter().map(|model| text(model, "label")));
    let mut seen: Vec<String> = Vec::new();
    models
        .iter()
        .filter_map(|model| {
            let label = text(model, "label");
            let points: Vec<(f64, f64)> = model["points"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (number(&p["workers"]), number(&p["pss_kib"]).max(1.0)))
                .collect();
            if points.is_empty() {
                return None;
            }
            let dashes = seen.iter().filter(|&seen| *seen == family(label)).count();
            seen.push(family(label));
            Some(Line { name: label.to_owned(), style: looks.style(label), dashes, points })
        })
        .collect()
}
