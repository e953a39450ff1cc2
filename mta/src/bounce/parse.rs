//! Reading bounces back: QSBMF (spec §4.2, djb's parsing rules) and RFC
//! 3464 DSNs, into one model, [`Report`]. The conformance suite uses this
//! parser too, so it accepts other MTAs' bounces, not only ours.
//!
//! QSBMF is parsed by hand (its paragraph rules are simple and the exact
//! bytes of the original message matter); DSNs go through `mail-parser`
//! for MIME, with our own parser for the `message/delivery-status` field
//! groups, which mail-parser leaves as raw bytes.

use mail_parser::{MessageParser, MimeHeaders};

use super::diagnose;

/// Which bounce format a message used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Qsbmf,
    Dsn,
}

/// One failed recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipient {
    /// The address (QSBMF paragraph address; DSN `Final-Recipient`).
    pub address: String,
    /// The DSN `Action` (always `failed` for QSBMF).
    pub action: String,
    /// The enhanced status code, e.g. `5.1.1`: the DSN `Status`, or for
    /// QSBMF what [`diagnose::status`] finds (none if the text has none).
    pub status: Option<String>,
    /// QSBMF: the explanation lines as stored (each ending in `\n`). DSN:
    /// the text of `Diagnostic-Code` after its type.
    pub text: String,
    /// `type; text`, e.g. `smtp; 550 5.1.1 no such user`.
    pub diagnostic: Option<String>,
    /// The host or address of the remote MTA, without its type.
    pub remote_mta: Option<String>,
}

/// A parsed bounce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub format: Format,
    /// QSBMF: the host in `Hi. This is the ... program at HOST.`; DSN: the
    /// name in `Reporting-MTA`.
    pub reporting_host: Option<String>,
    /// The bounce's `To:` header, as written.
    pub to: Option<String>,
    /// True for a QSBMF double bounce ("the bounce bounced").
    pub double: bool,
    pub recipients: Vec<Recipient>,
    /// The returned message: for QSBMF everything after the break
    /// paragraph (starting with `Return-Path:`), for a DSN the body of the
    /// `message/rfc822` or `text/rfc822-headers` part. Empty if absent.
    pub original: Vec<u8>,
}

/// Why a message could not be read as a bounce. Always permanent: the
/// input is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a bounce: neither QSBMF nor multipart/report")]
    NotABounce,
    #[error("DSN has no message/delivery-status part")]
    NoDeliveryStatus,
}

impl ParseError {
    pub fn is_permanent(&self) -> bool {
        true
    }
}

/// One QSBMF recipient paragraph: the address and its explanation lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph {
    pub address: Vec<u8>,
    pub text: Vec<u8>,
}

/// Lines of `buf` from `pos`: (line without `\n`, offset after it).
fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    if pos >= buf.len() {
        return None;
    }
    match buf[pos..].iter().position(|&c| c == b'\n') {
        Some(i) => Some((&buf[pos..pos + i], pos + i + 1)),
        None => Some((&buf[pos..], buf.len())),
    }
}

/// The paragraphs in `buf` from `pos` on: recipient paragraphs are
/// collected, others skipped, until a break paragraph (first byte `-`).
/// Returns the paragraphs and the offset just after the break paragraph.
fn paragraphs_from(buf: &[u8], mut pos: usize) -> (Vec<Paragraph>, Option<usize>) {
    let mut out = Vec::new();
    while let Some((first, next)) = line_at(buf, pos) {
        pos = next;
        if first.is_empty() {
            // Extra blank lines (qmail leaves one when a text ended "\n\n").
            continue;
        }
        let mut text = Vec::new();
        while let Some((l, n)) = line_at(buf, pos) {
            pos = n;
            if l.is_empty() {
                break;
            }
            text.extend_from_slice(l);
            text.push(b'\n');
        }
        match first[0] {
            b'-' => return (out, Some(pos)),
            b'<' if first.ends_with(b">:") && first.len() >= 3 => out.push(Paragraph {
                address: first[1..first.len() - 2].to_vec(),
                text,
            }),
            // Reserved or unknown paragraphs (forks add their own).
            _ => {}
        }
    }
    (out, None)
}

/// The recipient paragraphs of a `bounce/N` file (spec §4.1).
pub fn paragraphs(bounce_file: &[u8]) -> Vec<Paragraph> {
    paragraphs_from(bounce_file, 0).0
}

/// The model's view of one QSBMF paragraph.
pub fn recipient_of(p: &Paragraph) -> Recipient {
    let text = String::from_utf8_lossy(&p.text).into_owned();
    let (kind, diag) = diagnose::diagnostic(&text);
    Recipient {
        address: String::from_utf8_lossy(&p.address).into_owned(),
        action: "failed".to_string(),
        status: diagnose::status(&text),
        diagnostic: Some(format!("{kind}; {diag}")),
        remote_mta: diagnose::remote_mta(&text).map(|ip| ip.to_string()),
        text,
    }
}

/// Parses a bounce message (QSBMF or DSN). CRLF line ends are accepted.
pub fn parse(message: &[u8]) -> Result<Report, ParseError> {
    let lf = crlf_to_lf(message);
    let body_at = header_end(&lf);
    if lf[body_at..].starts_with(b"Hi. This is the") {
        return Ok(parse_qsbmf(&lf, body_at));
    }
    parse_dsn(message)
}

