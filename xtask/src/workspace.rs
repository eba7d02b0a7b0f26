//! Where the workspace is, and building its binaries with the cargo that runs us.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The workspace root: the folder above `xtask/`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_path_buf()
}

/// The target folder: `$CARGO_TARGET_DIR`, or `target/` in the root.
pub fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// The variable that moves every task's results (its run folders and `latest` links) elsewhere.
pub const RESULTS_VARIABLE: &str = "COUNTER_LAB_RESULTS";

/// Where a task keeps its results: `$COUNTER_LAB_RESULTS/<task>` when that is set (the tests point it into
/// their own temporary folders, so that they never replace a user's results), else `target/<task>`.
pub fn results_dir(task: &str) -> PathBuf {
    env::var_os(RESULTS_VARIABLE).map_or_else(target_dir, PathBuf::from).join(task)
}

/// A cargo build profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Optimised: what the figures are for.
    Release,
    /// Unoptimised: quicker to build, for trying the task out.
    Dev,
}

impl Profile {
    /// The folder under `target/` the profile builds into.
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "debug",
        }
    }
}

/// Builds `packages` with `profile` using the cargo that runs this task, and returns the binaries' folder.
pub fn build(packages: &[&str], profile: Profile) -> anyhow::Result<PathBuf> {
    // `$CARGO` is the cargo that runs `cargo xtask`, so the same toolchain builds the frontends.
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root()).arg("build");
    if profile == Profile::Release {
        command.arg("--release");
    }
    for package in packages {
        command.args(["--package", package]);
    }
    let status = command.status().context("could not run cargo")?;
    if !status.success() {
        bail!("cargo build of {} failed ({status})", packages.join(", "));
    }
    Ok(target_dir().join(profile.dir()))
}

/// Builds `example` of `package` with `profile`, and returns its path.
pub fn build_example(package: &str, example: &str, profile: Profile) -> anyhow::Result<PathBuf> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root()).args(["build", "--package", package, "--example", example]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    let status = command.status().context("could not run cargo")?;
    if !status.success() {
        bail!("cargo build of the example {example} failed ({status})");
    }
    Ok(target_dir().join(profile.dir()).join("examples").join(example))
}
