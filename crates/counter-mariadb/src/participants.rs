//! Participants that share one run across machines, in the server's own tables: the record written once for SQL
//! stores (`counter_client::sql::record`), over MariaDB's dialect and its connection. DDL commits on its own in
//! MariaDB: a joiner that comes between the claim's two steps waits for the second.

use std::{sync::Arc, time::Duration};

use counter_client::{
    participants::Beat,
    sql::{
        record::{Dialect, SqlStore, Tagged},
        table::Table,
    },
    store::Plan,
};
use mysql_async::{Conn, Opts, Row, prelude::Queryable};

use crate::{
    client::{DIALECT, Mariadb, WorkerError, connect, within},
    options::Error,
    run::Run,
    worker::Job,
};

/// This participant's place in the run: its tag, where its workers' own rows begin (sharded), what its
/// workers share.
pub(crate) struct Participant {
    pub(crate) tag: String,
    pub(crate) shard_base: u64,
    pub(crate) job: Arc<Job>,
}

/// A participant's beat: its row's `beat` set to the server's clock, on a connection of its own, made again if
/// it broke, so that a participant at work stays heard from.
pub(crate) struct MariadbBeat {
    pub(crate) opts: Opts,
    pub(crate) statement: String,
    pub(crate) timeout: Duration,
    pub(crate) conn: Option<Conn>,
}

impl Beat for MariadbBeat {
    async fn beat(&mut self) {
        if self.conn.is_none() {
            self.conn = connect(self.opts.clone(), self.timeout).await.ok();
        }
        if let Some(conn) = &mut self.conn
            && within(self.timeout, conn.query_drop(&self.statement)).await.is_err()
        {
            self.conn = None;
        }
    }
}

impl SqlStore for Run<'_> {
    type Admin = Conn;
    type Member = Participant;
    type Driver = Mariadb;
    const DIALECT: Dialect = DIALECT;

    fn plan(&self) -> Plan<'_> {
        counter_client::store::Store::plan(self)
    }

    fn shared_settings(&self) -> String {
        format!("--isolation {}", self.options.isolation.flag())
    }

    fn table(&self) -> &Table {
        &self.table
    }

    /// The counter's table, and the connections table beside it (`served`'s `KILL CONNECTION` reads it).
    fn create_counter(&self, workers: u64) -> String {
        format!(
            "{}; CREATE TABLE IF NOT EXISTS {} (id BIGINT UNSIGNED PRIMARY KEY, pid INT NOT NULL) ENGINE=InnoDB",
            self.table.create(workers),
            self.table.connections()
        )
    }

    async fn batch(&self, admin: &mut Conn, sql: &str) -> Result<(), WorkerError> {
        within(self.timeout(), admin.query_drop(sql)).await
    }

    async fn rows(&self, admin: &mut Conn, sql: &str) -> Result<Vec<Vec<Option<String>>>, WorkerError> {
        let rows: Vec<Row> = within(self.timeout(), admin.query(sql)).await?;
        // The text protocol answers every value as text (or NULL).
        let text = |row: &Row, i| row.get_opt::<Option<String>, _>(i).and_then(Result::ok).flatten();
        Ok(rows.iter().map(|row| (0..row.len()).map(|i| text(row, i)).collect()).collect())
    }

    fn failed(&self, error: &WorkerError) -> Error {
        Run::failed(self, error)
    }
}

impl Tagged for Participant {
    fn tag(&self) -> &str {
        &self.tag
    }
}
