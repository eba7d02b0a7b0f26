//! The workload: how many workers, how many increments each, what work sits where, and which strategy
//! protects the counter. The defaults are the seed program: 5 workers x 1000 increments after 10 ms of work,
//! no lock.
//!
//! A [`Request`] is what a user asked for, field by field; [`Request::validate`] turns it into a [`Config`],
//! whose fields are private: a `Config` that exists has been checked, so nobody checks it again.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

use crate::duration::{DurationError, MAX_DESCRIBED, duration_or_reason, format_duration, no_spaces, parse_duration};

/// A configuration value that is out of range or cannot be parsed.
///
/// Every message names the bad value and says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A duration that does not parse.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A `--work` value that does not parse.
    #[error("invalid work '{value}': {reason} (allowed: {allowed})", allowed = Work::ALLOWED)]
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
        "{increments} increments of {work} is longer than {MAX_DESCRIBED} per worker: use fewer increments or a \
         shorter work"
    )]
    IdealTimeOverflow {
        /// The number of increments per worker.
        increments: u64,
        /// The work, as given.
        work: String,
    },
    /// A work kind that this frontend cannot perform.
    #[error("work '{work}' is not available in {binary}: {reason}")]
    WorkNotSupported {
        /// The work, as given.
        work: String,
        /// The frontend's binary.
        binary: &'static str,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// Any other flag combination that makes no sense.
    #[error("{0}")]
    Conflict(String),
}

/// The simulated work each increment is preceded (or interrupted) by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// No work at all: the workers hammer the counter, the most contended case.
    None,
    /// Give up the CPU once (`sched_yield`, or the async runtime's yield).
    Yield,
    /// Sleep: the worker is off the CPU, as it would be waiting for I/O. The seed's `time.sleep(0.01)`.
    Sleep(Duration),
    /// Busy-loop on the clock: the worker keeps the CPU, as it would computing.
    Spin(Duration),
    /// A blocking sleep inside an async task: the classic mistake, which stalls the runtime's thread.
    Block(Duration),
}

impl Work {
    /// What `--work` accepts, for error messages.
    pub const ALLOWED: &'static str = "none, yield, sleep:<duration>, spin:<duration>, block:<duration>";

    /// How long one piece of work is meant to take; zero for `none` and `yield`.
    pub fn nominal(self) -> Duration {
        match self {
            Work::None | Work::Yield => Duration::ZERO,
            Work::Sleep(d) | Work::Spin(d) | Work::Block(d) => d,
        }
    }
}

impl FromStr for Work {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| ConfigError::Work { value: text.to_owned(), reason };
        no_spaces(text).map_err(bad)?;
        let (kind, argument) = match text.split_once(':') {
            Some((kind, argument)) => (kind, Some(argument)),
            None => (text, None),
        };
        let duration = |make: fn(Duration) -> Work| match argument {
            None => Err(bad(format!("'{kind}' needs a duration, as in {kind}:10ms"))),
            Some(argument) => parse_duration(argument).map(make).map_err(|e| bad(e.reason)),
        };
        match kind {
            "none" | "yield" if argument.is_some() => Err(bad(format!("'{kind}' takes no duration"))),
            "none" => Ok(Work::None),
            "yield" => Ok(Work::Yield),
            "sleep" => duration(Work::Sleep),
            "spin" => duration(Work::Spin),
            "block" => duration(Work::Block),
            _ => Err(bad(format!("unknown kind '{kind}'"))),
        }
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Work::None => f.write_str("none"),
            Work::Yield => f.write_str("yield"),
            Work::Sleep(d) => write!(f, "sleep:{}", format_duration(*d)),
            Work::Spin(d) => write!(f, "spin:{}", format_duration(*d)),
            Work::Block(d) => write!(f, "block:{}", format_duration(*d)),
        }
    }
}

/// Where the work sits relative to the counter's read-modify-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Window {
    /// Work, then read and write back: the seed program. The race window is a few nanoseconds wide.
    Before,
    /// Read, work, write back: the race window is as wide as the work, the textbook way to lose updates.
    Inside,
}

impl Window {
    /// Every value, in the order the project presents them.
    pub const ALL: [Window; 2] = [Window::Before, Window::Inside];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Window::Before => "before",
            Window::Inside => "inside",
        }
    }
}

