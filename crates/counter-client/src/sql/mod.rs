//! What the stores that keep the counter in an SQL table share: each strategy as a transaction of a few
//! statements, written once over the [`Statements`] a store runs on its connection, and the strategies in words.
//! A store brings only its statements (in its dialect, each one timed round trip) and which of its errors are a
//! refusal to be made again (a serialization failure, a deadlock's victim, a row changed since the snapshot).

pub mod record;

use std::future::Future;

use counter_core::{config::Strategy, workload::Performed};

use crate::{
    should_stop,
    store::{Attempts, Counts},
};

/// Why `--sync fenced` means nothing on an SQL store: its lock is a row lock.
pub const NO_FENCING: &str = "its lock is a row lock held to COMMIT, or until the holder's connection ends and the \
                              server rolls its transaction back: never taken from a holder that is still connected";

/// What an SQL store's worker counts beyond what every client worker counts.
#[derive(Debug, Default)]
pub struct SqlCounts {
    /// Transactions the server refused (serialization failure, deadlock, snapshot conflict), each rolled back
    /// and made again.
    pub refused: u64,
    /// Optimistic strategy: updates that found the version changed.
    pub version_conflicts: u64,
    /// Mutex strategy: transactions that found the row locked by another, and waited for it.
    pub lock_waits: u64,
}

impl Counts for SqlCounts {
    fn add(&mut self, other: &Self) {
        self.refused += other.refused;
        self.version_conflicts += other.version_conflicts;
        self.lock_waits += other.lock_waits;
    }
}

/// How a read takes the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// As the isolation level reads it.
    Plain,
    /// Locked to COMMIT (`FOR UPDATE`), waiting for another holder.
    Lock,
    /// Locked if free (`FOR UPDATE SKIP LOCKED`): no value when another holds it.
    TryLock,
}

/// The statements of an SQL store's worker on the row it adds to, each one round trip, timed.
pub trait Statements: Attempts<Counts = SqlCounts> {
    /// `BEGIN`, `COMMIT` or `ROLLBACK`.
    fn say(&mut self, statement: Say) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// The row's value, read as `read` says; `None` only for [`Read::TryLock`] when another holds the row.
    fn read(&mut self, read: Read) -> impl Future<Output = Result<Option<i64>, Self::Error>> + Send;
    /// `UPDATE ... SET v = <value>`.
    fn write(&mut self, value: i64) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// `UPDATE ... SET v = v + 1`: the rows it changed.
    fn add_one(&mut self) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// `SELECT v, version`.
    fn read_versioned(&mut self) -> impl Future<Output = Result<(i64, i64), Self::Error>> + Send;
    /// `UPDATE ... SET v = <value>, version = version + 1 WHERE version = <version>`: the rows it changed.
    fn write_if_version(&mut self, value: i64, version: i64) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Whether the server refused the transaction, rolled it back, and it may be made again.
    fn is_refusal(error: &Self::Error) -> bool;
    /// The error that says the counter's row is gone.
    fn missing_row() -> Self::Error;
}

/// A statement without parameters or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// `BEGIN`.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
}

impl Say {
    /// The statement.
    pub const fn sql(self) -> &'static str {
        match self {
            Say::Begin => "BEGIN",
            Say::Commit => "COMMIT",
            Say::Rollback => "ROLLBACK",
        }
    }
}

/// One increment by the run's strategy, its work inside when `inside`.
pub async fn attempt<S: Statements>(worker: &mut S, inside: bool) -> Result<Performed, S::Error> {
    worker.progress().writing = false;
    match worker.config().strategy() {
        Strategy::Racy => read_then_write(worker, inside, false).await,
        // Refused before a run (a row lock cannot expire): the mutex if it came.
        Strategy::Mutex | Strategy::Fenced => read_then_write(worker, inside, true).await,
        Strategy::Atomic | Strategy::Sharded => add_one(worker, inside).await,
        Strategy::Optimistic => optimistic(worker, inside).await,
    }
}

