//! RFC 821/822 quoting of an address's local part, as qmail's `quote.c`.
//!
//! Hand-written because it must match qmail byte for byte: a local part
//! that contains a character outside the atom set, starts or ends with a
//! dot, or contains `..`, is wrapped in `"..."` with `\` before `"`, `\`,
//! CR and LF. Only the part before the last `@` is quoted.

fn is_special(c: u8) -> bool {
    // qmail's `ok` set is everything printable except these and space.
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'@' | b',' | b';' | b':' | b'\\' | b'"' | b'[' | b']' | b' '
    ) || !(33..=126).contains(&c)
}

fn needs_quote(local: &[u8]) -> bool {
    if local.is_empty() {
        return true;
    }
    if local[0] == b'.' || local[local.len() - 1] == b'.' {
        return true;
    }
    if local.windows(2).any(|w| w == b"..") {
        return true;
    }
    local.iter().any(|&c| is_special(c))
}

/// Quotes the local part only if needed; an address without `@` is
/// treated as all local part. The empty address stays empty.
pub fn quote(addr: &[u8]) -> Vec<u8> {
    if addr.is_empty() {
        return Vec::new();
    }
    let (local, rest) = match addr.iter().rposition(|&c| c == b'@') {
        Some(i) => (&addr[..i], &addr[i..]),
        None => (addr, &b""[..]),
    };
    if !needs_quote(local) {
        return addr.to_vec();
    }
    let mut out = Vec::with_capacity(addr.len() + 4);
    out.push(b'"');
    for &c in local {
        if matches!(c, b'"' | b'\\' | b'\r' | b'\n') {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
    out.extend_from_slice(rest);
    out
}

/// [`quote`] for text.
pub fn quote_str(addr: &str) -> String {
    String::from_utf8_lossy(&quote(addr.as_bytes())).into_owned()
}

/// Appends [`quote_str`]`(addr)` to `out` (no allocation when `out` has
/// room: converters quote 100,000 addresses in a row).
pub fn push_quoted_str(out: &mut String, addr: &str) {
    let (local, rest) = match addr.rfind('@') {
        Some(i) => addr.split_at(i),
        None => (addr, ""),
    };
    if addr.is_empty() || !needs_quote(local.as_bytes()) {
        out.push_str(addr);
        return;
    }
    // Only ASCII is inserted, so the result stays UTF-8.
    out.push('"');
    for c in local.chars() {
        if matches!(c, '"' | '\\' | '\r' | '\n') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote_str("joe@example.com"), "joe@example.com");
        assert_eq!(quote_str("joe smith@x"), "\"joe smith\"@x");
        assert_eq!(quote_str(".joe@x"), "\".joe\"@x");
        assert_eq!(quote_str("a..b@x"), "\"a..b\"@x");
        assert_eq!(quote_str("a\"b@x"), "\"a\\\"b\"@x");
        assert_eq!(quote_str(""), "");
        assert_eq!(quote_str("#@[]"), "#@[]");
        for a in ["joe smith@x", "a\"b@x", "é.@x", "plain", "x@y@z", ""] {
            let want = String::from_utf8(quote(a.as_bytes())).unwrap();
            let mut got = String::from("prefix ");
            push_quoted_str(&mut got, a);
            assert_eq!(got, format!("prefix {want}"), "{a}");
        }
    }
}
