//! `cargo xtask faults`: the faults that matter across machines, injected on purpose at a recorded moment into
//! a run that two participants share on a private server of each model that keeps its counter in one (where the
//! fault means something there), and what each did to the count.
//!
//! - `pause-holder`: a participant is stopped (SIGSTOP) while it holds the lock, for three leases, then goes on.
//!   Under `mutex` it still believes it holds the lock when it wakes, and writes over what the other did
//!   meanwhile; under `fenced` its write is refused. The server's own log of commands, where it has one, shows
//!   when the stale write landed.
//! - `stall`: the server (every process of it) is stopped for 1.5 s (three response timeouts): increments sent
//!   then are indeterminate.
//! - `client-kill`: the server ends one participant's connections, by its own command: its workers connect
//!   again.
//! - `sigkill`: one participant is killed: the other reports it unheard, and what it did as unknown.
//!
//! A store whose lock is not a lease (`Model::lock_expires`) has no `pause-holder`: a paused holder makes the
//! others wait, and there is nothing to fence. Each run's row gives the outcomes over both participants
//! (acknowledged, failed, indeterminate), the final value and the verdict of Jepsen's counter check, the lock's
//! expiries and fenced-off writes, and what was left behind (data without a time to live, a participant that
//! did not end): none is allowed, but what waits for a killed participant. What each step means on a store is
//! the store's: its binary's `--serve` answers for it (module `server`).

mod server;

use std::{
    fmt::Write as _,
    path::Path,
    process::{Child, Command, ExitCode, Stdio},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use counter_core::{
    catalog, child,
    config::{Strategy, parse_count_up_to},
    model::Model,
    report::{RunReport, Verdict},
    units,
};
use nix::{sys::signal::Signal, unistd::Pid};
use serde::{Deserialize, Serialize};

pub use self::server::Leftover;
use self::server::Server;
use crate::{
    output::{self, RunDir, Table, Terminal},
    runner,
    usage::Usage,
    workspace::{self, Profile},
};

/// See [`crate::schema::FAULTS`].
pub const SCHEMA_VERSION: u32 = crate::schema::FAULTS;

/// How long the lock lives: a pause of three of these outlives it.
const LEASE_MS: u64 = 200;
/// How long a participant waits for an answer before its increment is indeterminate.
const TIMEOUT_MS: u64 = 500;
/// How long a stopped holder stays stopped.
const PAUSE: Duration = Duration::from_millis(3 * LEASE_MS);
/// How long the server stays stopped.
const STALL: Duration = Duration::from_millis(3 * TIMEOUT_MS);
/// How long a participant may take, start to end, before it counts as hung.
const PARTICIPANT_DEADLINE: Duration = Duration::from_secs(60);

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// A lock holder stopped (SIGSTOP) past its lease.
    PauseHolder,
    /// The server stopped (SIGSTOP), then continued.
    Stall,
    /// One participant's connections ended by the server, by its own command.
    ClientKill,
    /// One participant killed (SIGKILL).
    Sigkill,
}

impl Fault {
    /// Every fault, in the order the table shows them.
    pub const ALL: [Fault; 4] = [Fault::PauseHolder, Fault::Stall, Fault::ClientKill, Fault::Sigkill];

    /// Its name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Fault::PauseHolder => "pause-holder",
            Fault::Stall => "stall",
            Fault::ClientKill => "client-kill",
            Fault::Sigkill => "sigkill",
        }
    }

    /// The strategies it is shown on in `store`: the lock with and without fencing where the lock is a lease and
    /// the question; none where the fault means nothing (a paused holder of a lock that is not a lease).
    fn syncs(self, store: Model) -> &'static [Strategy] {
        match (self, store.lock_expires()) {
            (Fault::PauseHolder, true) => &[Strategy::Mutex, Strategy::Fenced],
            (Fault::PauseHolder, false) => &[],
            (Fault::Stall, true) => &[Strategy::Atomic, Strategy::Fenced],
            (Fault::Stall, false) => &[Strategy::Atomic, Strategy::Mutex],
            (Fault::ClientKill | Fault::Sigkill, _) => &[Strategy::Atomic],
        }
    }

    /// Each participant's workload: long holds of the lock (the work inside it) where a holder is paused.
    fn workload(self) -> &'static [&'static str] {
        match self {
            Fault::PauseHolder => &["--increments", "40", "--window", "inside", "--work", "sleep:20ms"],
            Fault::Stall | Fault::ClientKill | Fault::Sigkill => &["--increments", "100", "--work", "sleep:5ms"],
        }
    }
}