/// How the workers keep the shared counter consistent (the `--sync` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// No protection: a relaxed load, then a relaxed store of that value plus one. Updates can be lost.
    Racy,
    /// A mutex around the read-modify-write.
    Mutex,
    /// One atomic `fetch_add` on the shared value.
    Atomic,
    /// One cache-line-padded slot per worker, each written by its owner alone, summed at the end.
    Sharded,
    /// Optimistic: read, then write the value plus one only if it is still what was read (compare-and-swap),
    /// and try again with the new value when another worker got there first. The retries are counted.
    Optimistic,
    /// A lock whose every grant carries a rising token, checked by the store on each read and write: a holder
    /// whose lock expired under it (paused past its lease) is refused ("fenced off") instead of writing over a
    /// newer holder's update. Only where a lock can expire: elsewhere a lock needs no fencing.
    Fenced,
}

impl Strategy {
    /// Every strategy, in the order the project presents them.
    pub const ALL: [Strategy; 6] =
        [Strategy::Racy, Strategy::Mutex, Strategy::Atomic, Strategy::Sharded, Strategy::Optimistic, Strategy::Fenced];

    /// Whether this strategy can lose updates.
    pub fn is_racy(self) -> bool {
        self == Strategy::Racy
    }

    /// Whether this strategy takes a lock around the read-modify-write (mutex, fenced).
    pub fn takes_lock(self) -> bool {
        matches!(self, Strategy::Mutex | Strategy::Fenced)
    }

    /// The name on the command line and in reports: `racy`, `sharded`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Racy => "racy",
            Strategy::Mutex => "mutex",
            Strategy::Atomic => "atomic",
            Strategy::Sharded => "sharded",
            Strategy::Optimistic => "optimistic",
            Strategy::Fenced => "fenced",
        }
    }
}

/// How `sleep:` work is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timer {
    /// Shorten each sleep by how much longer than asked the worker's previous sleeps lasted, so that the
    /// timer's lateness (wake-up latency, timer slack, an async timer's whole-millisecond ticks) does not add up. Only
    /// the timer's own lateness is made up: time spent elsewhere (waiting for a lock) still counts.
    Compensated,
    /// Sleep for the duration each time, as the seed's `time.sleep` does: every sleep's lateness adds up.
    Relative,
}

impl Timer {
    /// Every value, in the order the project presents them.
    pub const ALL: [Timer; 2] = [Timer::Compensated, Timer::Relative];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Timer::Compensated => "compensated",
            Timer::Relative => "relative",
        }
    }
}

/// What one job of a pool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jobs {
    /// One job per worker: the worker's whole loop, as `executor.submit(worker)`.
    Worker,
    /// One job per increment: every single increment submitted on its own, to show what a job costs.
    Increment,
}

impl Jobs {
    /// Every value, in the order the project presents them.
    pub const ALL: [Jobs; 2] = [Jobs::Worker, Jobs::Increment];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Jobs::Worker => "worker",
            Jobs::Increment => "increment",
        }
    }
}

/// Pooled execution: `size` threads or processes run the workers' loops as jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Pool members.
    pub size: u64,
    /// What a job is.
    pub jobs: Jobs,
}

/// How long a frontend holds its workers alive, before they start, so that they can be inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Hold for this long.
    For(Duration),
    /// Hold until a line (or end of file) arrives on standard input: lets a harness sample at leisure.
    UntilStdin,
}

impl FromStr for Hold {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| ConfigError::Hold { value: text.to_owned(), reason };
        if text == "stdin" {
            return Ok(Hold::UntilStdin);
        }
        no_spaces(text).map_err(bad)?;
        // A bare number is seconds, as `--hold 30` reads naturally; anything else is a duration. Both have the
        // same limit: what a 64-bit count of nanoseconds holds.
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return duration_or_reason(&format!("{text}s")).map(Hold::For).map_err(bad);
        }
        duration_or_reason(text).map(Hold::For).map_err(bad)
    }
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::For(d) => f.write_str(&format_duration(*d)),
            Hold::UntilStdin => f.write_str("stdin"),
        }
    }
}

