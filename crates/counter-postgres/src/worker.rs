//! One worker: a tokio task with its own connection, doing the workload against the counter in a table. Its
//! strategies are `counter_client::sql`'s, over the prepared statements here, each one round trip, timed; a
//! transaction the server refuses to serialize (SQLSTATE 40001) or ends as a deadlock's victim (40P01) is rolled
//! back and made again.

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
use tokio::sync::watch;
use tokio_postgres::{Client, Row, Statement, types::ToSql};

use crate::{
    client::{Reconnect, WorkerError, within},
    table::Table,
};

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

/// The statements of one connection, prepared once.
struct Statements {
    begin: Statement,
    commit: Statement,
    rollback: Statement,
    read: Statement,
    read_for_update: Statement,
    try_read_for_update: Statement,
    write: Statement,
    add_one: Statement,
    read_versioned: Statement,
    write_if_version: Statement,
}

impl Statements {
    /// Every statement a worker uses, prepared on `client`.
    async fn prepare(client: &Client, table: &Table, timeout: Duration) -> Result<Statements, WorkerError> {
        let name = table.quoted();
        Ok(Statements {
            begin: prepare(client, timeout, "BEGIN").await?,
            commit: prepare(client, timeout, "COMMIT").await?,
            rollback: prepare(client, timeout, "ROLLBACK").await?,
            read: prepare(client, timeout, &format!("SELECT v FROM {name} WHERE shard = $1")).await?,
            read_for_update: prepare(client, timeout, &format!("SELECT v FROM {name} WHERE shard = $1 FOR UPDATE"))
                .await?,
            try_read_for_update: prepare(
                client,
                timeout,
                &format!("SELECT v FROM {name} WHERE shard = $1 FOR UPDATE SKIP LOCKED"),
            )
            .await?,
            write: prepare(client, timeout, &format!("UPDATE {name} SET v = $2 WHERE shard = $1")).await?,
            add_one: prepare(client, timeout, &format!("UPDATE {name} SET v = v + 1 WHERE shard = $1")).await?,
            read_versioned: prepare(client, timeout, &format!("SELECT v, version FROM {name} WHERE shard = $1"))
                .await?,
            write_if_version: prepare(
                client,
                timeout,
                &format!("UPDATE {name} SET v = $2, version = version + 1 WHERE shard = $1 AND version = $3"),
            )
            .await?,
        })
    }
}

/// A worker's connection and its counts.
pub(crate) struct Worker {
    client: Client,
    statements: Statements,
    job: Arc<Job>,
    reconnect: Reconnect,
    /// The row this worker adds to: its own with sharded, the shared one otherwise.
    row: i32,
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
        if matches!(error, WorkerError::MissingRow) {
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
        let statements = Statements::prepare(&client, table, timeout).await?;
        let row = if config.strategy() == Strategy::Sharded { Table::shard_of(index) } else { Table::SHARED_ROW };
        let progress = Progress::new(config, start);
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
        let connected = counter_client::connect_again(reconnect.patience, broken, || async move {
            let client = crate::client::connect(&reconnect.connection, reconnect.isolation, timeout).await?;
            let statements = Statements::prepare(&client, table, timeout).await?;
            Ok((client, statements))
        })
        .await?;
        if let Some((client, statements)) = connected {
            (self.client, self.statements) = (client, statements);
            self.progress.tally.reconnections += 1;
        }
        Ok(())
    }

    /// A query, one round trip, timed: the rows it returned.
    async fn rows(&mut self, statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, WorkerError> {
        let started = Instant::now();
        let answer = within(self.timeout, self.client.query(statement, params)).await;
        self.progress.tally.round_trip(started.elapsed());
        answer
    }

    /// A statement, one round trip, timed: how many rows it changed.
    async fn changed(&mut self, statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<u64, WorkerError> {
        let started = Instant::now();
        let answer = within(self.timeout, self.client.execute(statement, params)).await;
        self.progress.tally.round_trip(started.elapsed());
        answer
    }
}

impl sql::Statements for Worker {
    async fn say(&mut self, statement: Say) -> Result<(), WorkerError> {
        let statement = match statement {
            Say::Begin => self.statements.begin.clone(),
            Say::Commit => self.statements.commit.clone(),
            Say::Rollback => self.statements.rollback.clone(),
        };
        self.changed(&statement, &[]).await.map(drop)
    }

    async fn read(&mut self, read: Read) -> Result<Option<i64>, WorkerError> {
        let statement = match read {
            Read::Plain => self.statements.read.clone(),
            Read::Lock => self.statements.read_for_update.clone(),
            Read::TryLock => self.statements.try_read_for_update.clone(),
        };
        let row = self.row;
        let rows = self.rows(&statement, &[&row]).await?;
        rows.first().map(|first| first.try_get(0).map_err(WorkerError::Server)).transpose()
    }

    async fn write(&mut self, value: i64) -> Result<(), WorkerError> {
        let (statement, row) = (self.statements.write.clone(), self.row);
        self.changed(&statement, &[&row, &value]).await.map(drop)
    }

    async fn add_one(&mut self) -> Result<u64, WorkerError> {
        let (statement, row) = (self.statements.add_one.clone(), self.row);
        self.changed(&statement, &[&row]).await
    }

    async fn read_versioned(&mut self) -> Result<(i64, i64), WorkerError> {
        let (statement, row) = (self.statements.read_versioned.clone(), self.row);
        let rows = self.rows(&statement, &[&row]).await?;
        let first = rows.first().ok_or(WorkerError::MissingRow)?;
        Ok((first.try_get(0).map_err(WorkerError::Server)?, first.try_get(1).map_err(WorkerError::Server)?))
    }

    async fn write_if_version(&mut self, value: i64, version: i64) -> Result<u64, WorkerError> {
        let (statement, row) = (self.statements.write_if_version.clone(), self.row);
        self.changed(&statement, &[&row, &value, &version]).await
    }

    fn is_refusal(error: &WorkerError) -> bool {
        error.is_serialization_failure()
    }

    fn missing_row() -> WorkerError {
        WorkerError::MissingRow
    }
}
