//! `cargo xtask servers`: the servers the server models keep their counter in, whether each is installed here,
//! and the Debian package that brings it, read from each model's `Description` (`counter_core::catalog`), so
//! that an installer (`.ci/run`) names no store.

use std::process::ExitCode;

use counter_core::{catalog::DESCRIPTIONS, output::print};

/// What the task prints.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print only the Debian packages of the servers not installed here, one per line (nothing when all are)
    #[arg(long)]
    missing: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let lines: Vec<String> = DESCRIPTIONS
        .iter()
        .filter_map(|description| Some((description.model.name(), description.server.as_ref()?)))
        .filter_map(|(model, server)| {
            let found = server.found();
            match (args.missing, found) {
                (true, true) => None,
                (true, false) => Some(format!("{}\n", server.package)),
                (false, _) => {
                    let state = if found { "installed" } else { "missing" };
                    Some(format!("{model:<9} {:<13} {state:<9} {}\n", server.program, server.install()))
                }
            }
        })
        .collect();
    print(&lines.concat())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every server model is listed by its package: a model added to the catalog reaches the installer.
    #[test]
    fn every_server_has_a_package_that_names_no_command() {
        for description in &DESCRIPTIONS {
            if let Some(server) = &description.server {
                assert!(
                    !server.package.is_empty() && server.package.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                    "{}: {:?}",
                    description.model.name(),
                    server.package
                );
            }
        }
    }
}