/// Inject faults into runs shared by two participants on a private server, and tabulate what each did.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask faults
  cargo xtask faults --faults pause-holder --runs 10 --seed 7")]
pub struct Args {
    /// The faults to inject, comma-separated [default: every fault]
    #[arg(long, value_enum, value_delimiter = ',')]
    faults: Vec<Fault>,

    /// The stores (the models that keep their counter in a server), comma-separated [default: every one; one
    /// whose server is not installed is skipped with one line]
    #[arg(long, value_enum, value_delimiter = ',')]
    stores: Vec<Model>,

    /// Runs of each fault and strategy (at most 100)
    #[arg(long, default_value_t = 3, value_parser = |s: &str| parse_count_up_to("runs", s, 100))]
    runs: u64,

    /// The seed that chooses each fault's moment [default: drawn, and printed, so that a run can be made again]
    #[arg(long)]
    seed: Option<u64>,

    /// Build profile of the stores' binaries
    #[arg(long, value_enum, default_value_t = Profile::Release)]
    profile: Profile,

    #[command(flatten)]
    exports: output::Exports,
}

/// Everything a `faults` run found.
#[derive(Debug, Serialize, Deserialize)]
pub struct Document {
    /// See [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The seed of the moments.
    pub seed: u64,
    /// The servers, as each names itself (with its version).
    pub servers: Vec<String>,
    /// The flags every participant had besides its workload (and, where the lock is a lease, `--lock-ttl`).
    pub common_flags: String,
    /// One row per run.
    pub rows: Vec<FaultRun>,
}

/// One run: a fault injected into a run shared by two participants, and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRun {
    /// The store.
    pub store: Model,
    /// The fault.
    pub fault: Fault,
    /// The strategy.
    pub sync: Strategy,
    /// Which run of this fault and strategy, from 1.
    pub run: u64,
    /// The participants' own flags (the workload).
    pub workload: String,
    /// When the fault was injected, milliseconds after the counter first moved (a paused holder: when it was
    /// stopped, the first moment after the seed's at which participant A held the lock).
    pub injected_at_ms: u64,
    /// What was done, in words, with when each step happened.
    pub timeline: Vec<String>,
    /// Increments acknowledged, over both participants (null when one never reported).
    pub acknowledged: Option<u64>,
    /// Increments refused or never sent.
    pub failed: Option<u64>,
    /// Increments sent and never answered.
    pub indeterminate: Option<u64>,
    /// The counter's value at the end.
    pub final_value: u64,
    /// The check of the final value (`unknown` when a participant never reported).
    pub verdict: Check,
    /// Acknowledged increments the counter does not show.
    pub lost_acknowledged: u64,
    /// Locks that expired under their holder, as both participants saw them.
    pub lock_expiries: u64,
    /// Reads or writes refused for an old token.
    pub fenced_off: u64,
    /// Connections made again after one broke.
    pub reconnections: u64,
    /// The surviving participant's wall time, seconds.
    pub wall_time_s: f64,
    /// Participants whose report said another had not reported.
    pub participants_unreported: u64,
    /// What the run left on the server (then removed): none should be, but what waits for a participant that
    /// never ended (data without a time to live, as sigkill shows).
    pub left_behind: Vec<Leftover>,
    /// Participants that did not end on their own within the deadline, or ended with an unexpected status.
    pub misbehaved: Vec<String>,
}

/// The check of a run's final value against its outcomes, in a word: the report's verdict without its figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The final value is the increments acknowledged, none unknown.
    Exact,
    /// Within [acknowledged, acknowledged + indeterminate].
    Consistent,
    /// Below the acknowledged increments: some were lost.
    LostAcknowledged,
    /// Above every increment that could have been applied.
    AboveBounds,
    /// A participant never reported: what it did is unknown.
    Unknown,
}

impl Check {
    /// Every check, in the order the page lists them.
    pub const ALL: [Check; 5] =
        [Check::Exact, Check::Consistent, Check::LostAcknowledged, Check::AboveBounds, Check::Unknown];

