//! The sweep's plot: memory (PSS) against workers, log-log, one line per model, as SVG: the results page's line
//! chart, written to its own file.

use std::path::Path;

use anyhow::Context as _;

use super::ModelSweep;
use crate::report::{
    self,
    charts::{self, Layout},
};

/// Draws the models' PSS against workers into an SVG file, with its legend below the chart.
pub fn draw(path: &Path, models: &[ModelSweep]) -> anyhow::Result<()> {
    let lines = report::sweep_lines(models);
    let svg = if lines.is_empty() {
        charts::empty("no model produced a point", Layout::Wide)
    } else {
        charts::lines(&lines, "workers (log)", "PSS of the process tree, KiB (log)", Layout::Wide, true)
    };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    }
    std::fs::write(path, svg).with_context(|| format!("could not draw {}", path.display()))
}
