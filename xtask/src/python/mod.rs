//! The Python reference programs in `python/`, which `--with-python` runs next to the Rust binaries, on
//! every interpreter found ([`interpreters`]: the `python3` on the `PATH` and those `cargo xtask python install`
//! built, or the ones named with `--python PATH` or `$COUNTER_PYTHON`), and the task that builds the free-threaded
//! one ([`install`]).
//!
//! They run the same workload with `CPython`'s own tools and print the same JSON report, so the same runner
//! measures them. Without a `python3` on the `PATH` their rows are skipped with one line, not an error.

pub mod install;
pub mod interpreter;

use counter_core::{
    config::Strategy,
    model::{Model, StartMethod},
};

use std::path::PathBuf;

use counter_core::child;

use crate::{models, output, runner::Program, usage::Usage, workspace};
use interpreter::Interpreter;

/// `cargo xtask python`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, clap::Subcommand)]
enum Task {
    /// Build CPython 3.13 free-threaded and with the GIL, from Debian's copy of the upstream tarball.
    Install(install::Args),
}

/// Runs `cargo xtask python ...`.
pub fn run(args: &Args) -> anyhow::Result<std::process::ExitCode> {
    match &args.task {
        Task::Install(args) => install::run(args).map(|()| std::process::ExitCode::SUCCESS),
    }
}

/// One reference program.
#[derive(Debug, Clone, Copy)]
pub struct PythonProgram {
    /// What it runs, in its row label after the interpreter: `threading` (`python3.13t threading`).
    pub label: &'static str,
    /// Its script in `python/`.
    pub script: &'static str,
    /// The model it corresponds to.
    pub model: Model,
    /// Whether it takes a pool (`--pool`).
    pub pooled: bool,
}

impl PythonProgram {
    /// The variants to run, with their labels and flags: one per start method in `starts` for a program whose
    /// model has start methods (Python's `--start-method`), else the program alone.
    pub fn variants(&self, interpreter: &Interpreter, starts: &[StartMethod]) -> Vec<(String, Vec<String>)> {
        let label = format!("{} {}", interpreter.name(), self.label);
        models::of(self.model)
            .variants(starts)
            .into_iter()
            .map(|(start, _)| match start {
                Some(start) => {
                    (format!("{label} {}", start.name()), vec!["--start-method".into(), start.name().into()])
                }
                None => (label.clone(), Vec::new()),
            })
            .collect()
    }

    /// The program a row label names (`python3.11 process pool fork`), if any.
    pub fn of_label(label: &str) -> Option<&'static PythonProgram> {
        let (interpreter, rest) = label.split_once(' ')?;
        if !interpreter.starts_with("python") {
            return None;
        }
        PROGRAMS.iter().find(|program| rest == program.label || rest.starts_with(&format!("{} ", program.label)))
    }

    /// Why a racy row of this program that lost nothing lost nothing, when the interpreter rules it out: only
    /// when its runs had the GIL on.
    pub fn racy_cannot_lose(&self, gil_enabled: bool) -> Option<&'static str> {
        (gil_enabled && self.model == Model::Threads && !self.pooled).then_some(
            "CPython's GIL hands the interpreter to another thread only at its check points (calls, backward \
             jumps, blocking), and none sits between the read and the write of `value += 1`",
        )
    }
}

/// Every reference program.
pub const PROGRAMS: [PythonProgram; 5] = [
    PythonProgram { label: "threading", script: "counter_threading.py", model: Model::Threads, pooled: false },
    PythonProgram { label: "futures", script: "counter_futures.py", model: Model::Threads, pooled: true },
    PythonProgram {
        label: "multiprocessing",
        script: "counter_multiprocessing.py",
        model: Model::Processes,
        pooled: false,
    },
    PythonProgram { label: "process pool", script: "counter_process_pool.py", model: Model::Processes, pooled: true },
    PythonProgram { label: "asyncio", script: "counter_asyncio.py", model: Model::Async, pooled: false },
];

/// The strategies the Python programs have: no lock, or a lock (`CPython` has no user-level atomics).
pub const SYNCS: [Strategy; 2] = [Strategy::Racy, Strategy::Mutex];

