//! CSV, one writer for every task's exports: flat records through serde and the `csv` crate (quoted where
//! needed, RFC 4180), the header from the record's field names, numbers as they are, units in the names, and an
//! absent figure as an empty field.

use serde::Serialize;

/// `records` as CSV, a header first (nothing at all without a record).
pub fn to_csv<T: Serialize>(records: impl IntoIterator<Item = T>) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer.serialize(record)?;
    }
    let bytes = writer.into_inner().map_err(|error| anyhow::anyhow!("CSV: {}", error.error()))?;
    Ok(String::from_utf8(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Record<'a> {
        label: &'a str,
        wall_s: f64,
        retries: Option<u64>,
    }

    #[test]
    fn quotes_what_needs_it_and_leaves_an_absent_figure_empty() {
        let records = [
            Record { label: "1,5", wall_s: 0.2041, retries: None },
            Record { label: "say \"hi\"", wall_s: 2.0, retries: Some(3) },
        ];
        let text = to_csv(records).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, ["label,wall_s,retries", "\"1,5\",0.2041,", "\"say \"\"hi\"\"\",2.0,3"]);
        assert_eq!(to_csv(Vec::<Record<'_>>::new()).unwrap(), "");
    }
}
