//! The page's charts, written as SVG text: a dot plot (rows of markers with interval bars) and a log-log line
//! chart. Each is drawn for a wide screen and for a narrow one (labels above their rows), so that no text in a
//! chart is shown below 11 px; axes carry ticks at 1, 2 and 5 times a power of ten on log scales. Every series
//! has a marker as well as a colour (Okabe and Ito's palette, which colour-blind readers tell apart), so that a
//! greyscale print still shows which is which. Legends are the page's (HTML, outside the data), but for the
//! sweep's standalone plot, which carries its own below the chart.

use std::fmt::Write as _;

use super::html::escape;

/// Okabe and Ito's colours (their yellow, too pale on white, left out), then grey.
pub const PALETTE: [&str; 8] = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#888888"];

/// How a series' points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
    Diamond,
}

/// The markers, in the order the series get them.
const MARKERS: [Marker; 5] = [Marker::Circle, Marker::Triangle, Marker::Square, Marker::Diamond, Marker::Cross];

/// A series' look: its colour and its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colour: &'static str,
    pub marker: Marker,
}

/// The look of the series at `index` of a fixed order (the page keys it by model, so that a model looks the
/// same on every chart).
pub fn style(index: usize) -> Style {
    Style { colour: PALETTE[index % PALETTE.len()], marker: MARKERS[index % MARKERS.len()] }
}

/// For which screen a chart is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// 900 units wide, row labels left of the data.
    Wide,
    /// 400 units wide, each row's label above its data.
    Narrow,
}

impl Layout {
    pub(super) fn width(self) -> f64 {
        match self {
            Layout::Wide => 900.0,
            Layout::Narrow => 400.0,
        }
    }

    /// The text size, in the chart's units; the page never shows a chart much below its own size.
    pub fn font(self) -> f64 {
        match self {
            Layout::Wide => 15.0,
            Layout::Narrow => 13.0,
        }
    }

    /// Labels an axis can hold without crowding.
    fn max_ticks(self) -> usize {
        match self {
            Layout::Wide => 11,
            Layout::Narrow => 7,
        }
    }
}

/// One value of a dot plot's row, with its interval; `hollow` draws its marker as an outline (a second series
/// of the same row, such as USS beside PSS).
#[derive(Debug, Clone, Copy)]
pub struct Value {
    pub median: f64,
    pub low: f64,
    pub high: f64,
    pub hollow: bool,
}

/// One row of a dot plot.
#[derive(Debug, Clone)]
pub struct Dot {
    pub label: String,
    pub style: Style,
    pub values: Vec<Value>,
}

/// A scale from data to the chart's units.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scale {
    pub(super) low: f64,
    pub(super) high: f64,
    pub(super) log: bool,
    pub(super) from: f64,
    pub(super) to: f64,
}

impl Scale {
    pub(super) fn at(&self, value: f64) -> f64 {
        let t = if self.log {
            (value.max(self.low).ln() - self.low.ln()) / (self.high.ln() - self.low.ln())
        } else {
            (value - self.low) / (self.high - self.low)
        };
        self.from + t.clamp(-0.02, 1.02) * (self.to - self.from)
    }
}

/// The data's range made round: for a log axis, from a 1, 2 or 5 times a power of ten at or below the least
/// value to one at or above the greatest; for a linear one, from zero to a round step above the greatest.
fn round_range(least: f64, greatest: f64, log: bool) -> (f64, f64) {
    if log {
        let least = if least.is_finite() && least > 0.0 { least } else { 1.0 };
        let greatest = if greatest.is_finite() && greatest > least { greatest } else { least * 10.0 };
        let steps = one_two_five(least / 10.0, greatest * 10.0);
        let low = steps.iter().copied().filter(|&s| s <= least * 1.000_001).fold(least, |_, s| s);
        let high = steps.iter().copied().find(|&s| s >= greatest / 1.000_001).unwrap_or(greatest);
        (low, high.max(low * 2.0))
    } else {
        let greatest = if greatest.is_finite() && greatest > 0.0 { greatest } else { 1.0 };
        let step = linear_step(greatest, 5);
        (0.0, (greatest / step).ceil() * step)
    }
}