/// Why a Python program has no row for `strategy` in the table, if it has a row saying so; `None` for the
/// strategies it has.
pub fn unavailable(strategy: Strategy) -> Option<&'static str> {
    match strategy {
        Strategy::Racy | Strategy::Mutex => None,
        Strategy::Optimistic => Some("CPython has no compare-and-swap on shared memory, so no lock-free retry"),
        Strategy::Atomic | Strategy::Sharded => Some("CPython has no atomic or per-worker counter to compare"),
        Strategy::Fenced => Some("a lock in memory cannot expire under its holder, so it needs no fencing"),
    }
}

/// Whether a Python program gets a row for `strategy`: one with figures, or the optimistic one that says why it
/// has none (the atomic and sharded rows are left out, as before).
pub fn has_row(strategy: Strategy) -> bool {
    SYNCS.contains(&strategy) || strategy == Strategy::Optimistic
}

impl PythonProgram {
    /// The program to run with `interpreter`.
    pub fn program(&self, interpreter: &Interpreter) -> Program {
        let script = workspace::root().join("python").join(self.script);
        Program {
            path: interpreter.path.clone(),
            leading: vec![script.display().to_string()],
            name: format!("{} {}", interpreter.name(), self.script),
        }
    }
}

/// The workload flags as the Python programs take them: their sleeps are always relative, as the seed's.
pub fn flags(flags: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut given = flags.iter();
    while let Some(flag) = given.next() {
        if flag == "--timer" {
            given.next();
        } else {
            out.push(flag.clone());
        }
    }
    out
}

/// The interpreters to run: those named (each must work), or else the default `python3` and every one that the
/// install step built. Says in one line which are missing and how to build them; an interpreter that fails
/// its probe is an error when named, and a note otherwise.
pub fn interpreters(named: &[PathBuf]) -> anyhow::Result<Vec<Interpreter>> {
    if !named.is_empty() {
        let mut found = Vec::new();
        for path in named {
            // A bare name (`python3.12`) is looked up on the PATH, as a shell would.
            // One that does not work is a request that cannot be met (exit 2).
            let path = if path.components().count() == 1 && !path.starts_with(".") {
                child::on_path(&path.to_string_lossy())
                    .ok_or_else(|| Usage(format!("--python {}: not on the PATH", path.display())))?
            } else {
                path.clone()
            };
            let interpreter =
                Interpreter::probe(&path).map_err(|error| Usage(format!("--python {}: {error:#}", path.display())))?;
            if !found.iter().any(|seen: &Interpreter| seen.name() == interpreter.name()) {
                found.push(interpreter);
            }
        }
        return Ok(found);
    }
    let mut found = Vec::new();
    // `$COUNTER_PYTHON` names the one interpreter to use, as `--python` would.
    if let Some(path) = std::env::var_os("COUNTER_PYTHON").map(PathBuf::from) {
        match Interpreter::probe(&path) {
            Ok(interpreter) => found.push(interpreter),
            Err(error) => {
                output::note(&format!("xtask: $COUNTER_PYTHON: {error:#}: the Python rows are skipped"));
            }
        }
        return Ok(found);
    }
    let mut candidates: Vec<PathBuf> = child::on_path("python3").into_iter().collect();
    let built = install::built();
    candidates.extend(built.iter().map(|(_, path)| path.clone()));
    for path in candidates {
        match Interpreter::probe(&path) {
            Ok(interpreter) if !found.iter().any(|seen: &Interpreter| seen.name() == interpreter.name()) => {
                found.push(interpreter);
            }
            Ok(_) => {}
            Err(error) => output::note(&format!("xtask: {error:#}: its Python rows are skipped")),
        }
    }
    let missing: Vec<&str> = install::BUILDS
        .iter()
        .filter(|build| !built.iter().any(|(name, _)| *name == build.name))
        .map(|build| build.name)
        .collect();
    if found.is_empty() {
        output::note("xtask: no python3 on the PATH: the Python rows are skipped");
    }
    if !missing.is_empty() {
        output::note(&format!(
            "xtask: CPython {} not built, so no rows for {}: `cargo xtask python install` builds them in {} (about \
             {} minutes on 2 CPUs)",
            missing.join(" and "),
            if missing.len() == 1 { "it" } else { "them" },
            install::default_dir().display(),
            install::BUILD_MINUTES_ON_TWO_CPUS * missing.len() as u64,
        ));
    }
    Ok(found)
}
