//! CSV fields, quoted where needed (RFC 4180). Each task writes its own lines: numbers only, units in the
//! header's names.

/// One CSV field, quoted where it must be.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_needs_it() {
        assert_eq!(field("1,5"), "\"1,5\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("0.2041"), "0.2041");
    }
}