fn crlf_to_lf(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len());
    let mut i = 0;
    while i < m.len() {
        if m[i] == b'\r' && m.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(m[i]);
        i += 1;
    }
    out
}

/// Offset of the body: after the first empty line (or the end).
fn header_end(m: &[u8]) -> usize {
    if m.first() == Some(&b'\n') {
        return 1;
    }
    match m.windows(2).position(|w| w == b"\n\n") {
        Some(i) => i + 2,
        None => m.len(),
    }
}

fn header_value(m: &[u8], body_at: usize, name: &str) -> Option<String> {
    let mut pos = 0;
    while let Some((l, n)) = line_at(&m[..body_at], pos) {
        pos = n;
        let l = String::from_utf8_lossy(l);
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case(name) {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

fn parse_qsbmf(m: &[u8], body_at: usize) -> Report {
    let (intro, after_intro) = {
        let mut pos = body_at;
        let mut intro = Vec::new();
        while let Some((l, n)) = line_at(m, pos) {
            pos = n;
            if l.is_empty() {
                break;
            }
            intro.push(String::from_utf8_lossy(l).into_owned());
        }
        (intro, pos)
    };
    let reporting_host = intro.first().and_then(|l| {
        let (_, host) = l.rsplit_once(" at ")?;
        Some(host.strip_suffix('.').unwrap_or(host).to_string())
    });
    let double = intro.iter().any(|l| l.contains("the bounce bounced"));
    let (paras, after_break) = paragraphs_from(m, after_intro);
    Report {
        format: Format::Qsbmf,
        reporting_host,
        to: header_value(m, body_at, "To"),
        double,
        recipients: paras.iter().map(recipient_of).collect(),
        original: after_break.map(|i| m[i..].to_vec()).unwrap_or_default(),
    }
}

fn parse_dsn(raw: &[u8]) -> Result<Report, ParseError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NotABounce)?;
    if !msg.is_content_type("multipart", "report") {
        return Err(ParseError::NotABounce);
    }
    let mut status_part = None;
    let mut original = Vec::new();
    for part in msg.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let full = format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match full.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                status_part.get_or_insert_with(|| part.contents().to_vec());
            }
            "message/rfc822"
            | "message/global"
            | "text/rfc822-headers"
            | "message/global-headers"
                if original.is_empty() =>
            {
                let (b, e) = (part.offset_body as usize, part.offset_end as usize);
                original = raw.get(b..e).unwrap_or_default().to_vec();
            }
            _ => {}
        }
    }
    let fields = status_part.ok_or(ParseError::NoDeliveryStatus)?;
    let groups = field_groups(&String::from_utf8_lossy(&crlf_to_lf(&fields)));
    let reporting_host = groups
        .first()
        .and_then(|g| get(g, "Reporting-MTA"))
        .map(|v| after_type(&v));
    let recipients = groups
        .iter()
        .skip(1)
        .filter_map(|g| {
            let fin = get(g, "Final-Recipient")?;
            let addr = after_type(&fin);
            let diagnostic = get(g, "Diagnostic-Code");
            Some(Recipient {
                address: addr.trim_matches(['<', '>']).to_string(),
                action: get(g, "Action").unwrap_or_default().to_ascii_lowercase(),
                status: get(g, "Status")
                    .and_then(|s| s.split_whitespace().next().map(str::to_string)),
                text: diagnostic.as_deref().map(after_type).unwrap_or_default(),
                remote_mta: get(g, "Remote-MTA").map(|v| after_type(&v)),
                diagnostic,
            })
        })
        .collect();
    Ok(Report {
        format: Format::Dsn,
        reporting_host,
        to: msg.header_raw("To").map(|v| v.trim().to_string()),
        double: false,
        recipients,
        original,
    })
}

/// `type; value` → `value`.
fn after_type(v: &str) -> String {
    match v.split_once(';') {
        Some((_, r)) => r.trim().to_string(),
        None => v.trim().to_string(),
    }
}

type Group = Vec<(String, String)>;

fn get(g: &Group, name: &str) -> Option<String> {
    g.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// RFC 3464 §2.1: groups of header-style fields separated by blank lines;
/// continuation lines start with white space.
pub fn field_groups(s: &str) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut cur: Group = Vec::new();
    for line in s.split('\n') {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                groups.push(std::mem::take(&mut cur));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = cur.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_file_paragraphs() {
        let f = b"<a@x>:\none\n/two\n\n<b@y>:\nthree\n\n\n<c@z>:\n\n";
        let p = paragraphs(f);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].address, b"a@x");
        assert_eq!(p[0].text, b"one\n/two\n");
        assert_eq!(p[1].text, b"three\n");
        assert_eq!(p[2].address, b"c@z");
        assert_eq!(p[2].text, b"");
    }

    #[test]
    fn field_groups_unfold() {
        let g = field_groups("Reporting-MTA: dns; h\n\nFinal-Recipient: rfc822; a@b\nDiagnostic-Code: smtp; 550\n  more\n");
        assert_eq!(g.len(), 2);
        assert_eq!(get(&g[1], "diagnostic-code").unwrap(), "smtp; 550 more");
    }

    #[test]
    fn not_a_bounce() {
        assert_eq!(
            parse(b"From: a@b\nSubject: hi\n\nhello\n"),
            Err(ParseError::NotABounce)
        );
    }
}
