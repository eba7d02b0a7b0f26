//! Participants that share one run across machines, in the server's own tables: the record written once for SQL
//! stores (`counter_client::sql::record`), over PostgreSQL's dialect and its connection.

use std::{sync::Arc, time::Duration};

use counter_client::{
    participants::Beat,
    sql::{
        record::{Dialect, SqlStore, Tagged},
        table::Table,
    },
    store::Plan,
};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{
    client::{DIALECT, Postgres, WorkerError, within},
    options::{Error, Isolation},
    run::Run,
    worker::Job,
};

/// This participant's place in the run: its tag, where its workers' own rows begin (sharded), the prefix of its
/// connections' names, what its workers share.
pub(crate) struct Participant {
    pub(crate) tag: String,
    pub(crate) shard_base: u64,
    /// Its tag after `counter-lab-`: `pg_stat_activity` tells this participant's connections apart by it.
    pub(crate) prefix: String,
    pub(crate) job: Arc<Job>,
}

/// A PostgreSQL participant's beat: its row's `beat` set to the server's clock, on a connection of its own, made
/// again if it broke (terminated, or a server that stalled), so that a participant at work stays heard from.
pub(crate) struct PostgresBeat {
    pub(crate) connection: tokio_postgres::Config,
    pub(crate) isolation: Isolation,
    pub(crate) statement: String,
    pub(crate) timeout: Duration,
    pub(crate) client: Option<Client>,
}

impl Beat for PostgresBeat {
    async fn beat(&mut self) {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = crate::client::connect(&self.connection, self.isolation, self.timeout).await.ok();
        }
        if let Some(client) = &self.client
            && within(self.timeout, client.batch_execute(&self.statement)).await.is_err()
        {
            self.client = None;
        }
    }
}

impl SqlStore for Run<'_> {
    type Admin = Client;
    type Member = Participant;
    type Driver = Postgres;
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

    async fn batch(&self, admin: &mut Client, sql: &str) -> Result<(), WorkerError> {
        within(self.timeout(), admin.batch_execute(sql)).await
    }

    async fn rows(&self, admin: &mut Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, WorkerError> {
        let messages = within(self.timeout(), admin.simple_query(sql)).await?;
        Ok(messages
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect()),
                _ => None,
            })
            .collect())
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

#[cfg(test)]
mod tests {
    use counter_client::sql::table::Table;

    #[test]
    fn the_members_table_fits_a_postgres_name() {
        let id = "x".repeat(counter_client::participants::MAX_RUN_ID);
        let table = Table::new(&id, crate::client::DIALECT);
        // NAMEDATALEN is 64: a longer name would be cut short, silently.
        assert!(table.members().trim_matches('"').len() <= 63, "{}", table.members());
    }
}
