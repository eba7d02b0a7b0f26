//! `--serve`'s answers in MariaDB's terms (`counter_client::serve`): the run's tables as every SQL store answers
//! for them (`counter_client::sql::served`), and a participant's connections (listed in the run's connections
//! table) ended with `KILL CONNECTION`. Its lock is a row lock held to COMMIT: it names no holder, and there is
//! no log of writes to watch.

use std::time::Duration;

use counter_client::{
    serve::Served,
    sql::{
        served::{self, SqlServer},
        table::Table,
    },
};
use mysql_async::{Opts, Row, prelude::Queryable};
use tokio::runtime::Runtime;

use crate::{
    client::{DIALECT, column, connect, within},
    server::PrivateMariadb,
};

/// How long one request to the server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A private server kept by `--serve`, and the runtime its requests run on.
pub(crate) struct ServedMariadb {
    pub(crate) server: PrivateMariadb,
    pub(crate) runtime: Runtime,
}

impl ServedMariadb {
    /// The rows `sql` answers, on a connection of its own, within [`REQUEST_TIMEOUT`].
    fn query(&self, sql: &str) -> Result<Vec<Row>, String> {
        let opts = Opts::from_url(&self.server.url()).map_err(|error| error.to_string())?;
        self.runtime.block_on(async {
            let mut conn = connect(opts, REQUEST_TIMEOUT).await.map_err(|error| error.to_string())?;
            within(REQUEST_TIMEOUT, conn.query(sql)).await.map_err(|error| error.to_string())
        })
    }
}

impl SqlServer for ServedMariadb {
    fn numbers(&self, sql: &str) -> Result<Vec<i64>, String> {
        self.query(sql)?.iter().map(|row| column(row, 0).map_err(|error| error.to_string())).collect()
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
        served::counter(self, &Table::new(run_id, DIALECT))
    }

    fn end_connections(&mut self, run_id: &str, pid: i32) -> Result<String, String> {
        let table = Table::new(run_id, DIALECT);
        let ids = self.numbers(&format!("SELECT id FROM {} WHERE pid = {pid}", table.connections()))?;
        let kill = ids.iter().map(|id| format!("KILL CONNECTION {id}")).collect::<Vec<_>>();
        // One connection for every KILL; a connection that already ended is not an error here.
        let ended = kill.iter().filter(|kill| self.query(kill).is_ok()).count() as u64;
        Ok(format!("{} (KILL CONNECTION)", counter_core::units::count(ended, "connection", "connections")))
    }

    fn left_behind(&mut self, run_id: &str) -> Result<Vec<String>, String> {
        served::left_behind(self, &Table::new(run_id, DIALECT))
    }
}
