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

/// The `--increments` of a row's workload flags, or the flags themselves when they have none.
fn increments_of(workload: &str) -> String {
    let words: Vec<&str> = workload.split_whitespace().collect();
    words
        .iter()
        .position(|word| *word == "--increments")
        .and_then(|at| words.get(at + 1))
        .map_or_else(|| workload.to_owned(), |increments| (*increments).to_owned())
}

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
        for note in scenario_notes(scenario, &scenario_rows) {
            prose(&mut text, note);
        }
        if wide {
            let _ = writeln!(text, "{}\n", table::render(&scenario_rows, wide, width));
        } else {
            let (pivot, said) = table::pivot(&scenario_rows);
            let _ = writeln!(text, "{}", output::render_to_width(&pivot, width));
            for line in said {
                prose(&mut text, format!("({line})"));
            }
            let _ = writeln!(text);
        }
    }
    prose(&mut text, if wide { table::legend(wide) } else { table::pivot_legend() });
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

/// What a scenario's table needs said above it: the rows run on fewer increments, and those on a shared server.
fn scenario_notes(scenario: &ScenarioRun, scenario_rows: &[&Row]) -> Vec<String> {
    let mut notes = Vec::new();
    let mut slow = Vec::new();
    let mut on_one_server = Vec::new();
    for row in scenario_rows {
        let description = models::of(row.model);
        let name = row.model.name();
        if row.workload != scenario.flags && !slow.iter().any(|(said, _): &(&str, String)| *said == name) {
            let why = description.slow_step.map_or("", |slow| slow.why);
            slow.push((name, format!("{name} {} ({why})", increments_of(&row.workload))));
        }
        if let Some(server) = &description.server
            && row.flags.split_whitespace().any(|flag| flag == server.flag)
            && !on_one_server.contains(&name)
        {
            on_one_server.push(name);
        }
    }
    if !slow.is_empty() {
        let slow: Vec<String> = slow.into_iter().map(|(_, said)| said).collect();
        notes.push(format!("(increments a worker: {}; timed among themselves)", slow.join(", ")));
    }
    if !on_one_server.is_empty() {
        notes.push(format!(
            "(the {} rows: every run on one server of the model's; its memory is outside their tree's)",
            on_one_server.join(", ")
        ));
    }
    notes
}
