//! `--serve`'s answers in PostgreSQL's terms (`counter_client::serve`): the counter is the shared row of the
//! run's table, a participant's connections are ended with `pg_terminate_backend` (found by their
//! `application_name` in `pg_stat_activity`), and what a run leaves is its tables, which wait for a participant
//! that did not end (a table has no time to live). Its lock is a row lock held to COMMIT, not a lease: it names
//! no holder, and there is no log of writes to watch.

use std::time::Duration;

use counter_client::serve::Served;
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::{
    client::{connect, within},
    options::Isolation,
    server::PrivateCluster,
    table::Table,
};

/// How long one request to the server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A private cluster kept by `--serve`, and the runtime its requests run on.
pub(crate) struct ServedPostgres {
    pub(crate) cluster: PrivateCluster,
    runtime: Runtime,
}

impl ServedPostgres {
    pub(crate) fn new(cluster: PrivateCluster) -> std::io::Result<ServedPostgres> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(ServedPostgres { cluster, runtime })
    }

    /// The rows `sql` answers, on a connection of its own, within [`REQUEST_TIMEOUT`].
    fn query(&self, sql: &str) -> Result<Vec<tokio_postgres::Row>, String> {
        let config: tokio_postgres::Config = self.cluster.connection_string().parse().map_err(|e| format!("{e}"))?;
        self.runtime.block_on(async {
            let client: Client =
                connect(&config, Isolation::default(), REQUEST_TIMEOUT).await.map_err(|error| error.to_string())?;
            within(REQUEST_TIMEOUT, client.query(sql, &[])).await.map_err(|error| error.to_string())
        })
    }

    /// The one number `sql` answers.
    fn number(&self, sql: &str) -> Result<i64, String> {
        let rows = self.query(sql)?;
        rows.first().and_then(|row| row.try_get::<_, i64>(0).ok()).ok_or_else(|| "no number in the answer".to_owned())
    }
}

impl Served for ServedPostgres {
    fn address(&self) -> String {
        self.cluster.connection_string()
    }

    fn version(&self) -> String {
        format!("PostgreSQL {}", self.cluster.version())
    }

    fn processes(&self) -> Vec<i32> {
        let postmaster = self.cluster.pid();
        counter_core::proc::process_tree(postmaster).unwrap_or_else(|_| vec![postmaster])
    }

    fn counter(&mut self, run_id: &str) -> Result<u64, String> {
        let table = Table::new(run_id);
        let exists = self.number(&format!("SELECT count(*) FROM pg_tables WHERE tablename = '{}'", table.name()))?;
        if exists == 0 {
            return Ok(0);
        }
        let value = self.number(&format!("SELECT v FROM {} WHERE shard = {}", table.quoted(), Table::SHARED_ROW))?;
        Ok(u64::try_from(value).unwrap_or(0))
    }

    fn end_connections(&mut self, _run_id: &str, pid: i32) -> Result<String, String> {
        let ended = self.number(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE \
             'counter-lab-{pid}-%'"
        ))?;
        let ended = u64::try_from(ended).unwrap_or(0);
        Ok(format!("{} (pg_terminate_backend)", counter_core::units::count(ended, "connection", "connections")))
    }

    fn left_behind(&mut self, run_id: &str) -> Result<Vec<String>, String> {
        let table = Table::new(run_id);
        // Its table, and its members' (`<name>:p`): `_` is a wildcard in LIKE, so the names are compared whole.
        let rows = self.query(&format!(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE tablename IN ('{0}', '{0}:p')",
            table.name()
        ))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.query(&table.drop_statement())?;
        Ok(vec![format!("waits {}", counter_core::units::count(rows.len() as u64, "table", "tables"))])
    }
}
