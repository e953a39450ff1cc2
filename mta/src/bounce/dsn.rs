//! RFC 3464 delivery status notifications: the opt-in bounce format.
//!
//! Selected when `control/bounceformat` contains `dsn` (our extension;
//! `SendControls::bounce_dsn`). Envelope and addressing are exactly those
//! of the QSBMF bounce (spec §4.2: null sender, double bounce from `#@[]`
//! to doublebounceto, triple bounce discarded); only the content differs.
//! It is a `multipart/report; report-type=delivery-status` (RFC 6522) with:
//!
//! 1. `text/plain`: qmail's own wording — the same introduction, recipient
//!    paragraphs and break line as the QSBMF body, so a QSBMF reader still
//!    understands it;
//! 2. `message/delivery-status`: `Reporting-MTA: dns; <bouncehost>`,
//!    `Arrival-Date` when known, then per recipient `Final-Recipient`,
//!    `Action: failed`, `Status` (the last `(#c.s.d)` of qmail's text, else
//!    the remote reply's enhanced code, else `5.0.0`; the class is forced to
//!    5 because the failure is final — a `4.x.x` text reaches a bounce only
//!    when the queue lifetime ran out), `Remote-MTA: dns; <ip>` when
//!    qmail-remote named the server, `Diagnostic-Code: smtp; <reply>` for a
//!    remote rejection else `x-qmail; <text>`;
//! 3. `message/rfc822`: `Return-Path:` and the whole original message, as
//!    qmail returns the "entire message".
//!
//! Lines end in LF, as everything qmail stores. The boundary is checked
//! against every part, including the original message (which is scanned
//! first, hence `Read + Seek`), so it cannot collide. No Message-ID, like
//! qmail's bounce; `Auto-Submitted: auto-replied` (RFC 3834) is added.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use super::diagnose;
use super::envelope::{address_headers, intro, return_path, Bounce, BounceConfig, Kind};
use super::parse::paragraphs;

/// Writes the DSN. `bounce_text` is the contents of `bounce/N`; `mess` is
/// read from its current position (scanned once, rewound, then copied);
/// `arrival` is the message's birth (the `info` file's mtime) if known.
/// Returns the number of bytes written.
pub fn write<M: Read + Seek + ?Sized>(
    out: &mut dyn Write,
    b: &Bounce,
    cfg: &BounceConfig,
    bounce_text: &[u8],
    mess: &mut M,
    now: i64,
    arrival: Option<i64>,
) -> io::Result<u64> {
    let human = human_part(b, cfg, bounce_text);
    let status = status_part(cfg, bounce_text, arrival);
    let rp = return_path(b);

    let start = mess.stream_position()?;
    let (boundary, eight_bit) = choose_boundary(&[&human, &status, &rp], mess, now)?;
    mess.seek(SeekFrom::Start(start))?;

    let mut head = address_headers(b, cfg, now);
    head.extend_from_slice(b"Subject: failure notice\n");
    head.extend_from_slice(b"MIME-Version: 1.0\n");
    head.extend_from_slice(b"Content-Type: multipart/report; report-type=delivery-status;\n");
    head.extend_from_slice(format!("\tboundary=\"{boundary}\"\n").as_bytes());
    if eight_bit || !human.is_ascii() {
        head.extend_from_slice(b"Content-Transfer-Encoding: 8bit\n");
    }
    head.extend_from_slice(b"Auto-Submitted: auto-replied\n");
    head.extend_from_slice(b"\nThis is a MIME-formatted delivery status notification.\n");

    head.extend_from_slice(format!("\n--{boundary}\n").as_bytes());
    head.extend_from_slice(b"Content-Type: text/plain; charset=");
    head.extend_from_slice(charset(&human).as_bytes());
    head.extend_from_slice(b"\nContent-Description: Notification\n");
    if !human.is_ascii() {
        head.extend_from_slice(b"Content-Transfer-Encoding: 8bit\n");
    }
    head.push(b'\n');
    head.extend_from_slice(&human);

    head.extend_from_slice(format!("\n--{boundary}\n").as_bytes());
    head.extend_from_slice(b"Content-Type: message/delivery-status\n");
    head.extend_from_slice(b"Content-Description: Delivery report\n\n");
    head.extend_from_slice(&status);

    head.extend_from_slice(format!("\n--{boundary}\n").as_bytes());
    head.extend_from_slice(b"Content-Type: message/rfc822\n");
    head.extend_from_slice(b"Content-Description: Undelivered message\n");
    if eight_bit {
        head.extend_from_slice(b"Content-Transfer-Encoding: 8bit\n");
    }
    head.push(b'\n');
    head.extend_from_slice(&rp);
    out.write_all(&head)?;
    let n = io::copy(mess, out)?;
    let tail = format!("\n--{boundary}--\n");
    out.write_all(tail.as_bytes())?;
    Ok(head.len() as u64 + n + tail.len() as u64)
}

/// Part 1: qmail's wording, ending with the break line (without the blank
/// line after it: the message is in part 3, not below).
fn human_part(b: &Bounce, cfg: &BounceConfig, bounce_text: &[u8]) -> Vec<u8> {
    let mut h = intro(b, cfg);
    h.extend_from_slice(bounce_text);
    h.extend_from_slice(match b.kind {
        Kind::Single => &b"--- Below this line is a copy of the message.\n"[..],
        Kind::Double => &b"--- Below this line is the original bounce.\n"[..],
    });
    h
}

fn charset(text: &[u8]) -> &'static str {
    if text.is_ascii() {
        "us-ascii"
    } else if std::str::from_utf8(text).is_ok() {
        "utf-8"
    } else {
        "unknown-8bit"
    }
}

