//! One worker: a tokio task with its own connection, doing the workload against the counter in a table. Every
//! strategy is a transaction of a few prepared statements, each one round trip, timed; a transaction the server
//! refuses to serialize (SQLSTATE 40001) or ends as a deadlock's victim (40P01) is rolled back and made again.

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
use tokio::sync::watch;
use tokio_postgres::{Client, Row, Statement, types::ToSql};

use crate::{
    client::{Reconnect, WorkerError, within},
    table::Table,
};

counter_client::counts! {
    /// What only a PostgreSQL worker counts.
    pub(crate) struct PostgresCounts {
        /// Transactions the server refused to serialize (40001), or chose as a deadlock's victim (40P01).
        serialization_failures,
        /// Optimistic strategy: updates that found the version changed.
        version_conflicts,
        /// Mutex strategy: transactions that found the row locked by another, and waited for it.
        lock_waits,
    }
}

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

/// The first column of the first row.
fn first_column(rows: &[Row]) -> Result<i64, WorkerError> {
    rows.first().ok_or(WorkerError::MissingRow)?.try_get(0).map_err(WorkerError::Server)
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
    progress: Progress<PostgresCounts>,
}

impl Attempts for Worker {
    type Counts = PostgresCounts;
    type Error = WorkerError;

    fn config(&self) -> &Config {
        &self.job.config
    }

    fn progress(&mut self) -> &mut Progress<Self::Counts> {
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

    /// `UPDATE ... SET v = v + 1`, one statement: the server reads and writes the row under its row lock. The
    /// window cannot be inside it, so "inside" means just before it, as "before" does. Made again when refused.
    async fn add_one(&mut self, inside: bool) -> Result<Performed, WorkerError> {
        if inside && self.work().await == Performed::Interrupted {
            return Ok(Performed::Interrupted);
        }
        let (statement, row) = (self.statements.add_one.clone(), self.row);
        loop {
            self.progress.writing = true;
            let answer = self.changed(&statement, &[&row]).await;
            self.progress.writing = answer.is_err();
            match answer {
                Ok(1) => return Ok(Performed::Finished),
                Ok(_) => return Err(WorkerError::MissingRow),
                Err(error) if error.is_serialization_failure() => self.progress.tally.own.serialization_failures += 1,
                Err(error) => return Err(error),
            }
            if should_stop() {
                return Ok(Performed::Interrupted);
            }
        }
    }

    /// BEGIN, SELECT (FOR UPDATE with `lock`), UPDATE to what was read plus one, COMMIT: at READ COMMITTED the
    /// racy one loses updates; at REPEATABLE READ and SERIALIZABLE the server refuses one of two overlapping
    /// transactions, which is rolled back and made again (the work is not: it was done).
    async fn read_then_write(&mut self, inside: bool, lock: bool) -> Result<Performed, WorkerError> {
        let mut work_inside = inside;
        loop {
            match self.transaction(work_inside, lock).await {
                Err(error) if error.is_serialization_failure() => {
                    self.progress.tally.own.serialization_failures += 1;
                    let rollback = self.statements.rollback.clone();
                    self.changed(&rollback, &[]).await?;
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
        let statements = &self.statements;
        let (begin, commit, rollback, write) = (
            statements.begin.clone(),
            statements.commit.clone(),
            statements.rollback.clone(),
            statements.write.clone(),
        );
        let (read, try_lock) = if lock {
            (statements.read_for_update.clone(), Some(statements.try_read_for_update.clone()))
        } else {
            (statements.read.clone(), None)
        };
        let row = self.row;
        self.progress.writing = false;
        self.changed(&begin, &[]).await?;
        // The lock tried first without waiting (SKIP LOCKED answers no row when another holds it): a wait is
        // then counted, at the price of one round trip more, and the row locked waiting.
        let taken = match try_lock {
            Some(try_lock) => self.rows(&try_lock, &[&row]).await?,
            None => Vec::new(),
        };
        let value: i64 = if taken.is_empty() {
            if lock {
                self.progress.tally.own.lock_waits += 1;
            }
            first_column(&self.rows(&read, &[&row]).await?)?
        } else {
            first_column(&taken)?
        };
        if work_inside && self.work().await == Performed::Interrupted {
            self.changed(&rollback, &[]).await?;
            return Ok(Performed::Interrupted);
        }
        self.changed(&write, &[&row, &(value + 1)]).await?;
        // Until its answer, the commit may or may not have happened.
        self.progress.writing = true;
        self.changed(&commit, &[]).await?;
        self.progress.writing = false;
        Ok(Performed::Finished)
    }

    /// SELECT the value and its version, then UPDATE ... WHERE version = the one read; no row changed means
    /// another worker wrote first: read and write again (the work is not made again).
    async fn optimistic(&mut self, inside: bool) -> Result<Performed, WorkerError> {
        let (read, write, row) =
            (self.statements.read_versioned.clone(), self.statements.write_if_version.clone(), self.row);
        let mut work_inside = inside;
        loop {
            let rows = match self.rows(&read, &[&row]).await {
                Ok(rows) => rows,
                Err(error) if error.is_serialization_failure() => {
                    self.progress.tally.own.serialization_failures += 1;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let first = rows.first().ok_or(WorkerError::MissingRow)?;
            let (value, version): (i64, i64) =
                (first.try_get(0).map_err(WorkerError::Server)?, first.try_get(1).map_err(WorkerError::Server)?);
            if work_inside && self.work().await == Performed::Interrupted {
                return Ok(Performed::Interrupted);
            }
            work_inside = false;
            self.progress.writing = true;
            let answer = self.changed(&write, &[&row, &(value + 1), &version]).await;
            self.progress.writing = answer.is_err();
            match answer {
                Ok(1) => return Ok(Performed::Finished),
                Ok(_) => self.progress.tally.own.version_conflicts += 1,
                Err(error) if error.is_serialization_failure() => self.progress.tally.own.serialization_failures += 1,
                Err(error) => return Err(error),
            }
            if should_stop() {
                return Ok(Performed::Interrupted);
            }
        }
    }
}
