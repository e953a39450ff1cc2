//! qmail-qmtpd: the QMTP server (spec §10.2), as a protocol core without
//! I/O ([`Qmtpd`]) and its fd 0/1 main ([`run_stdio`]).
//!
//! A package is three netstrings: the message (first byte `\n` = stored as
//! is, `\r` = CR LF line ends to convert), the sender, and a netstring of
//! recipient netstrings. After each package the server answers one
//! netstring per recipient, in order; packages may be pipelined.
//!
//! As in qmail, qmail-queue is started as soon as the message length is
//! known and the message streams into it; whether the package is queued
//! is decided at its end. Recipients refused by rcpthosts or too long get
//! their own fixed answers; the others share the package's answer.

use std::sync::Arc;
use std::time::Duration;

use crate::control::{ControlDir, ControlError};
use crate::home::Home;
use crate::qmtp::netstring::{encode_into, Capture, Decoder, Event};
use crate::qmtp::{drive, enter_home, Origin, Progress, Server, ServerError, SESSION_SECS};
use crate::smtpd::controls::Peer;
use crate::smtpd::io::{QmailQueue, Queue, Stdio};
use crate::smtpd::relay::RcptHosts;
use crate::smtpd::session::Envelope;

/// qmail's address buffer: an address (with RELAYCLIENT appended) must
/// stay below this.
const ADDR_LIMIT: u64 = 1000;

const NOT_ALLOWED: &[u8] =
    b"66:Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1),";
const UNHANDLED: &[u8] = b"46:Dsorry, I can't handle that recipient (#5.1.3),";
const BAD_SENDER: &[u8] = b"Dunacceptable sender (#5.1.7)";
const TOO_BIG: &[u8] = b"Dsorry, that message size exceeds my databytes limit (#5.3.4)";

/// The controls qmail-qmtpd reads (spec §9): rcpthosts (with
/// morercpthosts.cdb) and databytes.
pub struct QmtpdControls {
    pub rcpthosts: RcptHosts,
    /// `control/databytes` (0 = no limit), before `DATABYTES`.
    pub databytes: u64,
}

impl QmtpdControls {
    pub fn load(c: &ControlDir) -> Result<QmtpdControls, ControlError> {
        Ok(QmtpdControls {
            rcpthosts: RcptHosts::load(c)?,
            databytes: c.number("databytes", 0)?,
        })
    }
}

/// Per recipient, what it will be answered (qmail's `failure` bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Handed to qmail-queue; gets the package's answer.
    Queued,
    /// Refused by rcpthosts.
    NotAllowed,
    /// Too long or containing NUL.
    Unhandled,
}

/// Which netstring of the package comes next.
#[derive(Debug)]
enum Field {
    Message,
    Sender,
    Recipients,
}

/// How the message is being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Waiting for the encoding byte.
    First,
    Unix,
    /// DOS, and whether the previous byte was a CR not yet written.
    Dos {
        cr: bool,
    },
}

/// One QMTP connection.
pub struct Qmtpd {
    controls: Arc<QmtpdControls>,
    origin: Origin,
    databytes: u64,
    relay_client: Option<Vec<u8>>,
    /// The package-level decoder.
    outer: Decoder,
    field: Field,
    body: Body,
    /// Message bytes stored so far (for databytes).
    stored: u64,
    overflow: bool,
    sender: Capture,
    sender_ok: bool,
    /// The recipient decoder inside the list netstring.
    inner: Decoder,
    rcpt: Capture,
    envelope: Envelope,
    statuses: Vec<Status>,
}

impl Qmtpd {
    /// `peer.databytes` (from `DATABYTES`) overrides the control file.
    pub fn new(controls: Arc<QmtpdControls>, origin: Origin) -> Qmtpd {
        let databytes = origin.peer.databytes.unwrap_or(controls.databytes);
        let relay_client = origin.peer.relay_client.clone();
        Qmtpd {
            controls,
            origin,
            databytes,
            relay_client,
            outer: Decoder::new(),
            field: Field::Message,
            body: Body::First,
            stored: 0,
            overflow: false,
            sender: Capture::new(0, 0),
            sender_ok: true,
            inner: Decoder::new(),
            rcpt: Capture::new(0, 0),
            envelope: Envelope {
                sender: Vec::new(),
                recipients: Vec::new(),
            },
            statuses: Vec::new(),
        }
    }

