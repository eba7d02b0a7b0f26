//! One run's context: the workload, the options, the server (how to connect, and how the report names it), the
//! run's tables; and what every statement of the coordinator's needs (its errors, its deadline).

use std::{sync::OnceLock, time::Duration};

use counter_core::{config::Config, proc::memory};
use mysql_async::{Conn, Opts, Row, prelude::Queryable};

use crate::{
    client::{Session, WorkerError, connect, within},
    options::{Error, MariadbOptions, ServerError, Snapshot},
};
use counter_client::sql::table::Table;

/// One run's context.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    pub(crate) config: &'a Config,
    pub(crate) options: &'a MariadbOptions,
    pub(crate) opts: Opts,
    /// The server as the report names it.
    pub(crate) server: String,
    /// The private server's process, when the run made one.
    pub(crate) server_pid: Option<i32>,
    /// The run's id, given (shared) or drawn.
    pub(crate) id: String,
    pub(crate) table: Table,
    /// Whether the server has `innodb_snapshot_isolation`, once the first connection has asked.
    pub(crate) has_snapshot: OnceLock<bool>,
}

/// The result of a statement of the coordinator's.
pub(crate) type Answer<T> = Result<T, Error>;

impl Run<'_> {
    /// Every session's settings (known once the first connection has asked the server).
    pub(crate) fn session(&self) -> Session {
        let has = self.has_snapshot.get().copied().unwrap_or(false);
        Session {
            isolation: self.options.isolation,
            snapshot: has.then_some(self.options.snapshot),
            timeout: self.options.server.timeout,
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.options.server.timeout
    }

    /// A connection of the coordinator's, set as the workers' are.
    pub(crate) async fn admin_connection(&self) -> Result<Conn, WorkerError> {
        connect(self.session().opts(&self.opts, None), self.timeout()).await
    }

    /// A first connection, which learns whether the server has snapshot isolation: an error here is about the
    /// request (a refused connection, a wrong password, a setting the server lacks), exit 2.
    pub(crate) async fn connect_first(&self) -> Answer<Conn> {
        let unusable = |detail: &str| ServerError::unusable("MariaDB", &self.server, detail);
        let mut conn = connect(self.opts.clone(), self.timeout())
            .await
            .map_err(|error| ServerError::not_connected("MariaDB", &self.server, &error))?;
        let found: Option<Row> =
            within(self.timeout(), conn.query_first("SHOW VARIABLES LIKE 'innodb\\_snapshot\\_isolation'"))
                .await
                .map_err(|error| unusable(&error.to_string()))?;
        if found.is_none() && self.options.snapshot == Snapshot::On {
            return Err(unusable(
                "--snapshot-isolation on: the server has no innodb_snapshot_isolation (MariaDB 10.6.18, 10.11.8 \
                 and later have it)",
            ));
        }
        let _ = self.has_snapshot.set(found.is_some());
        within(self.timeout(), conn.query_drop(self.session().statement()))
            .await
            .map_err(|e| unusable(&e.to_string()))?;
        Ok(conn)
    }

    /// The server failed during the run.
    pub(crate) fn failed(&self, error: &WorkerError) -> Error {
        ServerError::failed("MariaDB", &self.server, &error.to_string())
    }

    /// The private server's memory and threads, as `/proc` shows them.
    pub(crate) fn server_memory(&self) -> Option<memory::ProcessMemory> {
        memory::of_process(self.server_pid?).ok()
    }
}