/// `UPDATE ... SET v = v + 1`, one statement: the server reads and writes the row under its row lock. The window
/// cannot be inside it, so "inside" means just before it, as "before" does. Made again when refused.
async fn add_one<S: Statements>(worker: &mut S, inside: bool) -> Result<Performed, S::Error> {
    if inside && worker.work().await == Performed::Interrupted {
        return Ok(Performed::Interrupted);
    }
    loop {
        worker.progress().writing = true;
        let answer = worker.add_one().await;
        worker.progress().writing = answer.is_err();
        match answer {
            Ok(1) => return Ok(Performed::Finished),
            Ok(_) => return Err(S::missing_row()),
            Err(error) if S::is_refusal(&error) => worker.progress().tally.own.refused += 1,
            Err(error) => return Err(error),
        }
        if should_stop() {
            return Ok(Performed::Interrupted);
        }
    }
}

/// BEGIN, SELECT (FOR UPDATE with `lock`), UPDATE to what was read plus one, COMMIT. A refused transaction is
/// rolled back and made again (the work is not: it was done).
async fn read_then_write<S: Statements>(worker: &mut S, inside: bool, lock: bool) -> Result<Performed, S::Error> {
    let mut work_inside = inside;
    loop {
        match transaction(worker, work_inside, lock).await {
            Err(error) if S::is_refusal(&error) => {
                worker.progress().tally.own.refused += 1;
                worker.progress().writing = false;
                worker.say(Say::Rollback).await?;
                if should_stop() {
                    return Ok(Performed::Interrupted);
                }
            }
            other => return other,
        }
        work_inside = false;
    }
}

async fn transaction<S: Statements>(worker: &mut S, work_inside: bool, lock: bool) -> Result<Performed, S::Error> {
    worker.say(Say::Begin).await?;
    // The lock tried first without waiting: a wait is then counted, at the price of one round trip more.
    let taken = if lock { worker.read(Read::TryLock).await? } else { None };
    let value = if let Some(value) = taken {
        value
    } else {
        worker.progress().tally.own.lock_waits += u64::from(lock);
        worker.read(if lock { Read::Lock } else { Read::Plain }).await?.ok_or_else(S::missing_row)?
    };
    if work_inside && worker.work().await == Performed::Interrupted {
        worker.say(Say::Rollback).await?;
        return Ok(Performed::Interrupted);
    }
    worker.write(value + 1).await?;
    // Until its answer, the commit may or may not have happened.
    worker.progress().writing = true;
    worker.say(Say::Commit).await?;
    worker.progress().writing = false;
    Ok(Performed::Finished)
}

/// SELECT the value and its version, then UPDATE ... WHERE version = the one read; no row changed means another
/// worker wrote first: read and write again (the work is not made again).
async fn optimistic<S: Statements>(worker: &mut S, inside: bool) -> Result<Performed, S::Error> {
    let mut work_inside = inside;
    loop {
        let (value, version) = match worker.read_versioned().await {
            Ok(read) => read,
            Err(error) if S::is_refusal(&error) => {
                worker.progress().tally.own.refused += 1;
                continue;
            }
            Err(error) => return Err(error),
        };
        if work_inside && worker.work().await == Performed::Interrupted {
            return Ok(Performed::Interrupted);
        }
        work_inside = false;
        worker.progress().writing = true;
        let answer = worker.write_if_version(value + 1, version).await;
        worker.progress().writing = answer.is_err();
        match answer {
            Ok(1) => return Ok(Performed::Finished),
            Ok(_) => worker.progress().tally.own.version_conflicts += 1,
            Err(error) if S::is_refusal(&error) => worker.progress().tally.own.refused += 1,
            Err(error) => return Err(error),
        }
        if should_stop() {
            return Ok(Performed::Interrupted);
        }
    }
}

