//! The run-level error, at the top of the core: [`Error`], the one error a run ends with for the reasons every
//! frontend shares, made of the lower layers' own errors (a [`ConfigError`], a [`LimitError`], a
//! [`CounterError`]) and the only error that carries a [`RunReport`]. A frontend names its error
//! `RunError<ItsOwnError>`; [`Error::exit_code`] and [`RunError::exit_code`] decide the exit code of a run.

use std::io;

use nix::sys::signal::Signal;

use crate::{
    config::ConfigError, counter::CounterError, model::Model, proc::limits::LimitError, report::RunReport, signals,
};

/// A run ended by SIGINT or SIGTERM, with what it had done so far.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal}")]
pub struct RunInterrupted {
    /// The signal.
    pub signal: Signal,
    /// The report of the run so far.
    pub partial: Box<RunReport>,
}

/// Why a frontend's coordination ended before the run's end: a stop signal (the run is then reported as far
/// as it went), or a failure `E`.
#[derive(Debug)]
pub enum Stop<E> {
    /// SIGINT or SIGTERM arrived.
    Signal(Signal),
    /// Something went wrong.
    Failed(E),
}

impl<E> From<E> for Stop<E> {
    fn from(error: E) -> Stop<E> {
        Stop::Failed(error)
    }
}

/// Why a run produced no (complete) report, for every reason the frontends share.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request that makes no sense.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A request beyond what the system allows.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The limits could not be read.
    #[error("could not read the system's limits")]
    LimitCheck(#[source] io::Error),
    /// The counter could not be set up.
    #[error("could not set up the counter")]
    Counter(#[source] CounterError),
    /// A counter operation failed in a worker.
    #[error("{} {worker} failed", model.worker_noun())]
    Worker {
        /// The model, to name the worker.
        model: Model,
        /// The worker's number.
        worker: u64,
        /// What failed.
        #[source]
        source: CounterError,
    },
    /// A worker panicked.
    #[error("{} {worker} panicked", model.worker_noun())]
    WorkerPanicked {
        /// The model, to name the worker.
        model: Model,
        /// The worker's number.
        worker: u64,
    },
    /// The memory figures could not be read.
    #[error("could not read the memory figures of the run's processes")]
    Probe(#[source] io::Error),
    /// SIGINT or SIGTERM.
    #[error(transparent)]
    Interrupted(#[from] RunInterrupted),
    /// The run went on to the end but something went wrong on the way (a worker died): the report says what
    /// the others did. Said as its cause and the cause's whole chain, which it keeps.
    #[error("{}", error_chain(&**cause))]
    Failed {
        /// What went wrong, with its sources.
        cause: Box<dyn std::error::Error + Send + Sync>,
        /// The report of what was done.
        partial: Box<RunReport>,
    },
}

/// `error` and every error it was caused by, in one line: `outer: inner: innermost`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Exit code of a successful run.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit code of a run that failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a request that cannot be met: bad flags, more than a system limit allows, an unusable output.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when standard output is a pipe whose reader has gone (`| head`): 128 + SIGPIPE, as a program
/// killed by SIGPIPE would end, but quietly.
pub const EXIT_BROKEN_PIPE: u8 = 141;

impl Error {
    /// The exit code this error ends the program with: 2 for a request that cannot be met, 128 + the signal
    /// after SIGINT or SIGTERM, 1 for anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Limit(_) => EXIT_USAGE,
            Error::Interrupted(interrupted) => signals::exit_code(interrupted.signal),
            _ => EXIT_FAILURE,
        }
    }

    /// The report of what was done, for a run cut short.
    pub fn partial_report(&self) -> Option<&RunReport> {
        match self {
            Error::Interrupted(RunInterrupted { partial, .. }) | Error::Failed { partial, .. } => Some(partial),
            _ => None,
        }
    }
}

impl From<CounterError> for Error {
    fn from(error: CounterError) -> Error {
        Error::Counter(error)
    }
}

/// A frontend's own error, and the exit code it ends the run with: a failed run (1) unless the error says the
/// request cannot be met here (2), by its type.
pub trait FrontendError: std::error::Error + 'static {
    /// The exit code.
    fn exit_code(&self) -> u8 {
        EXIT_FAILURE
    }
}

/// How a frontend's run fails: for a reason every frontend shares ([`Error`]), or for one of the frontend's own
/// (`E`: a thread that could not start, a fork that failed, a worker process that died, a server that cannot be
/// used), whose exit code it says. Each frontend names its own as `pub type Error = RunError<ItsOwnError>`.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: FrontendError> {
    /// A reason every frontend shares.
    #[error(transparent)]
    Core(#[from] Error),
    /// The frontend's own.
    #[error(transparent)]
    Frontend(E),
}

impl<E: FrontendError> RunError<E> {
    /// The exit code: the shared error's, or the frontend's own error's.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Core(core) => core.exit_code(),
            RunError::Frontend(own) => own.exit_code(),
        }
    }

    /// The report of what was done, for a run cut short.
    pub fn partial_report(&self) -> Option<&RunReport> {
        match self {
            RunError::Core(core) => core.partial_report(),
            RunError::Frontend(_) => None,
        }
    }
}

/// The shared errors convert straight into a frontend's, so that `?` works on them in a frontend.
macro_rules! into_run_error {
    ($($source:ty),*) => {$(
        impl<E: FrontendError> From<$source> for RunError<E> {
            fn from(error: $source) -> Self {
                RunError::Core(error.into())
            }
        }
    )*};
}

into_run_error!(ConfigError, LimitError, CounterError, RunInterrupted);
