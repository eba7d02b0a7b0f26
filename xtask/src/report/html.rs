//! The page itself: one HTML file with its style inline and its charts as inline SVG. No script, no font, no
//! request of any kind: it reads the same offline, with JavaScript off, and printed.

use std::fmt::Write as _;

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Narrow screens get one column, charts drawn for their width, and tables that scroll inside their own box;
/// wide ones a readable measure. A chart is never shown much below the size it was drawn for, so that its text
/// stays at 11 px or more.
const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1rem; max-width: 70rem; color: #111;
       line-height: 1.45; overflow-wrap: break-word; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
.headline { font-size: 1.05rem; }
.findings li { margin: 0.25rem 0; }
figure { margin: 1rem 0; }
.chart svg { width: 100%; height: auto; display: block; border: 1px solid #ddd; }
.wide svg { max-width: 900px; } .narrow svg { max-width: 480px; }
.narrow { display: none; }
@media (max-width: 48rem) { .wide { display: none; } .narrow { display: block; } }
.legend { list-style: none; padding: 0; margin: 0.4rem 0; display: flex; flex-wrap: wrap; gap: 0.2rem 1rem;
          font-size: 0.95rem; }
.legend svg { vertical-align: -0.15rem; margin-right: 0.3rem; }
figcaption { font-size: 0.95rem; margin-top: 0.3rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.text { text-align: left; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
code { font-size: 0.9em; overflow-wrap: anywhere; }
@media (max-width: 40rem) { dl { grid-template-columns: 1fr; } body { padding: 0.5rem; } }
@media print { figure { break-inside: avoid; } }
";

/// The page being assembled.
#[derive(Debug, Default)]
pub struct Page {
    body: String,
    figures: usize,
}

impl Page {
    pub fn heading(&mut self, level: u8, text: &str) {
        let _ = writeln!(self.body, "<h{level}>{}</h{level}>", escape(text));
    }

    pub fn paragraph(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p>{}</p>", escape(text));
    }

    /// A paragraph that says what the page shows, before anything else.
    pub fn headline(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p class=\"headline\">{}</p>", escape(text));
    }

    /// A chart drawn for wide and for narrow screens, its legend (each entry a marker drawn as SVG and its
    /// name), and the one sentence that says what to read from it.
    pub fn figure(&mut self, wide: &str, narrow: &str, legend: &[(String, String)], caption: &str) {
        self.figures += 1;
        let _ = write!(self.body, "<figure id=\"figure-{}\">", self.figures);
        if !legend.is_empty() {
            self.body.push_str("<ul class=\"legend\">");
            for (marker, name) in legend {
                let _ = write!(self.body, "<li>{marker}{}</li>", escape(name));
            }
            self.body.push_str("</ul>");
        }
        let _ = writeln!(
            self.body,
            "<div class=\"chart wide\">{wide}</div><div class=\"chart narrow\">{narrow}</div>\
             <figcaption>Figure {}. {}</figcaption></figure>",
            self.figures,
            escape(caption)
        );
    }

    /// The findings: a short list, first on the page.
    pub fn findings(&mut self, items: &[String]) {
        self.body.push_str("<ul class=\"findings\">\n");
        for item in items {
            let _ = writeln!(self.body, "<li>{}</li>", escape(item));
        }
        self.body.push_str("</ul>\n");
    }

    pub fn list(&mut self, items: &[String]) {
        self.body.push_str("<ul>\n");
        for item in items {
            let _ = writeln!(self.body, "<li>{}</li>", escape(item));
        }
        self.body.push_str("</ul>\n");
    }

    /// Terms and their values.
    pub fn definitions(&mut self, pairs: &[(&str, String)]) {
        self.body.push_str("<dl>\n");
        for (term, value) in pairs {
            let _ = writeln!(self.body, "<dt>{}</dt><dd>{}</dd>", escape(term), escape(value));
        }
        self.body.push_str("</dl>\n");
    }

    /// A table; the first column (and columns of words) left-aligned, numbers right-aligned.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.body.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
        for name in header {
            let _ = write!(self.body, "<th>{}</th>", escape(name));
        }
        self.body.push_str("</tr></thead>\n<tbody>\n");
        for row in rows {
            self.body.push_str("<tr>");
            for cell in row {
                let numeric = cell.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '-');
                let class = if numeric { "" } else { " class=\"text\"" };
                let _ = write!(self.body, "<td{class}>{}</td>", escape(cell));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</tbody></table></div>\n");
    }

    /// The whole document.
    pub fn finish(self, title: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" \
             content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n\
             <body>\n{}</body>\n</html>\n",
            escape(title),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_the_page_asks_for_nothing() {
        let mut page = Page::default();
        page.paragraph("a < b & \"c\"");
        page.figure("<svg viewBox=\"0 0 1 1\"></svg>", "<svg viewBox=\"0 0 1 1\"></svg>", &[], "x > y");
        let html = page.finish("t");
        assert!(html.contains("a &lt; b &amp; &quot;c&quot;") && html.contains("x &gt; y"));
        for outside in ["src=", "href=", "<script", "<link", "@import", "url("] {
            assert!(!html.contains(outside), "{outside}");
        }
    }
}
