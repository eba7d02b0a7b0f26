//! The sweep's plot: memory (PSS) against workers, log-log, one line per model, as SVG.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use super::ModelSweep;

const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// Draws the models' PSS against workers into an SVG file.
pub fn draw(path: &Path, models: &[ModelSweep]) -> anyhow::Result<()> {
    let points = || models.iter().flat_map(|model| model.points.iter());
    let max_workers = points().map(|p| p.workers as f64).fold(10.0, f64::max);
    let max_kib = points().map(|p| p.pss_kib as f64).fold(1024.0, f64::max);
    let min_kib = points().map(|p| p.pss_kib as f64).filter(|v| *v > 0.0).fold(max_kib, f64::min);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| anyhow!("could not draw {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Memory of the process tree (summed PSS) against workers", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d((1f64..max_workers * 2.0).log_scale(), (min_kib / 2.0..max_kib * 2.0).log_scale())
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("workers (log)")
        .y_desc("PSS, KiB (log)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| fail(&e))?;
    for (model, color) in models.iter().zip(COLORS.iter().cycle()) {
        let line: Vec<(f64, f64)> = model.points.iter().map(|p| (p.workers as f64, p.pss_kib.max(1) as f64)).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(model.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(line.iter().map(|&point| Circle::new(point, 3, color.filled()))).map_err(|e| fail(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
