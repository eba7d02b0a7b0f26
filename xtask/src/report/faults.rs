//! The page's section for a `cargo xtask faults` run: a row per fault and strategy from the runs, and the paused
//! holders' timelines (who was stopped when, where a stale write landed or an old token was refused).

use counter_core::{config::Strategy, model::Model};

use super::{
    charts::{self, Layout, TimelineRun},
    html::Page,
};
use crate::faults::{Check, Document, Fault, FaultRun};

/// A group's key: the store, the fault, the strategy.
type Key = (Model, Fault, Strategy);

/// The stores, faults and strategies in the order the runs came, each with its rows.
fn groups(results: &Document) -> Vec<(Key, Vec<&FaultRun>)> {
    let mut groups: Vec<(Key, Vec<&FaultRun>)> = Vec::new();
    for row in &results.rows {
        let key = (row.store, row.fault, row.sync);
        match groups.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((key, vec![row])),
        }
    }
    groups
}

/// What the run was, for the page's headline.
pub(super) fn headline(results: &Document) -> String {
    let groups = groups(results);
    let faults: Vec<String> = groups
        .iter()
        .map(|((store, fault, sync), _)| format!("{} {} on {}", store.name(), fault.name(), sync.name()))
        .collect();
    let runs = groups.first().map_or(0, |(_, rows)| rows.len());
    format!("Faults injected into runs shared by two participants ({runs} runs each of {})", faults.join(", "))
}

/// The finding: what a paused holder did under each lock, from the rows.
pub(super) fn findings(results: &Document) -> Vec<String> {
    let mut out = Vec::new();
    for ((store, fault, sync), rows) in groups(results) {
        if fault != Fault::PauseHolder {
            continue;
        }
        let lost: Vec<u64> = rows.iter().map(|row| row.lost_acknowledged).filter(|lost| *lost > 0).collect();
        let fenced: u64 = rows.iter().map(|row| row.fenced_off).sum();
        out.push(format!(
            "A {} lock holder paused past its lease, under {}: acknowledged updates lost in {} of {} runs ({} in \
             all); {fenced} reads or writes fenced off.",
            store.name(),
            sync.name(),
            lost.len(),
            rows.len(),
            lost.iter().sum::<u64>()
        ));
    }
    out
}

/// A paused holder's run as the timeline draws it, from the events its row lists (`+N ms: ...`).
fn timeline_run(row: &FaultRun) -> TimelineRun {
    let mut run = TimelineRun {
        label: format!("{}, run {}", row.sync.name(), row.run),
        end_ms: 0.0,
        pause_ms: None,
        marks: Vec::new(),
    };
    let mut stopped = None;
    for event in &row.timeline {
        let Some((at, what)) = event.strip_prefix('+').and_then(|rest| rest.split_once(" ms: ")) else { continue };
        let Ok(at) = at.parse::<f64>() else { continue };
        if what.contains("(SIGSTOP)") {
            stopped = Some(at);
        } else if what.contains("(SIGCONT)") {
            run.pause_ms = stopped.map(|from| (from, at));
        } else if what.contains("both participants ended") {
            run.end_ms = at;
        } else if what.contains("stale write landed") {
            run.marks.push((at, true));
        } else if what.contains("(fenced off)") {
            run.marks.push((at, false));
        }
    }
    run
}

