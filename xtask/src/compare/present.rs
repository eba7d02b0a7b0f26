//! What the comparison prints for people: the answers, a table per scenario, the legend, and where the findings
//! are (or, with `--details`, the findings themselves).

use std::fmt::Write as _;

use super::{
    answers,
    probe::Probe,
    results::{Row, ScenarioRun},
    summary, table,
};
use crate::{models, output};

/// What the comparison prints (the answers, a table per scenario, the legend, then the findings with `details`,
/// else where they are), and the findings as Markdown, for the run's folder.
pub(super) fn text(
    wide: bool,
    details: bool,
    scenario_runs: &[ScenarioRun],
    rows: &[Row],
    probes: &[Probe],
) -> (String, String) {
    let width = output::width();
    let mut text = String::new();
    let prose = |text: &mut String, line: String| {
        let _ = writeln!(text, "{}", output::wrap(&line, width));
    };
    let answers = answers::answers(scenario_runs, rows, probes);
    if !answers.is_empty() {
        let _ = writeln!(text, "Answers (this run; the tables below hold the figures):");
        for answer in &answers {
            prose(&mut text, format!("- {answer}"));
        }
        let _ = writeln!(text);
    }
    for scenario in scenario_runs {
        prose(&mut text, format!("{}: {} ({})", scenario.name, scenario.flags, scenario.about));
        let scenario_rows: Vec<&Row> = rows.iter().filter(|row| row.scenario == scenario.name).collect();
        let mut models_said = Vec::new();
        let mut on_one_server = Vec::new();
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
                on_one_server.push(name);
            }
        }
        if !on_one_server.is_empty() {
            prose(
                &mut text,
                format!(
                    "(the {} rows: every run on one server of the model's; its memory is outside their tree's)",
                    on_one_server.join(", ")
                ),
            );
        }
        let _ = writeln!(text, "{}\n", table::render(&scenario_rows, wide, width));
    }
    prose(&mut text, table::legend(wide));
    let mut findings: Vec<String> = summary::sentences(scenario_runs, rows, probes);
    for row in rows.iter().filter(|row| row.self_report_mismatch.is_some()) {
        let mismatch = row.self_report_mismatch.as_deref().unwrap_or("");
        findings.push(format!("note: {} {} {}: {mismatch}", row.scenario, row.label, row.sync.name()));
    }
    let _ = writeln!(text);
    if details {
        for finding in &findings {
            prose(&mut text, format!("- {finding}"));
        }
    } else {
        prose(
            &mut text,
            format!(
                "{} more findings (each scenario's fastest and slowest, outliers, round trips, retries, memory) are \
                 in findings.md in the run's folder; --details prints them here.",
                findings.len()
            ),
        );
    }
    let markdown = std::iter::once("# Findings\n".to_owned())
        .chain(answers.iter().chain(&findings).map(|line| format!("- {line}")))
        .collect::<Vec<_>>()
        .join("\n");
    (text, markdown + "\n")
}
