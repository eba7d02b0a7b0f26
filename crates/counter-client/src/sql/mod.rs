//! What the stores that keep the counter in an SQL table share: each strategy as a transaction of a few
//! statements, written once over the [`Statements`] a store runs on its connection, and the strategies in words.
//! A store brings only its statements (in its dialect, each one timed round trip) and which of its errors are a
//! refusal to be made again (a serialization failure, a deadlock's victim, a row changed since the snapshot).

pub mod record;
pub mod request;
pub mod served;
pub mod table;

use std::future::Future;

use counter_core::{config::Strategy, workload::Performed};

use crate::{
    should_stop,
    store::{Attempts, Counts},
};

/// Why `--sync fenced` means nothing on an SQL store: its lock is a row lock.
pub const NO_FENCING: &str = "its lock is a row lock held to COMMIT, or until the holder's connection ends and the \
                              server rolls its transaction back: never taken from a holder that is still connected";

/// The isolation level of every transaction of a run (`--isolation`); each store's default is its server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// Each statement sees what was committed before it began.
    ReadCommitted,
    /// A transaction reads one snapshot; a write to a row changed since is refused, or made on the row as it is
    /// now, as the server does it.
    RepeatableRead,
    /// As if the transactions ran one after another: an interleaving that no such order could give is refused.
    Serializable,
}

impl Isolation {
    /// Every level, weakest first.
    pub const ALL: [Isolation; 3] = [Isolation::ReadCommitted, Isolation::RepeatableRead, Isolation::Serializable];

    /// Its name in SQL: `read committed`.
    pub const fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }

    /// Its flag's value: `read-committed`.
    pub fn flag(self) -> String {
        self.sql().replace(' ', "-")
    }
}

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
enum Read {
    /// As the isolation level reads it.
    Plain,
    /// Locked to COMMIT (`FOR UPDATE`), waiting for another holder.
    Lock,
    /// Locked if free (`FOR UPDATE SKIP LOCKED`): no value when another holds it.
    TryLock,
}

/// A statement on a worker's row; its text, in the store's dialect, is [`table::Table::text`]'s, its parameters
/// in the order they appear there: the value (if any), the row, the version (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statement {
    /// `SELECT v`.
    Read,
    /// `SELECT v ... FOR UPDATE`.
    ReadForUpdate,
    /// `SELECT v ... FOR UPDATE SKIP LOCKED`.
    TryReadForUpdate,
    /// `UPDATE ... SET v = <value>`.
    Write,
    /// `UPDATE ... SET v = v + 1`.
    AddOne,
    /// `SELECT v, version`.
    ReadVersioned,
    /// `UPDATE ... SET v = <value>, version = version + 1 WHERE version = <version>`.
    WriteIfVersion,
    /// `UPDATE ... SET prev = v, v = <value>` (`--trace`): the value overwritten kept beside it, and answered
    /// where the dialect has `RETURNING`.
    WriteKeepingPrevious,
    /// `SELECT prev` (`--trace`, where the dialect has no `RETURNING`): in the writer's transaction, the value
    /// its write overwrote.
    ReadPrevious,
}

impl Statement {
    /// Every statement, in the order a store keeps them (`statement as usize`).
    pub const ALL: [Statement; 9] = [
        Statement::Read,
        Statement::ReadForUpdate,
        Statement::TryReadForUpdate,
        Statement::Write,
        Statement::AddOne,
        Statement::ReadVersioned,
        Statement::WriteIfVersion,
        Statement::WriteKeepingPrevious,
        Statement::ReadPrevious,
    ];
}

/// What an SQL store's worker runs on its connection, each one round trip, timed.
pub trait Statements: Attempts<Counts = SqlCounts> {
    /// `BEGIN`, `COMMIT` or `ROLLBACK`.
    fn say(&mut self, statement: Say) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// A query with `params`: the first `columns` columns (1 or 2) of its first row, if it answered one.
    fn query(
        &mut self,
        statement: Statement,
        params: &[i64],
        columns: usize,
    ) -> impl Future<Output = Result<Option<[i64; 2]>, Self::Error>> + Send;
    /// A change with `params`: how many rows it changed.
    fn change(&mut self, statement: Statement, params: &[i64])
    -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// The row this worker adds to: its own with sharded, the shared one otherwise.
    fn row(&self) -> i64;
    /// Whether a statement can answer rows after its change (`RETURNING`; not every dialect has it).
    fn returning(&self) -> bool {
        false
    }
    /// Whether the server refused the transaction, rolled it back, and it may be made again.
    fn is_refusal(error: &Self::Error) -> bool;
    /// The error that says the counter's row is gone.
    fn missing_row() -> Self::Error;
}

