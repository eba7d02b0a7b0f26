//! Errors of the shared pieces: a bad configuration and a failed counter operation.

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
        "{increments} increments of {work} is longer than about 584 years per worker: use fewer increments or a shorter work"
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

/// A counter operation that the operating system refused.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The process-shared mutex could not be initialised, locked or unlocked.
    #[error("the process-shared mutex failed to {operation}")]
    Mutex {
        /// What was being done: `initialise`, `lock`, `unlock`.
        operation: &'static str,
        /// The error the C library returned.
        #[source]
        source: std::io::Error,
    },
}
