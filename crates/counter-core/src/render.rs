//! The text a person reads: the seed's `Final counter value: N` first, then what it means.
//!
//! Every "why" line is drawn from the report's own figures: a strategy's name alone never says that no update
//! was lost. A model adds its own words through [`ModelWords`] and its own figures through the report's
//! extension, whose lines are printed as they are.

use std::fmt::Write as _;

use crate::{
    config::{Jobs, Strategy, Timer, Window, Work},
    report::{RunReport, Verdict},
    units::{self, seconds as human_seconds, whole_kib as human_kib},
};

/// A model's own words for its reports, from its crate: how it carries out a strategy, and why updates were or
/// were not lost when it knows more than [`explain_generic`] (from its own figures in the report's extension).
#[derive(Debug, Clone, Copy)]
pub struct ModelWords {
    /// How this model carries out a strategy, in its own terms (commands, statements); `None` for the generic.
    pub strategy: fn(Strategy) -> Option<&'static str>,
    /// The "why" lines, drawn from the report's figures; `None` for [`explain_generic`]'s.
    pub why: fn(&RunReport) -> Option<Vec<String>>,
}

impl ModelWords {
    /// No words of its own: the generic descriptions and explanations.
    pub const GENERIC: ModelWords = ModelWords { strategy: |_| None, why: |_| None };
}

/// The updates lost, or what is known of them when a participant never reported.
fn write_lost(out: &mut String, report: &RunReport) {
    let (participants, noun, nouns) = (report.participants, report.model.worker_noun(), report.model.worker_nouns());
    // Over every participant when the run was shared: what the counter should hold is what they all did.
    let done = match report.lost_updates {
        Some(lost) if participants > 1 => lost + report.final_value,
        _ => report.worker_summary.increments_done,
    };
    match (report.lost_updates, report.lost_percent, report.lost_updates_bounds) {
        (Some(lost), Some(percent), _) => {
            let _ = writeln!(out, "lost updates:  {lost} ({percent:.2}% of {done} increments done)");
        }
        (_, _, bounds) => {
            let _ = writeln!(
                out,
                "lost updates:  unknown: {} ended without reporting {} increments{}",
                units::count(report.unreported_workers, noun, nouns),
                if report.unreported_workers == 1 { "its" } else { "their" },
                bounds.map_or_else(String::new, |b| format!(
                    "; between {} and {} (the others reported {done} increments)",
                    b.at_least, b.at_most
                ))
            );
        }
    }
}

/// The wall time against the ideal, the start, each worker's elapsed time and the CPU.
fn write_timing(out: &mut String, report: &RunReport) {
    let (config, noun, nouns) = (&report.config, report.model.worker_noun(), report.model.worker_nouns());
    let _ = write!(out, "wall time:     {}", human_seconds(report.wall_time_s));
    match report.efficiency {
        Some(efficiency) => {
            let _ =
                writeln!(out, " (ideal {}, efficiency {:.1}%)", human_seconds(report.ideal_time_s), efficiency * 100.0);
        }
        None => out.push('\n'),
    }
    let _ = writeln!(
        out,
        "start:         {} {nouns} created and alive in {}",
        config.members(),
        human_seconds(report.start_time_s)
    );
    let summary = &report.worker_summary;
    let _ = writeln!(
        out,
        "{:<15}elapsed min {} … median {} … max {}",
        format!("per {noun}:"),
        human_seconds(summary.elapsed_min_s),
        human_seconds(summary.elapsed_median_s),
        human_seconds(summary.elapsed_max_s)
    );
    let cpu = &report.cpu;
    let _ = writeln!(
        out,
        "cpu:           user {:.3} s, sys {:.3} s; context switches {} voluntary, {} involuntary",
        cpu.user_s, cpu.sys_s, cpu.voluntary_switches, cpu.involuntary_switches
    );
}

