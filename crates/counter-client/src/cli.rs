//! The flags and the `--serve` entry every server model's binary shares; clap stays at the edge, here and in
//! `counter_core::cli`.

use std::{process::ExitCode, time::Duration};

use counter_core::{cli, duration::parse_duration, error::EXIT_FAILURE, model::Model, signals};

use crate::{error::Error, options::ServerOptions, participants::SharingArgs};

/// The flags every server model's binary has besides its server's own.
#[derive(Debug, clap::Args)]
pub struct ServerFlags {
    /// Keep the run's data (keys, tables) on the server at the end
    #[arg(long)]
    pub keep: bool,

    /// Start a private server, print what the server flag takes to reach it, and keep it until standard input
    /// closes (for many runs); no workload is run
    #[arg(long)]
    pub serve: bool,

    /// How long connecting, or any request, may take before the run fails, naming the server (at least 1ms)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = |s: &str| parse_duration(s))]
    pub timeout: Duration,

    /// The run's sharing: its id, its participants, how long to wait for them.
    #[command(flatten)]
    pub sharing: SharingArgs,
}

impl ServerFlags {
    /// The options these flags ask for, with `url`, the server given.
    pub fn options(&self, url: Option<String>) -> ServerOptions {
        ServerOptions { url, sharing: self.sharing.clone().into(), keep: self.keep, timeout: self.timeout }
    }
}

/// A store binary's `main` once its flags are parsed: `--serve` (`serve`, see [`serve_main`]) when asked, else
/// the run (`run`, through `counter_core::cli::execute`).
pub fn store_main(
    frontend: &counter_core::cli::Frontend,
    run_args: &counter_core::cli::RunArgs,
    (flags, serve): (&ServerFlags, impl FnOnce() -> Result<(), Error>),
    run: impl FnOnce(&counter_core::config::Config) -> Result<counter_core::report::RunReport, Error>,
) -> ExitCode {
    if flags.serve {
        return serve_main(frontend.model, serve);
    }
    cli::execute(frontend, run_args, None, run)
}

/// `--serve`'s whole life in a binary: the signal handlers, `serve`, and its exit code: 0 when its input closed,
/// 130 or 143 when a stop signal ended it, else the error's own (2 when the request cannot be met here: no
/// server to start), its whole chain printed.
pub fn serve_main(model: Model, serve: impl FnOnce() -> Result<(), Error>) -> ExitCode {
    let program = model.binary();
    if let Err(error) = signals::install() {
        return cli::fail(program, &error, EXIT_FAILURE);
    }
    match serve() {
        Ok(()) => signals::received().map_or(ExitCode::SUCCESS, |signal| ExitCode::from(signals::exit_code(signal))),
        Err(error) => cli::fail(program, &error, error.exit_code()),
    }
}
