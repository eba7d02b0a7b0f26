//! One worker: a tokio task with its own connection (a thread of the server's), doing the workload against the
//! counter in a table. Every strategy is a transaction of a few prepared statements, each one round trip,
//! timed; a transaction the server refuses (1020, 1213, 1205) is rolled back and made again.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use counter_client::{
    should_stop,
    store::{Attempts, Progress},
};
use counter_core::{
    config::{Config, Strategy},
    workload::{Performed, Start},
};
use mysql_async::{Conn, Opts, Params, Row, prelude::Queryable};
use tokio::sync::watch;

use crate::{
    client::{WorkerError, connect, first, within},
    table::Table,
};

counter_client::counts! {
    /// What only a MariaDB worker counts.
    pub(crate) struct MariadbCounts {
        /// Transactions the server refused (1020, 1213 or 1205), rolled back and made again.
        refused,
        /// Optimistic strategy: updates that found the version changed.
        version_conflicts,
        /// Mutex strategy: transactions that found the row locked by another, and waited for it.
        lock_waits,
    }
}

/// What every worker of a run shares: the workload, the statements, how to connect (again).
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) config: Config,
    pub(crate) statements: Statements,
    pub(crate) opts: Opts,
    pub(crate) timeout: Duration,
    pub(crate) patience: Duration,
}

/// The statements of a run, each prepared on a connection the first time it runs there (the driver keeps
/// them in the connection's cache): a client prepares only what its strategy uses.
#[derive(Debug)]
pub(crate) struct Statements {
    read: String,
    read_for_update: String,
    try_read_for_update: String,
    write: String,
    add_one: String,
    read_versioned: String,
    write_if_version: String,
}

impl Statements {
    pub(crate) fn of(table: &Table) -> Statements {
        let name = table.quoted();
        let read = format!("SELECT v FROM {name} WHERE shard = ?");
        Statements {
            read_for_update: format!("{read} FOR UPDATE"),
            try_read_for_update: format!("{read} FOR UPDATE SKIP LOCKED"),
            read,
            write: format!("UPDATE {name} SET v = ? WHERE shard = ?"),
            add_one: format!("UPDATE {name} SET v = v + 1 WHERE shard = ?"),
            read_versioned: format!("SELECT v, version FROM {name} WHERE shard = ?"),
            write_if_version: format!("UPDATE {name} SET v = ?, version = version + 1 WHERE shard = ? AND version = ?"),
        }
    }
}

/// A worker's connection and its counts.
pub(crate) struct Worker {
    conn: Conn,
    job: Arc<Job>,
    /// The row this worker adds to: its own with sharded, the shared one otherwise.
    row: i32,
    progress: Progress<MariadbCounts>,
}

impl Attempts for Worker {
    type Counts = MariadbCounts;
    type Error = WorkerError;

    fn config(&self) -> &Config {
        &self.job.config
    }

    fn progress(&mut self) -> &mut Progress<MariadbCounts> {
        &mut self.progress
    }

    async fn attempt(&mut self, inside: bool) -> Result<Performed, WorkerError> {
        self.progress.writing = false;
        match self.job.config.strategy() {
            Strategy::Racy => self.read_then_write(inside, false).await,
            // Refused before a run (a row lock cannot expire): the mutex if it came.
            Strategy::Mutex | Strategy::Fenced => self.read_then_write(inside, true).await,
            Strategy::Atomic | Strategy::Sharded => self.add_one(inside).await,
            Strategy::Optimistic => self.optimistic(inside).await,
        }
    }

    /// An error on a live connection leaves at most an open transaction, rolled back here; anything else (a
    /// timeout, a broken connection) means a new connection; the counter's row gone is not got past.
    async fn recover(&mut self, error: WorkerError) -> Result<(), WorkerError> {
        if matches!(error, WorkerError::MissingRow | WorkerError::Shape) {
            return Err(error);
        }
        let broken = matches!(error, WorkerError::Timeout(_) | WorkerError::Server(mysql_async::Error::Io(_)))
            || within(self.job.timeout, self.conn.query_drop("ROLLBACK")).await.is_err();
        if broken {
            let job = Arc::clone(&self.job);
            let connected =
                counter_client::connect_again(job.patience, error, || connect(job.opts.clone(), job.timeout)).await?;
            if let Some(conn) = connected {
                self.conn = conn;
                self.progress.tally.reconnections += 1;
            }
        }
        Ok(())
    }
}

impl Worker {
    /// Connects with the job's settings and prepares the statements; worker `index` adds to its own row
    /// (sharded) or the shared one.
    pub(crate) async fn connect(
        job: Arc<Job>,
        index: u64,
        start: watch::Receiver<Start>,
    ) -> Result<Worker, WorkerError> {
        let conn = connect(job.opts.clone(), job.timeout).await?;
        let row = if job.config.strategy() == Strategy::Sharded { Table::shard_of(index) } else { Table::SHARED_ROW };
        let progress = Progress::new(&job.config, start);
        Ok(Worker { conn, job, row, progress })
    }

    /// A query, one round trip, timed: its first row.
    async fn row(&mut self, statement: &str, params: impl Into<Params> + Send) -> Result<Option<Row>, WorkerError> {
        let started = Instant::now();
        let answer = within(self.job.timeout, self.conn.exec_first(statement, params)).await;
        self.progress.tally.round_trip(started.elapsed());
        answer
    }