/// A run as asked for, before validation: build one (the default is the seed), then [`Request::validate`] it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Number of workers (threads, processes or tasks).
    pub workers: u64,
    /// Increments each worker makes.
    pub increments: u64,
    /// The simulated work done for each increment.
    #[serde(serialize_with = "display", deserialize_with = "from_str")]
    pub work: Work,
    /// Where the work sits relative to the read-modify-write.
    pub window: Window,
    /// How the counter is protected. Named `sync` in JSON, as the `--sync` flag.
    #[serde(rename = "sync")]
    pub strategy: Strategy,
    /// How sleeps are timed.
    pub timer: Timer,
    /// Pooled execution (`--pool`), for threads and processes; `None` is one thread or process per worker.
    #[serde(default)]
    pub pool: Option<Pool>,
    /// Whether to hold the workers alive before they start. Not part of the workload: timings exclude it.
    #[serde(serialize_with = "display_option", deserialize_with = "from_str_option")]
    pub hold: Option<Hold>,
    /// `--trace`: the most steps each worker keeps (`--trace-limit`); `None` without a trace. The trace changes
    /// the timing it observes, so it is part of the run as reported.
    #[serde(default)]
    pub trace: Option<u64>,
}

impl Default for Request {
    /// The seed program: 5 workers, 1000 increments each, 10 ms of sleep before each, no lock.
    fn default() -> Self {
        Request {
            workers: 5,
            increments: 1000,
            work: Work::Sleep(Duration::from_millis(10)),
            window: Window::Before,
            strategy: Strategy::Racy,
            timer: Timer::Compensated,
            pool: None,
            hold: None,
            trace: None,
        }
    }
}

impl Request {
    /// Checks every rule that a single flag cannot check alone, whatever the model.
    pub fn validate(self) -> Result<Config, ConfigError> {
        check_count("workers", self.workers)?;
        check_count("increments", self.increments)?;
        if let Some(pool) = self.pool {
            check_count("pool", pool.size)?;
        }
        if let Some(limit) = self.trace
            && !(1..=crate::trace::MAX_LIMIT).contains(&limit)
        {
            return Err(ConfigError::Count {
                name: "trace-limit",
                value: limit.to_string(),
                max: crate::trace::MAX_LIMIT,
            });
        }
        let expected = self
            .workers
            .checked_mul(self.increments)
            .ok_or(ConfigError::TotalOverflow { workers: self.workers, increments: self.increments })?;
        let ideal_worker_time = ideal_worker_time(self.work, self.increments).ok_or_else(|| {
            ConfigError::IdealTimeOverflow { increments: self.increments, work: self.work.to_string() }
        })?;
        Ok(Config { request: self, expected, ideal_worker_time })
    }

    /// [`Request::validate`], then what a model cannot run, as its [`Abilities`] say.
    pub fn validate_for(self, abilities: &Abilities) -> Result<Config, ConfigError> {
        if !abilities.blocking_work
            && let Work::Block(_) = self.work
        {
            return Err(ConfigError::WorkNotSupported {
                work: self.work.to_string(),
                binary: abilities.binary,
                reason: "block: is a blocking sleep inside a task that should await, and means nothing where every \
                         worker may block; use sleep:<duration> here",
            });
        }
        if let (Some(reason), Some(_)) = (abilities.no_pool, self.pool) {
            return Err(ConfigError::Conflict(format!("{} has no pool: {reason}", abilities.binary)));
        }
        if self.pool.is_some() && self.trace.is_some() {
            return Err(ConfigError::Conflict(
                "--trace with --pool: a trace follows each worker's own increments, and a pool's members run every \
                 worker's jobs; trace without --pool"
                    .to_owned(),
            ));
        }
        if let (Some(reason), Strategy::Fenced) = (abilities.no_fencing, self.strategy) {
            return Err(ConfigError::Conflict(format!(
                "{} has no --sync fenced: {reason}; a lock that cannot expire needs no fencing (--sync mutex)",
                abilities.binary
            )));
        }
        self.validate()
    }
}

/// Why an in-memory model has no `--sync fenced`.
pub const IN_MEMORY_LOCK: &str = "its lock is held until its holder releases it or dies, never taken from a \
                                  holder that lives";

/// What a model can run besides the workload every model runs; each frontend states its own, and
/// [`Request::validate_for`] refuses the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abilities {
    /// The binary, to name in a refusal.
    pub binary: &'static str,
    /// Whether `block:` work means something here: a blocking sleep inside a task that should await.
    pub blocking_work: bool,
    /// Why `--pool` means nothing here, when it does not.
    pub no_pool: Option<&'static str>,
    /// Why `--sync fenced` means nothing here, when it does not: the model's lock cannot expire under a holder.
    pub no_fencing: Option<&'static str>,
}

