//! A connection as every client of a run makes it (the session's isolation level, snapshot isolation and
//! timeouts set as it connects), the client's own deadline on every request, and why a request failed.

use std::time::Duration;

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

/// Why a worker stopped early: the server's answer, or none within the timeout.
#[derive(Debug)]
pub(crate) enum WorkerError {
    /// The server's error, or the connection's.
    Server(mysql_async::Error),
    /// No answer within the client's timeout.
    Timeout(Duration),
    /// The counter's row was not there: someone else changed the run's table.
    MissingRow,
    /// An answer of another shape than the statement's (a column of another type, or missing).
    Shape,
}

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

impl WorkerError {
    /// The server's error code, if it answered with one.
    pub(crate) fn code(&self) -> Option<u16> {
        match self {
            WorkerError::Server(mysql_async::Error::Server(error)) => Some(error.code),
            _ => None,
        }
    }

    /// Refused by the server (one of [`REFUSALS`]): rolled back, it may be made again.
    pub(crate) fn is_refusal(&self) -> bool {
        self.code().is_some_and(|code| REFUSALS.contains(&code))
    }
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Server(mysql_async::Error::Server(error)) => {
                write!(f, "{} (error {}, SQLSTATE {})", error.message, error.code, error.state)
            }
            WorkerError::Server(error) => {
                write!(f, "{error}")?;
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            WorkerError::Timeout(timeout) => write!(f, "no answer within {timeout:?} (--timeout)"),
            WorkerError::MissingRow => write!(f, "the counter's row is gone from the run's table"),
            WorkerError::Shape => write!(f, "an answer of another shape than the statement's"),
        }
    }
}

/// `future`, or a timeout error after `timeout`.
pub(crate) async fn within<T>(
    timeout: Duration,
    future: impl Future<Output = Result<T, mysql_async::Error>>,
) -> Result<T, WorkerError> {
    match tokio::time::timeout(timeout, future).await {
        Ok(answer) => answer.map_err(WorkerError::Server),
        Err(_) => Err(WorkerError::Timeout(timeout)),
    }
}
