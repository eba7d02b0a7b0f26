//! One worker: a tokio task with its own connection (a thread of the server's), doing the workload against the
//! counter in a table. Its strategies are `counter_client::sql`'s, over the statements here, each one round
//! trip, timed; a transaction the server refuses (1020, 1213, 1205) is rolled back and made again.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use counter_client::{
    sql::{self, Read, Say, SqlCounts},
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
    progress: Progress<SqlCounts>,
}

impl Attempts for Worker {
    type Counts = SqlCounts;
    type Error = WorkerError;

    fn config(&self) -> &Config {
        &self.job.config
    }

    fn progress(&mut self) -> &mut Progress<SqlCounts> {
        &mut self.progress
    }

    async fn attempt(&mut self, inside: bool) -> Result<Performed, WorkerError> {
        sql::attempt(self, inside).await
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

impl sql::Statements for Worker {
    async fn say(&mut self, statement: Say) -> Result<(), WorkerError> {
        let started = Instant::now();
        let answer = within(self.job.timeout, self.conn.query_drop(statement.sql())).await;
        self.progress.tally.round_trip(started.elapsed());
        answer
    }

    async fn read(&mut self, read: Read) -> Result<Option<i64>, WorkerError> {
        let job = Arc::clone(&self.job);
        let statement = match read {
            Read::Plain => &job.statements.read,
            Read::Lock => &job.statements.read_for_update,
            Read::TryLock => &job.statements.try_read_for_update,
        };
        let found = self.row(statement, (self.row,)).await?;
        found.as_ref().map(|row| first(Some(row), 0)).transpose()
    }

    async fn write(&mut self, value: i64) -> Result<(), WorkerError> {
        let job = Arc::clone(&self.job);
        self.changed(&job.statements.write, (value, self.row)).await.map(drop)
    }

    async fn add_one(&mut self) -> Result<u64, WorkerError> {
        let job = Arc::clone(&self.job);
        self.changed(&job.statements.add_one, (self.row,)).await
    }

    async fn read_versioned(&mut self) -> Result<(i64, i64), WorkerError> {
        let job = Arc::clone(&self.job);
        let found = self.row(&job.statements.read_versioned, (self.row,)).await?;
        Ok((first(found.as_ref(), 0)?, first(found.as_ref(), 1)?))
    }

    async fn write_if_version(&mut self, value: i64, version: i64) -> Result<u64, WorkerError> {
        let job = Arc::clone(&self.job);
        self.changed(&job.statements.write_if_version, (value, self.row, version)).await
    }

    fn is_refusal(error: &WorkerError) -> bool {
        error.is_refusal()
    }

    fn missing_row() -> WorkerError {
        WorkerError::MissingRow
    }
}

impl Worker {
    /// Connects with the job's settings; worker `index` adds to its own row (sharded) or the shared one.
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
}