/// The status for a failed recipient: class forced to 5 (see module docs).
pub fn failed_status(text: &str) -> String {
    let s = diagnose::status(text).unwrap_or_else(|| "5.0.0".to_string());
    match s.strip_prefix(['2', '4']) {
        Some(rest) => format!("5{rest}"),
        None => s,
    }
}

/// Part 2: the per-message group, then one group per recipient paragraph.
fn status_part(cfg: &BounceConfig, bounce_text: &[u8], arrival: Option<i64>) -> Vec<u8> {
    let mut s = String::new();
    field(&mut s, "Reporting-MTA", &format!("dns; {}", cfg.bouncehost));
    if let Some(t) = arrival {
        field(&mut s, "Arrival-Date", &crate::date::rfc822(t));
    }
    for p in paragraphs(bounce_text) {
        let text = String::from_utf8_lossy(&p.text);
        let address = String::from_utf8_lossy(&p.address);
        s.push('\n');
        field(&mut s, "Final-Recipient", &format!("rfc822; {address}"));
        field(&mut s, "Action", "failed");
        field(&mut s, "Status", &failed_status(&text));
        if let Some(ip) = diagnose::remote_mta(&text) {
            field(&mut s, "Remote-MTA", &format!("dns; {ip}"));
        }
        let (kind, diag) = diagnose::diagnostic(&text);
        field(&mut s, "Diagnostic-Code", &format!("{kind}; {diag}"));
    }
    s.into_bytes()
}

/// Appends `Name: value\n`, the value made printable ASCII (the
/// delivery-status part is 7-bit) and folded at spaces near 78 columns.
fn field(out: &mut String, name: &str, value: &str) {
    let clean: String = value
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    let mut line_len = name.len() + 2;
    out.push_str(name);
    out.push_str(": ");
    for (i, word) in clean.split(' ').enumerate() {
        if i > 0 {
            if line_len + 1 + word.len() > 78 && line_len > 1 {
                out.push_str("\n ");
                line_len = 1;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(word);
        line_len += word.len();
    }
    out.push('\n');
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// A boundary found in none of `parts` nor in `mess`; also reports whether
/// `mess` has 8-bit bytes. `mess` is read to its end.
fn choose_boundary<M: Read + Seek + ?Sized>(
    parts: &[&[u8]],
    mess: &mut M,
    now: i64,
) -> io::Result<(String, bool)> {
    let start = mess.stream_position()?;
    let pid = std::process::id();
    for _ in 0..64 {
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        // "=_" cannot appear in quoted-printable text; the rest makes it
        // unique per bounce. The scan below makes it certain.
        let candidate = format!("=_qmail-dsn-{now}-{pid}-{n}");
        if parts.iter().any(|p| contains(p, candidate.as_bytes())) {
            continue;
        }
        mess.seek(SeekFrom::Start(start))?;
        let (found, eight_bit) = scan(mess, candidate.as_bytes())?;
        if !found {
            return Ok((candidate, eight_bit));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no MIME boundary avoids the message content",
    ))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Streams `r` looking for `needle` (across chunk edges) and 8-bit bytes.
fn scan<R: Read + ?Sized>(r: &mut R, needle: &[u8]) -> io::Result<(bool, bool)> {
    let mut buf = vec![0u8; 64 * 1024];
    let keep = needle.len().saturating_sub(1);
    let mut have = 0;
    let mut eight_bit = false;
    let mut found = false;
    loop {
        let n = match r.read(&mut buf[have..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        eight_bit |= !buf[have..have + n].is_ascii();
        let end = have + n;
        if !found && contains(&buf[..end], needle) {
            found = true;
        }
        let tail = end.saturating_sub(keep);
        buf.copy_within(tail..end, 0);
        have = end - tail;
    }
    Ok((found, eight_bit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn failed_status_forces_class_five() {
        assert_eq!(failed_status("x (#5.1.1)\n"), "5.1.1");
        assert_eq!(
            failed_status("Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\nI'm not going to try again; this message has been in the queue too long.\n"),
            "5.4.1"
        );
        assert_eq!(failed_status("no code\n"), "5.0.0");
    }

    #[test]
    fn scan_finds_needle_across_chunks() {
        let mut data = vec![b'a'; 64 * 1024 - 3];
        data.extend_from_slice(b"NEEDLE");
        data.push(0x80);
        let (found, eight) = scan(&mut Cursor::new(&data), b"NEEDLE").unwrap();
        assert!(found && eight);
        let (found, eight) = scan(&mut Cursor::new(b"plain text"), b"NEEDLE").unwrap();
        assert!(!found && !eight);
    }

    #[test]
    fn boundary_avoids_content() {
        // A message quoting the next candidates cannot make us collide.
        let next = SERIAL.load(Ordering::Relaxed);
        let pid = std::process::id();
        let mut mess = String::new();
        for k in next..next + 3 {
            mess.push_str(&format!("--=_qmail-dsn-7-{pid}-{k}\n"));
        }
        let (b, _) = choose_boundary(&[], &mut Cursor::new(mess.as_bytes()), 7).unwrap();
        assert!(!mess.contains(&b));
    }

    #[test]
    fn long_fields_fold() {
        let mut s = String::new();
        let long = "word ".repeat(40);
        field(&mut s, "Diagnostic-Code", long.trim());
        assert!(s.lines().all(|l| l.len() <= 78));
        assert!(s.lines().skip(1).all(|l| l.starts_with(' ')));
    }
}
