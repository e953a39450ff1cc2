//! qmail-qmqpd: the QMQP server (spec §10.3), as a protocol core without
//! I/O ([`Qmqpd`]) and its fd 0/1 main ([`run_stdio`]).
//!
//! The client sends one netstring holding the message, the sender and the
//! recipients, each a netstring; the server answers one netstring (`K`,
//! `Z` or `D` and a text) and closes. QMQP is for authorised clients only
//! (tcpserver rules decide who may connect): there is no rcpthosts, no
//! databytes and no RELAYCLIENT.
//!
//! Framing follows notqmail's `qmail-qmqpd.c`: the package length may use
//! at most 100 bytes (its `bytesleft = 100`), every member must end inside
//! the package, and non-digits in a length are a protocol error.

use std::time::Duration;

use crate::home::Home;
use crate::qmtp::netstring::{encode_into, Capture, Decoder, Event, Length};
use crate::qmtp::{drive, enter_home, Origin, Progress, Server, ServerError, SESSION_SECS};
use crate::smtpd::controls::Peer;
use crate::smtpd::io::{QmailQueue, Queue, Stdio};
use crate::smtpd::session::Envelope;

/// Bytes the package length (with its `:`) may take.
pub const MAX_PACKAGE_LENGTH_BYTES: usize = 100;
/// An address must be shorter than this.
const ADDR_LIMIT: usize = 1000;
const BAD_ADDRESS: &[u8] = b"Dsorry, I can't accept addresses like that (#5.1.3)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Message,
    Sender,
    Recipient,
}

#[derive(Debug)]
enum State {
    /// Reading the package length; bytes read so far.
    Length(Length, usize),
    /// Inside the package: the outer netstring's decoder.
    Package(Decoder),
    Done,
}

/// One QMQP connection (one package).
pub struct Qmqpd {
    origin: Origin,
    state: State,
    inner: Decoder,
    field: Field,
    addr: Capture,
    /// Every address so far was acceptable (qmail's `flagok`).
    ok: bool,
    envelope: Envelope,
}

impl Qmqpd {
    pub fn new(origin: Origin) -> Qmqpd {
        Qmqpd {
            origin,
            state: State::Length(Length::new(), 0),
            inner: Decoder::new(),
            field: Field::Message,
            addr: Capture::new(0, 0),
            ok: true,
            envelope: Envelope {
                sender: Vec::new(),
                recipients: Vec::new(),
            },
        }
    }

    /// Bytes this connection holds between calls to `feed` (for the
    /// bounded-memory tests and the fuzzer): one address buffer and the
    /// accepted addresses.
    pub fn footprint(&self) -> usize {
        self.addr.held() + self.envelope.footprint()
    }

    /// A piece of the package's payload; `after` more bytes follow it.
    fn package_data<Q: Queue>(
        &mut self,
        mut d: &[u8],
        after: u64,
        q: &mut Q,
    ) -> Result<(), ServerError> {
        while !d.is_empty() {
            let (n, ev) = self.inner.next(d)?;
            d = &d[n..];
            let Some(ev) = ev else { continue };
            match (self.field, ev) {
                (Field::Message, Event::Start(_)) => {
                    q.start().map_err(ServerError::QueueStart)?;
                    q.write(&self.origin.received("QMQP"));
                }
                (Field::Message, Event::Data(m)) => q.write(m),
                (Field::Message, Event::End) => self.field = Field::Sender,
                (_, Event::Start(len)) => self.addr = Capture::new(len, ADDR_LIMIT - 1),
                (_, Event::Data(a)) => self.addr.push(a),
                (field, Event::End) => {
                    let a = std::mem::replace(&mut self.addr, Capture::new(0, 0));
                    let a = match a.finish() {
                        Some(a) if !a.contains(&0) => a,
                        _ => {
                            self.ok = false;
                            Vec::new()
                        }
                    };
                    if field == Field::Sender {
                        self.envelope.sender = a;
                        self.field = Field::Recipient;
                    } else if self.ok {
                        self.envelope.recipients.push(a);
                    }
                }
            }
        }
        // The package ended: every member must be complete, and the
        // message and sender must have been there.
        if after == 0 && (!self.inner.is_idle() || self.field != Field::Recipient) {
            return Err(ServerError::Truncated);
        }
        Ok(())
    }

    /// The package is complete: queue it (or not) and answer.
    fn answer<Q: Queue>(&mut self, q: &mut Q, out: &mut Vec<u8>) {
        let result = if self.ok {
            match q.finish(&self.envelope) {
                Ok(qp) => self.origin.ok(qp),
                Err(e) => e.lettered().into_bytes(),
            }
        } else {
            q.abort();
            BAD_ADDRESS.to_vec()
        };
        encode_into(out, &result);
    }
}

impl Server for Qmqpd {
    fn feed<Q: Queue>(
        &mut self,
        mut input: &[u8],
        q: &mut Q,
        out: &mut Vec<u8>,
    ) -> Result<Progress, ServerError> {
        while !input.is_empty() {
            match &mut self.state {
                State::Length(len, used) => {
                    let b = input[0];
                    input = &input[1..];
                    *used += 1;
                    if *used > MAX_PACKAGE_LENGTH_BYTES {
                        return Err(ServerError::LongLength(MAX_PACKAGE_LENGTH_BYTES));
                    }
                    if let Some(n) = len.push(b)? {
                        if n == 0 {
                            // Not even a message length fits.
                            return Err(ServerError::Truncated);
                        }
                        self.state = State::Package(Decoder::with_length(n));
                    }
                }
                State::Package(outer) => {
                    let (n, ev) = outer.next(input)?;
                    input = &input[n..];
                    let after = outer.remaining();
                    match ev {
                        Some(Event::Data(d)) => self.package_data(d, after, q)?,
                        Some(Event::End) => {
                            self.answer(q, out);
                            self.state = State::Done;
                            return Ok(Progress::Done);
                        }
                        _ => {}
                    }
                }
                State::Done => return Ok(Progress::Done),
            }
        }
        Ok(match self.state {
            State::Done => Progress::Done,
            _ => Progress::More,
        })
    }
}

