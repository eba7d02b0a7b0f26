//! CSV: the table, one line per row, quoted where needed (RFC 4180).

use super::Table;

fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// The table as CSV with a header line.
pub fn to_csv(table: &Table) -> String {
    let mut out = String::new();
    for line in std::iter::once(table.headers.iter().map(|h| field(h)).collect::<Vec<_>>())
        .chain(table.rows.iter().map(|row| row.iter().map(|cell| field(cell)).collect()))
    {
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_needs_it() {
        let table = Table { headers: vec!["a", "b"], rows: vec![vec!["1,5".into(), "say \"hi\"".into()]] };
        assert_eq!(to_csv(&table), "a,b\n\"1,5\",\"say \"\"hi\"\"\"\n");
    }
}