    /// Bytes this connection holds between calls to `feed` (for the
    /// bounded-memory tests and the fuzzer): the two address buffers, the
    /// accepted recipients and one status per recipient of the package.
    pub fn footprint(&self) -> usize {
        self.sender.held() + self.rcpt.held() + self.envelope.footprint() + self.statuses.capacity()
    }

    fn relay_len(&self) -> u64 {
        self.relay_client.as_ref().map_or(0, |r| r.len() as u64)
    }

    /// The message netstring's payload, decoded into the queue.
    fn message_data<Q: Queue>(&mut self, mut d: &[u8], q: &mut Q) -> Result<(), ServerError> {
        if self.body == Body::First {
            let Some((&first, rest)) = d.split_first() else {
                return Ok(());
            };
            self.body = match first {
                b'\n' => Body::Unix,
                b'\r' => Body::Dos { cr: false },
                b => return Err(ServerError::BadEncoding(b)),
            };
            q.write(&self.origin.received("QMTP"));
            d = rest;
            // In LF mode the size is known up front (spec §10.2).
            let len = self.outer.remaining() + d.len() as u64;
            if self.body == Body::Unix && self.databytes > 0 && len > self.databytes {
                self.overflow = true;
            }
        }
        match &mut self.body {
            Body::Dos { cr } => {
                let mut v = Vec::with_capacity(d.len() + 1);
                for &b in d {
                    if std::mem::take(cr) {
                        if b == b'\n' {
                            v.push(b'\n');
                            continue;
                        }
                        v.push(b'\r');
                    }
                    if b == b'\r' {
                        *cr = true;
                    } else {
                        v.push(b);
                    }
                }
                if self.outer.remaining() == 0 && std::mem::take(cr) {
                    // A CR at the very end is kept.
                    v.push(b'\r');
                }
                self.store(&v, q);
            }
            _ => self.store(d, q),
        }
        Ok(())
    }

    /// Writes decoded bytes, counting them against databytes; once over
    /// the limit nothing more is written (qmail's `qmail_fail`).
    fn store<Q: Queue>(&mut self, d: &[u8], q: &mut Q) {
        self.stored += d.len() as u64;
        if self.databytes > 0 && self.stored > self.databytes {
            self.overflow = true;
        }
        if !self.overflow && !d.is_empty() {
            q.write(d);
        }
    }

    /// A piece of the recipient list's payload; `after` is how many list
    /// bytes follow this piece.
    fn recipients_data(&mut self, mut d: &[u8], after: u64) -> Result<(), ServerError> {
        while !d.is_empty() {
            let (n, ev) = self.inner.next(d)?;
            d = &d[n..];
            match ev {
                Some(Event::Start(len)) => {
                    let left = after + d.len() as u64;
                    if len >= left {
                        return Err(ServerError::Overrun { len, left });
                    }
                    self.rcpt = if len + self.relay_len() >= ADDR_LIMIT {
                        Capture::new(len, 0).skip()
                    } else {
                        Capture::new(len, ADDR_LIMIT as usize - 1)
                    };
                }
                Some(Event::Data(b)) => self.rcpt.push(b),
                Some(Event::End) => self.recipient_done()?,
                None => {}
            }
        }
        if after == 0 && !self.inner.is_idle() {
            return Err(ServerError::Truncated);
        }
        Ok(())
    }

    fn recipient_done(&mut self) -> Result<(), ServerError> {
        let rcpt = std::mem::replace(&mut self.rcpt, Capture::new(0, 0));
        let status = match rcpt.finish() {
            Some(a) if !a.contains(&0) => {
                let allowed = match &self.relay_client {
                    Some(_) => true,
                    None => self.controls.rcpthosts.allows(&a)?,
                };
                if allowed {
                    let mut a = a;
                    if let Some(r) = &self.relay_client {
                        a.extend_from_slice(r);
                    }
                    self.envelope.recipients.push(a);
                    Status::Queued
                } else {
                    Status::NotAllowed
                }
            }
            _ => Status::Unhandled,
        };
        self.statuses.push(status);
        Ok(())
    }

