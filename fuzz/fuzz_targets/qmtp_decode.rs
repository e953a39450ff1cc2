//! Feeds arbitrary bytes to the netstring decoder and the QMTP and QMQP
//! server cores (spec §10), in pieces whose sizes the input chooses.
//! Checks: no panic, progress on every call, and a per-connection
//! footprint that only grows with what the input itself lists.
//!
//! Input layout: byte 0 picks the decoder (mod 3), byte 1 the piece size
//! (1..=256), the rest is the stream.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mta::qmtp::netstring::{Decoder, Event};
use mta::qmtp::qmqpd::Qmqpd;
use mta::qmtp::qmtpd::{Qmtpd, QmtpdControls};
use mta::qmtp::{Origin, Progress, Server};
use mta::queue::client::QqError;
use mta::smtpd::controls::Peer;
use mta::smtpd::io::Queue;
use mta::smtpd::relay::RcptHosts;
use mta::smtpd::session::Envelope;

/// A queue that keeps nothing.
struct NullQueue {
    open: bool,
}

impl Queue for NullQueue {
    fn start(&mut self) -> Result<(), QqError> {
        self.open = true;
        Ok(())
    }
    fn write(&mut self, _: &[u8]) {
        assert!(self.open, "message data outside a message");
    }
    fn finish(&mut self, _: &Envelope) -> Result<u32, QqError> {
        assert!(self.open, "envelope outside a message");
        self.open = false;
        Ok(1)
    }
    fn abort(&mut self) {
        self.open = false;
    }
}

fn origin() -> Origin {
    Origin {
        peer: Peer::from_vars(|_| None),
        clock: || 0,
    }
}

/// Two address buffers plus slack; anything else must come from input.
const FIXED: usize = 2 * 1000 + 64;

fn serve<S: Server>(mut s: S, footprint: fn(&S) -> usize, data: &[u8], step: usize) {
    let mut q = NullQueue { open: false };
    let mut out = Vec::new();
    let mut fed = 0;
    for piece in data.chunks(step) {
        fed += piece.len();
        let r = s.feed(piece, &mut q, &mut out);
        assert!(footprint(&s) <= FIXED + 40 * fed);
        match r {
            Ok(Progress::More) => {}
            Ok(Progress::Done) => break,
            Err(e) => {
                assert!(matches!(e.exit_code(), 100 | 111));
                break;
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let [which, step, data @ ..] = input else {
        return;
    };
    let step = usize::from(*step) + 1;
    match which % 3 {
        0 => {
            let mut d = Decoder::new();
            for piece in data.chunks(step) {
                let mut rest = piece;
                while !rest.is_empty() {
                    let Ok((n, ev)) = d.next(rest) else { return };
                    assert!(n > 0 && n <= rest.len());
                    if let Some(Event::Data(b)) = ev {
                        assert!(!b.is_empty() && b.len() <= n);
                    }
                    rest = &rest[n..];
                }
            }
        }
        1 => {
            let c = QmtpdControls {
                rcpthosts: RcptHosts::from_lines(Some(&["example.com"])),
                databytes: 100,
            };
            serve(
                Qmtpd::new(Arc::new(c), origin()),
                Qmtpd::footprint,
                data,
                step,
            );
        }
        _ => serve(Qmqpd::new(origin()), Qmqpd::footprint, data, step),
    }
});
