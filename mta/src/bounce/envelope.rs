//! Who a bounce goes to and the wording both formats share (spec §4.2).
//!
//! [`plan`] decides, from the original envelope sender, between a normal
//! bounce, a double bounce and a discarded triple bounce, exactly as
//! qmail-send's `injectbounce()`. The header and paragraph texts here are
//! byte-exact with it; the QSBMF and DSN writers both use them.

use crate::control::SendControls;
use crate::quote::quote;

/// The four control values a bounce needs (spec §4.2 "Defaults").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceConfig {
    /// `control/bouncefrom` (default `MAILER-DAEMON`).
    pub bouncefrom: String,
    /// `control/bouncehost` (default me).
    pub bouncehost: String,
    /// `control/doublebounceto` (default `postmaster`).
    pub doublebounceto: String,
    /// `control/doublebouncehost` (default me).
    pub doublebouncehost: String,
}

impl BounceConfig {
    /// Takes the values qmail-send already read.
    pub fn from_controls(c: &SendControls) -> BounceConfig {
        BounceConfig {
            bouncefrom: c.bouncefrom.clone(),
            bouncehost: c.bouncehost.clone(),
            doublebounceto: c.doublebounceto.clone(),
            doublebouncehost: c.doublebouncehost.clone(),
        }
    }
}

/// Single or double bounce: they differ in wording and envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The failed message had a sender: tell the sender.
    Single,
    /// The failed message was itself a bounce: tell the postmaster.
    Double,
}

/// A bounce to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    pub kind: Kind,
    /// The original envelope sender after VERP reduction; it is what
    /// `Return-Path:` shows.
    pub original_sender: Vec<u8>,
    /// Envelope sender of the bounce: empty, or `#@[]` for a double bounce.
    pub envelope_sender: Vec<u8>,
    /// The one envelope recipient of the bounce.
    pub recipient: Vec<u8>,
}

/// What to do with `bounce/N` once the message is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Send(Bounce),
    /// Original sender `#@[]`: a triple bounce. Nothing is sent; qmail-send
    /// logs `triple bounce: discarding bounce/N` and unlinks the file.
    Discard,
}

/// `owner-@host-@[]` → `owner-@host` (spec §4.2): qmail drops a trailing
/// `-@[]` whatever comes before it.
pub fn reduce_verp(sender: &[u8]) -> &[u8] {
    sender.strip_suffix(b"-@[]").unwrap_or(sender)
}

/// Decides the bounce for a message whose envelope sender was `sender`.
pub fn plan(sender: &[u8], cfg: &BounceConfig) -> Plan {
    // The VERP reduction happens first, so `-@[]` alone becomes a double
    // bounce, as in qmail.
    let sender = reduce_verp(sender);
    if sender == b"#@[]" {
        return Plan::Discard;
    }
    if sender.is_empty() {
        let mut to = cfg.doublebounceto.as_bytes().to_vec();
        to.push(b'@');
        to.extend_from_slice(cfg.doublebouncehost.as_bytes());
        return Plan::Send(Bounce {
            kind: Kind::Double,
            original_sender: Vec::new(),
            envelope_sender: b"#@[]".to_vec(),
            recipient: to,
        });
    }
    Plan::Send(Bounce {
        kind: Kind::Single,
        original_sender: sender.to_vec(),
        envelope_sender: Vec::new(),
        recipient: sender.to_vec(),
    })
}

/// qmail's `quote()` of a whole string as one local part (used for
/// `bouncefrom`, which may itself contain `@`): quoted if it is empty or
/// needs it.
pub fn quote_local(local: &[u8]) -> Vec<u8> {
    // mta::quote splits at the last '@'; appending one makes the whole
    // input the local part. Its result then ends in that '@'.
    let mut with_at = local.to_vec();
    with_at.push(b'@');
    let mut q = quote(&with_at);
    q.pop();
    q
}