/// Every 1, 2 and 5 times a power of ten from `low` to `high`.
fn one_two_five(low: f64, high: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let (first, last) = (low.log10().floor() as i32, high.log10().ceil() as i32);
    for exponent in first.max(-30)..=last.min(30) {
        for mantissa in [1.0, 2.0, 5.0] {
            let value = mantissa * 10f64.powi(exponent);
            if value >= low / 1.000_001 && value <= high * 1.000_001 {
                out.push(value);
            }
        }
    }
    out
}

/// A round step (1, 2 or 5 times a power of ten) that cuts `0..greatest` into at most `parts` parts.
fn linear_step(greatest: f64, parts: usize) -> f64 {
    let rough = greatest / parts.max(1) as f64;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&step| step >= rough).unwrap_or(power * 10.0)
}

/// The labelled ticks of an axis: 1, 2 and 5 times each power of ten on a log scale while they fit, else the
/// powers of ten (every other one if even those crowd); round steps on a linear one.
fn ticks(low: f64, high: f64, log: bool, max: usize) -> Vec<f64> {
    if !log {
        let step = linear_step(high, max - 1);
        return (0..=max * 2).map(|i| i as f64 * step).take_while(|&v| v <= high * 1.000_001).collect();
    }
    let all = one_two_five(low, high);
    if all.len() <= max {
        return all;
    }
    let mantissa = |v: &f64| v / 10f64.powf(v.log10().floor());
    let with = |mantissas: &[f64]| -> Vec<f64> {
        all.iter().copied().filter(|v| mantissas.iter().any(|m| (mantissa(v) - m).abs() < 1e-6)).collect()
    };
    let decades = with(&[1.0]);
    if decades.len() > max {
        return decades.into_iter().step_by(2).collect();
    }
    if decades.len() >= 3 {
        return decades;
    }
    // Under three decades: 1 and 5 of each, so that the axis has at least three labels.
    let ones_and_fives = with(&[1.0, 5.0]);
    if ones_and_fives.len() <= max { ones_and_fives } else { all.into_iter().step_by(2).collect() }
}

/// A number in few characters, for axes: 0.5, 20, 5k, 1.2M.
pub fn short(value: f64) -> String {
    let trim = |text: String| {
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
    };
    match value.abs() {
        v if v >= 1e9 => trim(format!("{:.1}", value / 1e9)) + "G",
        v if v >= 1e6 => trim(format!("{:.1}", value / 1e6)) + "M",
        v if v >= 1e3 => trim(format!("{:.1}", value / 1e3)) + "k",
        v if v >= 1.0 || v == 0.0 => trim(format!("{value:.1}")),
        v if v >= 0.01 => trim(format!("{value:.2}")),
        _ => trim(format!("{value:.4}")),
    }
}

pub(super) fn open(out: &mut String, width: f64, height: f64, font: f64) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" \
         font-size=\"{font}\" role=\"img\"><rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>"
    );
}

/// A marker at (x, y), `size` its half-width.
fn marker(out: &mut String, x: f64, y: f64, size: f64, style: Style, hollow: bool) {
    let paint = if hollow {
        format!("fill=\"white\" stroke=\"{}\" stroke-width=\"2\"", style.colour)
    } else {
        format!("fill=\"{}\"", style.colour)
    };
    let _ = match style.marker {
        Marker::Circle => write!(out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{size:.1}\" {paint}/>"),
        Marker::Square => write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" {paint}/>",
            x - size * 0.9,
            y - size * 0.9,
            size * 1.8,
            size * 1.8
        ),
        Marker::Triangle => write!(
            out,
            "<polygon points=\"{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" {paint}/>",
            y - size * 1.1,
            x + size,
            y + size * 0.8,
            x - size,
            y + size * 0.8
        ),
        Marker::Diamond => write!(
            out,
            "<polygon points=\"{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}\" {paint}/>",
            y - size * 1.2,
            x + size * 1.2,
            y + size * 1.2,
            x - size * 1.2
        ),
        Marker::Cross => write!(
            out,
            "<path d=\"M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}\" stroke=\"{}\" stroke-width=\"3\"/>",
            x - size,
            y - size,
            x + size,
            y + size,
            x - size,
            y + size,
            x + size,
            y - size,
            style.colour
        ),
    };
}

