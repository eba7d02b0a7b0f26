//! The sentences under the tables: only what the evidence holds. A row is faster than another only when their
//! intervals do not overlap; otherwise they are indistinguishable. A loss says in how many runs it happened.
//! Where a racy row lost little or nothing, the sentence says whether the workers really ran at the same time.

use std::fmt::Write as _;

use counter_core::{
    config::Strategy,
    model::{Model, StartMethod},
    units,
};

use super::{
    probe::Probe,
    results::{Row, ScenarioRun},
};
use crate::{models, python};

/// Below this parallelism, workers that could run at once mostly did not.
const LOW_PARALLELISM: f64 = 1.5;

/// Differences in wall time smaller than this share are not called a finding, even with intervals apart: they
/// are below the precision the runs aim for.
const SMALLEST_FINDING: f64 = 0.05;

fn label(row: &Row) -> String {
    format!("{} {}", row.label, row.sync.name())
}

fn interval(row: &Row) -> String {
    format!(
        "{} ({} … {})",
        units::seconds(row.wall_median_s),
        units::seconds(row.wall_ci_low_s),
        units::seconds(row.wall_ci_high_s)
    )
}

fn ok_rows<'a>(rows: &'a [Row], scenario: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
    rows.iter().filter(move |row| row.ok() && row.scenario == scenario)
}

/// Why a racy row that lost nothing lost nothing, from what the row is and how its runs went.
fn why_none_lost(row: &Row, cpus: usize) -> String {
    let no_work = row.flags.contains("--work none");
    let ruled_out = if row.python {
        python::PythonProgram::of_label(&row.label)
            .and_then(|program| program.racy_cannot_lose(row.gil_enabled == Some(true)))
    } else {
        models::of(row.model).racy_cannot_lose
    };
    if let Some(why) = ruled_out {
        why.to_owned()
    } else if let Some(refused) = row.refused_median.filter(|&refused| refused > 0.0) {
        format!(
            "the server refused a median of {refused:.0} transactions a run that had read a value another one then \
             changed, and each was made again"
        )
    } else if no_work && row.parallelism_median < LOW_PARALLELISM && cpus > 1 {
        format!(
            "the workers overlapped little: CPU time over wall time {:.1} on {cpus} CPUs, so they rarely met inside the \
             read-modify-write",
            row.parallelism_median
        )
    } else if no_work {
        "the workers never overlapped inside the read-modify-write in these runs".to_owned()
    } else {
        "the unlocked read-modify-write takes nanoseconds between much longer pieces of work, so the workers rarely \
         meet inside it; the race is still there"
            .to_owned()
    }
}

