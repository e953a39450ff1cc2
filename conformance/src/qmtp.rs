//! The client side of QMTP and QMQP (qmail-behaviour §10): netstrings,
//! the packages the harness builds from a scenario's fields, and reading
//! the servers' netstring responses off a connection.

use crate::scenario::doors::Encoding;

/// `<len>:<s>,` (§10.1).
pub fn netstring(s: &[u8]) -> Vec<u8> {
    let mut v = format!("{}:", s.len()).into_bytes();
    v.extend_from_slice(s);
    v.push(b',');
    v
}

/// A QMTP package (§10.2): the message netstring (encoding byte first),
/// the sender, and a netstring of recipient netstrings.
pub fn qmtp_package(from: &[u8], to: &[Vec<u8>], message: &[u8], encoding: Encoding) -> Vec<u8> {
    let mut m = match encoding {
        Encoding::Lf => vec![b'\n'],
        Encoding::Cr => vec![b'\r'],
        Encoding::None => Vec::new(),
    };
    m.extend_from_slice(message);
    let mut out = netstring(&m);
    out.extend(netstring(from));
    let list: Vec<u8> = to.iter().flat_map(|r| netstring(r)).collect();
    out.extend(netstring(&list));
    out
}

/// A QMQP package (§10.3): one netstring holding the message (as
/// stored, no encoding byte), the sender and each recipient.
pub fn qmqp_package(from: &[u8], to: &[Vec<u8>], message: &[u8]) -> Vec<u8> {
    let mut inner = netstring(message);
    inner.extend(netstring(from));
    for r in to {
        inner.extend(netstring(r));
    }
    netstring(&inner)
}

/// More digits than any sane response length has.
const MAX_DIGITS: usize = 10;

/// For [`crate::smtp::client::Conn::unit`]: how many leading bytes of
/// `buf` form one netstring once it has all arrived. Something that
/// cannot be the start of a netstring is taken whole at once (and then
/// reported as malformed by [`parse`]).
pub fn split(buf: &[u8]) -> Option<usize> {
    let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == buf.len() {
        return (digits > MAX_DIGITS).then_some(digits);
    }
    if buf[digits] != b':' || digits == 0 || digits > MAX_DIGITS {
        return Some(buf.len());
    }
    let len: usize = std::str::from_utf8(&buf[..digits]).ok()?.parse().ok()?;
    let whole = digits + 1 + len + 1;
    (buf.len() >= whole).then_some(whole)
}

/// The content of one netstring response, or why it is malformed.
pub fn parse(unit: &[u8]) -> Result<&[u8], String> {
    let digits = unit.iter().take_while(|b| b.is_ascii_digit()).count();
    let bad = |why: &str| Err(format!("the response is not a netstring: {why}"));
    if digits == 0 {
        return bad("it does not start with a length");
    }
    if digits > 1 && unit[0] == b'0' {
        return bad("the length has a leading zero");
    }
    if unit.get(digits) != Some(&b':') {
        return bad("no `:` after the length");
    }
    let len: usize = match std::str::from_utf8(&unit[..digits]).map(str::parse) {
        Ok(Ok(n)) => n,
        _ => return bad("the length is too large"),
    };
    let body = &unit[digits + 1..];
    if body.len() != len + 1 || body[len] != b',' {
        return bad("the content is not followed by `,` where the length says");
    }
    Ok(&body[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_packages_with_right_lengths() {
        assert_eq!(netstring(b""), b"0:,");
        assert_eq!(
            qmtp_package(b"a@b", &[b"c@d".to_vec()], b"x\n", Encoding::Lf),
            b"3:\nx\n,3:a@b,6:3:c@d,,"
        );
        assert_eq!(
            qmtp_package(b"", &[], b"Xy", Encoding::None),
            b"2:Xy,0:,0:,"
        );
        assert_eq!(
            qmqp_package(b"a", &[b"b".to_vec(), b"c".to_vec()], b"m\n"),
            b"17:2:m\n,1:a,1:b,1:c,,"
        );
    }

    #[test]
    fn splits_and_parses_responses() {
        assert_eq!(split(b""), None);
        assert_eq!(split(b"12"), None);
        assert_eq!(split(b"3:ab"), None);
        assert_eq!(split(b"3:abc,4:"), Some(6));
        assert_eq!(split(b"x"), Some(1));
        assert_eq!(split(b":"), Some(1));
        assert_eq!(split(b"12345678901"), Some(11));
        assert_eq!(parse(b"3:Kok,"), Ok(&b"Kok"[..]));
        assert_eq!(parse(b"0:,"), Ok(&b""[..]));
        assert!(parse(b"03:Kok,").is_err());
        assert!(parse(b"3:Kok;").is_err());
        assert!(parse(b"3:Ko").is_err());
        assert!(parse(b"Kok").is_err());
    }
}
