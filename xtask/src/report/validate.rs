//! What a page is drawn from is checked before anything is drawn: a results file of another schema, or a figure
//! that no run of ours writes (a time of months, a size past what a machine holds, a time, count or size below
//! zero), is refused naming the file and the field, so that a hand-edited or foreign file can neither draw a lie
//! nor stall the chart library.

use std::path::Path;

use serde_json::Value;

use crate::{schema, usage::Usage};

/// The largest time a figure may give, seconds: a hundred days.
const MAX_SECONDS: f64 = 1e7;
/// The largest size, bytes (a petabyte); KiB alike.
const MAX_BYTES: f64 = 1e15;
/// The largest count or ratio.
const MAX_NUMBER: f64 = 1e19;

/// Checks a comparison's results: this build's schema, rows and scenarios where they belong, sane figures.
pub fn compare(results: &Value, file: &Path) -> Result<(), Usage> {
    let refuse = |why: String| Usage(format!("{}: {why}", file.display()));
    match results.get("schema_version").and_then(Value::as_u64) {
        Some(version) if version == u64::from(schema::COMPARE) => {}
        Some(version) => {
            return Err(refuse(format!(
                "schema_version {version} is not the {} this build reads; run `cargo xtask compare` again",
                schema::COMPARE
            )));
        }
        None => return Err(refuse("no schema_version (a whole number): not a comparison's results".to_owned())),
    }
    for list in ["scenarios", "rows", "memory_per_worker"] {
        if !results.get(list).is_some_and(Value::is_array) {
            return Err(refuse(format!("no list of {list}")));
        }
    }
    for (index, row) in results["rows"].as_array().into_iter().flatten().enumerate() {
        for field in ["scenario", "label", "sync"] {
            if !row.get(field).is_some_and(Value::is_string) {
                return Err(refuse(format!("rows[{index}] has no {field}")));
            }
        }
    }
    figures(results, ("", ""), false, &refuse)
}

/// Checks a sweep's results: a list of lines, each with its label and points, sane figures.
pub fn sweep(results: &Value, file: &Path) -> Result<(), Usage> {
    let refuse = |why: String| Usage(format!("{}: {why}", file.display()));
    let Some(lines) = results.as_array() else { return Err(refuse("not a list of swept models".to_owned())) };
    for (index, line) in lines.iter().enumerate() {
        if !line.get("label").is_some_and(Value::is_string) || !line.get("points").is_some_and(Value::is_array) {
            return Err(refuse(format!("[{index}] has no label or no points")));
        }
    }
    figures(results, ("", ""), false, &refuse)
}

/// Checks a faults run's results: this build's schema, rows with their fault, strategy and timeline, sane figures.
pub fn faults(results: &Value, file: &Path) -> Result<(), Usage> {
    let refuse = |why: String| Usage(format!("{}: {why}", file.display()));
    match results.get("schema_version").and_then(Value::as_u64) {
        Some(version) if version == u64::from(schema::FAULTS) => {}
        _ => {
            return Err(refuse(format!(
                "not a faults run of schema_version {} (run `cargo xtask faults` again)",
                schema::FAULTS
            )));
        }
    }
    let Some(rows) = results.get("rows").and_then(Value::as_array) else {
        return Err(refuse("no list of rows".to_owned()));
    };
    for (index, row) in rows.iter().enumerate() {
        if !["store", "fault", "sync"].iter().all(|field| row.get(*field).is_some_and(Value::is_string))
            || !row.get("timeline").is_some_and(Value::is_array)
        {
            return Err(refuse(format!("rows[{index}] has no store, fault, sync or timeline")));
        }
    }
    figures(results, ("", ""), false, &refuse)
}

/// The fields whose figures may fall below zero, with everything under them: differences (what was added, a
/// fitted slope, memory per extra worker, which noise can make negative) and lost updates (negative when a
/// counter ends above its bound).
const SIGNED: [&str; 5] = ["added", "fit", "memory_per_worker", "lost", "slope"];