/// A marker on its own, for a legend in the page's text.
pub fn legend_marker(style: Style, hollow: bool) -> String {
    let mut out = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\" width=\"16\" height=\"16\" aria-hidden=\"true\">",
    );
    marker(&mut out, 8.0, 8.0, 5.0, style, hollow);
    out.push_str("</svg>");
    out
}

/// The x axis below a plot area: grid lines up through the area, the tick labels, and what the axis is.
pub(super) fn x_axis(out: &mut String, scale: &Scale, top: f64, bottom: f64, layout: Layout, description: &str) {
    let font = layout.font();
    let _ = write!(
        out,
        "<line x1=\"{:.1}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"#333\"/>",
        scale.from, scale.to
    );
    for tick in ticks(scale.low, scale.high, scale.log, layout.max_ticks()) {
        let x = scale.at(tick);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#ddd\"/>\
             <line x1=\"{x:.1}\" y1=\"{bottom:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 5.0,
            bottom + 6.0 + font,
            short(tick)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        f64::midpoint(scale.from, scale.to),
        bottom + 12.0 + 2.0 * font,
        escape(description)
    );
}

/// `text` cut to about `room` units of `font`-sized text, with `…` where it was cut.
fn fit(text: &str, room: f64, font: f64) -> String {
    let chars = (room / (font * 0.56)).floor().max(4.0) as usize;
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        text.chars().take(chars - 1).collect::<String>() + "…"
    }
}

/// A dot plot: a row per dot, its values as markers with their intervals as bars, on a shared x axis.
pub fn dot_plot(dots: &[Dot], x_description: &str, log: bool, layout: Layout) -> String {
    let values = || dots.iter().flat_map(|dot| dot.values.iter());
    let least =
        values().flat_map(|v| [v.median, v.low]).filter(|v| *v > 0.0 && v.is_finite()).fold(f64::INFINITY, f64::min);
    let greatest = values().flat_map(|v| [v.median, v.high]).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let (low, high) = round_range(least, greatest, log);
    let (width, font) = (layout.width(), layout.font());
    let longest = dots.iter().map(|dot| dot.label.chars().count()).max().unwrap_or(8) as f64;
    let (label_room, row_height, label_above) = match layout {
        Layout::Wide => ((longest * font * 0.56 + 16.0).min(width * 0.42), font * 1.9, false),
        Layout::Narrow => (0.0, font * 3.2, true),
    };
    let top = 8.0;
    let bottom = top + dots.len().max(1) as f64 * row_height;
    let height = bottom + 18.0 + 2.6 * font;
    let scale = Scale { low, high, log, from: label_room.max(10.0), to: width - 16.0 };
    let mut out = String::new();
    open(&mut out, width, height, font);
    x_axis(&mut out, &scale, top, bottom, layout, x_description);
    for (row, dot) in dots.iter().enumerate() {
        let row_top = top + row as f64 * row_height;
        let y = if label_above { row_top + row_height * 0.68 } else { row_top + row_height / 2.0 };
        if label_above {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                scale.from,
                row_top + font,
                escape(&fit(&dot.label, width - scale.from, font))
            );
        } else {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                label_room - 8.0,
                y + font * 0.35,
                escape(&fit(&dot.label, label_room - 12.0, font))
            );
        }
        let count = dot.values.len() as f64;
        for (slot, value) in dot.values.iter().enumerate() {
            let y = y + (slot as f64 - (count - 1.0) / 2.0) * font * 0.55;
            if value.high > value.low {
                let _ = write!(
                    out,
                    "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"2\"/>",
                    scale.at(value.low),
                    scale.at(value.high),
                    dot.style.colour
                );
            }
            marker(&mut out, scale.at(value.median), y, font * 0.36, dot.style, value.hollow);
        }
    }
    out.push_str("</svg>");
    out
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub style: Style,
    /// 0 for a solid line, then dashes, then dots: lines of one colour told apart.
    pub dashes: usize,
    pub points: Vec<(f64, f64)>,
}

