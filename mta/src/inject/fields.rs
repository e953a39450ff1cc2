//! Reading a message's header the way qmail-inject does (qmail's
//! `headerbody.c` and `hfield.c`, spec §8.4 first paragraphs): which lines
//! are fields, where the header ends, and which field names qmail knows.
//!
//! Hand-written because the boundary rules are qmail's own (an mbox
//! `From ` line becomes `MBOX-Line:`, the first invalid line starts the
//! body after an inserted blank line), which no mail parser reproduces.

use std::io::{self, BufRead};

/// The fields qmail-inject recognises (case-insensitive name, optional
/// spaces or tabs before the colon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Sender,
    From,
    ReplyTo,
    To,
    Cc,
    Bcc,
    Date,
    MessageId,
    Subject,
    ResentSender,
    ResentFrom,
    ResentReplyTo,
    ResentTo,
    ResentCc,
    ResentBcc,
    ResentDate,
    ResentMessageId,
    ReturnReceiptTo,
    ErrorsTo,
    ApparentlyTo,
    Received,
    ReturnPath,
    DeliveredTo,
    ContentLength,
    ContentType,
    ContentTransferEncoding,
    NoticeRequestedUponDeliveryTo,
    MailFollowupTo,
}

const NAMES: &[(&str, Field)] = &[
    ("sender", Field::Sender),
    ("from", Field::From),
    ("reply-to", Field::ReplyTo),
    ("to", Field::To),
    ("cc", Field::Cc),
    ("bcc", Field::Bcc),
    ("date", Field::Date),
    ("message-id", Field::MessageId),
    ("subject", Field::Subject),
    ("resent-sender", Field::ResentSender),
    ("resent-from", Field::ResentFrom),
    ("resent-reply-to", Field::ResentReplyTo),
    ("resent-to", Field::ResentTo),
    ("resent-cc", Field::ResentCc),
    ("resent-bcc", Field::ResentBcc),
    ("resent-date", Field::ResentDate),
    ("resent-message-id", Field::ResentMessageId),
    ("return-receipt-to", Field::ReturnReceiptTo),
    ("errors-to", Field::ErrorsTo),
    ("apparently-to", Field::ApparentlyTo),
    ("received", Field::Received),
    ("return-path", Field::ReturnPath),
    ("delivered-to", Field::DeliveredTo),
    ("content-length", Field::ContentLength),
    ("content-type", Field::ContentType),
    ("content-transfer-encoding", Field::ContentTransferEncoding),
    (
        "notice-requested-upon-delivery-to",
        Field::NoticeRequestedUponDeliveryTo,
    ),
    ("mail-followup-to", Field::MailFollowupTo),
];

/// Does `line` start with field `name` (lowercase), then optional spaces
/// or tabs and a colon? Letters match either case; a `-` only itself.
fn name_matches(line: &[u8], name: &str) -> bool {
    let n = name.as_bytes();
    if line.len() < n.len() || !line[..n.len()].eq_ignore_ascii_case(n) {
        return false;
    }
    line[n.len()..].iter().find(|&&c| c != b' ' && c != b'\t') == Some(&b':')
}

/// The field `line` is, if qmail knows it.
pub fn known(line: &[u8]) -> Option<Field> {
    NAMES
        .iter()
        .find(|(n, _)| name_matches(line, n))
        .map(|&(_, f)| f)
}

/// Is `line` a header field: a colon, and before it (after dropping
/// spaces and tabs in front of the colon) a non-empty name of bytes
/// 33..126?
pub fn valid(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&c| c == b':') else {
        return false;
    };
    let mut j = colon;
    while j > 0 && matches!(line[j - 1], b' ' | b'\t') {
        j -= 1;
    }
    j > 0 && line[..j].iter().all(|&c| (33..=126).contains(&c))
}

/// The header of a message, split as qmail-inject splits it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Each field with its continuation lines, ending in `\n`.
    pub fields: Vec<Vec<u8>>,
    /// What the body starts with (already read): the blank line, or an
    /// inserted blank line plus the first non-field line; empty when the
    /// input ended inside the header (then there is no body at all).
    pub body_start: Vec<u8>,
}

