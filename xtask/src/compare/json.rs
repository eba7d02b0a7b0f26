//! The comparison as JSON: every row with every figure, as documented on [`Row`].

use serde::Serialize;

use crate::compare::results::Row;

#[derive(Serialize)]
struct Document<'a> {
    /// Bumped when a field changes meaning.
    schema_version: u32,
    /// How the memory figures were taken.
    memory_sampled: &'static str,
    rows: &'a [Row],
}

/// The rows as a JSON document.
pub fn to_json(rows: &[Row]) -> String {
    let document = Document {
        schema_version: 1,
        memory_sampled: "from /proc (smaps_rollup, status) of the whole process tree, while every worker was alive",
        rows,
    };
    serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
