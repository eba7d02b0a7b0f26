//! Errors of the shared pieces, and the one error type a run ends with: [`Error`]. Each frontend wraps it in
//! its own enum (`#[error(transparent)]`) next to what only that frontend can hit, and [`Error::exit_code`]
//! is the one place that decides the exit code.

use std::io;

use nix::sys::signal::Signal;

use crate::{model::Model, proc::limits::LimitError, report::RunReport};

/// A configuration value that is out of range or cannot be parsed.
///
/// Every message names the bad value and says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A duration that does not parse.
    #[error("invalid duration '{value}': {reason}")]
    Duration {
        /// The text as given.
        value: String,
        /// Why it was refused, with what is allowed.
        reason: String,
    },
    /// A `--work` value that does not parse.
    #[error("invalid work '{value}': {reason} (allowed: {allowed})", allowed = crate::config::Work::ALLOWED)]
    Work {
        /// The text as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A `--hold` value that does not parse.
    #[error("invalid hold '{value}': {reason} (allowed: a duration such as 30s or 500ms, or 'stdin')")]
    Hold {
        /// The text as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A count that must be at least one.
    #[error("invalid {name} '{value}': it must be a whole number from 1 to {max}")]
    Count {
        /// The flag's name, without dashes.
        name: &'static str,
        /// The text as given.
        value: String,
        /// The largest value allowed.
        max: u64,
    },
    /// `workers * increments` does not fit in the 64-bit counter.
    #[error(
        "{workers} workers x {increments} increments overflows the 64-bit counter: their product must be at most {max}",
        max = u64::MAX
    )]
    TotalOverflow {
        /// The number of workers asked for.
        workers: u64,
        /// The number of increments per worker asked for.
        increments: u64,
    },
    /// `increments * work` is longer than any clock can measure.
    #[error(
        "{increments} increments of {work} is longer than {max} per worker: use fewer increments or a shorter work",
        max = crate::duration::MAX_DESCRIBED
    )]
    IdealTimeOverflow {
        /// The number of increments per worker.
        increments: u64,
        /// The work, as given.
        work: String,
    },
    /// A work kind that this frontend cannot perform.
    #[error("work '{work}' is not available in {model}: {reason}")]
    WorkNotSupported {
        /// The work, as given.
        work: String,
        /// The frontend.
        model: &'static str,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// Any other flag combination that makes no sense.
    #[error("{0}")]
    Conflict(String),
}

/// A counter that could not be set up or updated.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The process-shared mutex could not be initialised or locked.
    #[error("the process-shared mutex failed to {operation}")]
    Mutex {
        /// What was being done: `initialise`, `lock`.
        operation: &'static str,
        /// The error the C library returned.
        #[source]
        source: io::Error,
    },
    /// Too many shards for the address space.
    #[error("a sharded counter for {writers} writers does not fit in memory")]
    TooLarge {
        /// Writers (workers, or pool members) asked for.
        writers: u64,
    },
    /// The allocator said no.
    #[error("could not allocate {bytes} bytes for the counter")]
    OutOfMemory {
        /// The size asked for.
        bytes: usize,
    },
}

/// A run ended by SIGINT or SIGTERM, with what it had done so far.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal}")]
pub struct Interrupted {
    /// The signal.
    pub signal: Signal,
    /// The report of the run so far.
    pub partial: Box<RunReport>,
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
    Interrupted(#[from] Interrupted),
    /// The run went on to the end but something went wrong on the way (a worker died): the report says what
    /// the others did.
    #[error("{cause}")]
    Failed {
        /// What went wrong, in words.
        cause: String,
        /// The report of what was done.
        partial: Box<RunReport>,
    },
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
            Error::Interrupted(interrupted) => crate::signals::exit_code(interrupted.signal),
            _ => EXIT_FAILURE,
        }
    }

    /// The report of what was done, for a run cut short.
    pub fn partial_report(&self) -> Option<&RunReport> {
        match self {
            Error::Interrupted(Interrupted { partial, .. }) | Error::Failed { partial, .. } => Some(partial),
            _ => None,
        }
    }
}

impl From<CounterError> for Error {
    fn from(error: CounterError) -> Error {
        Error::Counter(error)
    }
}

/// How a frontend's run fails: for a reason every frontend shares ([`Error`]), or for one of the frontend's own
/// (`E`: a thread that could not start, a fork that failed, a worker process that died), which is a failed run
/// (exit 1). Each frontend names its own as `pub type Error = RunError<ItsOwnError>`.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    /// A reason every frontend shares.
    #[error(transparent)]
    Core(#[from] Error),
    /// The frontend's own.
    #[error(transparent)]
    Frontend(E),
}

impl<E: std::error::Error + 'static> RunError<E> {
    /// The exit code: the shared error's, or 1 for the frontend's own failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Core(core) => core.exit_code(),
            RunError::Frontend(_) => EXIT_FAILURE,
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
        impl<E: std::error::Error + 'static> From<$source> for RunError<E> {
            fn from(error: $source) -> Self {
                RunError::Core(error.into())
            }
        }
    )*};
}

into_run_error!(ConfigError, LimitError, CounterError, Interrupted);
