//! Markdown: the table, for a README or an issue.

use super::Table;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    format!("| {} |\n", cells.map(cell).collect::<Vec<_>>().join(" | "))
}

/// The table as a Markdown table.
pub fn to_markdown(table: &Table) -> String {
    let mut out = line(table.headers.iter().copied());
    out.push('|');
    out.push_str(&"---|".repeat(table.headers.len()));
    out.push('\n');
    for row in &table.rows {
        out.push_str(&line(row.iter().map(String::as_str)));
    }
    out
}