/// Reads one line; a last line without a newline gets one.
fn line(r: &mut (impl BufRead + ?Sized), eof: &mut bool) -> io::Result<Option<Vec<u8>>> {
    if *eof {
        return Ok(None);
    }
    let mut l = Vec::new();
    if r.read_until(b'\n', &mut l)? == 0 {
        *eof = true;
        return Ok(None);
    }
    if l.last() != Some(&b'\n') {
        l.push(b'\n');
        *eof = true;
    }
    Ok(Some(l))
}

/// Reads the header from `r`, leaving the rest of the body in `r`.
pub fn read_header(r: &mut (impl BufRead + ?Sized)) -> io::Result<Header> {
    let mut h = Header::default();
    let mut eof = false;
    let mut current: Option<Vec<u8>> = None;
    while let Some(next) = line(r, &mut eof)? {
        if let Some(cur) = current.as_mut() {
            if matches!(next[0], b' ' | b'\t') {
                cur.extend_from_slice(&next);
                continue;
            }
        }
        if let Some(cur) = current.take() {
            h.fields.push(cur);
        }
        if next == b"\n" {
            h.body_start = next;
            return Ok(h);
        }
        if next.starts_with(b"From ") {
            let mut f = b"MBOX-Line: ".to_vec();
            f.extend_from_slice(&next);
            current = Some(f);
        } else if valid(&next) {
            current = Some(next);
        } else {
            h.body_start = b"\n".to_vec();
            h.body_start.extend_from_slice(&next);
            return Ok(h);
        }
    }
    if let Some(cur) = current {
        h.fields.push(cur);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (Vec<String>, String, String) {
        let mut r = s.as_bytes();
        let h = read_header(&mut r).unwrap();
        (
            h.fields
                .iter()
                .map(|f| String::from_utf8(f.clone()).unwrap())
                .collect(),
            String::from_utf8(h.body_start).unwrap(),
            String::from_utf8(r.to_vec()).unwrap(),
        )
    }

    #[test]
    fn names_are_case_insensitive_with_space_before_colon() {
        assert_eq!(known(b"TO: x"), Some(Field::To));
        assert_eq!(known(b"resent-BCC \t: x"), Some(Field::ResentBcc));
        assert_eq!(known(b"Toy: x"), None);
        assert_eq!(known(b"Resent_To: x"), None);
        assert_eq!(known(b"Content-Length:1"), Some(Field::ContentLength));
    }

    #[test]
    fn validity() {
        assert!(valid(b"X-A : b\n"));
        assert!(!valid(b"no colon\n"));
        assert!(!valid(b": empty name\n"));
        assert!(!valid(b"a b: space in name\n"));
        assert!(!valid(b"\xc3\xa9: eight bit\n"));
    }

    #[test]
    fn continuation_lines_join() {
        let (f, b, rest) = split("To: a,\n\tb\nSubject: x\n\nbody\n");
        assert_eq!(f, vec!["To: a,\n\tb\n", "Subject: x\n"]);
        assert_eq!(b, "\n");
        assert_eq!(rest, "body\n");
    }

    #[test]
    fn mbox_from_line() {
        let (f, _, _) = split("From joe Mon Jan 1\nTo: x\n\n");
        assert_eq!(f[0], "MBOX-Line: From joe Mon Jan 1\n");
    }

    #[test]
    fn first_invalid_line_starts_the_body() {
        let (f, b, rest) = split("To: a\nthis is body\nmore\n");
        assert_eq!(f, vec!["To: a\n"]);
        assert_eq!(b, "\nthis is body\n");
        assert_eq!(rest, "more\n");
    }

    #[test]
    fn eof_inside_header_means_no_body() {
        let (f, b, _) = split("To: a\nSubject: no newline");
        assert_eq!(f, vec!["To: a\n", "Subject: no newline\n"]);
        assert_eq!(b, "");
        let (f, b, _) = split("");
        assert!(f.is_empty() && b.is_empty());
    }

    #[test]
    fn leading_space_line_is_body() {
        let (f, b, _) = split(" x: y\n");
        assert!(f.is_empty());
        assert_eq!(b, "\n x: y\n");
    }
}