/// Renders a report as the frontends print it.
pub fn text(report: &RunReport, words: &ModelWords) -> String {
    let mut out = String::new();
    let config = &report.config;
    let nouns = report.model.worker_nouns();
    // `write!` into a String cannot fail.
    let _ = writeln!(out, "Final counter value: {}", report.final_value);
    let participants = report.participants;
    let _ = writeln!(
        out,
        "expected:      {} ({}{} {} x {} increments){}",
        report.expected,
        if participants > 1 { format!("{participants} participants x ") } else { String::new() },
        config.workers(),
        if report.pool.is_some() { "workers" } else { nouns },
        config.increments(),
        if report.complete { "" } else { "; the run did not finish every increment" }
    );
    write_lost(&mut out, report);
    write_outcomes(&mut out, report);
    if let Some(trace) = &report.trace {
        for (i, line) in trace.lines().iter().enumerate() {
            let _ = writeln!(out, "{:<15}{line}", if i == 0 { "trace:" } else { "" });
        }
    }
    let strategy = (words.strategy)(config.strategy()).unwrap_or_else(|| describe_strategy(config.strategy()));
    let _ = writeln!(out, "strategy:      {strategy}");
    let _ = writeln!(out, "work:          {}", describe_work(config.work(), config.window()));
    if let Work::Sleep(_) | Work::Block(_) = config.work() {
        let _ = writeln!(out, "timer:         {}", describe_timer(config.timer()));
    }
    write_pool(&mut out, report);
    write_participants(&mut out, report);
    write_extension(&mut out, report);
    write_timing(&mut out, report);
    write_memory(&mut out, report);
    let _ = match report.peak_rss_kib {
        Some(kib) => {
            writeln!(out, "peak RSS:      {} (VmHWM of the {} process)", human_kib(kib), report.model.binary())
        }
        None => {
            writeln!(out, "peak RSS:      unknown (the {} process's VmHWM could not be read)", report.model.binary())
        }
    };
    for line in explain(report, words) {
        let _ = writeln!(out, "why:           {line}");
    }
    for note in &report.notes {
        let _ = writeln!(out, "note:          {note}");
    }
    out
}

/// Who shared the run, when several participants did.
fn write_participants(out: &mut String, report: &RunReport) {
    match (report.participants, report.participants_unreported) {
        (0 | 1, _) => {}
        (all, 0) => {
            let _ = writeln!(out, "participants:  {all} (the counts above are over all of them)");
        }
        (all, missing) => {
            let _ = writeln!(
                out,
                "participants:  {all}; {missing} had not reported when this report was made (stopped, paused past \
                 its heartbeat, or, when this one was interrupted, still at work), so its increments are unknown"
            );
        }
    }
}

/// The model's own section: its labelled lines, as they are.
fn write_extension(out: &mut String, report: &RunReport) {
    let Some(extension) = &report.extension else { return };
    for line in &extension.lines {
        let _ = writeln!(out, "{:<15}{}", format!("{}:", line.label), line.text);
    }
}

/// The pool line: its members, jobs, rounds and queue waits.
fn write_pool(out: &mut String, report: &RunReport) {
    let Some(pool) = &report.pool else { return };
    let config = &report.config;
    let nouns = report.model.worker_nouns();
    {
        let (job, job_ideal_s) = match pool.jobs {
            Jobs::Worker => ("a whole worker each", report.ideal_time_s),
            Jobs::Increment => ("one increment each", report.ideal_time_s / config.increments() as f64),
        };
        let rounds = pool.job_count.div_ceil(pool.size.max(1));
        let ideal = if job_ideal_s > 0.0 {
            format!(", so about {} with ideal work", human_seconds(rounds as f64 * job_ideal_s))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "pool:          {} {nouns} ran {} of {job}: {}{ideal}; queue wait median {} (the job in the middle of \
             the queue), max {}",
            pool.size,
            units::count(pool.job_count, "job", "jobs"),
            units::count(rounds, "round", "rounds"),
            human_seconds(pool.queue_wait_median_s),
            human_seconds(pool.queue_wait_max_s)
        );
    }
}