    /// A statement, one round trip, timed: how many rows it changed.
    async fn changed(&mut self, statement: &str, params: impl Into<Params> + Send) -> Result<u64, WorkerError> {
        let started = Instant::now();
        let answer = within(self.job.timeout, self.conn.exec_drop(statement, params)).await;
        self.progress.tally.round_trip(started.elapsed());
        answer.map(|()| self.conn.affected_rows())
    }

    /// A statement without parameters or answer (BEGIN, COMMIT, ROLLBACK), one round trip, timed.
    async fn say(&mut self, text: &'static str) -> Result<(), WorkerError> {
        let started = Instant::now();
        let answer = within(self.job.timeout, self.conn.query_drop(text)).await;
        self.progress.tally.round_trip(started.elapsed());
        answer
    }

    /// `UPDATE ... SET v = v + 1`, one statement: the server reads and writes the row under its row lock. The
    /// window cannot be inside it, so "inside" means just before it, as "before" does. Made again when refused.
    async fn add_one(&mut self, inside: bool) -> Result<Performed, WorkerError> {
        if inside && self.work().await == Performed::Interrupted {
            return Ok(Performed::Interrupted);
        }
        let (job, row) = (Arc::clone(&self.job), self.row);
        let statement = &job.statements.add_one;
        loop {
            self.progress.writing = true;
            let answer = self.changed(statement, (row,)).await;
            self.progress.writing = answer.is_err();
            match answer {
                Ok(1) => return Ok(Performed::Finished),
                Ok(_) => return Err(WorkerError::MissingRow),
                Err(error) if error.is_refusal() => self.progress.tally.own.refused += 1,
                Err(error) => return Err(error),
            }
            if should_stop() {
                return Ok(Performed::Interrupted);
            }
        }
    }

    /// BEGIN, SELECT (FOR UPDATE with `lock`), UPDATE to what was read plus one, COMMIT: at REPEATABLE READ the
    /// racy one loses updates unless snapshot isolation refuses the later writer (1020); at SERIALIZABLE two
    /// readers' shared locks deadlock and one is refused (1213). A refused transaction is rolled back and made
    /// again (the work is not: it was done).
    async fn read_then_write(&mut self, inside: bool, lock: bool) -> Result<Performed, WorkerError> {
        let mut work_inside = inside;
        loop {
            match self.transaction(work_inside, lock).await {
                Err(error) if error.is_refusal() => {
                    self.progress.tally.own.refused += 1;
                    self.progress.writing = false;
                    self.say("ROLLBACK").await?;
                    if should_stop() {
                        return Ok(Performed::Interrupted);
                    }
                }
                other => return other,
            }
            work_inside = false;
        }
    }

    async fn transaction(&mut self, work_inside: bool, lock: bool) -> Result<Performed, WorkerError> {
        let (job, row) = (Arc::clone(&self.job), self.row);
        let statements = &job.statements;
        let read = if lock { &statements.read_for_update } else { &statements.read };
        self.say("BEGIN").await?;
        // The lock tried first without waiting (SKIP LOCKED answers no row when another holds it): a wait is
        // then counted, at the price of one round trip more, and the row locked waiting.
        let taken = if lock { self.row(&statements.try_read_for_update, (row,)).await? } else { None };
        let value: i64 = if let Some(taken) = taken {
            first(Some(&taken), 0)?
        } else {
            self.progress.tally.own.lock_waits += u64::from(lock);
            first(self.row(read, (row,)).await?.as_ref(), 0)?
        };
        if work_inside && self.work().await == Performed::Interrupted {
            self.say("ROLLBACK").await?;
            return Ok(Performed::Interrupted);
        }
        self.changed(&statements.write, (value + 1, row)).await?;
        // Until its answer, the commit may or may not have happened.
        self.progress.writing = true;
        self.say("COMMIT").await?;
        self.progress.writing = false;
        Ok(Performed::Finished)
    }

    /// SELECT the value and its version, then UPDATE ... WHERE version = the one read; no row changed means
    /// another worker wrote first: read and write again (the work is not made again).
    async fn optimistic(&mut self, inside: bool) -> Result<Performed, WorkerError> {
        let (job, row) = (Arc::clone(&self.job), self.row);
        let (read, write) = (&job.statements.read_versioned, &job.statements.write_if_version);
        let mut work_inside = inside;
        loop {
            let found = self.row(read, (row,)).await?;
            let (value, version): (i64, i64) = (first(found.as_ref(), 0)?, first(found.as_ref(), 1)?);
            if work_inside && self.work().await == Performed::Interrupted {
                return Ok(Performed::Interrupted);
            }
            work_inside = false;
            self.progress.writing = true;
            let answer = self.changed(write, (value + 1, row, version)).await;
            self.progress.writing = answer.is_err();
            match answer {
                Ok(1) => return Ok(Performed::Finished),
                Ok(_) => self.progress.tally.own.version_conflicts += 1,
                Err(error) if error.is_refusal() => self.progress.tally.own.refused += 1,
                Err(error) => return Err(error),
            }
            if should_stop() {
                return Ok(Performed::Interrupted);
            }
        }
    }
}