/// Every number under `value` within what its field's unit allows: a field's name says its unit (`_s`, `_bytes`,
/// `_kib`), and the fields of a summary (`median`, `min`, ...) take their parent's. Below zero only under a
/// [`SIGNED`] field.
fn figures(
    value: &Value,
    (name, unit_field): (&str, &str),
    signed: bool,
    refuse: &dyn Fn(String) -> Usage,
) -> Result<(), Usage> {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let unit = if key.contains('_') { key.as_str() } else { unit_field };
                let signed = signed || SIGNED.iter().any(|word| key.contains(word));
                figures(value, (key, unit), signed, refuse)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                figures(item, (name, unit_field), signed, refuse)?;
            }
        }
        Value::Number(number) => {
            let figure = number.as_f64().unwrap_or(f64::INFINITY);
            let limit = if unit_field.ends_with("_s") {
                MAX_SECONDS
            } else if unit_field.ends_with("_bytes") || unit_field.ends_with("_kib") {
                MAX_BYTES
            } else {
                MAX_NUMBER
            };
            let field = if name == unit_field || unit_field.is_empty() {
                name.to_owned()
            } else {
                format!("{unit_field}.{name}")
            };
            if !figure.is_finite() || figure.abs() > limit {
                return Err(refuse(format!(
                    "{field} = {figure} is not a figure a run of ours writes (at most {limit:e})"
                )));
            }
            if figure < 0.0 && !signed {
                return Err(refuse(format!(
                    "{field} = {figure} is not a figure a run of ours writes: a time, a count or a size is not below \
                     zero"
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "schema_version": schema::COMPARE,
            "scenarios": [],
            "rows": [{"scenario": "seed", "label": "threads", "sync": "racy", "wall_median_s": 10.0,
                      "pss_bytes": 2.0e6}],
            "memory_per_worker": [{"model": "threads", "pss_bytes": {"median": 9.8e3, "min": -12.0}}],
        })
    }

    #[test]
    fn a_comparison_of_this_schema_with_sane_figures_passes() {
        compare(&minimal(), Path::new("r.json")).unwrap();
    }

    #[test]
    fn another_schema_or_a_wild_figure_is_refused_naming_it() {
        for (change, expected) in [
            (json!(999), "schema_version 999"),
            (json!("two"), "no schema_version"),
            (json!([1, 2, 3]), "no schema_version"),
            (Value::Null, "no schema_version"),
        ] {
            let mut results = minimal();
            results["schema_version"] = change;
            let message = compare(&results, Path::new("r.json")).unwrap_err().0;
            assert!(message.contains("r.json") && message.contains(expected), "{message}");
        }
        let mut results = minimal();
        results["memory_per_worker"][0]["pss_bytes"]["median"] = json!(f64::MAX);
        let message = compare(&results, Path::new("r.json")).unwrap_err().0;
        assert!(message.contains("pss_bytes"), "{message}");
        let mut results = minimal();
        results["rows"][0]["wall_median_s"] = json!(1e12);
        assert!(compare(&results, Path::new("r.json")).is_err());
        let mut results = minimal();
        results.as_object_mut().unwrap().remove("schema_version");
        assert!(compare(&results, Path::new("r.json")).is_err());
    }

    #[test]
    fn a_time_a_count_or_a_size_below_zero_is_refused_naming_it() {
        for field in ["wall_median_s", "pss_bytes", "runs", "final_median", "latency_median_us"] {
            let mut results = minimal();
            results["rows"][0][field] = json!(-1);
            let message = compare(&results, Path::new("r.json")).unwrap_err().0;
            assert!(message.contains(&format!("{field} = -1")) && message.contains("below zero"), "{message}");
        }
        // A difference may be negative: memory per extra worker (noise), lost updates above the bound.
        let mut results = minimal();
        results["rows"][0]["lost_median"] = json!(-2);
        compare(&results, Path::new("r.json")).unwrap();
    }

    #[test]
    fn a_sweep_is_lines_with_points() {
        sweep(&json!([{"label": "threads", "points": [{"workers": 1, "pss_kib": 2000}]}]), Path::new("s.json"))
            .unwrap();
        assert!(sweep(&json!({"label": "x"}), Path::new("s.json")).is_err());
        let wild = json!([{"label": "threads", "points": [{"workers": 1, "pss_kib": 1e300}]}]);
        assert!(sweep(&wild, Path::new("s.json")).is_err());
    }
}
