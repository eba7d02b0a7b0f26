//! The comparison as tables for people: one per scenario, with the columns a person reads first (model,
//! strategy, lost updates, wall time with its interval, then the final value, CPU, PSS), every other figure in
//! `--wide`, the JSON and the CSV. At 80 columns the lost updates and the wall time are always shown.

use counter_core::{config::Strategy, units};

use super::results::Row;
use crate::output::{self, Table};

/// The wall time as `200.3 ms ±0.1%`: the median, and half its interval's width as a share of it; `*` marks
/// an interval of less than 95% coverage (too few runs).
fn wall(row: &Row) -> String {
    let half = row.wall.relative_half_width() * 100.0;
    let half = if half < 0.95 { format!("{half:.1}") } else { format!("{half:.0}") };
    let mark = if row.wall_ci_level < crate::stats::TARGET_LEVEL { "*" } else { "" };
    format!("{} ±{half}%{mark}", units::seconds(row.wall_median_s))
}

/// Lost updates as a share of the increments: `38.3% (5/5)` is the median run's loss and the runs with any.
fn lost(row: &Row) -> String {
    if let Some(retries) = row.retries_median.filter(|_| row.runs_with_loss == 0) {
        // Optimistic: nothing lost; what it costs is attempts made again.
        return format!("0, {} retried", compact(retries));
    }
    match loss(row) {
        Some((median, runs)) => format!("{median} ({runs})"),
        None => "0".to_owned(),
    }
}

/// The median run's loss as a share of the increments, and the runs with any (`4/6`); `None` when no run lost.
fn loss(row: &Row) -> Option<(String, String)> {
    if row.runs_with_loss == 0 {
        return None;
    }
    let percent = row.lost_median * 100.0 / row.expected.max(1) as f64;
    let median = match percent {
        0.0 => "0".to_owned(),
        _ if percent < 1.0 => format!("{percent:.2}%"),
        _ => format!("{percent:.1}%"),
    };
    Some((median, format!("{}/{}", row.runs_with_loss, row.runs)))
}

/// A count in few characters: 950, 12.3k, 1.24M.
fn compact(count: f64) -> String {
    match count {
        _ if count >= 1e6 => format!("{:.2}M", count / 1e6),
        _ if count >= 1e3 => format!("{:.1}k", count / 1e3),
        _ => format!("{count:.0}"),
    }
}

/// The characters of a row's message shown in its table.
const MESSAGE_SHOWN: usize = 40;

fn cells(row: &Row, wide: bool) -> Vec<String> {
    let mut cells = vec![row.label.clone(), row.sync.name().to_owned()];
    // The whole message is in the JSON export; the table keeps its start, short enough to leave the other
    // rows their columns.
    let start = |text: &str| {
        let shown: String = text.chars().take(MESSAGE_SHOWN).collect();
        if shown.len() < text.len() { shown + "…" } else { shown }
    };
    if let Some(error) = &row.error {
        cells.push(start(&format!("FAILED: {error}")));
        return cells;
    }
    if let Some(why) = &row.unavailable {
        cells.push(start(&format!("not available: {why}")));
        return cells;
    }
    // The figures each scenario exists for first (what was lost, how long it took), so that a narrow table
    // leaves out the others.
    cells.extend([
        lost(row),
        wall(row),
        format!("{:.0}", row.final_median),
        format!("{:.3} s", row.cpu_median_s),
        units::kib(row.pss_bytes / 1024.0),
    ]);
    if wide {
        cells.extend([
            row.runs.to_string(),
            format!("{} … {}", units::seconds(row.wall_min_s), units::seconds(row.wall_max_s)),
            format!("{:.2}", row.parallelism_median),
            format!("{:.0}", row.context_switches_median),
            format!("{:.0} / {:.0}", row.processes, row.threads),
            units::kib(row.rss_bytes / 1024.0),
            units::kib(row.uss_bytes / 1024.0),
        ]);
    }
    cells
}

fn headers(wide: bool) -> Vec<&'static str> {
    let mut headers = vec!["model", "sync", "lost", "wall ±CI", "final", "CPU", "PSS"];
    if wide {
        headers.extend(["runs", "wall min … max", "CPU/wall", "ctx sw.", "procs / thr.", "RSS", "USS"]);
    }
    headers
}

/// One scenario's table.
pub fn build(rows: &[&Row], wide: bool) -> Table {
    let headers = headers(wide);
    let rows = rows
        .iter()
        .map(|row| {
            let mut cells = cells(row, wide);
            cells.resize(headers.len(), String::new());
            cells
        })
        .collect();
    Table { headers, rows }
}

/// One scenario's table in `width` columns.
pub fn render(rows: &[&Row], wide: bool, width: usize) -> String {
    output::render_to_width(&build(rows, wide), width)
}

/// What each column means, in one line (two with `--wide`).
pub fn legend(wide: bool) -> String {
    let mut legend = "lost: median run's loss (runs with any); wall: median ± half its 95% interval (* too few \
                      runs for 95%); final: median run; CPU: user + system of the whole tree; PSS: the tree, all \
                      workers alive"
        .to_owned();
    if wide {
        legend.push_str(
            "\nCPU/wall: the run's CPU time, its start included, over its wall time from the start signal (how many \
             workers ran at once when the run is long next to its start); RSS counts shared \
             pages once per process",
        );
    }
    legend
}

