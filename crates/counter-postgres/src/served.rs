//! `--serve`'s answers in PostgreSQL's terms (`counter_client::serve`): the run's tables as every SQL store
//! answers for them (`counter_client::sql::served`), and a participant's connections ended with
//! `pg_terminate_backend` (found by their `application_name` in `pg_stat_activity`). Its lock is a row lock held
//! to COMMIT, not a lease: it names no holder, and there is no log of writes to watch.

use std::time::Duration;

use counter_client::{
    serve::Served,
    sql::{
        served::{self, SqlServer},
        table::Table,
    },
};
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::{
    client::{DIALECT, connect, within},
    options::Isolation,
    server::PrivateCluster,
};

/// How long one request to the server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A private cluster kept by `--serve`, and the runtime its requests run on.
pub(crate) struct ServedPostgres {
    pub(crate) cluster: PrivateCluster,
    pub(crate) runtime: Runtime,
}

impl ServedPostgres {
    /// The rows `sql` answers, on a connection of its own, within [`REQUEST_TIMEOUT`].
    fn query(&self, sql: &str) -> Result<Vec<tokio_postgres::Row>, String> {
        let config: tokio_postgres::Config = self.cluster.connection_string().parse().map_err(|e| format!("{e}"))?;
        self.runtime.block_on(async {
            let client: Client =
                connect(&config, Isolation::ReadCommitted, REQUEST_TIMEOUT).await.map_err(|error| error.to_string())?;
            within(REQUEST_TIMEOUT, client.query(sql, &[])).await.map_err(|error| error.to_string())
        })
    }
}

impl SqlServer for ServedPostgres {
    fn numbers(&self, sql: &str) -> Result<Vec<i64>, String> {
        let rows = self.query(sql)?;
        rows.iter().map(|row| row.try_get::<_, i64>(0).map_err(|error| error.to_string())).collect()
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
        served::counter(self, &Table::new(run_id, DIALECT))
    }

    fn end_connections(&mut self, _run_id: &str, pid: i32) -> Result<String, String> {
        let ended = self.numbers(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE \
             'counter-lab-{pid}-%'"
        ))?;
        let ended = ended.first().copied().unwrap_or(0).max(0) as u64;
        Ok(format!("{} (pg_terminate_backend)", counter_core::units::count(ended, "connection", "connections")))
    }

    fn left_behind(&mut self, run_id: &str) -> Result<Vec<String>, String> {
        served::left_behind(self, &Table::new(run_id, DIALECT))
    }
}