/// The memory snapshot, each figure named, and why summed RSS misleads for a tree of processes.
fn write_memory(out: &mut String, report: &RunReport) {
    let memory = &report.memory;
    let _ = writeln!(
        out,
        "memory:        {}: {} process{}, {} thread{}",
        memory.taken,
        memory.processes,
        if memory.processes == 1 { "" } else { "es" },
        memory.threads,
        if memory.threads == 1 { "" } else { "s" }
    );
    let summed = if memory.processes > 1 { "summed " } else { "" };
    let _ = writeln!(
        out,
        "               {summed}RSS {} (resident pages, shared ones included)",
        human_kib(memory.rss_kib)
    );
    let _ = writeln!(
        out,
        "               {summed}PSS {} (shared pages split among the processes mapping them)",
        human_kib(memory.pss_kib)
    );
    let _ = writeln!(out, "               {summed}USS {} (private pages only)", human_kib(memory.uss_kib));
    if memory.processes > 1 && memory.rss_kib > 0 {
        let _ = writeln!(
            out,
            "               summed RSS is {:.1}x PSS: it counts the pages the {} processes share (program, libc, \
             shared mappings, copy-on-write pages) once per process; PSS counts each page once",
            memory.rss_kib as f64 / memory.pss_kib.max(1) as f64,
            memory.processes
        );
    }
}

/// The outcomes of the increments, where the store can leave one unknown, and the final value checked against
/// them.
fn write_outcomes(out: &mut String, report: &RunReport) {
    let Some(outcomes) = report.outcomes else { return };
    let (acknowledged, indeterminate) = (outcomes.acknowledged, outcomes.indeterminate);
    let verdict = match outcomes.verdict {
        Verdict::Exact => "exact: every acknowledged increment is in it, and none was unknown".to_owned(),
        Verdict::Consistent { unknown } => format!(
            "consistent: it lies within [{acknowledged}, {}], and {unknown} of the increments may or may not count",
            acknowledged + indeterminate
        ),
        Verdict::LostAcknowledged { lost } => format!(
            "{lost} acknowledged updates lost: it is below the {acknowledged} increments the store acknowledged"
        ),
        Verdict::AboveBounds { above } => format!(
            "{above} above what can have been made: the acknowledged and indeterminate increments add up to {}",
            acknowledged + indeterminate
        ),
    };
    let _ = writeln!(
        out,
        "outcomes:      {acknowledged} acknowledged, {} failed, {indeterminate} indeterminate; the final value {} is {verdict}",
        outcomes.failed, report.final_value
    );
}

fn describe_strategy(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Racy => "racy: a relaxed load, then a relaxed store of that value plus one, no lock",
        Strategy::Mutex => "mutex: the read-modify-write under a lock",
        Strategy::Atomic => "atomic: one fetch_add, an indivisible read-modify-write",
        Strategy::Sharded => "sharded: each worker counts in its own cache line, summed at the end",
        Strategy::Optimistic => {
            "optimistic: read, then compare-and-swap the value plus one; on a conflict, try again with the new value"
        }
        Strategy::Fenced => "fenced: the read-modify-write under a lock whose grants carry a token the store checks",
    }
}

fn describe_timer(timer: Timer) -> &'static str {
    match timer {
        Timer::Compensated => {
            "compensated: each sleep is shortened by how late the previous ones woke up, so lateness does not add up"
        }
        Timer::Relative => "relative: each sleep as asked, as the seed's time.sleep; every wake-up's lateness adds up",
    }
}

fn describe_work(work: Work, window: Window) -> String {
    match (work, window) {
        (Work::None, _) => "none: workers update the counter back to back".to_owned(),
        (_, Window::Before) => {
            format!("{work} before each update (window: before, as in the seed)")
        }
        (_, Window::Inside) => {
            format!("{work} between reading the counter and writing it back (window: inside)")
        }
    }
}

