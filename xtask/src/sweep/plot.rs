//! The sweep's plot: memory (PSS) against workers, log-log, one line per model, as SVG: the results page's line
//! chart, written to its own file.

use std::path::Path;

use anyhow::Context as _;

use super::ModelSweep;
use crate::report::charts;

/// Draws the models' PSS against workers into an SVG file.
pub fn draw(path: &Path, models: &[ModelSweep]) -> anyhow::Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> = models
        .iter()
        .filter(|model| !model.points.is_empty())
        .map(|model| {
            let line = model.points.iter().map(|p| (p.workers as f64, p.pss_kib.max(1) as f64)).collect();
            (model.label.clone(), line)
        })
        .collect();
    let svg = if series.is_empty() {
        charts::empty("no model produced a point")?
    } else {
        charts::lines(&series, "workers (log)", "PSS of the process tree, KiB (log)")?
    };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    }
    std::fs::write(path, svg).with_context(|| format!("could not draw {}", path.display()))
}
