//! Project tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `compare`: build the frontends and run them on the same workload, measuring each run from the outside as
//!   well, and tabulate results and memory footprint side by side.
//! - `sweep`: measure each model's memory at a range of worker counts and fit the cost of one more worker.
//! - `calibrate`: measure the worker loop against a bare loop, to see what the instrument adds.
//! - `report`: the latest comparison and sweep as one HTML page with charts.
//! - `faults`: runs under injected faults, and what each outcome was.
//! - `python`: builds the interpreters the Python rows run on.
//! - `servers`: the servers the server models need, and their Debian packages.

mod calibrate;
mod compare;
mod faults;
mod machine;
mod models;
mod output;
mod python;
mod report;
mod runner;
mod schema;
mod servers;
mod stats;
mod sweep;
mod usage;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use counter_core::{
    error::{EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_USAGE},
    output::{PrintError, eprint},
    signals,
};
use usage::Usage;

/// Tasks of the shared-counter project.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", max_term_width = 80)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run every model's frontend (threads, processes, async tasks, clients of each server) on one workload and
    /// tabulate the results and the memory footprint side by side
    Compare(compare::Args),
    /// Measure each model's memory at a range of worker counts, fit the cost of one more worker, and plot it
    Sweep(sweep::Args),
    /// Measure the frontends' worker loop against a bare loop, per strategy, at 1 and 2 workers: what the
    /// instrument adds to what it measures
    Calibrate(calibrate::Args),
    /// Build one self-contained HTML page, with charts, from the latest compare and sweep results
    Report(report::Args),
    Faults(faults::Args),
    /// Build the Python interpreters the Python rows can run on beside the PATH's python3: CPython 3.13
    /// free-threaded (no GIL) and with the GIL
    Python(python::Args),
    /// List the servers the server models need, whether each is installed here, and its Debian package
    Servers(servers::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = signals::install() {
        eprint(&format!("xtask: error: could not install the signal handlers: {error}\n"));
        return ExitCode::from(EXIT_FAILURE);
    }
    if counter_core::output::stdout_was_closed() {
        eprint(
            "xtask: error: standard output is closed, so what the task prints would be lost; redirect it to a file, \
             or to /dev/null to discard it\n",
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let outcome = match cli.task {
        Task::Compare(args) => compare::run(&args),
        Task::Sweep(args) => sweep::run(&args),
        Task::Report(args) => report::run(&args),
        Task::Faults(args) => faults::run(&args),
        Task::Calibrate(args) => calibrate::run(&args),
        Task::Python(args) => python::run(&args),
        Task::Servers(args) => servers::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => ExitCode::from(exit_code(&error)),
    }
}

/// Says what ended the task, and picks the exit code: 2 for a request that cannot be met, 128 + the signal
/// after SIGINT or SIGTERM, quietly 141 when the reader of standard output has gone, 1 for anything else.
fn exit_code(error: &anyhow::Error) -> u8 {
    if let Some(PrintError::BrokenPipe) = error.downcast_ref::<PrintError>() {
        return EXIT_BROKEN_PIPE;
    }
    if let Some(interrupted) = error.downcast_ref::<runner::TaskInterrupted>() {
        eprint(&format!("xtask: {interrupted}; the program it was running was stopped and reaped\n"));
        return signals::exit_code(interrupted.signal);
    }
    eprint(&format!("xtask: error: {error:#}\n"));
    if error.downcast_ref::<Usage>().is_some() { EXIT_USAGE } else { EXIT_FAILURE }
}
