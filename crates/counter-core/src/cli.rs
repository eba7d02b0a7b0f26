//! What every frontend binary shares: the flags (one `clap::Args` struct each binary flattens, so that all
//! three accept the same flags with the same help) and the end of `main` (print, map errors to exit codes).

use std::{error::Error, process::ExitCode};

use nix::sys::signal::Signal;

use crate::{
    config::{Config, Hold, Jobs, Pool, Sync, Timer, Window, Work, parse_count},
    error::ConfigError,
    render,
    report::RunReport,
    signals,
};

/// The shared flags: the workload, `--hold` and `--format`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Number of workers (threads, processes or tasks)
    #[arg(long, value_name = "N", default_value = "5", value_parser = |s: &str| parse_count("workers", s))]
    pub workers: u64,

    /// Increments each worker makes
    #[arg(long, value_name = "N", default_value = "1000", value_parser = |s: &str| parse_count("increments", s))]
    pub increments: u64,

    /// Simulated work per increment: none, yield, sleep:<duration>, spin:<duration> (busy loop), or
    /// block:<duration> (counter-async only: a blocking sleep inside a task). Durations: 10ms, 250us, 1s
    #[arg(long, value_name = "WORK", default_value = "sleep:10ms", value_parser = |s: &str| s.parse::<Work>())]
    pub work: Work,

    /// Where the work sits: before the read-modify-write (the seed), or inside it, between read and write
    #[arg(long, value_enum, default_value_t = Window::Before)]
    pub window: Window,

    /// How the counter is protected
    #[arg(long, value_enum, default_value_t = Sync::Racy)]
    pub sync: Sync,

    /// How sleep: work is timed: compensated (each sleep shortened by how late the previous ones woke, so that
    /// timer lateness does not add up), or relative (each sleep as asked, lateness and all, as the seed does)
    #[arg(long, value_enum, default_value_t = Timer::Compensated)]
    pub timer: Timer,

    /// Once every worker is alive, print the ids and wait this long before starting them (30, 500ms), or until
    /// a line arrives on standard input (stdin), so that ps, pmap or smem can inspect them
    #[arg(long, value_name = "SECONDS|DURATION|stdin", value_parser = |s: &str| s.parse::<Hold>())]
    pub hold: Option<Hold>,

    /// Output: text for people, json for tools (the full report)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The pool flags, for the frontends that can pool (threads and processes).
#[derive(Debug, Clone, clap::Args)]
pub struct PoolArgs {
    /// Run the workers' loops as jobs on a pool of N threads or processes, as concurrent.futures does; memory then
    /// follows N, not the number of workers
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_count("pool", s))]
    pub pool: Option<u64>,

    /// What a pool job is: a whole worker's loop, or every single increment [default: worker; needs --pool]
    #[arg(long, value_enum)]
    pub jobs: Option<Jobs>,
}

impl PoolArgs {
    fn apply(&self, config: &mut Config) -> Result<(), ConfigError> {
        config.pool = match (self.pool, self.jobs) {
            (None, None) => None,
            (None, Some(jobs)) => {
                return Err(ConfigError::Conflict(format!(
                    "--jobs {} needs --pool N: without a pool every worker is its own thread or process",
                    value_name(&jobs)
                )));
            }
            (Some(size), jobs) => Some(Pool { size, jobs: jobs.unwrap_or(Jobs::Worker) }),
        };
        Ok(())
    }
}

/// The name a value of a `clap::ValueEnum` has on the command line (`sharded`, `multi-thread`).
pub fn value_name(value: &impl clap::ValueEnum) -> String {
    value.to_possible_value().map_or_else(String::new, |v| v.get_name().to_owned())
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text, starting with the seed's `Final counter value: N`.
    Text,
    /// The JSON report.
    Json,
}

impl RunArgs {
    /// The validated configuration, with the pool flags if the frontend has them.
    pub fn config(&self, pool: Option<&PoolArgs>) -> Result<Config, ConfigError> {
        let mut config = Config {
            workers: self.workers,
            increments: self.increments,
            work: self.work,
            window: self.window,
            sync: self.sync,
            timer: self.timer,
            pool: None,
            hold: self.hold,
        };
        if let Some(pool) = pool {
            pool.apply(&mut config)?;
        }
        config.validate()?;
        Ok(config)
    }
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

/// What `main` needs to know about a frontend's error to pick the exit code.
pub trait FrontendError: Error {
    /// The interruption, if that is what this error is.
    fn interrupted(&self) -> Option<&Interrupted>;
    /// Whether the user asked for something impossible (exit 2) rather than the run failing (exit 1).
    fn is_usage(&self) -> bool;
}

/// Implements [`FrontendError`] for a frontend's error enum with the usual variants: `Config(ConfigError)` and
/// `Limit(LimitError)` are the user's (exit 2), `Interrupted(Interrupted)` is a signal, anything else a failure.
#[macro_export]
macro_rules! frontend_error {
    ($error:ty) => {
        impl $crate::cli::FrontendError for $error {
            fn interrupted(&self) -> Option<&$crate::cli::Interrupted> {
                match self {
                    Self::Interrupted(interrupted) => Some(interrupted),
                    _ => None,
                }
            }

            fn is_usage(&self) -> bool {
                matches!(self, Self::Config(_) | Self::Limit(_))
            }
        }
    };
}

/// Exit code for a request that cannot be met: bad flags, or more workers than the system allows.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a run that failed.
pub const EXIT_FAILURE: u8 = 1;

/// An error and all its causes on one line: `could not fork worker 3: Resource temporarily unavailable`.
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Prints an error the way every binary does, and returns the exit code.
pub fn fail(program: &str, error: &dyn Error, code: u8) -> ExitCode {
    eprintln!("{program}: error: {}", error_chain(error));
    ExitCode::from(code)
}

/// Every frontend's `main` after parsing: installs the signal handlers, validates the shared flags, runs, prints.
pub fn main<E: FrontendError>(
    program: &str,
    args: &RunArgs,
    pool: Option<&PoolArgs>,
    run: impl FnOnce(&Config) -> Result<RunReport, E>,
) -> ExitCode {
    if let Err(error) = signals::install() {
        return fail(program, &error, EXIT_FAILURE);
    }
    match args.config(pool) {
        Ok(config) => finish(program, run(&config), args.format),
        Err(error) => fail(program, &error, EXIT_USAGE),
    }
}

/// The end of every frontend's `main`: prints the report (or the error) and picks the exit code.
pub fn finish<E: FrontendError>(program: &str, outcome: Result<RunReport, E>, format: Format) -> ExitCode {
    match outcome {
        Ok(report) => {
            match format {
                Format::Text => print!("{}", render::text(&report)),
                Format::Json => println!("{}", report.to_json()),
            }
            ExitCode::SUCCESS
        }
        Err(error) => match error.interrupted() {
            Some(interrupted) => {
                eprintln!("{program}: {interrupted}; every worker was stopped. The run so far:");
                match format {
                    Format::Text => eprint!("{}", render::text(&interrupted.partial)),
                    Format::Json => eprintln!("{}", interrupted.partial.to_json()),
                }
                ExitCode::from(signals::exit_code(interrupted.signal))
            }
            None => fail(program, &error, if error.is_usage() { EXIT_USAGE } else { EXIT_FAILURE }),
        },
    }
}
