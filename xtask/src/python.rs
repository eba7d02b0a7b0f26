//! The Python reference programs in `python/`, which `--with-python` runs next to the Rust binaries.
//!
//! They run the same workload with `CPython`'s own tools and print the same JSON report, so the same runner
//! measures them. Without a `python3` on the `PATH` their rows are skipped with one line, not an error.

use std::{env, path::PathBuf};

use counter_core::{
    config::Strategy,
    model::{Model, StartMethod},
};

use crate::{models, runner::Program, workspace};

/// One reference program.
#[derive(Debug, Clone, Copy)]
pub struct PythonProgram {
    /// Its row label: `python threading`.
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
    pub fn variants(&self, starts: &[StartMethod]) -> Vec<(String, Vec<String>)> {
        models::of(self.model)
            .variants(starts)
            .into_iter()
            .map(|(start, _)| match start {
                Some(start) => {
                    (format!("{} {}", self.label, start.name()), vec!["--start-method".into(), start.name().into()])
                }
                None => (self.label.to_owned(), Vec::new()),
            })
            .collect()
    }

    /// Why a racy row of this program that lost nothing lost nothing, when the interpreter rules it out.
    pub fn racy_cannot_lose(&self) -> Option<&'static str> {
        (self.model == Model::Threads && !self.pooled).then_some(
            "CPython's GIL hands the interpreter to another thread only at its check points (calls, backward \
             jumps, blocking), and none sits between the read and the write of `value += 1`",
        )
    }
}

/// Every reference program.
pub const PROGRAMS: [PythonProgram; 5] = [
    PythonProgram { label: "python threading", script: "counter_threading.py", model: Model::Threads, pooled: false },
    PythonProgram { label: "python futures", script: "counter_futures.py", model: Model::Threads, pooled: true },
    PythonProgram {
        label: "python multiprocessing",
        script: "counter_multiprocessing.py",
        model: Model::Processes,
        pooled: false,
    },
    PythonProgram {
        label: "python process pool",
        script: "counter_process_pool.py",
        model: Model::Processes,
        pooled: true,
    },
    PythonProgram { label: "python asyncio", script: "counter_asyncio.py", model: Model::Async, pooled: false },
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
    }
}

/// Whether a Python program gets a row for `strategy`: one with figures, or the optimistic one that says why it
/// has none (the atomic and sharded rows are left out, as before).
pub fn has_row(strategy: Strategy) -> bool {
    SYNCS.contains(&strategy) || strategy == Strategy::Optimistic
}

/// The interpreter: `$COUNTER_PYTHON` if set, else `python3` from the `PATH`; `None` if it is not there.
pub fn interpreter() -> Option<PathBuf> {
    match env::var_os("COUNTER_PYTHON") {
        Some(path) => Some(PathBuf::from(path)).filter(|path| path.is_file()),
        None => counter_core::child::on_path("python3"),
    }
}

/// The interpreter, or the one line that says the Python rows are skipped.
pub fn interpreter_or_say() -> Option<PathBuf> {
    let found = interpreter();
    if found.is_none() {
        crate::output::note("xtask: no python3 (on the PATH, or at $COUNTER_PYTHON): the Python rows are skipped");
    }
    found
}

impl PythonProgram {
    /// The program to run with `interpreter`.
    pub fn program(&self, interpreter: &std::path::Path) -> Program {
        let script = workspace::root().join("python").join(self.script);
        Program {
            path: interpreter.to_path_buf(),
            leading: vec![script.display().to_string()],
            name: self.script.to_owned(),
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