    /// The package is complete: queue it (or not) and answer.
    fn package_done<Q: Queue>(&mut self, q: &mut Q, out: &mut Vec<u8>) {
        let envelope = std::mem::replace(
            &mut self.envelope,
            Envelope {
                sender: Vec::new(),
                recipients: Vec::new(),
            },
        );
        let result: Vec<u8> = if self.overflow {
            q.abort();
            TOO_BIG.to_vec()
        } else if !self.sender_ok {
            q.abort();
            BAD_SENDER.to_vec()
        } else if envelope.recipients.is_empty() {
            // Every recipient has its own refusal; nothing to queue.
            q.abort();
            Vec::new()
        } else {
            match q.finish(&envelope) {
                Ok(qp) => self.origin.ok(qp),
                Err(e) => e.lettered().into_bytes(),
            }
        };
        for s in std::mem::take(&mut self.statuses) {
            match s {
                Status::Queued => encode_into(out, &result),
                Status::NotAllowed => out.extend_from_slice(NOT_ALLOWED),
                Status::Unhandled => out.extend_from_slice(UNHANDLED),
            }
        }
        self.field = Field::Message;
        self.body = Body::First;
        self.stored = 0;
        self.overflow = false;
        self.sender_ok = true;
    }
}

impl Server for Qmtpd {
    fn feed<Q: Queue>(
        &mut self,
        mut input: &[u8],
        q: &mut Q,
        out: &mut Vec<u8>,
    ) -> Result<Progress, ServerError> {
        while !input.is_empty() {
            let (n, ev) = self.outer.next(input)?;
            input = &input[n..];
            let Some(ev) = ev else { continue };
            match (&self.field, ev) {
                (Field::Message, Event::Start(0)) => return Err(ServerError::EmptyMessage),
                (Field::Message, Event::Start(_)) => q.start().map_err(ServerError::QueueStart)?,
                (Field::Message, Event::Data(d)) => self.message_data(d, q)?,
                (Field::Message, Event::End) => self.field = Field::Sender,
                (Field::Sender, Event::Start(len)) => {
                    self.sender = Capture::new(len, ADDR_LIMIT as usize - 1)
                }
                (Field::Sender, Event::Data(d)) => self.sender.push(d),
                (Field::Sender, Event::End) => {
                    let s = std::mem::replace(&mut self.sender, Capture::new(0, 0));
                    match s.finish() {
                        Some(s) if !s.contains(&0) => self.envelope.sender = s,
                        _ => self.sender_ok = false,
                    }
                    self.field = Field::Recipients;
                }
                (Field::Recipients, Event::Start(_)) => self.inner = Decoder::new(),
                (Field::Recipients, Event::Data(d)) => {
                    self.recipients_data(d, self.outer.remaining())?
                }
                (Field::Recipients, Event::End) => self.package_done(q, out),
            }
        }
        Ok(Progress::More)
    }
}

/// qmail-qmtpd's main: home, controls, environment, then packages over fd
/// 0/1 until the client closes. Returns the exit code.
pub fn run_stdio(home: &Home) -> i32 {
    if let Err(code) = enter_home(home) {
        return code;
    }
    let controls = match QmtpdControls::load(&ControlDir::new(home.control())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("qmail-qmtpd: {e}");
            return 111;
        }
    };
    let origin = Origin {
        peer: Peer::from_env(),
        clock: crate::date::now,
    };
    drive(
        &mut Qmtpd::new(Arc::new(controls), origin),
        &mut Stdio,
        &mut QmailQueue::new(home.root.clone()),
        Duration::from_secs(SESSION_SECS),
    )
}

#[cfg(test)]
#[path = "qmtpd_tests.rs"]
mod tests;
