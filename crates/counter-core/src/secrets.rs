//! Credentials never appear in what we print or write: [`redact`] masks them in any text that may hold a server's
//! address, whatever its shape (`store://user:pw@host`, a mistyped `store:/:pw@host`, a bare `:pw@host`, a
//! `?pass=pw` or `password=pw` parameter, given once or twice).

/// What a masked secret reads as.
pub const MASK: &str = "***";

/// The parameters whose value is a secret.
const SECRET_PARAMETERS: [&str; 3] = ["pass=", "password=", "passwd="];

/// `text` with every password masked: the part between the first `:` and the `@` of each `user:password@`
/// (user names are kept), and the value of each `pass=`, `password=` or `passwd=` parameter.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        // The user information runs back from the `@` to white space, a slash, or the start.
        let start = rest[..at].rfind(|c: char| c.is_whitespace() || c == '/').map_or(0, |i| i + 1);
        let Some(colon) = rest[start..at].find(':').map(|colon| start + colon) else {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            continue;
        };
        // A password may hold an `@` itself: it runs to the last `@` before the host.
        let token_end = rest[colon..].find(|c: char| c.is_whitespace() || c == '/').map_or(rest.len(), |i| colon + i);
        let last_at = rest[..token_end].rfind('@').unwrap_or(at);
        out.push_str(&rest[..=colon]);
        out.push_str(MASK);
        out.push('@');
        rest = &rest[last_at + 1..];
    }
    out.push_str(rest);
    mask_parameters(&out)
}

fn mask_parameters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let found = SECRET_PARAMETERS
            .iter()
            .filter_map(|name| {
                // A parameter starts the text or follows a separator: `?`, `&`, white space.
                let mut from = 0;
                while let Some(i) = rest[from..].find(name).map(|i| from + i) {
                    if i == 0 || rest[..i].ends_with(['?', '&', ' ', '\t', '\n', ';']) {
                        return Some((i, name.len()));
                    }
                    from = i + name.len();
                }
                None
            })
            .min();
        let Some((start, name_length)) = found else { break };
        let value = start + name_length;
        let end =
            rest[value..].find(|c: char| c == '&' || c.is_whitespace() || c == ';').map_or(rest.len(), |i| value + i);
        out.push_str(&rest[..value]);
        out.push_str(MASK);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_of_a_password_is_masked() {
        for (given, shown) in [
            ("store://user:secret@host:6379/0", "store://user:***@host:6379/0"),
            ("store://:secret@host", "store://:***@host"),
            ("store:/:secret@host", "store:/:***@host"),
            (":secret@host", ":***@host"),
            ("--server store://:secret@h --sync atomic", "--server store://:***@h --sync atomic"),
            ("unix:///tmp/r.sock?db=1&pass=secret", "unix:///tmp/r.sock?db=1&pass=***"),
            ("unix:///tmp/r.sock?pass=one&pass=two", "unix:///tmp/r.sock?pass=***&pass=***"),
            ("host=/run/pg password=secret dbname=x", "host=/run/pg password=*** dbname=x"),
            ("db://u:p@w@host/db", "db://u:***@host/db"),
        ] {
            let redacted = redact(given);
            assert_eq!(redacted, shown, "{given}");
            assert!(!redacted.contains("secret") && !redacted.contains(":p@"), "{given}: {redacted}");
        }
    }

    #[test]
    fn text_without_a_password_is_kept() {
        for text in ["unix:///tmp/store.sock", "store://host:6379", "user@host", "bypass=1", "a compassion=2"] {
            assert_eq!(redact(text), text);
        }
    }
}