    fn of(verdict: Option<Verdict>) -> Check {
        match verdict {
            Some(Verdict::Exact) => Check::Exact,
            Some(Verdict::Consistent { .. }) => Check::Consistent,
            Some(Verdict::LostAcknowledged { .. }) => Check::LostAcknowledged,
            Some(Verdict::AboveBounds { .. }) => Check::AboveBounds,
            None => Check::Unknown,
        }
    }

    /// Its word in the table.
    pub fn name(self) -> &'static str {
        match self {
            Check::Exact => "exact",
            Check::Consistent => "consistent",
            Check::LostAcknowledged => "lost-acknowledged",
            Check::AboveBounds => "above-bounds",
            Check::Unknown => "unknown",
        }
    }

    /// The final value within what the outcomes allow.
    fn within_bounds(self) -> bool {
        matches!(self, Check::Exact | Check::Consistent)
    }
}

/// The flags every participant gets besides its workload, strategy and server (and, where the lock is a lease,
/// `--lock-ttl`).
fn common_flags() -> Vec<String> {
    [
        "--participants",
        "2",
        "--workers",
        "2",
        "--timeout",
        &format!("{TIMEOUT_MS}ms"),
        "--rendezvous-timeout",
        "30s",
        "--format",
        "json",
    ]
    .iter()
    .map(|flag| (*flag).to_owned())
    .collect()
}

/// A participant: its process, and when it was started.
struct Participant {
    child: Child,
}

impl Participant {
    fn start(binary: &Path, server: &Server, run_id: &str, sync: Strategy, workload: &[&str]) -> anyhow::Result<Self> {
        let flag = catalog::of(server.model).server.as_ref().map_or("--server", |server| server.flag);
        let lease = if server.model.lock_expires() {
            vec!["--lock-ttl".to_owned(), format!("{LEASE_MS}ms")]
        } else {
            Vec::new()
        };
        let child = child::dies_with_us(
            Command::new(binary)
                .args([flag, &server.address, "--run-id", run_id, "--sync", sync.name()])
                .args(common_flags())
                .args(lease)
                .args(workload)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .spawn()
        .with_context(|| format!("could not run {}", binary.display()))?;
        Ok(Participant { child })
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Its report, once it ends within the deadline; what went wrong otherwise (it is then killed).
    fn finish(mut self, started: Instant) -> Result<RunReport, String> {
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if started.elapsed() > PARTICIPANT_DEADLINE => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("did not end within {PARTICIPANT_DEADLINE:?} and was killed"));
                }
                // The task was told to stop: the participant goes now (the task then says it was interrupted).
                Ok(None) if counter_core::signals::received().is_some() => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("stopped with the task".to_owned());
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(error) => return Err(format!("could not be waited for: {error}")),
            }
        }
        let output = self.child.wait_with_output().map_err(|error| error.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "{}: {}",
                child::describe(output.status),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        serde_json::from_slice(&output.stdout).map_err(|error| format!("printed no report: {error}"))
    }
}

/// Milliseconds since `t0`, for the timeline.
fn at(t0: Instant) -> String {
    format!("+{} ms", t0.elapsed().as_millis())
}

/// A figure of the report's extension, 0 when absent.
fn figure(report: &RunReport, name: &str) -> u64 {
    report.extension.as_ref().and_then(|extension| extension.number(name)).map_or(0, |n| n as u64)
}