/// The section: the table of every fault and strategy, then a timeline of the paused holders per strategy.
pub(super) fn section(page: &mut Page, results: &Document) {
    page.heading(2, "Faults across machines");
    page.paragraph(&format!(
        "Two participants per run on a private {}, each with {}; the moment of each fault chosen by seed {:.0}. A lock \
         holder is paused only where the lock is a lease: a row lock held to COMMIT is not, and the others wait for \
         it. The final \
         value is checked against the increments' outcomes over both participants: within \
         [acknowledged, acknowledged + indeterminate] it is consistent, below the acknowledged ones acknowledged \
         updates were lost.",
        results.servers.join(" and a private "),
        results.common_flags,
        results.seed
    ));
    let mut table = Vec::new();
    for ((store, fault, sync), rows) in groups(results) {
        let count = |verdict: Check| rows.iter().filter(|row| row.verdict == verdict).count();
        let verdicts: Vec<String> = Check::ALL
            .into_iter()
            .filter(|verdict| count(*verdict) > 0)
            .map(|verdict| format!("{} {}", verdict.name(), count(verdict)))
            .collect();
        let sum = |figure: fn(&FaultRun) -> u64| rows.iter().map(|row| figure(row)).sum::<u64>();
        let lost_runs = rows.iter().filter(|row| row.lost_acknowledged > 0).count();
        table.push(vec![
            store.name().to_owned(),
            fault.name().to_owned(),
            sync.name().to_owned(),
            rows.len().to_string(),
            format!("{lost_runs} ({})", sum(|row| row.lost_acknowledged)),
            verdicts.join(", "),
            sum(|row| row.indeterminate.unwrap_or(0)).to_string(),
            sum(|row| row.failed.unwrap_or(0)).to_string(),
            sum(|row| row.fenced_off).to_string(),
            sum(|row| row.lock_expiries).to_string(),
        ]);
    }
    page.table(
        &[
            "store",
            "fault",
            "strategy",
            "runs",
            "runs that lost acknowledged (in all)",
            "verdicts",
            "indeterminate",
            "failed",
            "fenced off",
            "lock expiries",
        ],
        &table,
    );
    for ((store, fault, sync), rows) in groups(results) {
        if fault != Fault::PauseHolder {
            continue;
        }
        let runs: Vec<TimelineRun> = rows.iter().map(|row| timeline_run(row)).collect();
        let stale = runs.iter().filter(|run| run.marks.iter().any(|(_, stale)| *stale)).count();
        let refused = runs.iter().filter(|run| run.marks.iter().any(|(_, stale)| !*stale)).count();
        let legend = vec![
            (marker_box(charts::TIMELINE_PAUSE), "participant A stopped (SIGSTOP) holding the lock".to_owned()),
            (marker_diamond(charts::TIMELINE_STALE), "a stale write landed".to_owned()),
            (marker_circle(charts::TIMELINE_REFUSED), "an old token refused (fenced off)".to_owned()),
        ];
        page.figure(
            &charts::timeline(&runs, Layout::Wide),
            &charts::timeline(&runs, Layout::Narrow),
            &legend,
            &format!(
                "Under {} {}, a lock holder stopped past its lease (three leases): a stale write landed in {stale} of \
                 {} runs, and an old token was refused in {refused}.",
                store.name(),
                sync.name(),
                runs.len()
            ),
        );
    }
}

fn marker_box(colour: &str) -> String {
    format!(
        "<svg width=\"16\" height=\"12\" aria-hidden=\"true\"><rect width=\"16\" height=\"12\" fill=\"{colour}\" fill-opacity=\"0.6\"/></svg>"
    )
}

fn marker_diamond(colour: &str) -> String {
    format!(
        "<svg width=\"14\" height=\"14\" aria-hidden=\"true\"><path d=\"M7 0 L14 7 L7 14 L0 7 Z\" fill=\"{colour}\"/></svg>"
    )
}

fn marker_circle(colour: &str) -> String {
    format!(
        "<svg width=\"14\" height=\"14\" aria-hidden=\"true\"><circle cx=\"7\" cy=\"7\" r=\"6\" fill=\"{colour}\"/></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_is_read_from_its_events() {
        // The first model whose lock is a lease: the one a holder can be paused on.
        let store = counter_core::model::Model::ALL.into_iter().find(|model| model.lock_expires()).unwrap();
        let row: FaultRun = serde_json::from_value(serde_json::json!({
            "store": store.name(), "fault": "pause-holder", "sync": "mutex", "run": 2, "workload": "",
            "injected_at_ms": 70, "acknowledged": 80, "failed": 0, "indeterminate": 0, "final_value": 80,
            "verdict": "exact", "lost_acknowledged": 0, "lock_expiries": 0, "fenced_off": 0, "reconnections": 0,
            "wall_time_s": 2.8, "participants_unreported": 0, "left_behind": [], "misbehaved": [],
            "timeline": [
                "participants A (pid 1) and B (pid 2) started",
                "+0 ms: the counter moved",
                "+70 ms: A stopped (SIGSTOP) holding the lock (1-x-0-0-0)",
                "+670 ms: A continued (SIGCONT), 600 ms later: three leases",
                "+2804 ms: both participants ended",
                "+671 ms: a stale write landed (the server's MONITOR): SET 9 over 27; ...",
                "+900 ms: a write with token 5 reached the counter after token 9: refused (fenced off)"
            ]
        }))
        .unwrap();
        let run = timeline_run(&row);
        assert_eq!((run.label.as_str(), run.end_ms, run.pause_ms), ("mutex, run 2", 2804.0, Some((70.0, 670.0))));
        assert_eq!(run.marks, vec![(671.0, true), (900.0, false)]);
    }
}