/// A log-log line chart; `legend` draws the lines' names below the chart (for a chart shown on its own).
pub fn lines(lines: &[Line], x_description: &str, y_description: &str, layout: Layout, legend: bool) -> String {
    let points = || lines.iter().flat_map(|line| line.points.iter());
    let positive = |v: &f64| *v > 0.0 && v.is_finite();
    let (x_low, x_high) = round_range(
        points().map(|p| p.0).filter(positive).fold(f64::INFINITY, f64::min),
        points().map(|p| p.0).filter(positive).fold(0.0, f64::max),
        true,
    );
    let (y_low, y_high) = round_range(
        points().map(|p| p.1).filter(positive).fold(f64::INFINITY, f64::min),
        points().map(|p| p.1).filter(positive).fold(0.0, f64::max),
        true,
    );
    let (width, font) = (layout.width(), layout.font());
    let plot_height = match layout {
        Layout::Wide => 420.0,
        Layout::Narrow => 300.0,
    };
    let (left, top) = (font * 3.6 + 10.0, 10.0);
    let bottom = top + plot_height;
    let legend_rows = if legend { lines.len() } else { 0 };
    let height = bottom + 18.0 + 2.6 * font + legend_rows as f64 * font * 1.5 + if legend { 8.0 } else { 0.0 };
    let x = Scale { low: x_low, high: x_high, log: true, from: left, to: width - 16.0 };
    let y = Scale { low: y_low, high: y_high, log: true, from: bottom, to: top };
    let mut out = String::new();
    open(&mut out, width, height, font);
    x_axis(&mut out, &x, top, bottom, layout, x_description);
    let _ = write!(out, "<line x1=\"{left:.1}\" y1=\"{top:.1}\" x2=\"{left:.1}\" y2=\"{bottom:.1}\" stroke=\"#333\"/>");
    log_y_axis(&mut out, &y, (left, x.to), layout, y_description);
    for line in lines {
        let path: Vec<String> = line
            .points
            .iter()
            .filter(|(a, b)| positive(a) && positive(b))
            .map(|&(a, b)| format!("{:.1},{:.1}", x.at(a), y.at(b)))
            .collect();
        let dash = dash_array(line.dashes);
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>",
            path.join(" "),
            line.style.colour
        );
        for &(a, b) in line.points.iter().filter(|(a, b)| positive(a) && positive(b)) {
            marker(&mut out, x.at(a), y.at(b), font * 0.33, line.style, false);
        }
    }
    lines_legend(&mut out, &lines[..legend_rows], bottom + 18.0 + 2.6 * font + 8.0, (left, width), font);
    out.push_str("</svg>");
    out
}

/// A logarithmic y axis from `y.from` (the bottom) to `y.to` (the top), its ticks across the plot from `left` to
/// `right`, and its description.
fn log_y_axis(out: &mut String, y: &Scale, (left, right): (f64, f64), layout: Layout, y_description: &str) {
    let (font, top, bottom) = (layout.font(), y.to, y.from);
    for tick in ticks(y.low, y.high, true, layout.max_ticks()) {
        let at = y.at(tick);
        let _ = write!(
            out,
            "<line x1=\"{left:.1}\" y1=\"{at:.1}\" x2=\"{:.1}\" y2=\"{at:.1}\" stroke=\"#ddd\"/>\
             <line x1=\"{:.1}\" y1=\"{at:.1}\" x2=\"{left:.1}\" y2=\"{at:.1}\" stroke=\"#333\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            right,
            left - 5.0,
            left - 7.0,
            at + font * 0.35,
            short(tick)
        );
    }
    let _ = write!(
        out,
        "<text transform=\"translate({:.1} {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        font,
        f64::midpoint(top, bottom),
        escape(y_description)
    );
}