/// Injects `fault` into run `run_id`, whose participant A is `a_pid`, saying what was done in `timeline`;
/// returns when it was injected, milliseconds after `t0` (a paused holder: once A holds the lock).
fn inject(fault: Fault, server: &Server, (run_id, a_pid): (&str, Pid), t0: Instant, timeline: &mut Vec<String>) -> u64 {
    let mut injected_at_ms = t0.elapsed().as_millis() as u64;
    match fault {
        Fault::PauseHolder => {
            let waiting = Instant::now();
            loop {
                if server.lock_holder(run_id) == Some(a_pid) {
                    injected_at_ms = t0.elapsed().as_millis() as u64;
                    let _ = nix::sys::signal::kill(a_pid, Signal::SIGSTOP);
                    timeline.push(format!("{}: A stopped (SIGSTOP) holding the lock", at(t0)));
                    break;
                }
                if waiting.elapsed() > Duration::from_secs(10) {
                    timeline.push(format!("{}: A never held the lock within 10 s: nothing injected", at(t0)));
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
            thread::sleep(PAUSE);
            let _ = nix::sys::signal::kill(a_pid, Signal::SIGCONT);
            timeline.push(format!("{}: A continued (SIGCONT), {} ms later: three leases", at(t0), PAUSE.as_millis()));
        }
        Fault::Stall => {
            let processes = server.processes().len();
            server.signal_all(Signal::SIGSTOP);
            timeline.push(format!("{}: the server's {processes} processes stopped (SIGSTOP)", at(t0)));
            thread::sleep(STALL);
            server.signal_all(Signal::SIGCONT);
            timeline.push(format!("{}: the server continued (SIGCONT), {} ms later", at(t0), STALL.as_millis()));
        }
        Fault::ClientKill => {
            let ended = server.end_connections_of(run_id, a_pid).unwrap_or_else(|error| format!("none: {error:#}"));
            timeline.push(format!("{}: the server ended A's worker connections: {ended}", at(t0)));
        }
        Fault::Sigkill => {
            let _ = nix::sys::signal::kill(a_pid, Signal::SIGKILL);
            timeline.push(format!("{}: A killed (SIGKILL)", at(t0)));
        }
    }
    injected_at_ms
}

/// B's report (A's if B made none) and A's, if it made one; each participant that did not end as it should,
/// said in `misbehaved` (A killed by the fault aside). `None` if neither made a report.
fn reports(
    fault: Fault,
    (a_pid, a_report): (Pid, Result<RunReport, String>),
    (b_pid, b_report): (Pid, Result<RunReport, String>),
    misbehaved: &mut Vec<String>,
) -> Option<(RunReport, Option<RunReport>)> {
    let a_report = match (fault, a_report) {
        (Fault::Sigkill, Err(_)) => None,
        (_, Err(why)) => {
            misbehaved.push(format!("A (pid {a_pid}) {why}"));
            None
        }
        (_, Ok(report)) => Some(report),
    };
    let report = match b_report {
        Ok(report) => report,
        Err(why) => {
            misbehaved.push(format!("B (pid {b_pid}) {why}"));
            a_report.clone()?
        }
    };
    Some((report, a_report))
}

/// One run of `fault` on `sync`.
fn run_one(
    binary: &Path,
    server: &Server,
    (fault, sync, run): (Fault, Strategy, u64),
    moments: &mut fastrand::Rng,
) -> anyhow::Result<FaultRun> {
    let run_id = format!("faults-{}-{}-{run}-{}", fault.name(), sync.name(), std::process::id());
    let watching = fault == Fault::PauseHolder && server.watch(&run_id)?;
    let started = Instant::now();
    let a = Participant::start(binary, server, &run_id, sync, fault.workload())?;
    let b = Participant::start(binary, server, &run_id, sync, fault.workload())?;
    let mut timeline = vec![format!("participants A (pid {}) and B (pid {}) started", a.pid(), b.pid())];
    // The counter moves once both have met and started.
    while server.counter(&run_id) < 5 {
        runner::check_signals()?;
        if started.elapsed() > Duration::from_secs(30) {
            bail!("run {run_id}: the counter never moved (are both participants running?)");
        }
        thread::sleep(Duration::from_millis(5));
    }
    let t0 = Instant::now();
    timeline.push("+0 ms: the counter moved".to_owned());
    let delay = moments.u64(..300);
    thread::sleep(Duration::from_millis(delay));
    let injected_at_ms = inject(fault, server, (&run_id, a.pid()), t0, &mut timeline);
    let (a_pid, b_pid) = (a.pid(), b.pid());
    let (a_report, b_report) = (a.finish(started), b.finish(started));
    runner::check_signals()?;
    timeline.push(format!("{}: both participants ended", at(t0)));
    let mut misbehaved = Vec::new();
    let (report, a_report) = reports(fault, (a_pid, a_report), (b_pid, b_report), &mut misbehaved)
        .with_context(|| format!("run {run_id}: neither participant made a report ({})", misbehaved.join("; ")))?;
    if watching {
        // The server's times count from the watching's start, which came `before_t0` before the counter moved.
        let before_t0 = t0.duration_since(started).as_millis() as u64;
        let events = server.watched()?.into_iter();
        timeline.extend(events.map(|(ms, event)| format!("+{} ms: {event}", ms.saturating_sub(before_t0))));
    }
    // Everything a run leaves has a time to live, or is removed by its last participant; then it all goes, so
    // that the next run starts clean.
    let left_behind = server.left_behind(&run_id)?;
    let reports: Vec<&RunReport> = std::iter::once(&report).chain(a_report.as_ref()).collect();
    let sum = |name| reports.iter().map(|report| figure(report, name)).sum::<u64>();
    let outcomes = report.outcomes;
    let verdict = Check::of(outcomes.map(|outcomes| outcomes.verdict));
    let lost_acknowledged = match outcomes.map(|outcomes| outcomes.verdict) {
        Some(Verdict::LostAcknowledged { lost }) => lost,
        _ => 0,
    };
    Ok(FaultRun {
        store: server.model,
        fault,
        sync,
        run,
        workload: fault.workload().join(" "),
        injected_at_ms,
        timeline,
        acknowledged: outcomes.map(|outcomes| outcomes.acknowledged),
        failed: outcomes.map(|outcomes| outcomes.failed),
        indeterminate: outcomes.map(|outcomes| outcomes.indeterminate),
        final_value: report.final_value,
        verdict,
        lost_acknowledged,
        lock_expiries: sum("lock_expiries"),
        fenced_off: sum("fenced_off"),
        reconnections: sum("reconnections"),
        wall_time_s: report.wall_time_s,
        participants_unreported: report.participants_unreported,
        left_behind,
        misbehaved,
    })
}

fn table(rows: &[FaultRun]) -> Table {
    let count = |value: Option<u64>| value.map_or_else(|| "?".to_owned(), |value| value.to_string());
    // The columns read first come first: a narrow terminal leaves out the last ones.
    Table {
        headers: vec![
            "store", "fault", "sync", "run", "acked", "indet.", "final", "verdict", "fenced", "expired", "failed",
            "at", "time",
        ],
        rows: rows
            .iter()
            .map(|row| {
                vec![
                    row.store.name().to_owned(),
                    row.fault.name().to_owned(),
                    row.sync.name().to_owned(),
                    row.run.to_string(),
                    count(row.acknowledged),
                    count(row.indeterminate),
                    row.final_value.to_string(),
                    if row.lost_acknowledged > 0 {
                        format!("lost {}", row.lost_acknowledged)
                    } else {
                        row.verdict.name().to_owned()
                    },
                    row.fenced_off.to_string(),
                    row.lock_expiries.to_string(),
                    count(row.failed),
                    format!("{} ms", row.injected_at_ms),
                    format!("{:.2} s", row.wall_time_s),
                ]
            })
            .collect(),
    }
}

/// Whether a row left something it should not have: data without a time to live (but what waits for a killed
/// participant), a participant that misbehaved.
fn left_something(row: &FaultRun) -> bool {
    row.left_behind.iter().any(|left| !left.waits_for_a_participant || row.fault != Fault::Sigkill)
        || !row.misbehaved.is_empty()
}

/// The sentence of one store, fault and strategy, from its runs (at least one).
fn group_sentence(group: &[&FaultRun]) -> String {
    let (store, fault, sync) = (group[0].store, group[0].fault, group[0].sync);
    let n = group.len();
    let lost: Vec<u64> = group.iter().map(|row| row.lost_acknowledged).filter(|lost| *lost > 0).collect();
    let within = group.iter().filter(|row| row.verdict.within_bounds()).count();
    let known = group.iter().filter(|row| row.verdict != Check::Unknown).count();
    let indeterminate: u64 = group.iter().filter_map(|row| row.indeterminate).sum();
    let fenced: u64 = group.iter().map(|row| row.fenced_off).sum();
    let expired: u64 = group.iter().map(|row| row.lock_expiries).sum();
    let unknown = group.iter().filter(|row| row.verdict == Check::Unknown).count();
    let mut sentence = format!("{} {} on {}: ", store.name(), fault.name(), sync.name());
    if known > 0 && lost.is_empty() {
        let _ = write!(
            sentence,
            "no acknowledged update lost in {}; the final value within [acknowledged, acknowledged + \
             indeterminate] in {within} of them",
            units::count(known as u64, "run", "runs")
        );
    } else if known > 0 {
        let _ = write!(
            sentence,
            "acknowledged updates lost in {} of {known} runs ({} in all, {} at most in one); the final value \
             within [acknowledged, acknowledged + indeterminate] in {within} of {known}",
            lost.len(),
            lost.iter().sum::<u64>(),
            lost.iter().max().copied().unwrap_or(0)
        );
    }
    if unknown > 0 {
        let _ = write!(
            sentence,
            "{}in {unknown} of {n} a participant never reported, so what it did, and whether an update was \
             lost, is unknown",
            if known > 0 { "; " } else { "" },
        );
    }
    if indeterminate > 0 {
        let _ = write!(
            sentence,
            "; {} in all",
            units::count(indeterminate, "indeterminate increment", "indeterminate increments")
        );
    }
    if expired > 0 || fenced > 0 {
        let _ = write!(
            sentence,
            "; {}, {} fenced off",
            units::count(expired, "lock expiry", "lock expiries"),
            units::count(fenced, "read or write", "reads or writes")
        );
    }
    sentence
}

/// One sentence per store, fault and strategy, from the rows.
fn sentences(rows: &[FaultRun]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stores: Vec<Model> = rows.iter().map(|row| row.store).collect();
    stores.dedup();
    for (store, fault) in stores.into_iter().flat_map(|store| Fault::ALL.map(|fault| (store, fault))) {
        for sync in fault.syncs(store) {
            let group: Vec<&FaultRun> =
                rows.iter().filter(|row| row.store == store && row.fault == fault && row.sync == *sync).collect();
            if group.is_empty() {
                continue;
            }
            out.push(group_sentence(&group) + ".");
        }
    }
    let leaks: Vec<String> = rows
        .iter()
        .filter(|row| left_something(row))
        .map(|row| {
            let left: Vec<&str> = row.left_behind.iter().map(|left| left.what.as_str()).collect();
            format!(
                "{} {} {} run {}: left {}; {}",
                row.store.name(),
                row.fault.name(),
                row.sync.name(),
                row.run,
                if left.is_empty() { "nothing".to_owned() } else { left.join(", ") },
                row.misbehaved.join("; ")
            )
        })
        .collect();
    if leaks.is_empty() {
        out.push(
            "Nothing was left behind that should not be: what a run made had a time to live or was removed by its \
             last participant out (but what waits for a killed participant, removed here), and every participant \
             ended on its own (the one killed by sigkill aside)."
                .to_owned(),
        );
    } else {
        out.push(format!("Left behind or misbehaved: {}.", leaks.join(" | ")));
    }
    out
}

/// One run as a CSV line: its figures, as the JSON names them.
#[derive(Serialize)]
struct CsvRecord {
    store: &'static str,
    fault: &'static str,
    sync: &'static str,
    run: u64,
    injected_at_ms: u64,
    acknowledged: Option<u64>,
    failed: Option<u64>,
    indeterminate: Option<u64>,
    final_value: u64,
    verdict: &'static str,
    lost_acknowledged: u64,
    lock_expiries: u64,
    fenced_off: u64,
    wall_time_s: f64,
}

/// The rows as CSV, numbers as they are.
fn csv(rows: &[FaultRun]) -> anyhow::Result<String> {
    output::to_csv(rows.iter().map(|row| CsvRecord {
        store: row.store.name(),
        fault: row.fault.name(),
        sync: row.sync.name(),
        run: row.run,
        injected_at_ms: row.injected_at_ms,
        acknowledged: row.acknowledged,
        failed: row.failed,
        indeterminate: row.indeterminate,
        final_value: row.final_value,
        verdict: row.verdict.name(),
        lost_acknowledged: row.lost_acknowledged,
        lock_expiries: row.lock_expiries,
        fenced_off: row.fenced_off,
        wall_time_s: row.wall_time_s,
    }))
}

/// Runs the faults.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(html) = &args.exports.html {
        return Err(
            Usage(format!("--export-html {}: faults draws no page; cargo xtask report does", html.display())).into()
        );
    }
    let exports = args.exports.open()?;
    let terminal = Terminal::new(&exports);
    let faults = if args.faults.is_empty() { Fault::ALL.to_vec() } else { args.faults.clone() };
    let seed = args
        .seed
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |elapsed| elapsed.as_nanos() as u64));
    let stores = stores(&args.stores)?;
    let packages: Vec<&str> = stores.iter().map(|store| store.binary()).collect();
    let bin_dir = workspace::build(&packages, args.profile)?;
    let run_dir = RunDir::create(&workspace::results_dir("faults"))?;
    crate::machine::Machine::now("faults").record(run_dir.path())?;
    // The moments, drawn from the seed, so that a run can be made again.
    let mut moments = fastrand::Rng::with_seed(seed);
    let (mut rows, mut servers, mut binaries) = (Vec::new(), Vec::new(), Vec::new());
    for &store in &stores {
        let server = match Server::start(store, &bin_dir) {
            Ok(server) => server,
            // Not installed: that store is left out, said in one line (its tests fail on CI instead).
            Err(error) if error.is::<Usage>() => {
                output::note(&format!("faults: {} skipped: {error}", store.name()));
                continue;
            }
            Err(error) => return Err(error),
        };
        servers.push(server.version.clone());
        binaries.push(store.binary());
        let binary = bin_dir.join(store.binary());
        for &fault in &faults {
            for &sync in fault.syncs(store) {
                for run in 1..=args.runs {
                    runner::check_signals()?;
                    output::note(&format!(
                        "faults: {} {} on {}, run {run} of {}",
                        store.name(),
                        fault.name(),
                        sync.name(),
                        args.runs
                    ));
                    rows.push(run_one(&binary, &server, (fault, sync, run), &mut moments)?);
                }
            }
        }
    }
    let document =
        Document { schema_version: SCHEMA_VERSION, seed, servers, common_flags: common_flags().join(" "), rows };
    let json = serde_json::to_string_pretty(&document)?;
    run_dir.publish(&json)?;
    let table = table(&document.rows);
    let csv = csv(&document.rows)?;
    exports.write(&json, &csv, &output::to_markdown(&table), None)?;
    terminal.print(&text(&document, &binaries, &run_dir))?;
    let defects = document.rows.iter().any(|row| {
        left_something(row)
            || row.verdict == Check::AboveBounds
            || (row.sync == Strategy::Fenced && row.lost_acknowledged > 0)
    });
    Ok(if defects { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// What the run prints: what was done, the table, each paused holder's timeline, the sentences, the folder.
fn text(document: &Document, binaries: &[&str], run_dir: &RunDir) -> String {
    let table = table(&document.rows);
    let width = output::width();
    let mut text = output::wrap(
        &format!(
            "Two participants per run ({}) on a private {} (Unix sockets), each with {} (and --lock-ttl {LEASE_MS}ms \
             where the lock is a lease), seed {} (--seed {} chooses the same moments again: \
             how long after the counter first moved each fault comes). acked, failed, indet.: the increments' \
             outcomes over both; verdict: the final value against [acked, acked + indet.]; expired: locks that \
             expired under their holder; fenced: reads or writes refused for an old token.",
            binaries.join(" or "),
            document.servers.join(" and a private "),
            document.common_flags,
            document.seed,
            document.seed
        ),
        width,
    );
    text.push_str("\n\n");
    text.push_str(&output::render_to_width(&table, width));
    text.push('\n');
    for row in document.rows.iter().filter(|row| row.fault == Fault::PauseHolder) {
        let _ = writeln!(text, "\n{} {} on {}, run {}:", row.store.name(), row.fault.name(), row.sync.name(), row.run);
        for event in &row.timeline {
            let wrapped = output::wrap(event, width.saturating_sub(2).max(40));
            for line in wrapped.lines() {
                let _ = writeln!(text, "  {line}");
            }
        }
    }
    text.push('\n');
    for sentence in sentences(&document.rows) {
        text.push_str(&output::wrap(&format!("- {sentence}"), width));
        text.push('\n');
    }
    let _ = writeln!(text, "\nResults: {}", run_dir.path().display());
    text
}

/// The stores asked for (every model that keeps its counter in a server when none is): one that keeps none is
/// refused.
fn stores(asked: &[Model]) -> Result<Vec<Model>, Usage> {
    let with_servers: Vec<Model> =
        Model::ALL.into_iter().filter(|&model| catalog::of(model).server.is_some()).collect();
    if let Some(model) = asked.iter().find(|model| !with_servers.contains(model)) {
        let names: Vec<&str> = with_servers.iter().map(|model| model.name()).collect();
        return Err(Usage(format!(
            "--stores {}: it keeps no counter in a server; one of {} is expected",
            model.name(),
            names.join(", ")
        )));
    }
    Ok(if asked.is_empty() { with_servers } else { asked.to_vec() })
}