/// qmail-qmqpd's main: home, environment, then one package over fd 0/1.
/// Returns the exit code.
pub fn run_stdio(home: &Home) -> i32 {
    if let Err(code) = enter_home(home) {
        return code;
    }
    let origin = Origin {
        peer: Peer::from_env(),
        clock: crate::date::now,
    };
    drive(
        &mut Qmqpd::new(origin),
        &mut Stdio,
        &mut QmailQueue::new(home.root.clone()),
        Duration::from_secs(SESSION_SECS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qmtp::netstring::encode;
    use crate::qmtp::testing::{origin, MemQueue};

    fn package(message: &[u8], addrs: &[&[u8]]) -> Vec<u8> {
        let mut inner = encode(message);
        for a in addrs {
            encode_into(&mut inner, a);
        }
        encode(&inner)
    }

    fn run(input: &[u8], step: usize) -> (Result<Progress, ServerError>, String, MemQueue) {
        let mut s = Qmqpd::new(origin());
        let mut q = MemQueue::default();
        let mut out = Vec::new();
        let mut r = Ok(Progress::More);
        for piece in input.chunks(step) {
            r = s.feed(piece, &mut q, &mut out);
            if !matches!(r, Ok(Progress::More)) {
                break;
            }
        }
        (r, String::from_utf8(out).unwrap(), q)
    }

    const RECEIVED: &str = "Received: from unknown (192.0.2.7)\n  by mx.example.com with QMQP; 5 Jan 2024 03:04:05 -0000\n";

    #[test]
    fn one_package_one_answer() {
        let p = package(b"Subject: x\n\nhi\n", &[b"a@b", b"c@d", b"e@f"]);
        for step in [1, 5, 4096] {
            let (r, out, q) = run(&p, step);
            assert_eq!(r.unwrap(), Progress::Done);
            assert_eq!(out, "22:Kok 1704423845 qp 4242,");
            let (msg, env) = &q.queued[0];
            assert_eq!(
                String::from_utf8_lossy(msg),
                format!("{RECEIVED}Subject: x\n\nhi\n")
            );
            assert_eq!(env.sender, b"a@b");
            assert_eq!(env.recipients, [b"c@d".to_vec(), b"e@f".to_vec()]);
        }
    }

    #[test]
    fn bad_addresses_refuse_the_package() {
        let long = vec![b'x'; 1000];
        for addrs in [
            &[&b"a\0b"[..], b"c@d"][..],
            &[b"a@b", &long],
            &[&long, b"c@d"],
        ] {
            let (r, out, q) = run(&package(b"m\n", addrs), 7);
            assert_eq!(r.unwrap(), Progress::Done);
            assert_eq!(
                out,
                "51:Dsorry, I can't accept addresses like that (#5.1.3),"
            );
            assert!(q.queued.is_empty());
            assert_eq!(q.aborted, 1);
        }
        // 999 bytes is still fine.
        let (_, out, _) = run(&package(b"m\n", &[b"a@b", &long[..999]]), 4096);
        assert!(out.starts_with("22:Kok "), "{out}");
    }

    #[test]
    fn queue_failure_text_is_the_answer() {
        let mut s = Qmqpd::new(origin());
        let mut q = MemQueue {
            fail_finish: Some(crate::queue::client::QqError {
                permanent: false,
                text: "qq write error or disk full (#4.3.0)".into(),
            }),
            ..Default::default()
        };
        let mut out = Vec::new();
        let r = s.feed(&package(b"m\n", &[b"a@b", b"c@d"]), &mut q, &mut out);
        assert_eq!(r.unwrap(), Progress::Done);
        assert_eq!(out, b"37:Zqq write error or disk full (#4.3.0),");
    }

    #[test]
    fn framing_errors_exit_100_and_queue_nothing() {
        let cases: &[&[u8]] = &[
            b"5x:",          // non-digit in the package length
            b"0:,",          // empty package
            b"6:3:abc,,",    // no sender
            b"6:5:abc,,",    // message overruns the package
            b"9:2:ab,0:,1,", // a length cut by the package end
            b"8:2:ab,0:,;",  // missing final comma
            b"7:2:ab;0:,,",  // missing member comma
        ];
        for c in cases {
            let (r, out, q) = run(c, 3);
            let e = r.unwrap_err();
            assert_eq!(e.exit_code(), 100, "{c:?}: {e}");
            assert_eq!(out, "");
            assert!(q.queued.is_empty(), "{c:?}");
        }
        let long = [b'0'; 101];
        assert!(matches!(
            run(&long, 50).0,
            Err(ServerError::LongLength(100))
        ));
        assert_eq!(run(b"300000000:", 50).0.unwrap_err().exit_code(), 111);
    }

    #[test]
    fn queue_that_cannot_start_is_a_resource_error() {
        let mut s = Qmqpd::new(origin());
        let mut q = MemQueue {
            fail_start: true,
            ..Default::default()
        };
        let e = s
            .feed(&package(b"m\n", &[b"a@b"]), &mut q, &mut Vec::new())
            .unwrap_err();
        assert_eq!(e.exit_code(), 111);
    }
}
