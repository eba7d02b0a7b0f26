//! A request of an SQL store's client: the client's own deadline on it, and why it failed, in the server's
//! words where the server answered, written once over what a driver's error says ([`Driver`]).

use std::{fmt, future::Future, time::Duration};

use super::record::Failure;

/// An SQL driver, as the shared client asks what its errors say (implemented by a store on a type of its own,
/// since neither the trait nor the driver's error is the store's).
pub trait Driver: fmt::Debug {
    /// The driver's error.
    type Error: std::error::Error;
    /// The server's own answer, with its code (`message (SQLSTATE 40001)`), when the server answered with an
    /// error; `None` for the connection's or the driver's own errors.
    fn server_answer(error: &Self::Error) -> Option<String>;
    /// Whether the server refused the transaction (or its statement), rolled it back, and it may be made again.
    fn is_refusal(error: &Self::Error) -> bool;
    /// What it means to the participants' record.
    fn failure(error: &Self::Error) -> Failure;
}

/// Why a request stopped early: the server's answer, or none within the timeout, or an answer not the
/// statement's.
#[derive(Debug)]
pub enum RequestError<D: Driver> {
    /// The server's error, or the connection's.
    Server(D::Error),
    /// No answer within the client's timeout.
    Timeout(Duration),
    /// The counter's row was not there: someone else changed the run's table.
    MissingRow,
    /// An answer of another shape than the statement's (a column of another type, or missing).
    Shape,
}

impl<D: Driver> RequestError<D> {
    /// Refused by the server: rolled back, it may be made again.
    pub fn is_refusal(&self) -> bool {
        matches!(self, RequestError::Server(error) if D::is_refusal(error))
    }

    /// What it means to the participants' record.
    pub fn failure(&self) -> Failure {
        match self {
            RequestError::Server(error) => D::failure(error),
            _ => Failure::Other,
        }
    }

    /// Whether the table's row, or the answer's shape, is wrong: nothing a new connection would get past.
    pub fn is_about_the_table(&self) -> bool {
        matches!(self, RequestError::MissingRow | RequestError::Shape)
    }
}

impl<D: Driver> fmt::Display for RequestError<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A driver's own top message is short or generic ("db error", "error connecting to server"): the
            // server's answer, with its code, or else the causes, say what happened.
            RequestError::Server(error) => {
                if let Some(answer) = D::server_answer(error) {
                    return write!(f, "{answer}");
                }
                write!(f, "{error}")?;
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            RequestError::Timeout(timeout) => write!(f, "no answer within {timeout:?} (--timeout)"),
            RequestError::MissingRow => write!(f, "the counter's row is gone from the run's table"),
            RequestError::Shape => write!(f, "an answer of another shape than the statement's"),
        }
    }
}

/// `future`, or a timeout error after `timeout`.
pub async fn within<T, D: Driver>(
    timeout: Duration,
    future: impl Future<Output = Result<T, D::Error>>,
) -> Result<T, RequestError<D>> {
    match tokio::time::timeout(timeout, future).await {
        Ok(answer) => answer.map_err(RequestError::Server),
        Err(_) => Err(RequestError::Timeout(timeout)),
    }
}