/// The row's value, read as `read` says; `None` only for [`Read::TryLock`] when another holds the row.
async fn read<S: Statements>(worker: &mut S, read: Read) -> Result<Option<i64>, S::Error> {
    let statement = match read {
        Read::Plain => Statement::Read,
        Read::Lock => Statement::ReadForUpdate,
        Read::TryLock => Statement::TryReadForUpdate,
    };
    let row = worker.row();
    Ok(worker.query(statement, &[row], 1).await?.map(|[value, _]| value))
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
        let row = worker.row();
        let answer = worker.change(Statement::AddOne, &[row]).await;
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
    let taken = if lock { read(worker, Read::TryLock).await? } else { None };
    let value = if let Some(value) = taken {
        value
    } else {
        worker.progress().tally.own.lock_waits += u64::from(lock);
        read(worker, if lock { Read::Lock } else { Read::Plain }).await?.ok_or_else(S::missing_row)?
    };
    let read_ns = worker.progress().clock();
    if work_inside && worker.work().await == Performed::Interrupted {
        worker.say(Say::Rollback).await?;
        return Ok(Performed::Interrupted);
    }
    let row = worker.row();
    let overwrote = if worker.progress().tally.trace.is_none() {
        worker.change(Statement::Write, &[value + 1, row]).await?;
        None
    } else {
        Some(write_keeping_previous(worker, value + 1, row).await?)
    };
    // Until its answer, the commit may or may not have happened.
    worker.progress().writing = true;
    worker.say(Say::Commit).await?;
    worker.progress().writing = false;
    // The write took hold at COMMIT: the row stayed locked from the UPDATE until then.
    worker.progress().record(value.max(0) as u64 + 1, overwrote, read_ns);
    Ok(Performed::Finished)
}

/// `--trace`: the write, which keeps the value it overwrote beside it (the row's latest, which an UPDATE writes
/// over whatever its transaction read), and that value, answered by the write or read back in its transaction.
async fn write_keeping_previous<S: Statements>(worker: &mut S, value: i64, row: i64) -> Result<u64, S::Error> {
    let answered = if worker.returning() {
        worker.query(Statement::WriteKeepingPrevious, &[value, row], 1).await?
    } else {
        worker.change(Statement::WriteKeepingPrevious, &[value, row]).await?;
        worker.query(Statement::ReadPrevious, &[row], 1).await?
    };
    let [previous, _] = answered.ok_or_else(S::missing_row)?;
    Ok(previous.max(0) as u64)
}

