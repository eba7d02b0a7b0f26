//! The comparison as JSON and CSV: numbers in fixed units named in the fields, as documented on
//! [`Row`] and [`Probe`], with a `schema_version`.

use serde::{Deserialize, Serialize};

use super::{
    probe::Probe,
    results::{Row, ScenarioRun},
};

/// See [`crate::schema::COMPARE`].
pub const SCHEMA_VERSION: u32 = crate::schema::COMPARE;

/// A comparison's `results.json`: written by compare, read back by the results page, the same type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// See [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// How the memory figures were taken.
    pub memory_sampled: String,
    /// Each scenario as it ran.
    pub scenarios: Vec<ScenarioRun>,
    /// Every row.
    pub rows: Vec<Row>,
    /// The memory of one more worker, per model.
    pub memory_per_worker: Vec<Probe>,
    /// The findings printed with `--details`.
    pub sentences: Vec<String>,
    /// The traced run of the racy read-then-write (`--trace-model`), whose interleaving the page draws.
    #[serde(default)]
    pub seen: Option<super::seen::Seen>,
}

/// Everything as a JSON document.
pub fn to_json(scenarios: &[ScenarioRun], rows: &[Row], probes: &[Probe], seen: Option<&super::seen::Seen>) -> String {
    let document = Document {
        schema_version: SCHEMA_VERSION,
        memory_sampled: "from /proc (smaps_rollup, status) of the whole process tree, while every worker was alive"
            .to_owned(),
        scenarios: scenarios.to_vec(),
        rows: rows.to_vec(),
        memory_per_worker: probes.to_vec(),
        sentences: super::summary::sentences(scenarios, rows, probes),
        seen: seen.cloned(),
    };
    // Numbers, strings and vectors with string keys: serialising cannot fail.
    serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The rows as CSV, one line each, numbers at full precision.
pub fn to_csv(rows: &[Row]) -> anyhow::Result<String> {
    crate::output::to_csv(rows.iter().map(Row::csv_record))
}
