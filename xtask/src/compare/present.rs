//! What the comparison prints for people: a table per scenario, the legend, and the sentences.

use std::{fmt::Write as _, io::IsTerminal};

use super::{
    probe::Probe,
    results::{Row, ScenarioRun},
    summary, table,
};
use crate::models;

/// What the comparison prints: a table per scenario, the legend, the sentences and any self-report mismatch.
pub(super) fn tables_and_sentences(
    wide: bool,
    scenario_runs: &[ScenarioRun],
    rows: &[Row],
    probes: &[Probe],
) -> String {
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
        let _ = writeln!(text, "{}\n", table::render(&scenario_rows, wide, width));
    }
    let _ = writeln!(text, "{}", table::legend(wide));
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
