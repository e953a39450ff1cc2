//! Byte strings in scenario files, and how bytes are shown in reports.
//!
//! Scenario text fields are YAML strings decoded once more by the harness
//! (conformance spec §8.2: `\r`, `\n`, `\xHH` escapes), so a scenario can
//! send bare CR, bare LF, NUL and any 8-bit byte. YAML double-quoted
//! strings already interpret their own escapes (and turn `\xff` into the
//! two UTF-8 bytes of U+00FF), so scenarios use single quotes or plain
//! scalars when they need a raw byte: `'\xff'` is the one byte 0xFF.
//!
//! Reports render bytes the other way round ([`visible`]): CR, LF, tabs,
//! NUL and other control or 8-bit bytes become escapes, so a CRLF versus
//! LF difference shows up in a diff instead of hiding in whitespace.

use serde::{Deserialize, Deserializer};

/// A byte string written with the harness' escapes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub Vec<u8>);

/// Why a string's escapes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    #[error("unknown escape `\\{0}` (use \\r \\n \\t \\0 \\\\ or \\xHH)")]
    Unknown(char),
    #[error("`\\x` needs two hex digits")]
    BadHex,
    #[error("string ends with a lone backslash")]
    Trailing,
}

/// Decodes `\r`, `\n`, `\t`, `\0`, `\\` and `\xHH` in `s`.
pub fn decode(s: &str) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            None => return Err(EscapeError::Trailing),
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let h: String = chars.by_ref().take(2).collect();
                if h.len() != 2 {
                    return Err(EscapeError::BadHex);
                }
                out.push(u8::from_str_radix(&h, 16).map_err(|_| EscapeError::BadHex)?);
            }
            Some(other) => return Err(EscapeError::Unknown(other)),
        }
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).map(Text).map_err(serde::de::Error::custom)
    }
}

impl Text {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// `bytes` with CR, LF and every non-printable byte made visible.
pub fn visible(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// `bytes` rendered one line per source line: each line made
/// [`visible`] (its `\n` shown) and followed by a real newline, so diffs
/// line up with the data's own lines.
pub fn visible_lines(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        out.push_str(&visible(line));
        out.push('\n');
    }
    out
}

/// Replaces every `${name}` in `bytes` by `lookup(name)`; unknown names
/// are left as written.
pub fn substitute(bytes: &[u8], lookup: &dyn Fn(&str) -> Option<String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"${") {
            if let Some(end) = bytes[i + 2..].iter().position(|&b| b == b'}') {
                let name = String::from_utf8_lossy(&bytes[i + 2..i + 2 + end]);
                if let Some(v) = lookup(&name) {
                    out.extend_from_slice(v.as_bytes());
                    i += end + 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_escape() {
        assert_eq!(
            decode(r"a\r\nb\x00\xff\t\\").unwrap(),
            b"a\r\nb\x00\xff\t\\"
        );
        assert_eq!(decode("plain é").unwrap(), "plain é".as_bytes());
    }

    #[test]
    fn rejects_bad_escapes() {
        assert_eq!(decode(r"\q"), Err(EscapeError::Unknown('q')));
        assert_eq!(decode(r"\x4"), Err(EscapeError::BadHex));
        assert_eq!(decode(r"\xzz"), Err(EscapeError::BadHex));
        assert_eq!(decode("a\\"), Err(EscapeError::Trailing));
    }

    #[test]
    fn visible_shows_line_ends_and_bytes() {
        assert_eq!(visible(b"250 ok\r\n"), r"250 ok\r\n");
        assert_eq!(visible(b"\x00\xff\\"), r"\x00\xff\\");
        assert_eq!(visible_lines(b"a\r\nb\nc"), "a\\r\\n\nb\\n\nc\n");
    }

    #[test]
    fn substitutes_known_names_only() {
        let f = |n: &str| (n == "me").then(|| "mx.test".to_string());
        assert_eq!(substitute(b"220 ${me} ${x} ${", &f), b"220 mx.test ${x} ${");
    }
}
