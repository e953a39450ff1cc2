//! One logical aliases line → alias name and right-hand side text, with
//! sendmail's left-hand-side rules (spec §1.2).
//!
//! The name is everything before the first `:` outside quotes, parsed as
//! an address: surrounding blanks go, a quoted name is unquoted,
//! `name@<local name>` becomes `name`, `name@other` is refused as
//! non-local, and the key is lower-cased.

use crate::site::Site;

/// Why sendmail skipped a line (its own error text, spec §1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    MissingColon,
    EmptyName,
    NonLocal(String),
    MissingValue,
}

impl Skip {
    /// sendmail's message for the skipped line.
    pub fn message(&self) -> String {
        match self {
            Skip::MissingColon => "554 5.3.5 missing colon".into(),
            Skip::EmptyName => "554 5.3.5 illegal alias name".into(),
            Skip::NonLocal(d) => format!("cannot alias non-local names (domain {d})"),
            Skip::MissingValue => "554 5.3.5 missing value for alias".into(),
        }
    }
}

/// A parsed entry: lower-cased name and the raw right-hand side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: String,
    /// The domain given on the left-hand side (a local name), if any.
    pub lhs_domain: Option<String>,
    pub rhs: &'a str,
}

fn colon(text: &str) -> Option<usize> {
    let mut quoted = false;
    // Byte-wise: `"` and `:` never occur inside a multi-byte character.
    for (i, &c) in text.as_bytes().iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b':' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r')
}

/// Parses `name: rhs`.
pub fn parse<'a>(site: &Site, text: &'a str) -> Result<Entry<'a>, Skip> {
    let c = colon(text).ok_or(Skip::MissingColon)?;
    let lhs = text[..c].trim_matches(blank);
    let rhs = &text[c + 1..];
    let (mut name, domain) = match lhs.bytes().rposition(|c| c == b'@') {
        Some(at) if !lhs.as_bytes()[at..].contains(&b'"') => (&lhs[..at], Some(&lhs[at + 1..])),
        _ => (lhs, None),
    };
    if let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        name = inner;
    }
    if name.is_empty() {
        return Err(Skip::EmptyName);
    }
    if let Some(d) = domain {
        if !site.is_local(d) {
            return Err(Skip::NonLocal(d.to_string()));
        }
    }
    if rhs.trim_matches(blank).is_empty() {
        return Err(Skip::MissingValue);
    }
    Ok(Entry {
        name: name.to_ascii_lowercase(),
        lhs_domain: domain.map(str::to_ascii_lowercase),
        rhs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new("mail.example.org", &["example.org"])
    }

    #[test]
    fn names_are_trimmed_unquoted_and_lowered() {
        let s = site();
        assert_eq!(parse(&s, "a : bob").unwrap().name, "a");
        assert_eq!(parse(&s, "A:bob").unwrap().name, "a");
        assert_eq!(parse(&s, "\"e50 x\": bob").unwrap().name, "e50 x");
        assert_eq!(parse(&s, "PostMaster: carol").unwrap().name, "postmaster");
        let e = parse(&s, "a@mail.example.org: bob").unwrap();
        assert_eq!(
            (e.name.as_str(), e.lhs_domain.as_deref()),
            ("a", Some("mail.example.org"))
        );
        assert_eq!(parse(&s, "a+tag: bob").unwrap().name, "a+tag");
    }

    #[test]
    fn bad_lines_are_skipped_with_sendmails_reason() {
        let s = site();
        assert_eq!(parse(&s, "a bob"), Err(Skip::MissingColon));
        assert_eq!(parse(&s, "a:   "), Err(Skip::MissingValue));
        assert_eq!(
            parse(&s, "a@other.example: bob"),
            Err(Skip::NonLocal("other.example".into()))
        );
    }
}