/// The lines' names below a chart, from `top`, each beside its line and marker.
fn lines_legend(out: &mut String, lines: &[Line], top: f64, (left, width): (f64, f64), font: f64) {
    for (row, line) in lines.iter().enumerate() {
        let at = top + row as f64 * font * 1.5;
        let dash = dash_array(line.dashes);
        let _ = write!(
            out,
            "<line x1=\"{left:.1}\" y1=\"{at:.1}\" x2=\"{:.1}\" y2=\"{at:.1}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>",
            left + 28.0,
            line.style.colour
        );
        marker(out, left + 14.0, at, font * 0.33, line.style, false);
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left + 36.0,
            at + font * 0.35,
            escape(&fit(&line.name, width - left - 40.0, font))
        );
    }
}

fn dash_array(dashes: usize) -> &'static str {
    match dashes % 3 {
        0 => "",
        1 => " stroke-dasharray=\"8 5\"",
        _ => " stroke-dasharray=\"2 4\"",
    }
}

/// A chart with nothing to show, saying why (a page built without one of the runs).
pub fn empty(why: &str, layout: Layout) -> String {
    let (width, font) = (layout.width(), layout.font());
    let mut out = String::new();
    open(&mut out, width, 60.0, font);
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"35\" text-anchor=\"middle\">{}</text></svg>",
        width / 2.0,
        escape(&fit(why, width - 20.0, font))
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_get_one_two_five_ticks_while_they_fit_and_decades_beyond() {
        assert_eq!(ticks(1.0, 100.0, true, 11), [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(ticks(1.0, 1e6, true, 11), [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]);
        assert_eq!(ticks(1.0, 1e6, true, 7), [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]);
        assert_eq!(ticks(1.0, 1e8, true, 7), [1.0, 100.0, 1e4, 1e6, 1e8]);
        assert_eq!(ticks(0.0, 10.0, false, 6), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        // Too many for 1, 2 and 5, too few decades: 1 and 5.
        assert_eq!(ticks(200.0, 50_000.0, true, 7), [500.0, 1e3, 5e3, 1e4, 5e4]);
    }

    #[test]
    fn ranges_are_round_and_hold_the_data() {
        assert_eq!(round_range(3.0, 70.0, true), (2.0, 100.0));
        assert_eq!(round_range(0.2, 0.2, true), (0.2, 2.0));
        assert_eq!(round_range(0.0, 43.0, false), (0.0, 50.0));
        // Nothing to show, or a figure past what the axis can hold, still gives an axis.
        assert_eq!(round_range(f64::INFINITY, 0.0, true), (1.0, 10.0));
        let (low, high) = round_range(1.0, f64::MAX, true);
        assert!(low > 0.0 && high.is_finite(), "{low} {high}");
    }

    #[test]
    fn axis_numbers_are_short() {
        for (value, text) in [(2000.0, "2k"), (1.5e6, "1.5M"), (0.5, "0.5"), (20.0, "20"), (0.02, "0.02"), (0.0, "0")] {
            assert_eq!(short(value), text);
        }
    }

    #[test]
    fn a_chart_s_text_is_escaped_and_sized_for_its_layout() {
        let dot = Dot {
            label: "<script>".to_owned(),
            style: style(0),
            values: vec![Value { median: 5.0, low: 4.0, high: 6.0, hollow: false }],
        };
        for layout in [Layout::Wide, Layout::Narrow] {
            let svg = dot_plot(std::slice::from_ref(&dot), "ms & more", true, layout);
            assert!(svg.contains("&lt;script&gt;") && svg.contains("ms &amp; more") && !svg.contains("<script"));
            assert!(svg.contains(&format!("font-size=\"{}\"", layout.font())));
        }
    }
}

/// One run on a timeline: its span, the pause, and the marks that matter.
#[derive(Debug, Clone)]
pub struct TimelineRun {
    /// Its label: `mutex, run 3`.
    pub label: String,
    /// When it ended, milliseconds after the counter first moved.
    pub end_ms: f64,
    /// When the holder was stopped and continued.
    pub pause_ms: Option<(f64, f64)>,
    /// A stale write landed (`true`) or an old token was refused (`false`), at these moments.
    pub marks: Vec<(f64, bool)>,
}

/// The colours of a timeline: the pause, a stale write, a refused one.
pub const TIMELINE_PAUSE: &str = "#e69f00";
pub const TIMELINE_STALE: &str = "#d55e00";
pub const TIMELINE_REFUSED: &str = "#0072b2";

/// A run's pause (a box) and its marks (a diamond for a stale write, a circle for a refused one) on its row,
/// centred at `mid`, `x` placing a moment.
fn timeline_marks(out: &mut String, run: &TimelineRun, mid: f64, row: f64, x: &impl Fn(f64) -> f64) {
    if let Some((from, to)) = run.pause_ms {
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{TIMELINE_PAUSE}\" \
             fill-opacity=\"0.6\"/>",
            x(from),
            mid - row * 0.3,
            (x(to) - x(from)).max(1.0),
            row * 0.6
        );
    }
    for &(at, stale) in &run.marks {
        let (cx, size) = (x(at), row * 0.28);
        if stale {
            let _ = write!(
                out,
                "<path d=\"M{cx:.1} {:.1} L{:.1} {mid:.1} L{cx:.1} {:.1} L{:.1} {mid:.1} Z\" fill=\"{TIMELINE_STALE}\"/>",
                mid - size,
                cx + size,
                mid + size,
                cx - size
            );
        } else {
            let _ = write!(out, "<circle cx=\"{cx:.1}\" cy=\"{mid:.1}\" r=\"{size:.1}\" fill=\"{TIMELINE_REFUSED}\"/>");
        }
    }
}

/// Runs on one time axis, a row each: a grey line for the run, an amber box for the pause, a vermilion
/// diamond where a stale write landed, a blue circle where an old token was refused.
pub fn timeline(runs: &[TimelineRun], layout: Layout) -> String {
    let (width, font) = (layout.width(), layout.font());
    let row = font * 2.4;
    let (left, right, top) = match layout {
        Layout::Wide => (150.0, 20.0, 10.0),
        Layout::Narrow => (10.0, 15.0, 10.0),
    };
    let label_above = layout == Layout::Narrow;
    let per_row = if label_above { row + font * 1.2 } else { row };
    let axis_y = top + per_row * runs.len() as f64 + 10.0;
    let height = axis_y + font * 2.6;
    let most = runs.iter().map(|run| run.end_ms).fold(1.0_f64, f64::max);
    let x = |ms: f64| left + (ms / most).clamp(0.0, 1.0) * (width - left - right);
    let mut out = String::new();
    open(&mut out, width, height, font);
    for (index, run) in runs.iter().enumerate() {
        let base = top + per_row * index as f64 + if label_above { font * 1.2 } else { 0.0 };
        let mid = base + row / 2.0;
        if label_above {
            let _ = write!(out, "<text x=\"{left}\" y=\"{:.1}\">{}</text>", base - 3.0, escape(&run.label));
        } else {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left - 8.0,
                mid + font / 3.0,
                escape(&fit(&run.label, left - 12.0, font))
            );
        }
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{mid:.1}\" y2=\"{mid:.1}\" stroke=\"#888888\" stroke-width=\"2\"/>",
            x(0.0),
            x(run.end_ms)
        );
        timeline_marks(&mut out, run, mid, row, &x);
    }
    let ticks = ticks(0.0, most, false, layout.max_ticks());
    let _ = write!(
        out,
        "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{axis_y:.1}\" y2=\"{axis_y:.1}\" stroke=\"black\"/>",
        width - right
    );
    for tick in ticks.iter().filter(|tick| **tick <= most) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}</text>",
            x(*tick),
            axis_y + font * 1.2,
            tick
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">ms after the counter first moved</text></svg>",
        left + (width - left - right) / 2.0,
        axis_y + font * 2.4
    );
    out
}
