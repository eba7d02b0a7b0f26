//! One run's context: the workload, the options, the server (how to connect, and how the report names it), the
//! run's tables; and what every statement of the coordinator's needs (its errors, its deadline).

use counter_core::{
    config::Config,
    proc::{self, memory},
};
use tokio_postgres::Client;

use crate::{
    client::{WorkerError, connect, within},
    options::{Error, PostgresOptions, ServerError},
};
use counter_client::sql::table::Table;

/// One run's context.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    pub(crate) config: &'a Config,
    pub(crate) options: &'a PostgresOptions,
    pub(crate) connection: tokio_postgres::Config,
    /// The server as the report names it.
    pub(crate) server: String,
    /// The private server's postmaster, when the run made one.
    pub(crate) server_pid: Option<i32>,
    /// The run's id, given (shared) or drawn.
    pub(crate) id: String,
    pub(crate) table: Table,
}

/// The result of a statement of the coordinator's.
pub(crate) type Answer<T> = Result<T, Error>;

impl Run<'_> {
    /// The coordinator's connections, named so that `pg_stat_activity` tells them from the workers'.
    pub(crate) async fn admin_connection(&self) -> Result<Client, WorkerError> {
        let mut config = self.connection.clone();
        config.application_name("counter-lab");
        connect(&config, self.options.isolation, self.options.server.timeout).await
    }

    /// A first connection: an error here is about the request (a refused connection, a wrong password), exit 2.
    pub(crate) async fn connect_first(&self) -> Answer<Client> {
        self.admin_connection().await.map_err(|error| ServerError::not_connected("PostgreSQL", &self.server, &error))
    }

    /// The server failed during the run.
    pub(crate) fn failed(&self, error: &WorkerError) -> Error {
        ServerError::failed("PostgreSQL", &self.server, &error.to_string())
    }

    /// The private server's processes (the postmaster and its children), summed PSS, KiB.
    pub(crate) fn server_pss_kib(&self) -> Option<u64> {
        let tree = proc::process_tree(self.server_pid?).ok()?;
        memory::snapshot(&tree, "the server").ok().map(|snapshot| snapshot.pss_kib)
    }

    /// The backend processes of this run's connections, as `/proc` shows them: (count, mean PSS, mean USS).
    pub(crate) async fn backends(&self, admin: &Client, prefix: &str) -> Answer<(u64, Option<f64>, Option<f64>)> {
        let rows = within(
            self.options.server.timeout,
            admin.query("SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1", &[&format!("{prefix}-%")]),
        )
        .await
        .map_err(|error| self.failed(&error))?;
        let measured: Vec<memory::ProcessMemory> = rows
            .iter()
            .filter_map(|row| row.try_get::<_, i32>(0).ok())
            .filter_map(|pid| memory::of_process(pid).ok())
            .collect();
        if measured.is_empty() {
            return Ok((0, None, None));
        }
        let count = measured.len() as f64;
        let mean = |figure: fn(&memory::ProcessMemory) -> u64| measured.iter().map(figure).sum::<u64>() as f64 / count;
        Ok((measured.len() as u64, Some(mean(|m| m.pss_kib)), Some(mean(|m| m.uss_kib))))
    }
}