/// SELECT the value and its version, then UPDATE ... WHERE version = the one read; no row changed means another
/// worker wrote first: read and write again (the work is not made again).
async fn optimistic<S: Statements>(worker: &mut S, inside: bool) -> Result<Performed, S::Error> {
    let mut work_inside = inside;
    loop {
        let row = worker.row();
        let (value, version) = match worker.query(Statement::ReadVersioned, &[row], 2).await {
            Ok(Some([value, version])) => (value, version),
            Ok(None) => return Err(S::missing_row()),
            Err(error) if S::is_refusal(&error) => {
                worker.progress().tally.own.refused += 1;
                continue;
            }
            Err(error) => return Err(error),
        };
        let read_ns = worker.progress().clock();
        if work_inside && worker.work().await == Performed::Interrupted {
            return Ok(Performed::Interrupted);
        }
        work_inside = false;
        worker.progress().writing = true;
        let answer = worker.change(Statement::WriteIfVersion, &[value + 1, row, version]).await;
        worker.progress().writing = answer.is_err();
        match answer {
            Ok(1) => {
                // The version matched: it overwrote the value it read.
                worker.progress().record(value.max(0) as u64 + 1, Some(value.max(0) as u64), read_ns);
                return Ok(Performed::Finished);
            }
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

/// The figures every SQL store's report has, flattened into its own (the same names in its JSON).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SqlFigures {
    /// Which server: the private one and its version, or what was parsed from the address given.
    pub server: String,
    /// The isolation level of every transaction: `read committed`, `repeatable read`, `serializable`.
    pub isolation: String,
    /// The run's counter table.
    pub table: String,
    /// Round trips, their latency, and connections made again.
    #[serde(flatten)]
    pub trips: crate::store::RoundTrips,
    /// Optimistic strategy: updates that found the version changed, and were made again.
    pub version_conflicts: u64,
    /// Mutex strategy: transactions that found the row locked by another, and waited for it.
    #[serde(default)]
    pub lock_waits: u64,
    /// The private server's PSS before the clients connected, KiB (none for a server this process cannot see).
    pub server_pss_before_kib: Option<u64>,
    /// What the server's PSS grew by once every client was connected, bytes.
    pub server_pss_added_bytes: Option<i64>,
}

impl SqlFigures {
    /// A run's figures from its totals, and the server's PSS before the clients and with them, KiB.
    pub fn of(
        (server, isolation, table): (&str, Isolation, &str),
        totals: &crate::store::Totals<SqlCounts>,
        (pss_before_kib, pss_with_clients_kib): (Option<u64>, Option<u64>),
    ) -> SqlFigures {
        SqlFigures {
            server: server.to_owned(),
            isolation: isolation.sql().to_owned(),
            table: table.to_owned(),
            trips: crate::store::RoundTrips::of(totals),
            version_conflicts: totals.own.version_conflicts,
            lock_waits: totals.own.lock_waits,
            server_pss_before_kib: pss_before_kib,
            server_pss_added_bytes: pss_before_kib
                .zip(pss_with_clients_kib)
                .map(|(before, with)| (with as i64 - before as i64) * 1024),
        }
    }
}

/// The notes every SQL store's report has after its own first: its strategy as statements, and, for a run
/// shared by participants, where they meet and what a table without a time to live leaves.
pub fn common_notes(strategy: Strategy, shared: bool) -> Vec<String> {
    let mut notes = vec![strategy_statements(strategy).to_owned()];
    if shared {
        notes.push(
            "the participants meet in the server's tables (the counter's and its members'); a table has no time to \
             live: the tables of a run whose participant never reported stay until dropped by hand, and the next \
             claim of the run id names them"
                .to_owned(),
        );
    }
    notes
}

/// What an SQL store's figures say of a run, for its "why" lines.
#[derive(Debug, Clone, Copy)]
pub struct Why<'a> {
    /// The figures every SQL store has.
    pub figures: &'a SqlFigures,
    /// Why the racy transaction lost updates there, in the store's words.
    pub lost_because: &'a str,
    /// How the store refuses a transaction, in words: `(SQLSTATE 40001)`.
    pub refused_as: &'a str,
    /// Transactions refused.
    pub refused: u64,
}

/// The "why" lines of an SQL store's run, where its figures say more than the generic ones.
pub fn why(report: &counter_core::report::RunReport, why: &Why<'_>) -> Option<Vec<String>> {
    use counter_core::units::count;
    let lost = report.lost_updates?;
    let lines = match (report.config.strategy(), lost) {
        (Strategy::Racy, 1..) => {
            let mut lines = counter_core::render::explain_generic(report);
            lines.push(format!("at {} {}", why.figures.isolation, why.lost_because));
            lines
        }
        (Strategy::Racy | Strategy::Mutex | Strategy::Atomic | Strategy::Optimistic, 0) if why.refused > 0 => {
            vec![format!(
                "no update was lost: at {} the server refused {} that had read a value another one then changed {}, \
                 and each was made again",
                why.figures.isolation,
                count(why.refused, "transaction", "transactions"),
                why.refused_as
            )]
        }
        (Strategy::Mutex, 0) => vec![format!(
            "no update was lost: SELECT ... FOR UPDATE locked the row until COMMIT, so no other worker read it \
             in between ({} waited for it)",
            count(why.figures.lock_waits, "transaction", "transactions")
        )],
        (Strategy::Atomic, 0) => vec![
            "no update was lost: each UPDATE read and wrote the row under its row lock, in one statement".to_owned(),
        ],
        (Strategy::Sharded, 0) => vec!["no update was lost: each worker updated only its own row".to_owned()],
        (Strategy::Optimistic, 0) => vec![format!(
            "no update was lost: an UPDATE whose version had changed since its read changed no row ({} such), and \
             was made again",
            why.figures.version_conflicts
        )],
        _ => return None,
    };
    Some(lines)
}

/// What an SQL store's report says: its server and table, its isolation level (and `isolation_more`), its round
/// trips, the transactions
/// refused (`refused_as`: the server's codes), the server's memory, connections made again, and, where the
/// strategy takes the row lock, how many waited for it.
pub fn report_lines(
    extension: counter_core::extension::Extension,
    figures: &SqlFigures,
    strategy: Strategy,
    (refused, refused_as): (u64, &str),
    (isolation_more, memory): (&str, String),
) -> counter_core::extension::Extension {
    use counter_core::units::count;
    let (trips, lock_waits) = (&figures.trips, figures.lock_waits);
    let extension = extension
        .line("server", format!("{}; table {}", figures.server, figures.table))
        .line("isolation", format!("{}{isolation_more}", figures.isolation));
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
