//! The answers to the seed's questions, first, in a few sentences, each with its figures and their ranges from
//! this run: is the result what it should be, what a lock costs, and what one more worker costs in memory.
//! Everything else the run found is in the findings (`summary`).

use counter_core::{config::Strategy, model::StartMethod, units};

use super::{
    probe::Probe,
    results::{Row, ScenarioRun},
    summary,
};

/// The answers, one sentence each (at most one per scenario and question).
pub fn answers(scenarios: &[ScenarioRun], rows: &[Row], probes: &[Probe]) -> Vec<String> {
    let mut out = Vec::new();
    for scenario in scenarios {
        let of = |sync: Strategy| -> Vec<&Row> {
            rows.iter().filter(|row| row.scenario == scenario.name && row.sync == sync && row.ok()).collect()
        };
        out.extend(is_it_exact(&scenario.name, &of(Strategy::Racy), rows));
        out.extend(what_a_lock_costs(&scenario.name, &of(Strategy::Mutex), &of(Strategy::Atomic)));
    }
    out.extend(what_a_worker_costs(probes));
    out
}

/// Whether the racy rows of `scenario` came out right, and whether every locked row did.
fn is_it_exact(scenario: &str, racy: &[&Row], rows: &[Row]) -> Option<String> {
    if racy.is_empty() {
        return None;
    }
    let share = |lost: f64, row: &Row| {
        let percent = lost * 100.0 / row.expected.max(1) as f64;
        if percent < 1.0 { format!("{percent:.2}%") } else { format!("{percent:.1}%") }
    };
    let short: Vec<String> = racy
        .iter()
        .filter(|row| row.runs_with_loss > 0)
        .map(|row| {
            // The median run's share where it is above zero, and always the worst.
            let median = if row.lost_median > 0.0 {
                format!("{} … ", share(row.lost_median, row))
            } else {
                "up to ".to_owned()
            };
            format!("{} {}/{} runs, {median}{}", row.label, row.runs_with_loss, row.runs, share(row.lost_max, row))
        })
        .collect();
    let exact: Vec<&str> = racy.iter().filter(|row| row.runs_with_loss == 0).map(|row| row.label.as_str()).collect();
    let mut said = Vec::new();
    if !short.is_empty() {
        said.push(format!("lost on {}", short.join(", ")));
    }
    match (short.is_empty(), exact.len()) {
        (_, 0) => {}
        (true, _) => said.push(format!("exact on {}", exact.join(", "))),
        // The table names them: the answer counts them.
        (false, rest) => said.push(format!("exact on the other {}", units::count(rest as u64, "row", "rows"))),
    }
    let locked = rows.iter().filter(|row| row.scenario == scenario && row.sync != Strategy::Racy && row.ok());
    let (locked, inexact) =
        locked.fold((0, 0), |(all, inexact), row| (all + 1, inexact + usize::from(row.lost_max > 0.0)));
    let rest = match (locked, inexact) {
        (0, _) => String::new(),
        (_, 0) => "; every locked row exact".to_owned(),
        (_, inexact) => format!("; {inexact} of {locked} locked rows lost updates"),
    };
    Some(format!("{scenario}, no lock: {}{rest}.", said.join("; ")))
}

/// A lock's cost: each model's mutex wall time over its atomic one, where both ran on one workload, with the
/// ratio's range from their 95% intervals; "indistinguishable" where the intervals overlap or lie less than 5%
/// apart (the findings' rule).
fn what_a_lock_costs(scenario: &str, mutex: &[&Row], atomic: &[&Row]) -> Option<String> {
    let (mut same, mut costs) = (Vec::new(), Vec::new());
    for locked in mutex {
        let Some(free) = atomic.iter().find(|row| row.label == locked.label && row.workload == locked.workload) else {
            continue;
        };
        let low = locked.wall_ci_low_s / free.wall_ci_high_s;
        let high = locked.wall_ci_high_s / free.wall_ci_low_s;
        if low <= 1.05 && high >= 1.0 / 1.05 {
            same.push(locked.label.as_str());
        } else {
            let median = locked.wall_median_s / free.wall_median_s;
            costs.push(format!("{} {median:.1}x ({low:.1}x … {high:.1}x)", locked.label));
        }
    }
    if !same.is_empty() {
        costs.push(format!("indistinguishable on {}", same.join(", ")));
    }
    if costs.is_empty() {
        return None;
    }
    Some(format!("{scenario}, wall time of mutex / atomic: {}.", costs.join(", ")))
}

/// One more worker's PSS for each model probed (its default start method), with its range over the pairs.
fn what_a_worker_costs(probes: &[Probe]) -> Option<String> {
    let said: Vec<String> = probes
        .iter()
        .filter(|probe| probe.error.is_none() && matches!(probe.start_method, None | Some(StartMethod::Fork)))
        .map(|probe| {
            let figure = &probe.pss_bytes;
            let outside = if crate::models::of(probe.model).server.is_some() && !probe.server_sampled {
                " (its server not measured)"
            } else {
                ""
            };
            format!("{} {}{outside}", probe.worker_noun(), compact(figure))
        })
        .collect();
    if said.is_empty() {
        return None;
    }
    // A server started for the probe's runs is sampled with them: its share is in the figure, once the server
    // has served as many clients before (the probe warms it: a server keeps some of what its clients held).
    let servers = probes.iter().any(|probe| probe.server_sampled);
    let with_servers = if servers { "; a client's with its warmed server's share" } else { "" };
    Some(format!("One more worker's PSS (median{with_servers}): {}.", said.join(", ")))
}

/// A per-worker figure in few characters: its median, with its range over the pairs only where that is wider
/// than ±2%.
fn compact(figure: &crate::stats::Stats) -> String {
    if Probe::below_resolution(figure) || (figure.max - figure.min) > 0.04 * figure.median {
        return summary::per_worker(figure);
    }
    units::kib(figure.median / 1024.0)
}
