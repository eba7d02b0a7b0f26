//! A connection as every client of a run makes it (the session's isolation level, snapshot isolation and
//! timeouts set as it connects), the client's own deadline on every request, and why a request failed.

use std::time::Duration;

use counter_client::sql::{
    record::{Dialect, Failure},
    request::{self, Driver, RequestError},
};
use mysql_async::{Conn, Opts, OptsBuilder, Row, prelude::FromValue};

use crate::options::{Isolation, Snapshot};

/// What every session of a run is set to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session {
    pub(crate) isolation: Isolation,
    /// `innodb_snapshot_isolation`, where the server has it (left alone where it has not, which `--snapshot-
    /// isolation off` means there).
    pub(crate) snapshot: Option<Snapshot>,
    pub(crate) timeout: Duration,
}

impl Session {
    /// The statement that sets them.
    pub(crate) fn statement(&self) -> String {
        let level = self.isolation.sql().to_uppercase().replace(' ', "-");
        let snapshot = match self.snapshot {
            Some(Snapshot::On) => ", innodb_snapshot_isolation = ON",
            Some(Snapshot::Off) => ", innodb_snapshot_isolation = OFF",
            None => "",
        };
        format!(
            "SET SESSION tx_isolation = '{level}', max_statement_time = {:.3}, innodb_lock_wait_timeout = {}{snapshot}",
            self.timeout.as_secs_f64(),
            self.timeout.as_secs().max(1)
        )
    }

    /// `base` with this session's settings made on every connection (one statement), then `more`.
    pub(crate) fn opts(&self, base: &Opts, more: Option<String>) -> Opts {
        OptsBuilder::from_opts(base.clone()).init([Some(self.statement()), more].into_iter().flatten().collect()).into()
    }
}

/// Connects with `opts` (a session's, from [`Session::opts`]) within `timeout`.
pub(crate) async fn connect(opts: Opts, timeout: Duration) -> Result<Conn, WorkerError> {
    within(timeout, Conn::new(opts)).await
}

/// The driver (`mysql_async`), as the shared client asks what its errors say.
#[derive(Debug)]
pub(crate) struct Mariadb;

/// Why a request failed: the server's answer, or none within the timeout.
pub(crate) type WorkerError = RequestError<Mariadb>;

/// MariaDB's SQL where the shared statements need it.
pub(crate) const DIALECT: Dialect = Dialect {
    now: "NOW(6)",
    timestamp: "DATETIME(6)",
    serial: "BIGINT NOT NULL AUTO_INCREMENT UNIQUE",
    key_text: "VARCHAR(64)",
    integer: "SIGNED",
    table_options: " ENGINE=InnoDB",
    microseconds: |us| format!("INTERVAL {us} MICROSECOND"),
    quote: '`',
    zero_rows: |from, to| format!("SELECT seq, 0, 0, 0 FROM seq_{from}_to_{to}"),
    returning: false,
    param: |_| "?".to_owned(),
};

/// Column `index` of `row`, of type `T`; a column of another shape is an error, never a panic.
pub(crate) fn column<T: FromValue>(row: &Row, index: usize) -> Result<T, WorkerError> {
    row.get_opt(index).and_then(Result::ok).ok_or(WorkerError::Shape)
}

/// Column `index` of the first of `rows`.
pub(crate) fn first<T: FromValue>(row: Option<&Row>, index: usize) -> Result<T, WorkerError> {
    column(row.ok_or(WorkerError::MissingRow)?, index)
}

/// The server's errors that roll a transaction back (or its statement) and may be made again: 1020, a row
/// changed since the snapshot (`innodb_snapshot_isolation`); 1213, a deadlock's victim; 1205, a lock wait
/// timeout.
pub(crate) const REFUSALS: [u16; 3] = [1020, 1213, 1205];

impl Driver for Mariadb {
    type Error = mysql_async::Error;

    fn server_answer(error: &mysql_async::Error) -> Option<String> {
        let mysql_async::Error::Server(error) = error else { return None };
        Some(format!("{} (error {}, SQLSTATE {})", error.message, error.code, error.state))
    }

    fn is_refusal(error: &mysql_async::Error) -> bool {
        matches!(error, mysql_async::Error::Server(error) if REFUSALS.contains(&error.code))
    }

    fn failure(error: &mysql_async::Error) -> Failure {
        match error {
            mysql_async::Error::Server(error) if error.code == 1050 => Failure::TableExists,
            mysql_async::Error::Server(error) if error.code == 1146 => Failure::NoTable,
            _ => Failure::Other,
        }
    }
}

/// `future`, or a timeout error after `timeout`.
pub(crate) async fn within<T>(
    timeout: Duration,
    future: impl Future<Output = Result<T, mysql_async::Error>>,
) -> Result<T, WorkerError> {
    request::within(timeout, future).await
}