/// `Date:`, `From:`, `To:` lines, byte-exact with qmail-send.
pub fn address_headers(b: &Bounce, cfg: &BounceConfig, now: i64) -> Vec<u8> {
    let mut h = Vec::with_capacity(128);
    h.extend_from_slice(b"Date: ");
    h.extend_from_slice(crate::date::rfc822(now).as_bytes());
    h.extend_from_slice(b"\nFrom: ");
    h.extend_from_slice(&quote_local(cfg.bouncefrom.as_bytes()));
    h.push(b'@');
    h.extend_from_slice(cfg.bouncehost.as_bytes());
    h.extend_from_slice(b"\nTo: ");
    h.extend_from_slice(&quote(&b.recipient));
    h.push(b'\n');
    h
}

/// The introductory paragraph, ending in its blank line.
pub fn intro(b: &Bounce, cfg: &BounceConfig) -> Vec<u8> {
    let mut t = b"Hi. This is the qmail-send program at ".to_vec();
    t.extend_from_slice(cfg.bouncehost.as_bytes());
    t.extend_from_slice(match b.kind {
        Kind::Single => {
            &b".\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n"[..]
        }
        Kind::Double => {
            &b".\nI tried to deliver a bounce message to this address, but the bounce bounced!\n\n"[..]
        }
    });
    t
}

/// The break paragraph, ending in its blank line.
pub fn break_line(b: &Bounce) -> &'static [u8] {
    match b.kind {
        Kind::Single => b"--- Below this line is a copy of the message.\n\n",
        Kind::Double => b"--- Below this line is the original bounce.\n\n",
    }
}

/// `Return-Path: <sender>\n`, the local part quoted (spec §4.2).
pub fn return_path(b: &Bounce) -> Vec<u8> {
    let mut r = b"Return-Path: <".to_vec();
    r.extend_from_slice(&quote(&b.original_sender));
    r.extend_from_slice(b">\n");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BounceConfig {
        BounceConfig {
            bouncefrom: "MAILER-DAEMON".into(),
            bouncehost: "mx.example.com".into(),
            doublebounceto: "postmaster".into(),
            doublebouncehost: "mx.example.com".into(),
        }
    }

    #[test]
    fn single_bounce_goes_to_sender_from_null() {
        let Plan::Send(b) = plan(b"alice@example.org", &cfg()) else {
            panic!("expected a bounce")
        };
        assert_eq!(b.kind, Kind::Single);
        assert_eq!(b.envelope_sender, b"");
        assert_eq!(b.recipient, b"alice@example.org");
    }

    #[test]
    fn double_bounce_goes_to_postmaster_from_hash() {
        let Plan::Send(b) = plan(b"", &cfg()) else {
            panic!("expected a bounce")
        };
        assert_eq!(b.kind, Kind::Double);
        assert_eq!(b.envelope_sender, b"#@[]");
        assert_eq!(b.recipient, b"postmaster@mx.example.com");
        assert_eq!(return_path(&b), b"Return-Path: <>\n");
    }

    #[test]
    fn triple_bounce_is_discarded() {
        assert_eq!(plan(b"#@[]", &cfg()), Plan::Discard);
    }

    #[test]
    fn verp_sender_is_reduced() {
        let Plan::Send(b) = plan(b"l-@h-@[]", &cfg()) else {
            panic!("expected a bounce")
        };
        assert_eq!(b.recipient, b"l-@h");
        assert_eq!(b.original_sender, b"l-@h");
        // "-@[]" alone reduces to the empty sender: a double bounce.
        assert!(matches!(
            plan(b"-@[]", &cfg()),
            Plan::Send(Bounce {
                kind: Kind::Double,
                ..
            })
        ));
    }

    #[test]
    fn bouncefrom_is_quoted_as_one_local_part() {
        assert_eq!(quote_local(b"MAILER-DAEMON"), b"MAILER-DAEMON");
        assert_eq!(quote_local(b"mailer daemon"), b"\"mailer daemon\"");
        assert_eq!(quote_local(b"a@b"), b"\"a@b\"");
        assert_eq!(quote_local(b""), b"\"\"");
    }

    #[test]
    fn to_is_quoted_in_the_local_part_only() {
        let Plan::Send(b) = plan(b"joe smith@example.org", &cfg()) else {
            panic!("expected a bounce")
        };
        let h = address_headers(&b, &cfg(), 1704423845);
        assert_eq!(
            h,
            b"Date: 5 Jan 2024 03:04:05 -0000\nFrom: MAILER-DAEMON@mx.example.com\nTo: \"joe smith\"@example.org\n"
        );
    }
}
