//! Participants that share one run across machines, in the server's own tables: the record written once for SQL
//! stores (`counter_client::sql::record`), over MariaDB's dialect and its connection. DDL commits on its own in
//! MariaDB: a joiner that comes between the claim's two steps waits for the second.

use std::{sync::Arc, time::Duration};

use counter_client::{
    participants::Beat,
    sql::record::{Dialect, Failure, SqlStore, Tagged},
    store::Plan,
};
use mysql_async::{Conn, Opts, Row, Value, prelude::Queryable};

use crate::{
    client::{WorkerError, connect, within},
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

/// A column's value as text, as the record reads it.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::Int(number) => Some(number.to_string()),
        Value::UInt(number) => Some(number.to_string()),
        other => Some(format!("{other:?}")),
    }
}

impl SqlStore for Run<'_> {
    type Admin = Conn;
    type Member = Participant;
    type Error = WorkerError;
    const DIALECT: Dialect = Dialect {
        now: "NOW(6)",
        timestamp: "DATETIME(6)",
        serial: "BIGINT NOT NULL AUTO_INCREMENT UNIQUE",
        key_text: "VARCHAR(64)",
        integer: "SIGNED",
        table_options: " ENGINE=InnoDB",
        microseconds: |us| format!("INTERVAL {us} MICROSECOND"),
    };

    fn plan(&self) -> Plan<'_> {
        counter_client::store::Store::plan(self)
    }

    fn timeout(&self) -> Duration {
        Run::timeout(self)
    }

    fn shared_settings(&self) -> String {
        format!("--isolation {}", self.options.isolation.sql().replace(' ', "-"))
    }

    fn counter_table(&self) -> String {
        self.table.quoted()
    }

    fn tables_named(&self) -> String {
        format!("{}, {} and {}", self.table.quoted(), self.table.members(), self.table.connections())
    }

    fn create_counter(&self, workers: u64) -> String {
        self.table.create(workers)
    }

    fn add_shards(&self, base: u64, workers: u64) -> String {
        self.table.add_shards(base, workers)
    }

    fn total(&self) -> String {
        self.table.total()
    }

    fn drop_tables(&self) -> String {
        self.table.drop_statement()
    }

    async fn batch(&self, admin: &mut Conn, sql: &str) -> Result<(), WorkerError> {
        within(self.timeout(), admin.query_drop(sql)).await
    }

    async fn rows(&self, admin: &mut Conn, sql: &str) -> Result<Vec<Vec<Option<String>>>, WorkerError> {
        let rows: Vec<Row> = within(self.timeout(), admin.query(sql)).await?;
        Ok(rows.iter().map(|row| (0..row.len()).map(|i| row.as_ref(i).and_then(text)).collect()).collect())
    }

    fn failure(error: &WorkerError) -> Failure {
        match error.code() {
            Some(1050) => Failure::TableExists,
            Some(1146) => Failure::NoTable,
            _ => Failure::Other,
        }
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