/// The timing sentence of one scenario: fastest and slowest only when their intervals do not overlap.
fn timing(scenario: &str, rows: &[&Row]) -> Option<String> {
    let mut sorted: Vec<&Row> = rows.to_vec();
    sorted.sort_by(|a, b| a.wall_median_s.total_cmp(&b.wall_median_s));
    let (fastest, slowest) = (*sorted.first()?, *sorted.last()?);
    if sorted.len() < 2 {
        return None;
    }
    let coverage = if sorted.iter().all(|row| row.wall_ci_level >= crate::stats::TARGET_LEVEL) {
        "95% intervals".to_owned()
    } else {
        let least = sorted.iter().map(|row| row.wall_ci_level).fold(1.0, f64::min);
        format!("intervals of only {:.0}% coverage, from few runs,", least * 100.0)
    };
    if fastest.wall.overlaps(&slowest.wall) || slowest.wall_ci_low_s < fastest.wall_ci_high_s * (1.0 + SMALLEST_FINDING)
    {
        let middle = f64::midpoint(fastest.wall_median_s, slowest.wall_median_s);
        return Some(format!(
            "{scenario}: every row is indistinguishable in wall time: medians from {} to {}, within ±{:.1}% of {} \
             (their {coverage} overlap or lie less than 5% apart).",
            units::seconds(fastest.wall_median_s),
            units::seconds(slowest.wall_median_s),
            (slowest.wall_median_s - fastest.wall_median_s) / 2.0 / middle * 100.0,
            units::seconds(middle)
        ));
    }
    let tied = |with: &Row| -> Vec<String> {
        sorted
            .iter()
            .filter(|row| !std::ptr::eq(**row, with) && row.wall.overlaps(&with.wall))
            .map(|row| label(row))
            .collect()
    };
    let and_tied = |names: Vec<String>| match names.len() {
        0 => String::new(),
        1..=3 => format!(", indistinguishable from {}", names.join(", ")),
        n => format!(", indistinguishable from {n} other rows"),
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
    Some(format!(
        "{scenario}: fastest {} {}{}; slowest {} {}{}: {:.1}x ({:.1}x … {:.1}x) as long ({coverage}).",
        label(fastest),
        interval(fastest),
        and_tied(tied(fastest)),
        label(slowest),
        interval(slowest),
        and_tied(tied(slowest)),
        ratio(slowest.wall_median_s, fastest.wall_median_s),
        ratio(slowest.wall_ci_low_s, fastest.wall_ci_high_s),
        ratio(slowest.wall_ci_high_s, fastest.wall_ci_low_s),
    ))
}

/// The sentences.
pub fn sentences(scenarios: &[ScenarioRun], rows: &[Row], probes: &[Probe]) -> Vec<String> {
    let mut out = Vec::new();
    for scenario in scenarios {
        let name = scenario.name.as_str();
        let cpus = scenario.load_before.map_or(1, |load| load.cpus);
        if let (Some(load), Some(busy)) = (scenario.load_before, scenario.busy_cpus_before)
            && load.is_busy(busy)
        {
            out.push(format!(
                "{name}: other work kept {busy:.1} of the {} CPUs busy just before it ran: its timings and losses \
                 may not repeat on a quiet machine.",
                load.cpus
            ));
        }
        let scenario_rows: Vec<&Row> = ok_rows(rows, name).collect();
        // Rows timed on another workload (a slow model's, with fewer increments) are compared among themselves.
        let mut workloads: Vec<&str> = Vec::new();
        for row in &scenario_rows {
            if !workloads.contains(&row.workload.as_str()) {
                workloads.push(&row.workload);
            }
        }
        for (index, workload) in workloads.iter().enumerate() {
            let group: Vec<&Row> = scenario_rows.iter().copied().filter(|row| row.workload == *workload).collect();
            let heading = if index == 0 { name.to_owned() } else { format!("{name} ({workload})") };
            out.extend(timing(&heading, &group));
        }
        let outliers: Vec<String> = scenario_rows
            .iter()
            .filter(|row| row.wall_outliers > 0)
            .map(|row| format!("{} ({} of {} runs)", label(row), row.wall_outliers, row.runs))
            .collect();
        if !outliers.is_empty() {
            out.push(format!(
                "{name}: outliers in wall time (beyond 1.5 interquartile ranges): {}.",
                outliers.join(", ")
            ));
        }
        out.extend(racy_sentences(name, &scenario_rows, cpus));
        let mut safe: Vec<&str> =
            scenario_rows.iter().filter(|row| row.sync != Strategy::Racy).map(|row| row.sync.name()).collect();
        safe.sort_unstable();
        safe.dedup();
        let inexact = scenario_rows.iter().filter(|row| row.sync != Strategy::Racy && row.lost_max > 0.0).count();
        if inexact == 0 && !safe.is_empty() {
            out.push(format!(
                "{name}: {} exact in every run.",
                safe.join(", ") + if safe.len() == 1 { " was" } else { " were" }
            ));
        }
        out.extend(cost_sentences(name, &scenario_rows));
        out.extend(gil_sentences(name, &scenario_rows));
    }
    out.extend(fencing_sentence(rows));
    out.extend(memory_sentences(probes));
    out
}

/// What each racy row lost, or why it lost nothing.
fn racy_sentences(name: &str, scenario_rows: &[&Row], cpus: usize) -> Vec<String> {
    let mut out = Vec::new();
    for row in scenario_rows.iter().filter(|row| row.sync == Strategy::Racy) {
        let expected = row.expected.max(1) as f64;
        if row.runs_with_loss > 0 {
            let mut sentence = format!(
                "{name}: racy on {} lost updates in {} of {} runs: median {:.0} ({:.2}%), up to {:.0} ({:.2}%)",
                row.label,
                row.runs_with_loss,
                row.runs,
                row.lost_median,
                row.lost_median * 100.0 / expected,
                row.lost_max,
                row.lost_max * 100.0 / expected
            );
            let no_work = row.flags.contains("--work none");
            if no_work && row.runs_with_loss < row.runs && row.parallelism_min < LOW_PARALLELISM && cpus > 1 {
                let _ = write!(
                    sentence,
                    "; in its least parallel run the CPU time over wall time was only {:.1} on {cpus} CPUs: they \
                     barely ran at the same time",
                    row.parallelism_min
                );
            }
            out.push(sentence + ".");
        } else {
            out.push(format!(
                "{name}: racy on {} lost no update in {}: {}.",
                row.label,
                units::count(row.runs as u64, "run", "runs"),
                why_none_lost(row, cpus)
            ));
        }
    }
    out
}

/// Which models had no fenced rows, and why: their locks cannot expire under a holder.
fn fencing_sentence(rows: &[Row]) -> Option<String> {
    let fenced: Vec<Model> = rows.iter().filter(|row| row.sync == Strategy::Fenced).map(|row| row.model).collect();
    if fenced.is_empty() {
        return None;
    }
    let mut without: Vec<&str> = Vec::new();
    for row in rows.iter().filter(|row| !row.python && !fenced.contains(&row.model)) {
        if !without.contains(&row.model.name()) {
            without.push(row.model.name());
        }
    }
    (!without.is_empty()).then(|| {
        format!(
            "fenced runs where a lock can expire under its holder (a lease): {} have locks that cannot, so they \
             need no fencing and have no fenced rows.",
            without.join(", ")
        )
    })
}

/// What the optimistic rows retried and what the networked rows cost in round trips.
fn cost_sentences(name: &str, scenario_rows: &[&Row]) -> Vec<String> {
    let mut out = Vec::new();
    let retried: Vec<String> = scenario_rows
        .iter()
        .filter_map(|row| {
            let retries = row.retries_median?;
            let per_increment = retries / row.expected.max(1) as f64;
            Some(format!("{} {:.0} ({per_increment:.2} per increment)", row.label, retries))
        })
        .collect();
    if !retried.is_empty() {
        out.push(format!(
            "{name}: optimistic compare-and-swap attempts made again, median per run: {}.",
            retried.join("; ")
        ));
    }
    let networked: Vec<String> = scenario_rows
        .iter()
        .filter_map(|row| {
            Some(format!(
                "{} {} {:.2} (latency median {} … p99 {})",
                row.label,
                row.sync.name(),
                row.round_trips_per_increment_median?,
                units::seconds(row.latency_median_us? / 1e6),
                units::seconds(row.latency_p99_us? / 1e6)
            ))
        })
        .collect();
    if !networked.is_empty() {
        out.push(format!("{name}: round trips per increment, median per run: {}.", networked.join("; ")));
    }
    out
}

/// The same Python program and strategy with and without the GIL, side by side: losses, CPUs busy at once,
/// and wall time (a ratio only when the intervals are apart). A free-threaded row is set against the same
/// version with the GIL when there is one (`python3.13t` against `python3.13`), else against every GIL row.
fn gil_sentences(name: &str, scenario_rows: &[&Row]) -> Vec<String> {
    let split = |row: &Row| row.label.split_once(' ').map(|(python, program)| (python.to_owned(), program.to_owned()));
    let lost = |row: &Row| {
        if row.lost_max > 0.0 {
            format!(
                "lost a median of {:.0} ({:.2}%)",
                row.lost_median,
                row.lost_median * 100.0 / row.expected.max(1) as f64
            )
        } else {
            "lost none".to_owned()
        }
    };
    let mut out = Vec::new();
    for free in scenario_rows.iter().filter(|row| row.python && row.gil_enabled == Some(false)) {
        let Some((free_python, free_program)) = split(free) else { continue };
        let with_gil: Vec<&&Row> = scenario_rows
            .iter()
            .filter(|row| {
                row.python
                    && row.gil_enabled == Some(true)
                    && row.sync == free.sync
                    && row.workload == free.workload
                    && split(row).is_some_and(|(_, program)| program == free_program)
            })
            .collect();
        let same_version: Vec<&&Row> = with_gil
            .iter()
            .copied()
            .filter(|row| split(row).is_some_and(|(python, _)| free_python.strip_suffix('t') == Some(python.as_str())))
            .collect();
        for other in if same_version.is_empty() { with_gil } else { same_version } {
            let wall = if free.wall.overlaps(&other.wall) {
                "indistinguishable in wall time".to_owned()
            } else {
                format!(
                    "without the GIL it took {:.1}x ({:.1}x … {:.1}x) the wall time",
                    free.wall_median_s / other.wall_median_s,
                    free.wall_ci_low_s / other.wall_ci_high_s,
                    free.wall_ci_high_s / other.wall_ci_low_s
                )
            };
            out.push(format!(
                "{name}: {} {} (no GIL) {} in {}, with CPU time over wall time {:.2}; {} (GIL) {} in {}, at {:.2}; \
                 {wall}.",
                free.label,
                free.sync.name(),
                lost(free),
                units::count(free.runs as u64, "run", "runs"),
                free.parallelism_median,
                other.label,
                lost(other),
                units::count(other.runs as u64, "run", "runs"),
                other.parallelism_median,
            ));
        }
    }
    out
}

/// A per-worker figure, or that it is below what the runs can resolve.
pub(super) fn per_worker(figure: &crate::stats::Stats) -> String {
    if Probe::below_resolution(figure) {
        return format!("below resolution (±{})", units::bytes(((figure.max - figure.min) / 2.0).abs() as u64));
    }
    let (median, min, max) =
        (units::kib(figure.median / 1024.0), units::kib(figure.min / 1024.0), units::kib(figure.max / 1024.0));
    if min == max { format!("{median} in every pair") } else { format!("{median} ({min} … {max})") }
}

/// The start time per extra worker: median and range over the pairs.
fn start_per_worker(figure: &crate::stats::Stats) -> String {
    let (median, min, max) = (units::seconds(figure.median), units::seconds(figure.min), units::seconds(figure.max));
    if min == max { median } else { format!("{median} ({min} … {max})") }
}

fn memory_sentences(probes: &[Probe]) -> Vec<String> {
    let mut out = Vec::new();
    for probe in probes {
        let noun = probe.worker_noun();
        match &probe.error {
            Some(error) => out.push(format!("Memory per extra {noun}: could not be measured: {error}.")),
            None => out.push(format!(
                "Memory per extra {noun} ({} pairs of runs with 1 and {} {}): PSS {}, USS {}; started and alive \
                 in {} more.",
                probe.pss_bytes.n,
                probe.workers,
                probe.model.worker_nouns(),
                per_worker(&probe.pss_bytes),
                per_worker(&probe.uss_bytes),
                start_per_worker(&probe.start_s)
            )),
        }
    }
    let measured = |model: Model| {
        probes.iter().find(|p| {
            p.model == model
                && matches!(p.start_method, None | Some(StartMethod::Fork))
                && p.error.is_none()
                && !Probe::below_resolution(&p.pss_bytes)
        })
    };
    // A worker that is a process set against the workers that live inside one process and need no server.
    let in_one_process = |model: Model| !models::of(model).workers_are_processes && models::of(model).server.is_none();
    let process_models = Model::ALL.into_iter().filter(|&model| models::of(model).workers_are_processes);
    for process in process_models.filter_map(measured) {
        let ratios: Vec<String> = Model::ALL
            .into_iter()
            .filter(|&model| in_one_process(model))
            .filter_map(|other| {
                let other = measured(other)?;
                Some(format!(
                    "{:.1}x ({:.1}x … {:.1}x) a {}'s",
                    process.pss_bytes.median / other.pss_bytes.median,
                    process.pss_bytes.min / other.pss_bytes.max,
                    process.pss_bytes.max / other.pss_bytes.min,
                    other.model.worker_noun()
                ))
            })
            .collect();
        if !ratios.is_empty() {
            out.push(format!("By PSS a process worker takes {}.", ratios.join(" and ")));
        }
        out.push(format!(
            "Summed RSS grows by {} per process worker at {} workers: it counts every page a worker shares \
             (the program, libc, the coordinator's copy-on-write pages) once per process, so it says how much a \
             worker maps, not what it costs; PSS and USS count each page once (cargo xtask sweep draws all three).",
            units::kib(process.rss_bytes.median / 1024.0),
            process.workers
        ));
    }
    out
}
