//! What every frontend binary shares: the flags (one `clap::Args` struct each binary flattens, so that every
//! binary accepts the same flags with the same help) and the end of `main` (print, map errors to exit codes).
//! This is the only module that knows clap: the domain types get their command-line names here.

use std::{error::Error as StdError, process::ExitCode};

use clap::builder::PossibleValue;

use crate::{
    config::{Abilities, Config, ConfigError, Hold, Jobs, Pool, Request, Strategy, Timer, Window, Work, parse_count},
    error::{EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_USAGE, Error, RunError},
    model::{Model, StartMethod},
    output::{self, PrintError},
    render::{self, ModelWords},
    report::RunReport,
    signals,
};

/// Gives a domain type its command-line values: its `ALL` list, its `name()`s, and a line of help each (from a
/// list here, or from the type's own `summary`).
macro_rules! value_enum {
    ($type:ty, $summary:path) => {
        impl clap::ValueEnum for $type {
            fn value_variants<'a>() -> &'a [Self] {
                &<$type>::ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.name()).help($summary(*self)))
            }
        }
    };
    ($type:ty { $($value:path => $help:expr),+ $(,)? }) => {
        impl clap::ValueEnum for $type {
            fn value_variants<'a>() -> &'a [Self] {
                &<$type>::ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                let help = match self {
                    $($value => $help),+
                };
                Some(PossibleValue::new(self.name()).help(help))
            }
        }
    };
}

value_enum!(Strategy {
    Strategy::Racy => "no protection: a load, then a store of that value plus one; updates can be lost",
    Strategy::Mutex => "a lock around the read-modify-write",
    Strategy::Atomic => "one indivisible read-modify-write",
    Strategy::Sharded => "one slot per worker, each written by its owner alone, summed at the end",
    Strategy::Optimistic => "compare-and-swap, made again when another worker got there first; retries counted",
    Strategy::Fenced => "a lock whose grants carry a rising token the store checks: a holder whose lock expired is \
                         refused (a store with expiring locks only)",
});
value_enum!(Window {
    Window::Before => "work, then read and write back: the seed program",
    Window::Inside => "read, work, write back: the race window is as wide as the work",
});
value_enum!(Timer {
    Timer::Compensated => "each sleep shortened by how late the previous ones woke, so lateness does not add up",
    Timer::Relative => "each sleep as asked, as the seed's time.sleep: every wake-up's lateness adds up",
});
value_enum!(Jobs {
    Jobs::Worker => "one job per worker: the worker's whole loop",
    Jobs::Increment => "one job per increment, to show what a job costs",
});
value_enum!(Model, Model::summary);
value_enum!(StartMethod, StartMethod::summary);

/// What the shared command line needs to know of one frontend: its model, what it can run, its words for
/// `--work`, and its own sentences for the report. Each frontend's crate has one, as a constant.
#[derive(Debug, Clone, Copy)]
pub struct Frontend {
    /// The model it runs.
    pub model: Model,
    /// What it can run besides the common workload.
    pub abilities: Abilities,
    /// The `--work` flag's help, in this model's words.
    pub work_help: &'static str,
    /// Its own words in the text report.
    pub words: ModelWords,
}

impl Frontend {
    /// Whether what the frontend says it can run agrees with its model's facts ([`Model::pools`],
    /// [`Model::lock_expires`]): each frontend asserts it at compile time, so that the facts have one home.
    pub const fn agrees_with_its_model(&self) -> bool {
        self.abilities.no_pool.is_none() == self.model.pools()
            && self.abilities.no_fencing.is_none() == self.model.lock_expires()
    }
}

