//! The comparison as tables for people: one per scenario, with the columns a person reads first (model,
//! strategy, lost updates, wall time with its interval, then the final value, CPU, PSS), every other figure in
//! `--wide`, the JSON and the CSV. At 80 columns the lost updates and the wall time are always shown.

use counter_core::units;

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
    if row.runs_with_loss == 0 {
        return "0".to_owned();
    }
    let percent = row.lost_median * 100.0 / row.expected.max(1) as f64;
    let median = match percent {
        0.0 => "0".to_owned(),
        _ if percent < 1.0 => format!("{percent:.2}%"),
        _ => format!("{percent:.1}%"),
    };
    format!("{median} ({}/{})", row.runs_with_loss, row.runs)
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
