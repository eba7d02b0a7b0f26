//! The page's charts, drawn with plotters into SVG text. Every series has its own marker as well as its own
//! colour (Okabe and Ito's palette, which colour-blind readers tell apart), so that a greyscale print still
//! shows which is which.

use anyhow::anyhow;
use plotters::{
    coord::Shift,
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

/// Okabe and Ito's colours, then black.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0xf0, 0xe4, 0x42),
    RGBColor(0x00, 0x00, 0x00),
];

/// How each series' points are drawn.
#[derive(Debug, Clone, Copy)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
    Diamond,
}

/// The markers, in the order the series get them.
pub const MARKERS: [Marker; 5] = [Marker::Circle, Marker::Triangle, Marker::Square, Marker::Cross, Marker::Diamond];

/// A series' look: colour and marker, from its position.
pub fn style(index: usize) -> (RGBColor, Marker) {
    (PALETTE[index % PALETTE.len()], MARKERS[index % MARKERS.len()])
}

fn marker<'a, DB: DrawingBackend>(at: (i32, i32), marker: Marker, color: RGBColor) -> DynElement<'a, DB, (i32, i32)> {
    let size = 5;
    match marker {
        Marker::Circle => Circle::new(at, size, color.filled()).into_dyn(),
        Marker::Triangle => TriangleMarker::new(at, size + 1, color.filled()).into_dyn(),
        Marker::Square => {
            Rectangle::new([(at.0 - size, at.1 - size), (at.0 + size, at.1 + size)], color.filled()).into_dyn()
        }
        Marker::Cross => Cross::new(at, size, color.stroke_width(2)).into_dyn(),
        Marker::Diamond => Polygon::new(
            vec![(at.0, at.1 - size - 1), (at.0 + size + 1, at.1), (at.0, at.1 + size + 1), (at.0 - size - 1, at.1)],
            color.filled(),
        )
        .into_dyn(),
    }
}

/// A point of a dot plot: one row label, and one or more values (each its own series) with an interval.
#[derive(Debug, Clone)]
pub struct Dot {
    pub label: String,
    /// (series, value, low, high).
    pub values: Vec<(usize, f64, f64, f64)>,
}

/// Draws into an SVG string of `width` x `height`; the closure draws on the root area.
fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok(scalable(&text, width, height))
}

/// Lets the browser scale the drawing to the page's width: plotters gives a view box and a fixed size; the size
/// goes, the view box stays.
fn scalable(svg: &str, width: u32, height: u32) -> String {
    svg.replacen(&format!("width=\"{width}\" height=\"{height}\" "), "preserveAspectRatio=\"xMinYMin meet\" ", 1)
}

