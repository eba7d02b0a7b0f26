//! The lost update drawn: one lane per worker, each increment's read (a hollow circle) and write (a filled
//! square) on one time axis, joined by its window; for each of the first losses, the write that was overwritten
//! crossed out and joined to the write that stood over it, with the values written.

use std::{collections::BTreeSet, fmt::Write as _};

use counter_core::trace::{Loss, Step, TraceReport};

use super::{
    charts::{Layout, Scale, open, x_axis},
    html::escape,
};

/// Losses drawn.
const DRAWN: usize = 3;

/// The colours: every step, and a loss.
const STEP: &str = "#555555";
const LOSS: &str = "#d55e00";

/// Where things go: the time window, the lanes, the sizes.
struct Frame {
    from: u64,
    to: u64,
    scale: Scale,
    workers: Vec<u32>,
    top: f64,
    row: f64,
    size: f64,
}

impl Frame {
    fn ms(&self, ns: u64) -> f64 {
        ns.saturating_sub(self.from) as f64 / 1e6
    }

    fn x(&self, ns: u64) -> f64 {
        self.scale.at(self.ms(ns.clamp(self.from, self.to)))
    }

    fn lane(&self, worker: u32) -> f64 {
        self.top + self.row * (self.workers.iter().position(|w| *w == worker).unwrap_or(0) as f64 + 0.5)
    }
}

/// The interleaving of `trace`'s first losses, for `layout`; `None` when it lists none.
pub fn draw(trace: &TraceReport, layout: Layout) -> Option<String> {
    let losses: Vec<&Loss> = trace.losses.iter().take(DRAWN).collect();
    let from = losses.iter().map(|loss| loss.before.read_ns.min(loss.late.read_ns)).min()?;
    let to = losses.iter().map(|loss| loss.late.wrote_ns).max()?.max(from + 1);
    let margin = (to - from) / 20;
    let (from, to) = (from.saturating_sub(margin), to + margin);
    let shown: Vec<&Step> = trace.steps.iter().filter(|step| step.wrote_ns >= from && step.read_ns <= to).collect();
    let workers: Vec<u32> = shown.iter().map(|step| step.worker).collect::<BTreeSet<_>>().into_iter().collect();
    let (width, font) = (layout.width(), layout.font());
    let (left, right) = if layout == Layout::Wide { (100.0, 20.0) } else { (34.0, 10.0) };
    let high = (to - from) as f64 / 1e6;
    let scale = Scale { low: 0.0, high, log: false, from: left, to: width - right };
    let frame = Frame { from, to, scale, workers, top: 14.0, row: font * 2.6, size: font * 0.3 };
    let bottom = frame.top + frame.row * frame.workers.len() as f64;
    let mut out = String::new();
    open(&mut out, width, bottom + 16.0 + 3.0 * font, font);
    for &worker in &frame.workers {
        let label = if layout == Layout::Wide { format!("worker {worker}") } else { format!("w{worker}") };
        let y = frame.lane(worker) + font / 3.0;
        let _ = write!(out, "<text x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"end\">{}</text>", left - 6.0, escape(&label));
    }
    x_axis(&mut out, &frame.scale, frame.top, bottom, layout, "ms from the first read drawn");
    steps(&mut out, &frame, &shown);
    for loss in &losses {
        crossed(&mut out, &frame, loss);
    }
    out.push_str("</svg>");
    Some(out)
}

/// Every step: its window as a line on its lane (cut to the frame), then the reads, then the writes on top (a
/// write and the next read a moment later must both show).
fn steps(out: &mut String, frame: &Frame, shown: &[&Step]) {
    let inside = |ns: u64| (frame.from..=frame.to).contains(&ns);
    let (mut reads, mut writes) = (String::new(), String::new());
    let size = frame.size;
    for step in shown {
        let (y, read, wrote) = (frame.lane(step.worker), frame.x(step.read_ns), frame.x(step.wrote_ns));
        let _ = write!(
            out,
            "<line x1=\"{read:.1}\" y1=\"{y:.1}\" x2=\"{wrote:.1}\" y2=\"{y:.1}\" stroke=\"{STEP}\" stroke-width=\"2\"/>"
        );
        if inside(step.read_ns) {
            let _ = write!(
                reads,
                "<circle cx=\"{read:.1}\" cy=\"{y:.1}\" r=\"{size:.1}\" fill=\"white\" stroke=\"{STEP}\" stroke-width=\"2\"/>"
            );
        }
        if inside(step.wrote_ns) {
            let (x, upper, edge) = (wrote - size, y - size, size * 2.0);
            let _ = write!(
                writes,
                "<rect x=\"{x:.1}\" y=\"{upper:.1}\" width=\"{edge:.1}\" height=\"{edge:.1}\" fill=\"{STEP}\"/>"
            );
        }
    }
    out.push_str(&reads);
    out.push_str(&writes);
}

