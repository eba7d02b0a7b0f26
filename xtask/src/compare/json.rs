//! The comparison as JSON and CSV: numbers in fixed units named in the fields, as documented on
//! [`Row`] and [`Probe`], with a `schema_version`.

use serde::Serialize;

use super::{
    probe::Probe,
    results::{Row, ScenarioRun},
};

/// See [`crate::schema::COMPARE`].
pub const SCHEMA_VERSION: u32 = crate::schema::COMPARE;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    /// How the memory figures were taken.
    memory_sampled: &'static str,
    scenarios: &'a [ScenarioRun],
    rows: &'a [Row],
    memory_per_worker: &'a [Probe],
    /// The sentences printed under the tables.
    sentences: Vec<String>,
}

/// Everything as a JSON document.
pub fn to_json(scenarios: &[ScenarioRun], rows: &[Row], probes: &[Probe]) -> String {
    let document = Document {
        schema_version: SCHEMA_VERSION,
        memory_sampled: "from /proc (smaps_rollup, status) of the whole process tree, while every worker was alive",
        scenarios,
        rows,
        memory_per_worker: probes,
        sentences: super::summary::sentences(scenarios, rows, probes),
    };
    // Numbers, strings and vectors with string keys: serialising cannot fail.
    serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The rows as CSV, one line each, numbers at full precision.
pub fn to_csv(rows: &[Row]) -> anyhow::Result<String> {
    crate::output::to_csv(rows.iter().map(Row::csv_record))
}