/// A horizontal dot plot on a log axis: one row per label, a marker per value with its interval as a bar.
pub fn dot_plot(dots: &[Dot], series: &[&str], x_desc: &str, log: bool) -> anyhow::Result<String> {
    let values = || dots.iter().flat_map(|dot| dot.values.iter());
    let low = values().map(|&(_, value, low, _)| low.min(value)).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let high = values().map(|&(_, value, _, high)| high.max(value)).fold(0.0, f64::max);
    let (low, high) = if low.is_finite() && high > 0.0 { (low, high) } else { (1.0, 10.0) };
    let rows = dots.len().max(1);
    let label_width = dots.iter().map(|dot| dot.label.len()).max().unwrap_or(8).clamp(8, 40) as u32 * 7 + 20;
    let height = 90 + 28 * rows as u32 + 24 * u32::from(series.len() > 1);
    let labels: Vec<String> = dots.iter().map(|dot| dot.label.clone()).collect();
    svg(900, height, |root| {
        let fail = |e: &dyn std::fmt::Display| anyhow!("{e}");
        let mut builder = ChartBuilder::on(root);
        builder.margin(10).x_label_area_size(40).y_label_area_size(label_width);
        let y_range = -0.6f64..rows as f64 - 0.4;
        let name_of = |y: &f64| {
            let index = y.round();
            if (y - index).abs() < 0.01 && index >= 0.0 {
                labels.get(index as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        macro_rules! draw_on {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .disable_y_mesh()
                    .max_light_lines(1)
                    .label_style(("sans-serif", 14))
                    .axis_desc_style(("sans-serif", 14))
                    .y_labels(rows * 2 + 1)
                    .y_label_formatter(&name_of)
                    .x_desc(x_desc)
                    .x_label_formatter(&|x: &f64| short(*x))
                    .draw()
                    .map_err(|e| fail(&e))?;
                for (row, dot) in dots.iter().enumerate() {
                    let count = dot.values.len() as f64;
                    for (slot, &(series_index, value, low, high)) in dot.values.iter().enumerate() {
                        let y = row as f64 + (slot as f64 - (count - 1.0) / 2.0) * 0.25;
                        let (color, shape) = style(series_index);
                        if high > low {
                            chart
                                .draw_series(std::iter::once(PathElement::new(
                                    vec![(low.max(f64::MIN_POSITIVE), y), (high, y)],
                                    color.stroke_width(2),
                                )))
                                .map_err(|e| fail(&e))?;
                        }
                        chart
                            .draw_series(std::iter::once(EmptyElement::at((value, y)) + marker((0, 0), shape, color)))
                            .map_err(|e| fail(&e))?;
                    }
                }
                if series.len() > 1 {
                    for (index, name) in series.iter().enumerate() {
                        let (color, shape) = style(index);
                        chart
                            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                            .map_err(|e| fail(&e))?
                            .label(*name)
                            .legend(move |(x, y)| EmptyElement::at((x, y)) + marker((8, 0), shape, color));
                    }
                    chart
                        .configure_series_labels()
                        .label_font(("sans-serif", 14))
                        .position(SeriesLabelPosition::LowerRight)
                        .background_style(WHITE.mix(0.9))
                        .border_style(BLACK)
                        .draw()
                        .map_err(|e| fail(&e))?;
                }
            }};
        }
        if log {
            draw_on!(builder.build_cartesian_2d((low / 1.5..high * 1.5).log_scale(), y_range).map_err(|e| fail(&e))?);
        } else {
            draw_on!(builder.build_cartesian_2d(0.0..high * 1.1, y_range).map_err(|e| fail(&e))?);
        }
        Ok(())
    })
}

/// A log-log line chart: one line per series, each with its markers.
pub fn lines(series: &[(String, Vec<(f64, f64)>)], x_desc: &str, y_desc: &str) -> anyhow::Result<String> {
    let points = || series.iter().flat_map(|(_, points)| points.iter());
    let max_x = points().map(|p| p.0).fold(10.0, f64::max);
    let max_y = points().map(|p| p.1).fold(1.0, f64::max);
    let min_y = points().map(|p| p.1).filter(|v| *v > 0.0).fold(max_y, f64::min);
    svg(900, 560, |root| {
        let fail = |e: &dyn std::fmt::Display| anyhow!("{e}");
        let mut chart = ChartBuilder::on(root)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d((1f64..max_x * 2.0).log_scale(), (min_y / 2.0..max_y * 2.0).log_scale())
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|x| short(*x))
            .y_label_formatter(&|y| short(*y))
            .draw()
            .map_err(|e| fail(&e))?;
        for (index, (name, line)) in series.iter().enumerate() {
            let (color, shape) = style(index);
            // Dashes tell the lines apart where colour does not: every other line is dashed.
            let drawn: Vec<(f64, f64)> = line.iter().map(|&(x, y)| (x, y.max(f64::MIN_POSITIVE))).collect();
            if index % 2 == 0 {
                chart.draw_series(LineSeries::new(drawn.clone(), color.stroke_width(2))).map_err(|e| fail(&e))?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(drawn.clone(), 8, 5, color.stroke_width(2)))
                    .map_err(|e| fail(&e))?;
            }
            chart
                .draw_series(drawn.iter().map(|&point| EmptyElement::at(point) + marker((0, 0), shape, color)))
                .map_err(|e| fail(&e))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (20, 0)], color.stroke_width(2))
                        + marker((10, 0), shape, color)
                });
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(&e))?;
        Ok(())
    })
}

/// A chart with nothing to show, saying why (a page built without one of the runs).
pub fn empty(why: &str) -> anyhow::Result<String> {
    svg(900, 80, |root| {
        let style = TextStyle::from(("sans-serif", 18).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text(why, &style, (450, 40)).map_err(|e| anyhow!("{e}"))?;
        Ok(())
    })
}

/// A number in few characters, for axes: 0.5, 12, 3.4k, 1.2M.
fn short(value: f64) -> String {
    match value.abs() {
        v if v >= 1e6 => format!("{:.1}M", value / 1e6),
        v if v >= 1e3 => format!("{:.1}k", value / 1e3),
        v if v >= 10.0 => format!("{value:.0}"),
        v if v >= 1.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}