/// The shared flags: the workload, `--hold` and `--format`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Number of workers (threads, processes or tasks)
    #[arg(long, value_name = "N", default_value = "5", value_parser = |s: &str| parse_count("workers", s))]
    pub workers: u64,

    /// Increments each worker makes
    #[arg(long, value_name = "N", default_value = "1000", value_parser = |s: &str| parse_count("increments", s))]
    pub increments: u64,

    /// Simulated work per increment (the flag's help lists the kinds).
    #[arg(
        long,
        value_name = "WORK",
        default_value = "sleep:10ms",
        value_parser = |s: &str| s.parse::<Work>(),
        help = "Simulated work per increment: none, yield, sleep:<duration>, spin:<duration> (busy loop), or \
                block:<duration> (counter-async only: a blocking sleep inside a task). Durations: 10ms, 250us, 1s"
    )]
    pub work: Work,

    /// Where the work sits: before the read-modify-write (the seed), or inside it, between read and write
    #[arg(long, value_enum, default_value_t = Window::Before)]
    pub window: Window,

    /// How the counter is protected
    #[arg(long = "sync", value_name = "STRATEGY", value_enum, default_value_t = Strategy::Racy)]
    pub strategy: Strategy,

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

    /// `--trace` and `--trace-limit`.
    #[command(flatten)]
    pub trace: TraceArgs,
}

/// `--trace` and its limit.
#[derive(Debug, Clone, clap::Args)]
pub struct TraceArgs {
    /// Record what each worker read and wrote, and when, and attribute every lost update to a collision or a
    /// rollback (the report narrates the first; the trace changes the timing it observes)
    #[arg(long)]
    pub trace: bool,

    /// With --trace: the most steps each worker keeps; the ones past it are counted, not kept
    #[arg(
        long,
        value_name = "N",
        requires = "trace",
        value_parser = |s: &str| crate::config::parse_count_up_to("trace-limit", s, crate::trace::MAX_LIMIT)
    )]
    pub trace_limit: Option<u64>,
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
    fn pool(&self) -> Result<Option<Pool>, ConfigError> {
        match (self.pool, self.jobs) {
            (None, None) => Ok(None),
            (None, Some(jobs)) => Err(ConfigError::Conflict(format!(
                "--jobs {} needs --pool N: without a pool every worker is its own thread or process",
                jobs.name()
            ))),
            (Some(size), jobs) => Ok(Some(Pool { size, jobs: jobs.unwrap_or(Jobs::Worker) })),
        }
    }
}

/// The `--work` help of a model whose workers may block: every kind but `block:`.
pub const WORK_HELP: &str = "Simulated work per increment: none, yield, sleep:<duration>, or spin:<duration> (busy \
                             loop). Durations: 10ms, 250us, 1s";

/// What every binary's `--help` ends with.
pub const EXIT_CODES: &str = "Exit codes: 0 success; 1 the run failed (a worker died; the report could not be written); 2 a \
request that cannot be met (a bad value, over a system limit, standard output closed); 130 / 143 after SIGINT / \
SIGTERM, with the report so far on stderr; 141 when the reader of standard output has gone.";

/// The shared flags' help, said for one binary: its own word for a worker, its own `--work` help, and the exit
/// codes at the end.
pub fn command_for(frontend: &Frontend, command: clap::Command) -> clap::Command {
    let names = frontend.model.names();
    let work = frontend.work_help;
    let has_pool = command.get_arguments().any(|arg| arg.get_id() == "pool");
    // At most 80 columns, the width the help's own lines are written for, whatever the terminal.
    let command = command
        .max_term_width(80)
        .mut_arg("workers", |arg| arg.help(format!("Number of {}", names.workers)))
        .mut_arg("increments", |arg| arg.help(format!("Increments each {} makes", names.worker)))
        .mut_arg("work", |arg| arg.help(work))
        .after_help(EXIT_CODES);
    if has_pool {
        command.mut_arg("pool", |arg| {
            arg.help(format!(
                "Run the workers' loops as jobs on a pool of N {}, as concurrent.futures does; memory then follows \
                 N, not the number of workers",
                names.workers
            ))
        })
    } else {
        command
    }
}

