//! Recording one permanent failure in `bounce/<id>` (spec §4.1).
//!
//! qmail-send appends one *recipient paragraph* per `D` report. The
//! formatter is hand-written because the bytes must match qmail-send's
//! `addbounce()` exactly, including its quirks (see [`paragraph`]).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use crate::control::VirtualDomains;

/// Removes a virtualdomains prefix again (spec §4.1, qmail's
/// `stripvdomprepend`): if `prepend` is non-empty and the address starts
/// with `prepend-` (case-sensitive, as qmail compares it), that prefix goes.
/// An address without `@` is left alone, as in qmail.
pub fn strip_prepend<'a>(recipient: &'a [u8], prepend: Option<&str>) -> &'a [u8] {
    let Some(p) = prepend.map(str::as_bytes) else {
        return recipient;
    };
    if p.is_empty() || !recipient.contains(&b'@') {
        return recipient;
    }
    match recipient.strip_prefix(p) {
        Some(rest) if rest.first() == Some(&b'-') => &rest[1..],
        _ => recipient,
    }
}

/// The prepend qmail-send would strip for `recipient`: the virtualdomains
/// entry for its *domain* (then each dot suffix, then the empty key), never
/// the whole-address entry — qmail's `stripvdomprepend` only looks domains
/// up. `None` when nothing matches or the address has no `@`.
pub fn prepend_for<'v>(vd: &'v VirtualDomains, recipient: &[u8]) -> Option<&'v str> {
    let at = recipient.iter().rposition(|&c| c == b'@')?;
    let domain = String::from_utf8_lossy(&recipient[at + 1..]);
    // Looking up "@domain" skips the whole-address key (no real entry is
    // keyed "@domain") and then walks the domain and its suffixes.
    vd.lookup(&format!("@{domain}"))
}

/// One recipient paragraph, byte for byte as qmail-send's `addbounce()`:
///
/// 1. `<` + recipient (prepend stripped, each `\n` turned into `_`) + `>:\n`;
/// 2. the report text, plus `\n` if it is non-empty and lacks one;
/// 3. scanning backwards from the second-to-last byte down to byte 1, every
///    `\n` preceded by `\n` becomes `/` — so a blank line in the text turns
///    into a line starting with `/`. Like qmail, the final byte is not
///    examined, so a text ending in `\n\n` keeps its trailing blank line;
/// 4. one extra `\n`.
pub fn paragraph(recipient: &[u8], vd_prepend: Option<&str>, text: &[u8]) -> Vec<u8> {
    let addr = strip_prepend(recipient, vd_prepend);
    let mut p = Vec::with_capacity(addr.len() + text.len() + 8);
    p.push(b'<');
    p.extend(addr.iter().map(|&c| if c == b'\n' { b'_' } else { c }));
    p.extend_from_slice(b">:\n");
    p.extend_from_slice(text);
    if text.last().is_some_and(|&c| c != b'\n') {
        p.push(b'\n');
    }
    // qmail: for (pos = len - 2; pos > 0; --pos). Going backwards matters:
    // "\n\n\n" becomes "\n//".
    let mut pos = p.len().saturating_sub(2);
    while pos > 0 {
        if p[pos] == b'\n' && p[pos - 1] == b'\n' {
            p[pos] = b'/';
        }
        pos -= 1;
    }
    p.push(b'\n');
    p
}

/// Appends `bytes` to `path` (created 0600 if missing), as qmail's
/// `open_append`: `O_APPEND|O_CREAT`, no fsync — the bounce file is the one
/// part of the queue that qmail does not make crash-proof (spec §4.1).
pub fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_paragraph() {
        let p = paragraph(
            b"nobody@mx.example.com",
            None,
            b"Sorry, no mailbox here by that name. (#5.1.1)\n",
        );
        assert_eq!(
            p,
            b"<nobody@mx.example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        );
    }

    #[test]
    fn newline_added_and_address_newline_becomes_underscore() {
        assert_eq!(paragraph(b"a\nb@x", None, b"oops"), b"<a_b@x>:\noops\n\n");
    }

    #[test]
    fn empty_text_gets_no_newline() {
        assert_eq!(paragraph(b"a@x", None, b""), b"<a@x>:\n\n");
    }

    #[test]
    fn blank_lines_are_neutralised() {
        assert_eq!(
            paragraph(b"a@x", None, b"one\n\ntwo\n"),
            b"<a@x>:\none\n/two\n\n"
        );
        // Three newlines in a row: qmail scans backwards, both become '/'.
        assert_eq!(
            paragraph(b"a@x", None, b"one\n\n\ntwo\n"),
            b"<a@x>:\none\n//two\n\n"
        );
        // The last byte is never examined (qmail quirk).
        assert_eq!(paragraph(b"a@x", None, b"one\n\n"), b"<a@x>:\none\n\n\n");
    }

    #[test]
    fn virtualdomain_prefix_is_stripped() {
        assert_eq!(
            paragraph(b"joe-info@virt.example", Some("joe"), b"x\n"),
            b"<info@virt.example>:\nx\n\n"
        );
        // Not followed by '-', different case, or empty prepend: kept.
        assert_eq!(strip_prepend(b"joeinfo@v", Some("joe")), b"joeinfo@v");
        assert_eq!(strip_prepend(b"Joe-info@v", Some("joe")), b"Joe-info@v");
        assert_eq!(strip_prepend(b"joe-info@v", Some("")), b"joe-info@v");
        assert_eq!(strip_prepend(b"joe-info", Some("joe")), b"joe-info");
    }

    #[test]
    fn prepend_for_looks_up_domains_only() {
        let vd = VirtualDomains::from_lines(&[
            "virt.example:joe".to_string(),
            "info@other.example:bob".to_string(),
            ".sub.example:sue".to_string(),
        ]);
        assert_eq!(prepend_for(&vd, b"joe-info@virt.example"), Some("joe"));
        assert_eq!(prepend_for(&vd, b"x@a.sub.example"), Some("sue"));
        assert_eq!(prepend_for(&vd, b"bob-info@other.example"), None);
        assert_eq!(prepend_for(&vd, b"nobody"), None);
    }

    #[test]
    fn append_creates_then_appends() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("123");
        append(&f, b"<a@x>:\none\n\n").unwrap();
        append(&f, b"<b@x>:\ntwo\n\n").unwrap();
        assert_eq!(
            std::fs::read(&f).unwrap(),
            b"<a@x>:\none\n\n<b@x>:\ntwo\n\n"
        );
    }
}
