//! What the comparison prints for people: a table per scenario, the legend, and the sentences.

use std::fmt::Write as _;

use super::{
    probe::Probe,
    results::{Row, ScenarioRun},
    summary, table,
};
use crate::{models, output};

/// What the comparison prints: a table per scenario, the legend, the sentences and any self-report mismatch.
pub(super) fn tables_and_sentences(
    wide: bool,
    scenario_runs: &[ScenarioRun],
    rows: &[Row],
    probes: &[Probe],
) -> String {
    let width = output::width();
    let mut text = String::new();
    let prose = |text: &mut String, line: String| {
        let _ = writeln!(text, "{}", output::wrap(&line, width));
    };
    for scenario in scenario_runs {
        prose(&mut text, format!("{}: {} ({})", scenario.name, scenario.flags, scenario.about));
        let scenario_rows: Vec<&Row> = rows.iter().filter(|row| row.scenario == scenario.name).collect();
        let mut models_said = Vec::new();
        for row in &scenario_rows {
            if models_said.contains(&row.model) {
                continue;
            }
            models_said.push(row.model);
            let description = models::of(row.model);
            let name = row.model.name();
            if row.workload != scenario.flags {
                let why = description.slow_step.map_or("", |slow| slow.why);
                prose(&mut text, format!("(the {name} rows: {}, {why}; timed among themselves)", row.workload));
            }
            if let Some(server) = &description.server
                && row.flags.split_whitespace().any(|flag| flag == server.flag)
            {
                prose(
                    &mut text,
                    format!(
                        "(the {name} rows: every run on one server, {}; its memory is outside their tree's)",
                        server.flag
                    ),
                );
            }
        }
        let _ = writeln!(text, "{}\n", table::render(&scenario_rows, wide, width));
    }
    prose(&mut text, table::legend(wide));
    let _ = writeln!(text);
    for sentence in summary::sentences(scenario_runs, rows, probes) {
        prose(&mut text, format!("- {sentence}"));
    }
    for row in rows.iter().filter(|row| row.self_report_mismatch.is_some()) {
        let mismatch = row.self_report_mismatch.as_deref().unwrap_or("");
        prose(&mut text, format!("- note: {} {} {}: {mismatch}", row.scenario, row.label, row.sync.name()));
    }
    text
}
