//! The lost update, seen: one traced run of the racy read-then-write with a millisecond between the read and
//! the write, on one model (`--trace-model`, threads by default), whose trace the results page draws (one lane
//! per worker) and findings.md narrates. It runs after the measuring, outside the budget, and is not measured.

use std::path::Path;

use counter_core::{model::Model, trace::TraceReport};
use serde::{Deserialize, Serialize};

use crate::{
    models::{ServerArgs, of},
    output,
    runner::{self, Program},
};

/// The traced run's workload: five workers, twenty increments each, 1 ms between each read and its write.
pub const FLAGS: [&str; 11] =
    ["--workers", "5", "--increments", "20", "--work", "sleep:1ms", "--window", "inside", "--sync", "racy", "--trace"];

/// The traced run, as `results.json` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// The model traced.
    pub model: Model,
    /// The flags it ran with (its server's left out).
    pub flags: String,
    /// The lost updates counted from the final value.
    pub lost_updates: u64,
    /// What its trace says of them.
    pub trace: TraceReport,
}

/// The traced run of `model` (on its shared server, if it has one); `None`, said in one line, when it could
/// not be made.
pub fn run(model: Model, bin_dir: &Path, servers: &ServerArgs) -> anyhow::Result<Option<Seen>> {
    let program = Program::binary(bin_dir, model.binary());
    let mut flags: Vec<String> = FLAGS.iter().map(|flag| (*flag).to_owned()).collect();
    flags.extend(of(model).server_flags(servers.url(model)));
    let sample = match runner::run_once(&program, &flags) {
        Ok(sample) => sample,
        Err(error) if error.downcast_ref::<runner::TaskInterrupted>().is_some() => return Err(error),
        Err(error) => {
            output::note(&format!(
                "xtask: the traced run of {} failed ({error:#}): no interleaving drawn",
                model.name()
            ));
            return Ok(None);
        }
    };
    let report = sample.report;
    Ok(report.trace.zip(report.lost_updates).map(|(trace, lost_updates)| Seen {
        model,
        flags: FLAGS.join(" "),
        lost_updates,
        trace,
    }))
}

impl Seen {
    /// Its findings: what was lost and how, and the first collision in four lines.
    pub fn findings(&self) -> Vec<String> {
        let mut lines = vec![format!("The lost update, seen ({} {}):", self.model.name(), self.flags)];
        lines.extend(self.trace.lines());
        lines
    }
}
