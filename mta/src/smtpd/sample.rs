//! A session with every knob turned by flag bits, for the `smtpd_session`
//! fuzz target and the session property tests (one definition, so the two
//! explore the same space).
//!
//! Bits: 1 extensions on (AUTH via `/bin/false`, SIZE), 2 AUTH allowed in
//! the clear, 4 `databytes` 64, 8 RELAYCLIENT set, 128 STARTTLS offered
//! (with extensions on). The other bits are the driver's to use.

use std::sync::Arc;

use super::controls::{Peer, SmtpdControls};
use super::extensions::Extensions;
use super::relay::{BadMailFrom, RcptHosts};
use super::session::{Context, Session};

/// The session for `flags`, with `mx.example.com` as greeting,
/// `example.com` in rcpthosts and `bad@x.example` in badmailfrom.
pub fn session(flags: u8, clock: fn() -> i64) -> Session {
    let extensions = if flags & 1 != 0 {
        Extensions {
            servercert: (flags & 128 != 0).then(|| "servercert.pem".into()),
            checkpassword: Some(vec!["/bin/false".into()]),
            auth_plaintext: flags & 2 != 0,
            size: true,
        }
    } else {
        Extensions::default()
    };
    let controls = SmtpdControls {
        greeting: b"mx.example.com".to_vec(),
        localiphost: Some(b"example.com".to_vec()),
        timeout: 1200,
        rcpthosts: RcptHosts::from_lines(Some(&["example.com"])),
        badmailfrom: BadMailFrom::from_lines(&["bad@x.example"]),
        databytes: if flags & 4 != 0 { 64 } else { 0 },
        local_ips: vec![],
        extensions,
    };
    let mut peer = Peer::from_vars(|_| None);
    if flags & 8 != 0 {
        peer.relay_client = Some(Vec::new());
    }
    Session::new(Context {
        controls: Arc::new(controls),
        peer,
        clock,
    })
}
