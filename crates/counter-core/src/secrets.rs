//! Credentials never appear in what we print or write. The first rule is structural: a server's address as the
//! user gave it is never printed; a binary prints what it parsed from it (host, port or socket, database, user),
//! and a tool that passes such a value on records it as [`NOT_SHOWN`] ([`conceal_values`]). [`redact`] is the
//! second line, for text we do not make ourselves (a server's or a driver's error): it masks the passwords it
//! can recognise (`store://user:pw@host`, a bare `:pw@host`, a `?pass=pw` or `password=pw` parameter).

/// What a masked secret reads as.
pub const MASK: &str = "***";

/// What stands where a value that may hold a credential was given.
pub const NOT_SHOWN: &str = "<not shown>";

/// `args` with the value of each flag in `flags` (`--flag VALUE` or `--flag=VALUE`) replaced by [`NOT_SHOWN`]:
/// a command line fit to record.
pub fn conceal_values(args: &[String], flags: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut next_is_value = false;
    for arg in args {
        if next_is_value {
            out.push(NOT_SHOWN.to_owned());
            next_is_value = false;
        } else if flags.contains(&arg.as_str()) {
            out.push(arg.clone());
            next_is_value = true;
        } else if let Some(flag) =
            flags.iter().find(|flag| arg.strip_prefix(**flag).is_some_and(|rest| rest.starts_with('=')))
        {
            out.push(format!("{flag}={NOT_SHOWN}"));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

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
    fn a_flag_value_is_never_kept_whatever_it_holds() {
        let args: Vec<String> = ["--store", "s://:Alpha9 Bravo7Zulu@h", "--sync", "atomic", "--other=password = x y"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            conceal_values(&args, &["--store", "--other"]),
            ["--store", NOT_SHOWN, "--sync", "atomic", &format!("--other={NOT_SHOWN}")]
        );
    }

    #[test]
    fn text_without_a_password_is_kept() {
        for text in ["unix:///tmp/store.sock", "store://host:6379", "user@host", "bypass=1", "a compassion=2"] {
            assert_eq!(redact(text), text);
        }
    }
}
