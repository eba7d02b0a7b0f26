//! The text a person reads: the seed's `Final counter value: N` first, then what it means.

use std::fmt::Write as _;

use crate::{
    config::{Jobs, Sync, Timer, Window, Work},
    duration::human_seconds,
    proc::memory::human_kib,
    report::{Model, RunReport},
};

/// Renders a report as the frontends print it.
pub fn text(report: &RunReport) -> String {
    let mut out = String::new();
    let config = &report.config;
    let noun = report.model.worker_noun();
    let nouns = report.model.worker_noun_plural();
    // `write!` into a String cannot fail.
    let _ = writeln!(out, "Final counter value: {}", report.final_value);
    let _ = writeln!(
        out,
        "expected:      {} ({} {} x {} increments){}",
        report.expected,
        config.workers,
        if report.pool.is_some() { "workers" } else { nouns },
        config.increments,
        if report.complete { "" } else { "; the run was stopped before the end" }
    );
    let _ = writeln!(
        out,
        "lost updates:  {} ({:.2}% of {} increments done)",
        report.lost_updates, report.lost_percent, report.worker_summary.increments_done
    );
    let _ = writeln!(out, "strategy:      {}", describe_sync(config.sync));
    let _ = writeln!(out, "work:          {}", describe_work(config.work, config.window));
    if let Work::Sleep(_) | Work::Block(_) = config.work {
        let _ = writeln!(out, "timer:         {}", describe_timer(config.timer));
    }
    if let Some(runtime) = &report.runtime {
        let _ = writeln!(
            out,
            "runtime:       tokio {} ({} thread{})",
            runtime.flavor,
            runtime.threads,
            if runtime.threads == 1 { "" } else { "s" }
        );
    }
    if let Some(pool) = &report.pool {
        let (job, job_ideal_s) = match pool.jobs {
            Jobs::Worker => ("a whole worker each", report.ideal_time_s),
            Jobs::Increment => ("one increment each", report.ideal_time_s / config.increments as f64),
        };
        let rounds = pool.job_count.div_ceil(pool.size.max(1));
        let _ = writeln!(
            out,
            "pool:          {} {nouns} ran {} jobs of {job}: {rounds} rounds, so about {} with ideal work; queue wait \
             median {} (the job in the middle of the queue), max {}",
            pool.size,
            pool.job_count,
            human_seconds(rounds as f64 * job_ideal_s),
            human_seconds(pool.queue_wait_median_s),
            human_seconds(pool.queue_wait_max_s)
        );
    }
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
    write_memory(&mut out, report);
    let _ = writeln!(
        out,
        "peak RSS:      {} (VmHWM of the {} process)",
        human_kib(report.peak_rss_kib),
        report.model.binary()
    );
    for line in explain(report) {
        let _ = writeln!(out, "why:           {line}");
    }
    for note in &report.notes {
        let _ = writeln!(out, "note:          {note}");
    }
    out
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
             the counter's segment, copy-on-write pages) once per process; PSS counts each page once",
            memory.rss_kib as f64 / memory.pss_kib.max(1) as f64,
            memory.processes
        );
    }
}

fn describe_sync(sync: Sync) -> &'static str {
    match sync {
        Sync::Racy => "racy: a relaxed load, then a relaxed store of that value plus one, no lock",
        Sync::Mutex => "mutex: the read-modify-write under a lock",
        Sync::Atomic => "atomic: one fetch_add, an indivisible read-modify-write",
        Sync::Sharded => "sharded: each worker counts in its own cache line, summed at the end",
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

/// Says, in plain sentences drawn from the numbers, why updates were or were not lost.
pub fn explain(report: &RunReport) -> Vec<String> {
    let config = &report.config;
    let mut lines = Vec::new();
    let single_threaded_async =
        report.model == Model::Async && report.runtime.as_ref().is_some_and(|runtime| runtime.threads == 1);
    match config.sync {
        Sync::Racy if report.lost_updates > 0 => {
            lines.push(format!(
                "{} updates were really lost: two workers read the same value, both wrote back that value plus one, \
                 and one increment vanished",
                report.lost_updates
            ));
            if config.window == Window::Inside {
                lines.push(format!(
                    "the read and the write are {} apart (--window inside), so workers overlap in them all the time",
                    config.work
                ));
            }
        }
        Sync::Racy if single_threaded_async && config.window == Window::Before => lines.push(
            "no update can be lost here: on one thread, a task runs without interruption between two awaits, and \
             there is no await between the read and the write"
                .to_owned(),
        ),
        Sync::Racy if config.window == Window::Before => lines.push(format!(
            "no update was lost this time, but nothing prevents it: the unlocked read-modify-write takes nanoseconds \
             next to {} of work, so two workers rarely meet inside it; try --window inside",
            config.work
        )),
        Sync::Racy => lines.push(
            "no update was lost this time: the workers never overlapped between read and write (too few workers, or \
             they never ran at the same moment)"
                .to_owned(),
        ),
        Sync::Mutex => lines.push(
            "the lock makes the read-modify-write exclusive: no update can be lost; the price is waiting for it"
                .to_owned(),
        ),
        Sync::Atomic => lines
            .push("fetch_add is one indivisible instruction (lock xadd on x86-64): no update can be lost".to_owned()),
        Sync::Sharded => lines.push(
            "each worker writes only its own slot: no update can be lost and no cache line is fought over".to_owned(),
        ),
    }
    if report.lock_recoveries > 0 {
        lines.push(format!(
            "the lock was recovered {} time(s) from a holder that died holding it",
            report.lock_recoveries
        ));
    }
    lines
}
