//! A few plain sentences drawn from the numbers, printed under the table.

use counter_core::{
    model::Model,
    units::{self, seconds as human_seconds},
};

use super::results::Row;

/// Memory of one model at two worker counts, sampled while all workers were alive.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// The model.
    pub model: Model,
    /// Workers in the larger run.
    pub workers: u64,
    /// Summed PSS per extra worker, KiB.
    pub pss_kib: f64,
    /// Summed USS per extra worker, KiB.
    pub uss_kib: f64,
    /// Summed RSS per extra worker, KiB.
    pub rss_kib: f64,
}

/// Why a racy row lost nothing, from what the row is.
fn why_none_lost(row: &Row) -> &'static str {
    let no_work = row.flags.contains("--work none");
    if row.kind == Model::Async {
        "on one thread, a task cannot be interrupted between a read and its write unless an await sits there"
    } else if row.python && row.kind == Model::Threads {
        "CPython's GIL hands the interpreter to another thread only at its check points (calls, backward jumps, \
         blocking), and none sits between the read and the write of `value += 1`"
    } else if no_work {
        "the workers never overlapped inside the read-modify-write in these runs"
    } else {
        "the unlocked read-modify-write takes nanoseconds between much longer pieces of work, so the workers \
         rarely meet inside it; the race is still there"
    }
}

fn ok_rows<'a>(rows: &'a [Row], scenario: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
    rows.iter().filter(move |row| row.ok() && row.scenario == scenario)
}

fn amount(kib: f64) -> String {
    units::kib(kib)
}

/// The sentences.
pub fn sentences(rows: &[Row], probes: &[Probe]) -> Vec<String> {
    let mut out = Vec::new();
    let mut scenarios: Vec<&str> = rows.iter().map(|row| row.scenario.as_str()).collect();
    scenarios.dedup();
    for scenario in scenarios {
        let by_wall = |a: &&Row, b: &&Row| a.wall_time_s.median.total_cmp(&b.wall_time_s.median);
        if let (Some(fastest), Some(slowest)) =
            (ok_rows(rows, scenario).min_by(by_wall), ok_rows(rows, scenario).max_by(by_wall))
            && ok_rows(rows, scenario).count() > 1
        {
            out.push(format!(
                "{scenario}: fastest was {} with {} ({} median), slowest {} with {} ({}, {:.1}x as long).",
                fastest.model,
                fastest.sync,
                human_seconds(fastest.wall_time_s.median),
                slowest.model,
                slowest.sync,
                human_seconds(slowest.wall_time_s.median),
                slowest.wall_time_s.median / fastest.wall_time_s.median.max(f64::MIN_POSITIVE),
            ));
        }
        let racy: Vec<&Row> = ok_rows(rows, scenario).filter(|row| row.sync == "racy").collect();
        let (lost, kept): (Vec<&Row>, Vec<&Row>) = racy.iter().partition(|row| row.lost_updates.max > 0.0);
        if !lost.is_empty() {
            let losses: Vec<String> = lost
                .iter()
                .map(|row| {
                    format!(
                        "{} lost {:.0} of {} ({:.1}%) in the median run, {:.0} at most",
                        row.model,
                        row.lost_updates.median,
                        row.expected,
                        row.lost_updates.median * 100.0 / row.expected.max(1) as f64,
                        row.lost_updates.max
                    )
                })
                .collect();
            out.push(format!("{scenario}: without a lock, updates were really lost: {}.", losses.join("; ")));
        }
        let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
        for row in &kept {
            let reason = why_none_lost(row);
            match reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, models)) => models.push(&row.model),
                None => reasons.push((reason, vec![&row.model])),
            }
        }
        for (reason, models) in reasons {
            out.push(format!("{scenario}: racy lost no update on {} in any run: {reason}.", models.join(", ")));
        }
        let mut safe: Vec<&str> =
            ok_rows(rows, scenario).filter(|row| row.sync != "racy").map(|row| row.sync.as_str()).collect();
        safe.sort_unstable();
        safe.dedup();
        let inexact = ok_rows(rows, scenario).filter(|row| row.sync != "racy" && row.lost_updates.max > 0.0).count();
        if inexact == 0 && !safe.is_empty() {
            out.push(format!(
                "{scenario}: {} exact in every run.",
                safe.join(", ") + if safe.len() == 1 { " was" } else { " were" }
            ));
        }
    }
    let probe = |model: Model| probes.iter().find(|p| p.model == model);
    if let (Some(process), Some(thread), Some(task)) =
        (probe(Model::Processes), probe(Model::Threads), probe(Model::Async))
    {
        // Below a few bytes per worker the figure is page granularity (4 KiB over 100 workers), not a cost.
        let ratio = |smaller: f64| {
            if smaller > 0.05 {
                format!("{:.0}x", process.pss_kib / smaller)
            } else {
                "too many times to measure here".to_owned()
            }
        };
        out.push(format!(
            "Memory per extra worker ({} workers against 1, PSS / USS): a process {} / {}, a thread {} / {}, a task {} / {}. \
             By PSS a process worker takes {:.1}x a thread's memory and {} a task's (cargo xtask sweep measures \
             tasks by the hundred thousand).",
            process.workers,
            amount(process.pss_kib),
            amount(process.uss_kib),
            amount(thread.pss_kib),
            amount(thread.uss_kib),
            amount(task.pss_kib),
            amount(task.uss_kib),
            process.pss_kib / thread.pss_kib.max(f64::MIN_POSITIVE),
            ratio(task.pss_kib),
        ));
        out.push(format!(
            "Summed RSS grows by {} per process worker: it counts the pages every process shares once per process, \
             which is why tools that add up RSS over-state a process tree; PSS and USS do not.",
            amount(process.rss_kib)
        ));
    }
    out
}