/// Each strategy as statements, for the report.
pub fn strategy_statements(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Racy => "racy: BEGIN, SELECT v, UPDATE SET v = <read + 1>, COMMIT",
        Strategy::Mutex | Strategy::Fenced => {
            "mutex: BEGIN, SELECT v FOR UPDATE (a row lock), UPDATE SET v = <read + 1>, COMMIT"
        }
        Strategy::Atomic => "atomic: UPDATE SET v = v + 1, one statement: the server reads and writes the row",
        Strategy::Sharded => "sharded: UPDATE SET v = v + 1 on each worker's own row, summed at the end",
        Strategy::Optimistic => {
            "optimistic: SELECT v, version; UPDATE ... WHERE version = <read>; made again when no row changed"
        }
    }
}

/// What an SQL store's figures say of a run, for its "why" lines.
#[derive(Debug, Clone, Copy)]
pub struct Why<'a> {
    /// The isolation level, in words.
    pub isolation: &'a str,
    /// Why the racy transaction lost updates there, in the store's words.
    pub lost_because: &'a str,
    /// How the store refuses a transaction, in words: `(SQLSTATE 40001)`.
    pub refused_as: &'a str,
    /// Transactions refused.
    pub refused: u64,
    /// Optimistic updates made again.
    pub version_conflicts: u64,
    /// Transactions that waited for the row lock.
    pub lock_waits: u64,
}

/// The "why" lines of an SQL store's run, where its figures say more than the generic ones.
pub fn why(report: &counter_core::report::RunReport, why: &Why<'_>) -> Option<Vec<String>> {
    use counter_core::units::count;
    let lost = report.lost_updates?;
    let lines = match (report.config.strategy(), lost) {
        (Strategy::Racy, 1..) => {
            let mut lines = counter_core::render::explain_generic(report);
            lines.push(format!("at {} {}", why.isolation, why.lost_because));
            lines
        }
        (Strategy::Racy | Strategy::Mutex | Strategy::Atomic | Strategy::Optimistic, 0) if why.refused > 0 => {
            vec![format!(
                "no update was lost: at {} the server refused {} that had read a value another one then changed {}, \
                 and each was made again",
                why.isolation,
                count(why.refused, "transaction", "transactions"),
                why.refused_as
            )]
        }
        (Strategy::Mutex, 0) => vec![format!(
            "no update was lost: SELECT ... FOR UPDATE locked the row until COMMIT, so no other worker read it \
             in between ({} waited for it)",
            count(why.lock_waits, "transaction", "transactions")
        )],
        (Strategy::Atomic, 0) => vec![
            "no update was lost: each UPDATE read and wrote the row under its row lock, in one statement".to_owned(),
        ],
        (Strategy::Sharded, 0) => vec!["no update was lost: each worker updated only its own row".to_owned()],
        (Strategy::Optimistic, 0) => vec![format!(
            "no update was lost: an UPDATE whose version had changed since its read changed no row ({} such), and \
             was made again",
            why.version_conflicts
        )],
        _ => return None,
    };
    Some(lines)
}

/// What an SQL store's report says after its server and isolation lines: its round trips, the transactions
/// refused (`refused_as`: the server's codes), the server's memory, connections made again, and, where the
/// strategy takes the row lock, how many waited for it.
pub fn report_lines(
    extension: counter_core::extension::Extension,
    trips: &crate::store::RoundTrips,
    strategy: Strategy,
    (refused, refused_as): (u64, &str),
    (memory, lock_waits): (String, u64),
) -> counter_core::extension::Extension {
    use counter_core::units::count;
    let extension = trips
        .line(extension)
        .line(
            "refused",
            format!("{} ({refused_as}), rolled back and made again", count(refused, "transaction", "transactions")),
        )
        .line("server memory", memory);
    let extension = trips.reconnections_line(extension);
    if !strategy.takes_lock() {
        return extension;
    }
    extension.line(
        "lock",
        format!(
            "{} found the row locked by another and waited for it (tried with SKIP LOCKED first: a wait costs one \
             round trip more)",
            count(lock_waits, "transaction", "transactions")
        ),
    )
}