/// Says, in plain sentences drawn from the report's figures, why updates were or were not lost: the model's own
/// lines when it has them ([`ModelWords::why`]), else [`explain_generic`]'s; then what the lock's recoveries say.
pub fn explain(report: &RunReport, words: &ModelWords) -> Vec<String> {
    let mut lines = (words.why)(report).unwrap_or_else(|| explain_generic(report));
    if report.lock_recoveries > 0 {
        lines.push(format!(
            "the lock's holder died holding it, and the robust mutex handed it to the next worker (EOWNERDEAD), \
             which made it consistent and went on: recovered {}",
            units::count(report.lock_recoveries, "time", "times")
        ));
    }
    lines
}

/// The "why" lines every model can say: what was lost (or why it is unknown), and what made it so, never more
/// than the figures show. A strategy that should prevent a loss and did not is said to have lost, not excused.
pub fn explain_generic(report: &RunReport) -> Vec<String> {
    let config = &report.config;
    let strategy = config.strategy();
    let (noun, nouns) = (report.model.worker_noun(), report.model.worker_nouns());
    let done = report.worker_summary.increments_done;
    let Some(lost) = report.lost_updates else {
        let reported = units::count(report.worker_summary.count, noun, nouns);
        let bounds = report
            .lost_updates_bounds
            .map_or_else(String::new, |b| format!(": between {} and {}", b.at_least, b.at_most));
        return vec![format!(
            "the {reported} that reported did {done} increments and the counter shows {}; what the {} that did not \
             report did is unknown, so how many updates were lost is unknown too{bounds}",
            report.final_value,
            units::count(report.unreported_workers, noun, nouns),
        )];
    };
    let mut lines = Vec::new();
    match strategy {
        Strategy::Racy if lost > 0 => {
            lines.push(format!(
                "{lost} updates were really lost: two workers read the same value, both wrote back that value plus \
                 one, and one increment vanished"
            ));
            if config.window() == Window::Inside {
                lines.push(format!(
                    "the read and the write are {} apart (--window inside), so workers overlap in them all the time",
                    config.work()
                ));
            }
        }
        _ if lost > 0 => lines.push(format!(
            "{lost} updates were lost although every increment used {}: the counter shows fewer than the workers \
             made, which this strategy should not allow",
            strategy.name()
        )),
        Strategy::Racy if config.window() == Window::Before => lines.push(format!(
            "no update was lost this time, but nothing prevents it: the unlocked read-modify-write takes nanoseconds \
             next to {} of work, so two workers rarely meet inside it; try --window inside",
            config.work()
        )),
        Strategy::Racy => lines.push(
            "no update was lost this time: the workers never overlapped between read and write (too few workers, or \
             they never ran at the same moment)"
                .to_owned(),
        ),
        Strategy::Mutex | Strategy::Fenced => lines.push(
            "no update was lost: the lock made each read-modify-write exclusive; the price is waiting for it"
                .to_owned(),
        ),
        Strategy::Atomic => lines.push(
            "no update was lost: fetch_add is one indivisible read-modify-write (lock xadd on x86-64)".to_owned(),
        ),
        Strategy::Sharded => lines.push(
            "no update was lost: each worker wrote only its own slot, so no two writers met on one value".to_owned(),
        ),
        Strategy::Optimistic => lines.push(match report.retries {
            Some(retries) if retries > 0 => format!(
                "no update was lost: a write landed only if the value was still what was read; {} found the value \
                 changed since their read and were made again ({:.2} per increment)",
                units::count(retries, "attempt", "attempts"),
                retries as f64 / done.max(1) as f64
            ),
            _ => "no update was lost: a write landed only if the value was still what was read, and no attempt had \
                  to be made again (the workers never wrote between each other's read and write)"
                .to_owned(),
        }),
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        config::{Config, Request},
        cpu::CpuUsage,
        model::Model,
        proc::memory::MemorySnapshot,
        report::{Measurements, WorkerReport},
    };

    fn worker(id: u64, increments_done: u64) -> WorkerReport {
        WorkerReport {
            id,
            os_id: Some(1000 + id as i64),
            increments_done,
            elapsed_s: 10.0 + id as f64 / 1000.0,
            exit_status: None,
            cpu: None,
            max_rss_kib: None,
        }
    }

    fn measured(final_value: u64, workers: &[(u64, u64)]) -> Measurements {
        Measurements {
            final_value,
            wall_time: Duration::from_millis(10_004),
            start_time: Duration::from_micros(310),
            cpu: CpuUsage { user_s: 0.012, sys_s: 0.034, voluntary_switches: 5010, involuntary_switches: 3 },
            memory: MemorySnapshot {
                taken: "all 5 workers alive, before they started".to_owned(),
                processes: 1,
                threads: 6,
                rss_kib: 2970,
                pss_kib: 1843,
                uss_kib: 1331,
                swap_kib: 0,
                per_process: Vec::new(),
            },
            peak_rss_kib: Some(3012),
            workers: workers.iter().map(|&(id, done)| worker(id, done)).collect(),
            ..Measurements::default()
        }
    }

    #[test]
    fn the_seed_run_reads_as_the_seed_then_explains() {
        let workers: Vec<_> = (0..5).map(|id| (id, 1000)).collect();
        let report = RunReport::new(Model::Threads, &Config::default(), measured(5000, &workers));
        insta::assert_snapshot!(text(&report, &ModelWords::GENERIC));
    }

    #[test]
    fn a_racy_run_that_lost_updates_says_how_many() {
        let config =
            Request { window: Window::Inside, work: Work::Sleep(Duration::from_millis(1)), ..Request::default() }
                .validate()
                .unwrap();
        let workers: Vec<_> = (0..5).map(|id| (id, 1000)).collect();
        let report = RunReport::new(Model::Processes, &config, measured(1012, &workers));
        insta::assert_snapshot!(text(&report, &ModelWords::GENERIC));
    }

    #[test]
    fn a_run_a_worker_died_in_gives_the_loss_as_unknown() {
        let config = Request { strategy: Strategy::Mutex, ..Request::default() }.validate().unwrap();
        let mut measured = measured(4321, &[(0, 1000), (1, 1000), (2, 1000), (4, 1000)]);
        measured.unreported_workers = 1;
        measured.lock_recoveries = 1;
        let report = RunReport::new(Model::Processes, &config, measured);
        insta::assert_snapshot!(text(&report, &ModelWords::GENERIC));
    }

    #[test]
    fn no_line_claims_exactness_when_updates_were_lost() {
        for model in Model::ALL {
            for strategy in Strategy::ALL {
                let config = Request { strategy, ..Request::default() }.validate().unwrap();
                let workers: Vec<_> = (0..5).map(|id| (id, 1000)).collect();
                let report = RunReport::new(model, &config, measured(4990, &workers));
                assert_eq!(report.lost_updates, Some(10));
                let lines = explain(&report, &ModelWords::GENERIC);
                assert!(lines.first().is_some_and(|line| line.starts_with("10 updates")), "{strategy:?}: {lines:?}");
                for line in &lines {
                    assert!(!line.contains("no update"), "{model:?} {strategy:?}: {line}");
                    assert!(!line.contains("cannot be lost") && !line.contains("can be lost"), "{strategy:?}: {line}");
                }
            }
        }
    }

    #[test]
    fn an_exact_run_says_what_made_it_so_for_every_strategy() {
        for strategy in Strategy::ALL {
            let config = Request { strategy, ..Request::default() }.validate().unwrap();
            let workers: Vec<_> = (0..5).map(|id| (id, 1000)).collect();
            let report = RunReport::new(Model::Threads, &config, measured(5000, &workers));
            let lines = explain(&report, &ModelWords::GENERIC);
            assert!(lines.first().is_some_and(|line| line.starts_with("no update was lost")), "{lines:?}");
        }
    }
}
