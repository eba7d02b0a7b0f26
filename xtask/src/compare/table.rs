//! The comparison as a table: what each column shows for a row.

use counter_core::units::{self, seconds as human_seconds};

use super::results::Row;
use crate::output::Table;

fn kib(value: f64) -> String {
    units::kib(value.max(0.0).round())
}

fn signed_kib(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), units::kib)
}

/// Builds the table from the rows.
pub fn build(rows: &[Row]) -> Table {
    let headers = vec![
        "scenario",
        "model",
        "sync",
        "final / expected",
        "lost (min … max)",
        "wall median (min … max)",
        "eff.",
        "CPU",
        "ctx sw.",
        "procs",
        "threads",
        "RSS",
        "PSS",
        "USS",
        "per extra worker PSS / USS",
    ];
    let rows = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.scenario.clone(), row.model.clone(), row.sync.clone()];
            match &row.error {
                Some(error) => {
                    // The whole message is in the JSON export; the table keeps its start.
                    let mut shown: String = error.chars().take(100).collect();
                    if shown.len() < error.len() {
                        shown.push_str(" …");
                    }
                    cells.push(format!("FAILED: {shown}"));
                    cells.resize(headers.len(), String::new());
                }
                None => cells.extend([
                    format!("{:.0} / {}", row.final_value.median, row.expected),
                    format!(
                        "{:.0} ({:.0} … {:.0})",
                        row.lost_updates.median, row.lost_updates.min, row.lost_updates.max
                    ),
                    format!(
                        "{} ({} … {})",
                        human_seconds(row.wall_time_s.median),
                        human_seconds(row.wall_time_s.min),
                        human_seconds(row.wall_time_s.max)
                    ),
                    row.efficiency.map_or_else(|| "-".to_owned(), |e| format!("{:.1}%", e * 100.0)),
                    format!("{:.3} s", row.cpu_s.median),
                    format!("{:.0}", row.context_switches.median),
                    format!("{:.0}", row.processes),
                    format!("{:.0}", row.threads),
                    kib(row.rss_kib),
                    kib(row.pss_kib),
                    kib(row.uss_kib),
                    format!("{} / {}", signed_kib(row.per_worker_pss_kib), signed_kib(row.per_worker_uss_kib)),
                ]),
            }
            cells
        })
        .collect();
    Table { headers, rows }
}
