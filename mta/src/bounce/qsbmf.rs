//! The QSBMF bounce message, byte for byte as netqmail's qmail-send
//! (spec §4.2, example §4.3).
//!
//! ```text
//! Date: 5 Jan 2024 03:04:05 -0000
//! From: MAILER-DAEMON@mx.example.com
//! To: alice@example.org
//! Subject: failure notice
//!
//! Hi. This is the qmail-send program at mx.example.com.
//! ...two explanation lines...
//!
//! <recipient paragraphs, exactly as stored in bounce/N>
//! --- Below this line is a copy of the message.
//!
//! Return-Path: <alice@example.org>
//! <the mess file>
//! ```
//!
//! No Message-ID, no MIME. The message copy is streamed, never held in
//! memory: netqmail has no bounce size limit.

use std::io::{self, Read, Write};

use super::envelope::{address_headers, break_line, intro, return_path, Bounce, BounceConfig};

/// Everything before the copy of the message: header, introduction,
/// `bounce_text` (the contents of `bounce/N`), break line and the
/// `Return-Path:` line.
pub fn prefix(b: &Bounce, cfg: &BounceConfig, bounce_text: &[u8], now: i64) -> Vec<u8> {
    let mut p = address_headers(b, cfg, now);
    p.extend_from_slice(b"Subject: failure notice\n\n");
    p.extend_from_slice(&intro(b, cfg));
    p.extend_from_slice(bounce_text);
    p.extend_from_slice(break_line(b));
    p.extend_from_slice(&return_path(b));
    p
}

/// Writes the whole bounce: [`prefix`] then `mess` copied verbatim.
/// Returns the number of bytes written.
pub fn write(
    out: &mut dyn Write,
    b: &Bounce,
    cfg: &BounceConfig,
    bounce_text: &[u8],
    mess: &mut dyn Read,
    now: i64,
) -> io::Result<u64> {
    let p = prefix(b, cfg, bounce_text, now);
    out.write_all(&p)?;
    let n = io::copy(mess, out)?;
    Ok(p.len() as u64 + n)
}