fn ideal_worker_time(work: Work, increments: u64) -> Option<Duration> {
    let nanos = work.nominal().as_nanos().checked_mul(u128::from(increments))?;
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// A validated run configuration: every rule of [`Request::validate`] holds. Read it through its methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Request", into = "Request")]
pub struct Config {
    request: Request,
    expected: u64,
    ideal_worker_time: Duration,
}

impl TryFrom<Request> for Config {
    type Error = ConfigError;

    fn try_from(request: Request) -> Result<Self, Self::Error> {
        request.validate()
    }
}

impl From<Config> for Request {
    fn from(config: Config) -> Request {
        config.request
    }
}

impl Default for Config {
    /// The seed program (see [`Request::default`]).
    fn default() -> Self {
        Config { request: Request::default(), expected: 5000, ideal_worker_time: Duration::from_secs(10) }
    }
}

impl Config {
    /// `--trace`: the most steps each worker keeps, when the run is traced.
    pub fn trace(&self) -> Option<u64> {
        self.request.trace
    }

    /// What was asked for, to change a field and validate again.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Number of workers (threads, processes or tasks), at least one.
    #[inline]
    pub fn workers(&self) -> u64 {
        self.request.workers
    }

    /// Increments each worker makes, at least one.
    #[inline]
    pub fn increments(&self) -> u64 {
        self.request.increments
    }

    /// The work done for each increment.
    #[inline]
    pub fn work(&self) -> Work {
        self.request.work
    }

    /// Where the work sits.
    #[inline]
    pub fn window(&self) -> Window {
        self.request.window
    }

    /// How the counter is protected.
    #[inline]
    pub fn strategy(&self) -> Strategy {
        self.request.strategy
    }

    /// How sleeps are timed.
    #[inline]
    pub fn timer(&self) -> Timer {
        self.request.timer
    }

    /// The pool, for a pooled run.
    #[inline]
    pub fn pool(&self) -> Option<Pool> {
        self.request.pool
    }

    /// The hold, if the workers are to be held before they start.
    pub fn hold(&self) -> Option<Hold> {
        self.request.hold
    }

    /// The final value a correct run reaches: `workers * increments`, which fits in 64 bits.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// How long one worker would take if the work took exactly its nominal time and nothing else cost anything.
    pub fn ideal_worker_time(&self) -> Duration {
        self.ideal_worker_time
    }

    /// Threads or processes the run makes: the pool's size when pooled, else one per worker.
    pub fn members(&self) -> u64 {
        self.request.pool.map_or(self.request.workers, |pool| pool.size)
    }
}

fn display<T: fmt::Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[allow(clippy::ref_option)] // serde hands `serialize_with` a reference to the field
fn display_option<T: fmt::Display, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

fn from_str<'de, T: FromStr<Err = ConfigError>, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    String::deserialize(deserializer)?.parse().map_err(D::Error::custom)
}

fn from_str_option<'de, T: FromStr<Err = ConfigError>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<String>::deserialize(deserializer)?.map(|text| text.parse().map_err(D::Error::custom)).transpose()
}

fn check_count(name: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 { Err(ConfigError::Count { name, value: value.to_string(), max: u64::MAX }) } else { Ok(()) }
}

/// Parses a count flag (`--workers`, `--increments`) with an error that names the value and the range.
pub fn parse_count(name: &'static str, text: &str) -> Result<u64, ConfigError> {
    parse_count_up_to(name, text, u64::MAX)
}