/// The wall time in at most six characters: `30.3ms`, `461ms`, `3.08ms`, `1.20s`.
fn short_time(seconds: f64) -> String {
    let (value, unit) = match seconds {
        s if s >= 1.0 => (s, "s"),
        s if s >= 1e-3 => (s * 1e3, "ms"),
        s if s >= 1e-6 => (s * 1e6, "us"),
        s => (s * 1e9, "ns"),
    };
    match value {
        v if v >= 100.0 => format!("{v:.0}{unit}"),
        v if v >= 10.0 => format!("{v:.1}{unit}"),
        v => format!("{v:.2}{unit}"),
    }
}

/// A strategy's column heading, in at most seven characters.
fn heading(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Optimistic => "optim.",
        other => other.name(),
    }
}

/// The longest part of a label on a line of its own, so that the model column stays narrow.
const LABEL_LINE: usize = 12;

/// A label on lines of its own: the model, then what sets the row apart (`postgres` / `repeatable-read`), a
/// part longer than [`LABEL_LINE`] broken after a hyphen (`snapshot-` / `isolation`).
fn two_lines(label: &str) -> String {
    let Some((model, rest)) = label.split_once(' ') else { return label.to_owned() };
    let rest = match rest.split_once('-') {
        Some((first, second)) if rest.chars().count() > LABEL_LINE => format!("{first}-\n{second}"),
        _ => rest.to_owned(),
    };
    format!("{model}\n{rest}")
}

/// One scenario as a person reads it first, within 80 columns: a row per model (what sets a row apart on a
/// second line), the racy strategy's loss, and a column per strategy with the median wall time over half its 95%
/// interval. What a cell cannot hold (a failed row's message, a loss under a lock) is said under the table.
pub fn pivot(rows: &[&Row]) -> (Table, Vec<String>) {
    let mut labels: Vec<&str> = Vec::new();
    for row in rows {
        if !labels.contains(&row.label.as_str()) {
            labels.push(&row.label);
        }
    }
    // A variant run on one strategy alone (`postgres repeatable-read`, racy) is a sentence under the table, not
    // a row of empty cells.
    let alone = |label: &str| label.contains(' ') && rows.iter().filter(|row| row.label == label).count() == 1;
    let strategies: Vec<Strategy> = Strategy::ALL
        .into_iter()
        .filter(|strategy| rows.iter().any(|row| row.sync == *strategy && !alone(&row.label)))
        .collect();
    let mut headers = vec!["model", "lost"];
    headers.extend(strategies.iter().map(|strategy| heading(*strategy)));
    let (mut said, mut single) = (Vec::new(), Vec::new());
    let mut table_rows = Vec::new();
    for label in labels {
        let of = |strategy: Strategy| rows.iter().find(|row| row.label == label && row.sync == strategy);
        if alone(label) {
            if let Some(row) = rows.iter().find(|row| row.label == label) {
                let wall = wall(row);
                let interval = wall.rsplit_once(' ').map_or("", |(_, interval)| interval);
                let time = short_time(row.wall_median_s);
                single.push(format!("{label} {} {} lost, {time} {interval}", row.sync.name(), lost(row)));
            }
            continue;
        }
        let racy = of(Strategy::Racy).filter(|row| row.error.is_none() && row.unavailable.is_none());
        let racy =
            racy.map(|row| loss(row).map_or_else(|| "0".to_owned(), |(median, runs)| format!("{median}\n{runs}")));
        let mut cells = vec![two_lines(label), racy.unwrap_or_default()];
        cells.extend(strategies.iter().map(|strategy| cell(label, *strategy, of(*strategy), &mut said)));
        table_rows.push(cells);
    }
    if !single.is_empty() {
        said.push(single.join("; "));
    }
    (Table { headers, rows: table_rows }, said)
}

/// The cell of `label`'s `strategy`: its wall time over its interval; what it cannot hold, said in `said`.
fn cell(label: &str, strategy: Strategy, row: Option<&&Row>, said: &mut Vec<String>) -> String {
    let Some(row) = row else { return String::new() };
    if let Some(error) = &row.error {
        said.push(format!("{label} {}: FAILED: {error}", strategy.name()));
        return "FAILED".to_owned();
    }
    if let Some(why) = &row.unavailable {
        said.push(format!("{label} {}: not available: {why}", strategy.name()));
        return "n/a".to_owned();
    }
    if strategy != Strategy::Racy && row.runs_with_loss > 0 {
        said.push(format!("{label} {}: lost {}", strategy.name(), lost(row)));
    }
    let wall = wall(row);
    let (_, interval) = wall.rsplit_once(' ').unwrap_or(("", ""));
    format!("{}\n{interval}", short_time(row.wall_median_s))
}

/// What the pivot's columns mean, in one line.
pub fn pivot_legend() -> String {
    "lost: the racy row's median loss (runs with any); a strategy's column: its median wall time, ± half its 95% \
     interval (* too few runs for 95%); optim.: optimistic (its retries, and every other figure, are in --wide and \
     findings.md)"
        .to_owned()
}

/// Every row as a Markdown table, with its scenario: what the README embeds.
pub fn markdown(rows: &[Row]) -> String {
    let mut headers = vec!["scenario"];
    headers.extend(self::headers(true));
    let table = Table {
        headers,
        rows: rows
            .iter()
            .map(|row| {
                let mut cells = vec![row.scenario.clone()];
                cells.extend(self::cells(row, true));
                cells.resize(15, String::new());
                cells
            })
            .collect(),
    };
    output::to_markdown(&table)
}
