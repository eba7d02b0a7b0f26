//! `cargo xtask report`: the latest comparison and sweep as one self-contained HTML page with charts
//! (`target/report/index.html`); `compare --export-html` and `sweep --export-html` write the same page for their
//! own run. The page is built from the runs' `results.json` and `machine.json`, never from anything measured now.

pub mod charts;
mod faults;
mod html;
mod interleaving;
mod validate;

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use counter_core::{config::Strategy, model::Model, units};

use self::{
    charts::{Dot, Layout, Line, Style},
    html::Page,
};
use crate::{
    compare::{answers, json::Document as Comparison, probe::Probe, results::Row},
    faults::Document as FaultsDocument,
    machine::Machine,
    output::Terminal,
    sweep::ModelSweep,
    usage::Usage,
    workspace,
};

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

    /// Its `results.json`.
    fn file(&self) -> PathBuf {
        self.folder.join("results.json")
    }

    /// The results as the type that wrote them (checked first by `validate`); a file that does not fit it is
    /// refused, naming the file.
    fn typed<T: DeserializeOwned>(&self) -> Result<T, Usage> {
        T::deserialize(&self.results).map_err(|error| Usage(format!("{}: {error}", self.file().display())))
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
    // Everything is checked before anything is drawn, then read as the types that wrote it; a stop signal is
    // looked for between the long steps.
    let compared: Option<Comparison> =
        compare.map(|run| validate::compare(&run.results, &run.file()).and_then(|()| run.typed())).transpose()?;
    let swept: Option<Vec<ModelSweep>> =
        sweep.map(|run| validate::sweep(&run.results, &run.file()).and_then(|()| run.typed())).transpose()?;
    let faulted: Option<FaultsDocument> =
        faults.map(|run| validate::faults(&run.results, &run.file()).and_then(|()| run.typed())).transpose()?;
    let mut page = Page::default();
    page.heading(1, "Shared counter: results");
    page.headline(&headline(compare.zip(compared.as_ref()), sweep.zip(swept.as_deref()), faults.zip(faulted.as_ref())));
    // The answers to the seed's questions first, as compare prints them, then what else each run found.
    let mut found = Vec::new();
    if let Some(compared) = &compared {
        found.extend(answers::answers(&compared.scenarios, &compared.rows, &compared.memory_per_worker));
    }
    found.extend(compared.as_ref().map(compare_findings).unwrap_or_default());
    found.extend(swept.as_deref().map(sweep_findings).unwrap_or_default());
    found.extend(faulted.as_ref().map(faults::findings).unwrap_or_default());
    if !found.is_empty() {
        page.heading(2, "Findings");
        page.findings(&found);
    }
    if let Some(compared) = &compared {
        crate::runner::check_signals()?;
        compare_section(&mut page, compared);
    }
    if let Some(swept) = &swept {
        crate::runner::check_signals()?;
        sweep_section(&mut page, swept);
    }
    if let Some(faulted) = &faulted {
        faults::section(&mut page, faulted);
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
fn headline(
    compare: Option<(&RunResults, &Comparison)>,
    sweep: Option<(&RunResults, &[ModelSweep])>,
    faults: Option<(&RunResults, &FaultsDocument)>,
) -> String {
    let mut parts = Vec::new();
    if let Some((run, compared)) = compare {
        let mut families: Vec<String> = compared.rows.iter().map(|row| family(&row.label)).collect();
        sort_families(&mut families);
        let mut syncs: Vec<Strategy> = compared.rows.iter().map(|row| row.sync).collect();
        syncs.sort_by_key(|sync| strategy_order(*sync));
        syncs.dedup();
        let syncs: Vec<&str> = syncs.iter().map(|sync| sync.name()).collect();
        let scenarios: Vec<String> = compared
            .scenarios
            .iter()
            .map(|scenario| format!("{} ({})", scenario.name, workload_words(&scenario.flags)))
            .collect();
        parts.push(format!(
            "A comparison of {} with {}, on {}, {}",
            families.join(", "),
            syncs.join(", "),
            scenarios.join(" and "),
            recorded(run)
        ));
    }
    if let Some((run, models)) = sweep {
        let counts: Vec<u64> = models.iter().flat_map(|model| model.points.iter().map(|point| point.workers)).collect();
        if let (Some(least), Some(most)) = (counts.iter().min(), counts.iter().max()) {
            parts.push(format!(
                "A sweep of the memory of {} lines from {least} to {most} workers, {}",
                models.len(),
                recorded(run)
            ));
        }
    }
    if let Some((run, faulted)) = faults {
        parts.push(format!("{}, {}", faults::headline(faulted), recorded(run)));
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

fn strategy_order(sync: Strategy) -> usize {
    Strategy::ALL.iter().position(|strategy| *strategy == sync).unwrap_or(Strategy::ALL.len())
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
fn compare_findings(results: &Comparison) -> Vec<String> {
    let mut found = Vec::new();
    for scenario in &results.scenarios {
        let name = scenario.name.as_str();
        let rows = rows_of(results, name);
        if rows.is_empty() {
            continue;
        }
        let percent = |row: &Row, lost: f64| lost * 100.0 / (row.expected.max(1) as f64);
        let lossy: Vec<String> = rows
            .iter()
            .filter(|row| row.runs_with_loss > 0)
            .map(|row| {
                format!(
                    "{} {} {:.2}% (up to {:.2}%, in {} of {} runs)",
                    row.label,
                    row.sync.name(),
                    percent(row, row.lost_median),
                    percent(row, row.lost_max),
                    row.runs_with_loss,
                    row.runs
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
            if !workloads.contains(&row.workload.as_str()) {
                workloads.push(&row.workload);
            }
        }
        for workload in workloads {
            let group: Vec<&Row> = rows.iter().copied().filter(|row| row.workload == workload).collect();
            found.extend(timing_finding(name, &scenario.flags, workload, &group));
        }
    }
    let probes: Vec<String> = results
        .memory_per_worker
        .iter()
        .filter(|probe| probe.error.is_none())
        .map(|probe| {
            let start = probe.start_method.map(|start| format!(" ({})", start.name())).unwrap_or_default();
            format!(
                "{}{start} {} PSS, {} USS",
                probe.model.name(),
                units::bytes(probe.pss_bytes.median.max(0.0) as u64),
                units::bytes(probe.uss_bytes.median.max(0.0) as u64)
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
fn timing_finding(name: &str, scenario_flags: &str, workload: &str, rows: &[&Row]) -> Option<String> {
    let by_wall = |a: &&&Row, b: &&&Row| a.wall_median_s.total_cmp(&b.wall_median_s);
    let (fastest, slowest) = (rows.iter().min_by(by_wall)?, rows.iter().max_by(by_wall)?);
    let heading = if workload.is_empty() || workload == scenario_flags {
        name.to_owned()
    } else {
        format!("{name} ({})", workload_words(workload))
    };
    let name_of = |row: &Row| format!("{} {}", row.label, row.sync.name());
    let wall = |row: &Row| units::seconds(row.wall_median_s);
    if rows.len() < 2 {
        return None;
    }
    Some(if slowest.wall_ci_low_s > fastest.wall_ci_high_s {
        format!(
            "{heading}: fastest {} ({}), slowest {} ({}): {:.1}x as long.",
            name_of(fastest),
            wall(fastest),
            name_of(slowest),
            wall(slowest),
            slowest.wall_median_s / fastest.wall_median_s.max(f64::MIN_POSITIVE)
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
fn sweep_findings(models: &[ModelSweep]) -> Vec<String> {
    let fitted: Vec<String> = models
        .iter()
        .filter_map(|model| {
            let pss = model.fit?.pss_kib;
            let cost = if pss > 0.0 { units::bytes((pss * 1024.0) as u64) } else { "below resolution".to_owned() };
            Some(format!("{} {cost}", model.label))
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
fn rows_of<'a>(results: &'a Comparison, scenario: &str) -> Vec<&'a Row> {
    results.rows.iter().filter(|row| row.scenario == scenario && row.ok()).collect()
}

fn row_label(row: &Row, scenario_flags: &str) -> String {
    let label = format!("{} {}", row.label, row.sync.name());
    let workload = row.workload.as_str();
    if workload.is_empty() || workload == scenario_flags {
        label
    } else {
        let increments = workload.split("--increments ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap_or("?");
        format!("{label} ({increments} increments)")
    }
}

fn compare_section(page: &mut Page, results: &Comparison) {
    page.heading(2, "Comparison");
    let looks = Looks::of(results.rows.iter().map(|row| row.label.as_str()));
    scenario_charts(page, results, &looks);
    seen_section(page, results);
    memory_chart(page, results);
    if !results.sentences.is_empty() {
        page.heading(3, "What the comparison says");
        page.list(&results.sentences);
    }
    rows_table(page, results);
}

/// The traced run: what its trace attributes, the first collision in words, and the interleaving drawn.
fn seen_section(page: &mut Page, results: &Comparison) {
    let Some(seen) = &results.seen else { return };
    page.heading(3, "The lost update, seen");
    page.paragraph(&format!(
        "One traced run of {} ({}): each worker's reads and writes on one clock, and every lost update attributed.",
        seen.model.name(),
        seen.flags
    ));
    page.list(&seen.trace.lines());
    let (Some(wide), Some(narrow)) =
        (interleaving::draw(&seen.trace, Layout::Wide), interleaving::draw(&seen.trace, Layout::Narrow))
    else {
        return;
    };
    let legend = interleaving::legend();
    page.figure(
        &wide,
        &narrow,
        &legend,
        "The first losses of the traced run: a read and its write joined on each worker's lane; a vermilion line joins \
         each overwritten write (crossed out) to the write that stood over it, and each is labelled with the value it \
         wrote.",
    );
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
fn scenario_charts(page: &mut Page, results: &Comparison, looks: &Looks) {
    for scenario in &results.scenarios {
        let flags = scenario.flags.as_str();
        let mut rows = rows_of(results, &scenario.name);
        if rows.is_empty() {
            continue;
        }
        rows.sort_by_key(|row| strategy_order(row.sync));
        page.heading(3, &format!("{}: {}", scenario.name, scenario.about));
        page.paragraph(&format!("Workload: {}.", workload_words(flags)));
        let legend = looks.legend(rows.iter().map(|row| row.label.as_str()));
        let dots: Vec<Dot> = rows
            .iter()
            .map(|row| Dot {
                label: row_label(row, flags),
                style: looks.style(&row.label),
                values: vec![charts::Value {
                    median: row.wall_median_s * 1000.0,
                    low: row.wall_ci_low_s * 1000.0,
                    high: row.wall_ci_high_s * 1000.0,
                    hollow: false,
                }],
            })
            .collect();
        let spread = {
            let walls: Vec<f64> = rows.iter().map(|row| row.wall_median_s).filter(|w| *w > 0.0).collect();
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
        losses_chart(page, &rows, flags, looks);
    }
}

/// The losses of the rows of a scenario that lost updates, if any did.
fn losses_chart(page: &mut Page, rows: &[&Row], flags: &str, looks: &Looks) {
    let lossy: Vec<&Row> = rows.iter().copied().filter(|row| row.runs_with_loss > 0).collect();
    if lossy.is_empty() {
        return;
    }
    let dots: Vec<Dot> = lossy
        .iter()
        .map(|row| {
            let expected = row.expected.max(1) as f64;
            let median = row.lost_median / expected * 100.0;
            Dot {
                label: format!("{} ({} of {} runs)", row_label(row, flags), row.runs_with_loss, row.runs),
                style: looks.style(&row.label),
                values: vec![charts::Value {
                    median,
                    low: median,
                    high: row.lost_max / expected * 100.0,
                    hollow: false,
                }],
            }
        })
        .collect();
    let (wide, narrow) = dot_plots(&dots, "updates lost, % of the increments", false);
    page.figure(
        &wide,
        &narrow,
        &looks.legend(lossy.iter().map(|row| row.label.as_str())),
        "Updates lost, as a share of the increments: the median run, with a bar to the worst; the label says \
         in how many runs any was lost. Every other row lost none.",
    );
}

/// The memory one more worker costs, from compare's probe.
fn memory_chart(page: &mut Page, results: &Comparison) {
    let probes: Vec<&Probe> = results.memory_per_worker.iter().filter(|probe| probe.error.is_none()).collect();
    if probes.is_empty() {
        return;
    }
    page.heading(3, "Memory of one more worker");
    let looks = Looks::of(probes.iter().map(|probe| probe.model.name()));
    let dots: Vec<Dot> = probes
        .iter()
        .map(|probe| {
            let start = probe.start_method.map(|start| format!(" ({})", start.name())).unwrap_or_default();
            let figure = |stats: &crate::stats::Stats, hollow: bool| charts::Value {
                median: stats.median.max(1.0),
                low: stats.min.max(1.0),
                high: stats.max.max(1.0),
                hollow,
            };
            Dot {
                label: format!("{}{start} at {}", probe.model.name(), probe.workers),
                style: looks.style(probe.model.name()),
                values: vec![figure(&probe.pss_bytes, false), figure(&probe.uss_bytes, true)],
            }
        })
        .collect();
    let (wide, narrow) = dot_plots(&dots, "bytes per extra worker (log)", true);
    let neutral = Style { colour: "#000000", marker: charts::Marker::Circle };
    let mut legend = looks.legend(probes.iter().map(|probe| probe.model.name()));
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
fn rows_table(page: &mut Page, results: &Comparison) {
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
    for row in &results.rows {
        let mut cells = vec![row.scenario.clone(), row.label.clone(), row.sync.name().to_owned()];
        if let Some(why) = row.error.as_ref().or(row.unavailable.as_ref()) {
            cells.push(why.clone());
            cells.resize(header.len(), String::new());
        } else {
            let ms = |seconds: f64| format!("{:.2} ms", seconds * 1000.0);
            cells.extend([
                format!("{:.0}", row.final_median),
                format!("{:.0}", row.lost_median),
                row.runs_with_loss.to_string(),
                ms(row.wall_median_s),
                format!("{} … {}", ms(row.wall_ci_low_s), ms(row.wall_ci_high_s)),
                row.runs.to_string(),
                format!("{:.3} s", row.cpu_median_s),
                format!("{:.2}", row.parallelism_median),
                format!("{:.1} MiB", row.pss_bytes / 1_048_576.0),
                format!("{:.1} MiB", row.uss_bytes / 1_048_576.0),
                row.retries_median.map(|r| format!("{r:.0}")).unwrap_or_default(),
            ]);
        }
        table.push(cells);
    }
    page.table(&header, &table);
}

fn sweep_section(page: &mut Page, models: &[ModelSweep]) {
    page.heading(2, "Memory against workers");
    let lines = sweep_lines(models);
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
    sweep_table(page, models);
}

/// Each swept line's fitted cost of one more worker.
fn sweep_table(page: &mut Page, models: &[ModelSweep]) {
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
            let points = model.points.len();
            let Some(fit) = &model.fit else {
                let why = model.stopped.as_deref().unwrap_or("too few points for a fit");
                let mut cells = vec![model.label.clone(), points.to_string(), why.to_owned()];
                cells.resize(header.len(), String::new());
                return cells;
            };
            vec![
                model.label.clone(),
                points.to_string(),
                kib(fit.pss_kib),
                kib(fit.uss_kib),
                kib(fit.rss_kib),
                kib(fit.kernel_kib_estimate),
                format!("{:.1} us", fit.start_s * 1e6),
                fit.server_kib.map(kib).unwrap_or_default(),
            ]
        })
        .collect();
    page.table(&header, &rows);
}

/// The sweep's lines: one per model (and start method, interpreter), each model in its colour and marker, the
/// second and later lines of one model dashed, then dotted.
pub fn sweep_lines(models: &[ModelSweep]) -> Vec<Line> {
    let looks = Looks::of(models.iter().map(|model| model.label.as_str()));
    let mut seen: Vec<String> = Vec::new();
    models
        .iter()
        .filter_map(|model| {
            let label = model.label.as_str();
            let points: Vec<(f64, f64)> =
                model.points.iter().map(|p| (p.workers as f64, (p.pss_kib as f64).max(1.0))).collect();
            if points.is_empty() {
                return None;
            }
            let dashes = seen.iter().filter(|&seen| *seen == family(label)).count();
            seen.push(family(label));
            Some(Line { name: label.to_owned(), style: looks.style(label), dashes, points })
        })
        .collect()
}