/// Parses a count flag that has a smaller limit than `u64::MAX`.
pub fn parse_count_up_to(name: &'static str, text: &str, max: u64) -> Result<u64, ConfigError> {
    let bad = || ConfigError::Count { name, value: text.to_owned(), max };
    let value: u64 = text.parse().map_err(|_| bad())?;
    if value == 0 || value > max { Err(bad()) } else { Ok(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed() {
        let config = Request::default().validate().unwrap();
        assert_eq!(config, Config::default());
        assert_eq!((config.workers(), config.increments()), (5, 1000));
        assert_eq!(config.work(), Work::Sleep(Duration::from_millis(10)));
        assert_eq!((config.window(), config.strategy()), (Window::Before, Strategy::Racy));
        assert_eq!(config.expected(), 5000);
        assert_eq!(config.ideal_worker_time(), Duration::from_secs(10));
    }

    #[test]
    fn work_parses_and_prints_back() {
        for text in ["none", "yield", "sleep:10ms", "spin:250us", "block:1s"] {
            assert_eq!(text.parse::<Work>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_work_names_the_value_and_the_choices() {
        for bad in
            ["sleep", "sleep:", "sleep:-1ms", "sleep:10xs", "nap:1ms", "none:1ms", "", "sleep: 10ms", "sleep:10 ms"]
        {
            let message = bad.parse::<Work>().unwrap_err().to_string();
            assert!(message.contains(&format!("'{bad}'")), "{message}");
            assert!(message.contains(Work::ALLOWED), "{message}");
        }
    }

    #[test]
    fn spaces_are_refused_wherever_they_are() {
        for bad in [" sleep:10ms", "sleep: 10ms", "sleep:10 ms", "sleep:10ms "] {
            assert!(bad.parse::<Work>().unwrap_err().to_string().contains("white space"), "{bad}");
        }
        assert!("1 0".parse::<Hold>().is_err());
        assert!(parse_count("workers", " 5").is_err());
    }

    #[test]
    fn counts_must_be_positive_and_fit() {
        assert_eq!(parse_count("workers", "5"), Ok(5));
        for bad in ["0", "-1", "abc", "18446744073709551616", ""] {
            let message = parse_count("workers", bad).unwrap_err().to_string();
            assert!(message.contains(&format!("'{bad}'")), "{message}");
            assert!(message.contains("from 1 to"), "{message}");
        }
        let message = parse_count_up_to("repeats", "1001", 1000).unwrap_err().to_string();
        assert!(message.contains("from 1 to 1000"), "{message}");
    }

    #[test]
    fn totals_that_overflow_are_refused() {
        let request = Request { workers: u64::MAX, increments: 2, ..Request::default() };
        assert!(matches!(request.validate(), Err(ConfigError::TotalOverflow { .. })));
        let request = Request {
            increments: u64::MAX / 8,
            work: Work::Spin(Duration::from_secs(3600)),
            workers: 1,
            ..Request::default()
        };
        assert!(matches!(request.validate(), Err(ConfigError::IdealTimeOverflow { .. })));
    }

    #[test]
    fn hold_takes_seconds_durations_or_stdin_within_the_same_limit() {
        assert_eq!("30".parse::<Hold>(), Ok(Hold::For(Duration::from_secs(30))));
        assert_eq!("500ms".parse::<Hold>(), Ok(Hold::For(Duration::from_millis(500))));
        assert_eq!("stdin".parse::<Hold>(), Ok(Hold::UntilStdin));
        assert!("soon".parse::<Hold>().unwrap_err().to_string().contains("'soon'"));
        for too_long in ["9223372036854775807", "18446744074s"] {
            let message = too_long.parse::<Hold>().unwrap_err().to_string();
            assert!(message.contains(too_long) && message.contains("584 years"), "{message}");
        }
        assert!("18446744073".parse::<Hold>().is_ok(), "just under the limit");
    }

    #[test]
    fn models_refuse_what_they_cannot_run() {
        let blocking =
            Abilities { binary: "a", blocking_work: true, no_pool: Some("its tasks share threads"), no_fencing: None };
        let plain = Abilities { binary: "b", blocking_work: false, no_pool: None, no_fencing: None };
        let block = Request { work: Work::Block(Duration::from_millis(1)), ..Request::default() };
        let message = block.clone().validate_for(&plain).unwrap_err().to_string();
        assert!(message.contains("block:1ms") && message.contains("sleep:") && message.contains(" b:"), "{message}");
        assert!(block.validate_for(&blocking).is_ok());
        let pooled = Request { pool: Some(Pool { size: 2, jobs: Jobs::Worker }), ..Request::default() };
        let message = pooled.clone().validate_for(&blocking).unwrap_err().to_string();
        assert_eq!(message, "a has no pool: its tasks share threads");
        assert!(pooled.validate_for(&plain).is_ok());
    }

    #[test]
    fn a_config_read_from_json_is_validated() {
        let mut json = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(json["sync"], "racy", "the JSON field keeps the flag's name");
        json["workers"] = 0.into();
        assert!(serde_json::from_value::<Config>(json).is_err());
    }
}
