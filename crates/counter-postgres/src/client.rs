//! A connection to the server as every client of a run makes it (the session's isolation level and statement
//! timeout set), the client's own deadline on every request, and why a request failed.

use std::time::Duration;

use tokio_postgres::{Client, NoTls, error::SqlState};

use crate::options::Isolation;

/// Connects with `config`, drives the connection on the runtime, and sets the session's isolation level and
/// statement timeout.
pub(crate) async fn connect(
    config: &tokio_postgres::Config,
    isolation: Isolation,
    timeout: Duration,
) -> Result<Client, WorkerError> {
    let (client, connection) = within(timeout, config.connect(NoTls)).await?;
    // Ends with an error when the server goes; the client's next request says so.
    tokio::spawn(connection);
    let setup = format!(
        "SET default_transaction_isolation = '{}'; SET statement_timeout = {}",
        isolation.sql(),
        timeout.as_millis()
    );
    within(timeout, client.batch_execute(&setup)).await?;
    Ok(client)
}

/// How a worker connects again after its connection broke (terminated by the server, or a server that stopped
/// answering), and for how long it keeps trying.
#[derive(Debug, Clone)]
pub(crate) struct Reconnect {
    pub(crate) connection: tokio_postgres::Config,
    pub(crate) isolation: Isolation,
    pub(crate) patience: Duration,
}

/// Why a worker stopped early: the server's answer, or none within the timeout.
#[derive(Debug)]
pub(crate) enum WorkerError {
    /// The server's error, or the connection's.
    Server(tokio_postgres::Error),
    /// No answer within the client's timeout.
    Timeout(Duration),
    /// The counter's row was not there: someone else changed the run's table.
    MissingRow,
}

impl WorkerError {
    /// The server refused to serialize the transaction (40001) or chose it as a deadlock's victim (40P01):
    /// rolled back, it may be made again.
    pub(crate) fn is_serialization_failure(&self) -> bool {
        matches!(self, WorkerError::Server(error) if error.code().is_some_and(|code| {
            *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        }))
    }
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The driver's own message is short ("db error"): the server's, with its code, says what happened.
            WorkerError::Server(error) => {
                if let Some(db) = error.as_db_error() {
                    return write!(f, "{} (SQLSTATE {})", db.message(), db.code().code());
                }
                // The driver's top message is generic ("error connecting to server"): its causes say why.
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
        }
    }
}

/// `future`, or a timeout error after `timeout`.
pub(crate) async fn within<T>(
    timeout: Duration,
    future: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, WorkerError> {
    match tokio::time::timeout(timeout, future).await {
        Ok(answer) => answer.map_err(WorkerError::Server),
        Err(_) => Err(WorkerError::Timeout(timeout)),
    }
}
