//! One worker: a tokio task with its own connection (a thread of the server's), doing the workload against the
//! counter in a table. Its strategies are `counter_client::sql`'s, over the statements here, each one round
//! trip, timed; a transaction the server refuses (1020, 1213, 1205) is rolled back and made again.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use counter_client::{
    sql::{self, Say, SqlCounts, Statement, table::Table},
    store::{Attempts, Progress},
};
use counter_core::{
    config::{Config, Strategy},
    workload::{Performed, Start},
};
use mysql_async::{Conn, Opts, Params, Row, Value, prelude::Queryable};
use tokio::sync::watch;

use crate::client::{WorkerError, column, connect, within};

/// What every worker of a run shares: the workload, the statements, how to connect (again).
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) config: Config,
    /// The statements' texts (in the order of `Statement::ALL`), each prepared on a connection the first time it
    /// runs there (the driver keeps them in the connection's cache): a client prepares only what its strategy uses.
    pub(crate) statements: [String; 9],
    pub(crate) opts: Opts,
    pub(crate) timeout: Duration,
    pub(crate) patience: Duration,
}

/// A worker's connection and its counts.
pub(crate) struct Worker {
    conn: Conn,
    job: Arc<Job>,
    /// The row this worker adds to: its own with sharded, the shared one otherwise.
    row: i64,
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
        if error.is_about_the_table() {
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

    async fn query(
        &mut self,
        statement: Statement,
        params: &[i64],
        columns: usize,
    ) -> Result<Option<[i64; 2]>, WorkerError> {
        let job = Arc::clone(&self.job);
        let started = Instant::now();
        let answer = within(
            job.timeout,
            self.conn.exec_first::<Row, _, _>(&job.statements[statement as usize], positional(params)),
        )
        .await;
        self.progress.tally.round_trip(started.elapsed());
        let Some(found) = answer? else { return Ok(None) };
        let second = if columns > 1 { column(&found, 1)? } else { 0 };
        Ok(Some([column(&found, 0)?, second]))
    }

    async fn change(&mut self, statement: Statement, params: &[i64]) -> Result<u64, WorkerError> {
        let job = Arc::clone(&self.job);
        let started = Instant::now();
        let answer =
            within(job.timeout, self.conn.exec_drop(&job.statements[statement as usize], positional(params))).await;
        self.progress.tally.round_trip(started.elapsed());
        answer.map(|()| self.conn.affected_rows())
    }

    fn row(&self) -> i64 {
        self.row
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
        let row = Table::row_of(index, job.config.strategy() == Strategy::Sharded);
        let progress = Progress::new(&job.config, index, start);
        Ok(Worker { conn, job, row, progress })
    }
}

/// A statement's parameters, in order.
fn positional(params: &[i64]) -> Params {
    Params::Positional(params.iter().map(|&param| Value::Int(param)).collect())
}
