//! One worker: a tokio task with its own connection, doing the workload against the counter in a table. Its
//! strategies are `counter_client::sql`'s, over the prepared statements here, each one round trip, timed; a
//! transaction the server refuses to serialize (SQLSTATE 40001) or ends as a deadlock's victim (40P01) is rolled
//! back and made again.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use counter_client::{
    sql::{self, Say, SqlCounts, table::Table},
    store::{Attempts, Progress},
};
use counter_core::{
    config::{Config, Strategy},
    workload::{Performed, Start},
};
use tokio::sync::watch;
use tokio_postgres::{Client, Statement, types::ToSql};

use crate::client::{Reconnect, WorkerError, within};

/// What every worker of a run shares.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) config: Config,
    pub(crate) table: Table,
}

/// A statement prepared on `client`, within `timeout`.
async fn prepare(client: &Client, timeout: Duration, text: &str) -> Result<Statement, WorkerError> {
    within(timeout, client.prepare(text)).await
}

/// The statements of one connection, prepared once: `BEGIN`, `COMMIT`, `ROLLBACK`, then the row's (in the order
/// of `Statement::ALL`; the last two, a traced run's, only in one).
struct Statements {
    said: [Statement; 3],
    row: Vec<Statement>,
}

/// The statements only a traced run (`--trace`) uses, last in `Statement::ALL`.
const TRACE_ONLY: usize = 2;

impl Statements {
    /// Every statement a worker uses, prepared on `client`.
    async fn prepare(
        client: &Client,
        table: &Table,
        timeout: Duration,
        traced: bool,
    ) -> Result<Statements, WorkerError> {
        let said = [
            prepare(client, timeout, "BEGIN").await?,
            prepare(client, timeout, "COMMIT").await?,
            prepare(client, timeout, "ROLLBACK").await?,
        ];
        let used = sql::Statement::ALL.len() - if traced { 0 } else { TRACE_ONLY };
        let mut row = Vec::with_capacity(used);
        for statement in &sql::Statement::ALL[..used] {
            row.push(prepare(client, timeout, &table.text(*statement)).await?);
        }
        Ok(Statements { said, row })
    }

    /// A statement on the row, prepared (one a traced run alone prepares is missing in another: an error).
    fn on_row(&self, statement: sql::Statement) -> Result<Statement, WorkerError> {
        self.row.get(statement as usize).cloned().ok_or(WorkerError::Shape)
    }
}

/// A worker's connection and its counts.
pub(crate) struct Worker {
    client: Client,
    statements: Statements,
    job: Arc<Job>,
    reconnect: Reconnect,
    /// The row this worker adds to: its own with sharded, the shared one otherwise.
    row: i64,
    timeout: Duration,
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

    /// A refusal on a live connection leaves at most an aborted transaction, rolled back here; anything else
    /// (a timeout, a closed connection) means a new connection; the counter's row gone is not got past.
    async fn recover(&mut self, error: WorkerError) -> Result<(), WorkerError> {
        if error.is_about_the_table() {
            return Err(error);
        }
        let broken = matches!(error, WorkerError::Timeout(_))
            || self.client.is_closed()
            || self.in_transaction_left().await.is_err();
        if broken {
            self.connect_again(error).await?;
        }
        Ok(())
    }
}

impl Worker {
    /// Prepares the statements on `client`.
    pub(crate) async fn prepare(
        client: Client,
        job: Arc<Job>,
        index: u64,
        timeout: Duration,
        reconnect: Reconnect,
        start: watch::Receiver<Start>,
    ) -> Result<Worker, WorkerError> {
        let (config, table) = (&job.config, &job.table);
        let statements = Statements::prepare(&client, table, timeout, config.trace().is_some()).await?;
        let row = Table::row_of(index, config.strategy() == Strategy::Sharded);
        let progress = Progress::new(config, index, start);
        Ok(Worker { client, statements, job, reconnect, row, timeout, progress })
    }

    /// After a statement the server refused: the transaction it may have left open is rolled back.
    async fn in_transaction_left(&mut self) -> Result<(), WorkerError> {
        within(self.timeout, self.client.batch_execute("ROLLBACK")).await
    }

    /// A new connection and its statements after `broken`, tried again and again for the worker's patience; a
    /// stop ends the trying.
    async fn connect_again(&mut self, broken: WorkerError) -> Result<(), WorkerError> {
        let job = Arc::clone(&self.job);
        let (reconnect, table, timeout) = (&self.reconnect, &job.table, self.timeout);
        let traced = job.config.trace().is_some();
        let connected = counter_client::connect_again(reconnect.patience, broken, || async move {
            let client = crate::client::connect(&reconnect.connection, reconnect.isolation, timeout).await?;
            let statements = Statements::prepare(&client, table, timeout, traced).await?;
            Ok((client, statements))
        })
        .await?;
        if let Some((client, statements)) = connected {
            (self.client, self.statements) = (client, statements);
            self.progress.tally.reconnections += 1;
        }
        Ok(())
    }
}

impl sql::Statements for Worker {
    async fn say(&mut self, statement: Say) -> Result<(), WorkerError> {
        let statement = self.statements.said[statement as usize].clone();
        let started = Instant::now();
        let answer = within(self.timeout, self.client.execute(&statement, &[])).await;
        self.progress.tally.round_trip(started.elapsed());
        answer.map(drop)
    }

    async fn query(
        &mut self,
        statement: sql::Statement,
        params: &[i64],
        columns: usize,
    ) -> Result<Option<[i64; 2]>, WorkerError> {
        let statement = self.statements.on_row(statement)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|param| param as &(dyn ToSql + Sync)).collect();
        let started = Instant::now();
        let answer = within(self.timeout, self.client.query(&statement, &params)).await;
        self.progress.tally.round_trip(started.elapsed());
        let Some(first) = answer?.into_iter().next() else { return Ok(None) };
        let second = if columns > 1 { first.try_get(1).map_err(WorkerError::Server)? } else { 0 };
        Ok(Some([first.try_get(0).map_err(WorkerError::Server)?, second]))
    }

    async fn change(&mut self, statement: sql::Statement, params: &[i64]) -> Result<u64, WorkerError> {
        let statement = self.statements.on_row(statement)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|param| param as &(dyn ToSql + Sync)).collect();
        let started = Instant::now();
        let answer = within(self.timeout, self.client.execute(&statement, &params)).await;
        self.progress.tally.round_trip(started.elapsed());
        answer
    }

    fn row(&self) -> i64 {
        self.row
    }

    fn returning(&self) -> bool {
        crate::client::DIALECT.returning
    }

    fn is_refusal(error: &WorkerError) -> bool {
        error.is_refusal()
    }

    fn missing_row() -> WorkerError {
        WorkerError::MissingRow
    }
}
