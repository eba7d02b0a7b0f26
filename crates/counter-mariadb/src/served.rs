//! `--serve`'s answers in MariaDB's terms (`counter_client::serve`): the counter is the shared row of the run's
//! table, a participant's connections (listed in the run's connections table) are ended with `KILL CONNECTION`,
//! and what a run leaves is its tables, which wait for a participant that did not end (a table has no time to
//! live). Its lock is a row lock held to COMMIT: it names no holder, and there is no log of writes to watch.

use std::time::Duration;

use counter_client::serve::Served;
use mysql_async::{Opts, Row, prelude::Queryable};
use tokio::runtime::Runtime;

use crate::{
    client::{column, connect, within},
    server::PrivateMariadb,
    table::Table,
};

/// How long one request to the server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A private server kept by `--serve`, and the runtime its requests run on.
pub(crate) struct ServedMariadb {
    pub(crate) server: PrivateMariadb,
    runtime: Runtime,
}

impl ServedMariadb {
    pub(crate) fn new(server: PrivateMariadb) -> std::io::Result<ServedMariadb> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(ServedMariadb { server, runtime })
    }

    /// The rows `sql` answers, on a connection of its own, within [`REQUEST_TIMEOUT`].
    fn query(&self, sql: &str) -> Result<Vec<Row>, String> {
        let opts = Opts::from_url(&self.server.url()).map_err(|error| error.to_string())?;
        self.runtime.block_on(async {
            let mut conn = connect(opts, REQUEST_TIMEOUT).await.map_err(|error| error.to_string())?;
            within(REQUEST_TIMEOUT, conn.query(sql)).await.map_err(|error| error.to_string())
        })
    }

    /// The first column of every row `sql` answers, as numbers.
    fn numbers(&self, sql: &str) -> Result<Vec<i64>, String> {
        self.query(sql)?.iter().map(|row| column(row, 0).map_err(|error| error.to_string())).collect()
    }

    /// Whether run `run_id`'s counter table is there.
    fn exists(&self, table: &Table) -> Result<bool, String> {
        let sql = format!("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = '{}'", table.name());
        Ok(self.numbers(&sql)?.first().copied().unwrap_or(0) > 0)
    }
}

impl Served for ServedMariadb {
    fn address(&self) -> String {
        self.server.url()
    }

    fn version(&self) -> String {
        format!("MariaDB {}", self.server.version())
    }

    fn processes(&self) -> Vec<i32> {
        vec![self.server.pid()]
    }

    fn counter(&mut self, run_id: &str) -> Result<u64, String> {
        let table = Table::new(run_id);
        if !self.exists(&table)? {
            return Ok(0);
        }
        let value = self.numbers(&format!("SELECT v FROM {} WHERE shard = {}", table.quoted(), Table::SHARED_ROW))?;
        Ok(value.first().copied().unwrap_or(0).max(0) as u64)
    }

    fn end_connections(&mut self, run_id: &str, pid: i32) -> Result<String, String> {
        let table = Table::new(run_id);
        let ids = self.numbers(&format!("SELECT id FROM {} WHERE pid = {pid}", table.connections()))?;
        let kill = ids.iter().map(|id| format!("KILL CONNECTION {id}")).collect::<Vec<_>>();
        // One connection for every KILL; a connection that already ended is not an error here.
        let ended = kill.iter().filter(|kill| self.query(kill).is_ok()).count() as u64;
        Ok(format!("{} (KILL CONNECTION)", counter_core::units::count(ended, "connection", "connections")))
    }

    fn left_behind(&mut self, run_id: &str) -> Result<Vec<String>, String> {
        let table = Table::new(run_id);
        // Its three tables, compared whole: `_` is a wildcard in LIKE.
        let found = self.numbers(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME IN ('{0}', '{0}:p', '{0}:c')",
            table.name()
        ))?;
        let found = found.first().copied().unwrap_or(0).max(0) as u64;
        if found == 0 {
            return Ok(Vec::new());
        }
        self.query(&table.drop_statement())?;
        Ok(vec![format!("waits {}", counter_core::units::count(found, "table", "tables"))])
    }
}