/// Parses a binary's arguments with [`command_for`]'s help; a bad argument ends the program as clap does (exit
/// 2, the message on stderr).
pub fn parse<P: clap::Parser>(frontend: &Frontend) -> P {
    let matches = command_for(frontend, P::command()).get_matches();
    P::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
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

impl Format {
    /// A report in this format, in the model's own words.
    pub fn render(self, report: &RunReport, words: &ModelWords) -> String {
        match self {
            Format::Text => render::text(report, words),
            Format::Json => report.to_json() + "\n",
        }
    }
}

impl RunArgs {
    /// The request these flags make, with the pool flags if the frontend has them.
    pub fn request(&self, pool: Option<&PoolArgs>) -> Result<Request, ConfigError> {
        Ok(Request {
            workers: self.workers,
            increments: self.increments,
            work: self.work,
            window: self.window,
            strategy: self.strategy,
            timer: self.timer,
            pool: pool.map(PoolArgs::pool).transpose()?.flatten(),
            hold: self.hold,
            trace: self.trace.trace.then(|| self.trace.trace_limit.unwrap_or(crate::trace::DEFAULT_LIMIT)),
        })
    }
}

pub use crate::error::error_chain;

/// Prints an error the way every binary does, and returns the exit code.
pub fn fail(program: &str, error: &dyn StdError, code: u8) -> ExitCode {
    output::eprint(&format!("{program}: error: {}\n", error_chain(error)));
    ExitCode::from(code)
}

/// Everything a frontend's `main` does after parsing: installs the signal handlers, checks that the report can
/// be written, validates the flags once, runs, prints, and returns the exit code.
pub fn execute<E: crate::error::FrontendError>(
    frontend: &Frontend,
    args: &RunArgs,
    pool: Option<&PoolArgs>,
    run: impl FnOnce(&Config) -> Result<RunReport, RunError<E>>,
) -> ExitCode {
    let program = frontend.model.binary();
    if let Err(error) = signals::install() {
        return fail(program, &error, EXIT_FAILURE);
    }
    if output::stdout_was_closed() {
        output::eprint(&format!(
            "{program}: error: standard output is closed, so the report would be lost; redirect it to a file, or to \
             /dev/null to discard it\n"
        ));
        return ExitCode::from(EXIT_USAGE);
    }
    match args.request(pool).and_then(|request| request.validate_for(&frontend.abilities)) {
        Ok(config) => finish(frontend, run(&config), args.format),
        Err(error) => fail(program, &error, EXIT_USAGE),
    }
}

/// The end of every frontend's `main`: prints the report (or the error, and what was done before it) and picks
/// the exit code.
pub fn finish<E: crate::error::FrontendError>(
    frontend: &Frontend,
    outcome: Result<RunReport, RunError<E>>,
    format: Format,
) -> ExitCode {
    let program = frontend.model.binary();
    let words = &frontend.words;
    let error = match outcome {
        Ok(report) => {
            return match output::print(&format.render(&report, words)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(PrintError::BrokenPipe) => ExitCode::from(EXIT_BROKEN_PIPE),
                Err(error) => fail(program, &error, EXIT_FAILURE),
            };
        }
        Err(error) => error,
    };
    let exit = error.exit_code();
    match (&error, error.partial_report()) {
        (RunError::Core(Error::Interrupted(interrupted)), Some(partial)) => {
            output::eprint(&format!(
                "{program}: {interrupted}; every worker was stopped. The run so far:\n{}",
                format.render(partial, words)
            ));
        }
        (_, Some(partial)) => {
            output::eprint(&format!(
                "{program}: error: {}. The run:\n{}",
                error_chain(&error),
                format.render(partial, words)
            ));
        }
        (_, None) => {
            output::eprint(&format!("{program}: error: {}\n", error_chain(&error)));
        }
    }
    ExitCode::from(exit)
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn every_value_has_one_name_on_the_command_line_and_in_json() {
        fn check<T: ValueEnum + serde::Serialize>(name: fn(&T) -> &'static str) {
            for value in T::value_variants() {
                let flag = value.to_possible_value().map(|v| v.get_name().to_owned());
                assert_eq!(flag.as_deref(), Some(name(value)), "the flag value is the name");
                assert_eq!(serde_json::to_string(value).unwrap(), format!("\"{}\"", name(value)), "JSON too");
            }
        }
        check::<Strategy>(|v| v.name());
        check::<Window>(|v| v.name());
        check::<Timer>(|v| v.name());
        check::<Jobs>(|v| v.name());
        check::<Model>(|v| v.name());
        check::<StartMethod>(|v| v.name());
        for model in Model::ALL {
            assert_eq!(model.binary(), format!("counter-{}", model.name()));
        }
    }
}