/// A loss: the overwritten write crossed out, joined to the write that stood, each with the value it wrote.
fn crossed(out: &mut String, frame: &Frame, loss: &Loss) {
    let (a, b) = (loss.before, loss.late);
    let (ax, ay) = (frame.x(a.wrote_ns), frame.lane(a.worker));
    let (bx, by) = (frame.x(b.wrote_ns), frame.lane(b.worker));
    let cross = frame.size * 1.8;
    let _ = write!(
        out,
        "<line x1=\"{ax:.1}\" y1=\"{ay:.1}\" x2=\"{bx:.1}\" y2=\"{by:.1}\" stroke=\"{LOSS}\" stroke-width=\"2\"/>\
         <path d=\"M{:.1} {:.1} L{:.1} {:.1} M{:.1} {:.1} L{:.1} {:.1}\" stroke=\"{LOSS}\" stroke-width=\"3\"/>\
         <text x=\"{ax:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{LOSS}\">{}</text>\
         <text x=\"{bx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{LOSS}\">{}</text>",
        ax - cross,
        ay - cross,
        ax + cross,
        ay + cross,
        ax - cross,
        ay + cross,
        ax + cross,
        ay - cross,
        ay - cross - 3.0,
        a.wrote,
        by - cross - 3.0,
        b.wrote
    );
}

/// The legend's entries: each mark drawn as a small SVG, and what it is.
pub fn legend() -> Vec<(String, String)> {
    let mark = |body: String| format!(r#"<svg width="14" height="14" viewBox="0 0 14 14">{body}</svg>"#);
    vec![
        (
            mark(format!(r#"<circle cx="7" cy="7" r="4" fill="white" stroke="{STEP}" stroke-width="2"/>"#)),
            "a read".to_owned(),
        ),
        (mark(format!(r#"<rect x="3" y="3" width="8" height="8" fill="{STEP}"/>"#)), "its write".to_owned()),
        (
            mark(format!(r#"<path d="M2 2 L12 12 M2 12 L12 2" stroke="{LOSS}" stroke-width="3"/>"#)),
            "a write overwritten, joined to the one that stood: an increment lost".to_owned(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use counter_core::trace::{Counted, StepLog, Tracer as _, attribute};

    use super::*;

    #[test]
    fn a_collision_is_drawn_with_its_overwritten_write_crossed_out() {
        let mut logs = vec![StepLog::new(0, 10, 10), StepLog::new(1, 10, 10)];
        logs[0].record(1, Some(0), 1_000_000, 3_000_000);
        logs[1].record(1, Some(1), 2_000_000, 4_000_000);
        let trace = attribute(logs, Counted { own_words: false, lost: Some(1) });
        for layout in [Layout::Wide, Layout::Narrow] {
            let svg = draw(&trace, layout).expect("a loss to draw");
            assert_eq!(svg.matches("<circle").count(), 2, "a read each");
            assert_eq!(svg.matches("<rect x=").count(), 2, "a write each");
            assert_eq!(svg.matches(&format!("stroke=\"{LOSS}\" stroke-width=\"3\"")).count(), 1, "one crossed out");
            assert!(svg.contains("worker 1") || svg.contains("w1"), "{svg}");
        }
        let none = attribute(vec![StepLog::new(0, 1, 1)], Counted { own_words: false, lost: Some(0) });
        assert!(draw(&none, Layout::Wide).is_none());
    }
}
