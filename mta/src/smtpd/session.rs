//! The SMTP protocol core of qmail-smtpd (spec §7.2–7.6): bytes in,
//! actions out, no I/O.
//!
//! A driver (the fd 0/1 loop in [`super::io`], the tests, a future
//! built-in listener) feeds what it reads into [`Session::feed`] and
//! carries out the [`Action`]s it gets back, in order:
//!
//! * [`Action::Reply`]: bytes for the client. The driver may hold them
//!   back until a [`Action::Flush`] or until it is about to wait for input,
//!   whichever comes first (qmail's PIPELINING: MAIL, RCPT and RSET
//!   replies are only sent when the client pauses).
//! * [`Action::StartMessage`]: start qmail-queue, then call
//!   [`Session::message_started`]. Until then the session processes no
//!   input: whether the queue started decides whether what follows DATA is
//!   message or commands.
//! * [`Action::MessageData`]: the next piece of the message, decoded.
//! * [`Action::EndMessage`]: send the envelope, wait for qmail-queue, and
//!   call [`Session::message_done`].
//! * [`Action::AbortMessage`]: the message must not be queued; end the
//!   queue program without an envelope (nothing is queued then).
//! * [`Action::Close`]: send what is held back, then close.
//! * [`Action::StartTls`] (only when STARTTLS is enabled): send what is
//!   held back, do the TLS handshake, then call [`Session::tls_started`].
//!   Input that arrived after the STARTTLS line has been discarded (RFC
//!   3207 §4.2, the command-injection fix); the driver must discard what
//!   it has buffered too.
//! * [`Action::CheckPassword`] (only when AUTH is enabled): run
//!   checkpassword, then call [`Session::auth_done`].
//!
//! While the session waits for the driver (after StartMessage or
//! EndMessage) further input given to `feed` is kept and processed later;
//! a driver should not read more meanwhile, so that memory stays bounded
//! by its read size.

use std::sync::Arc;

use crate::queue::client::QqError;
use crate::smtpd::address::{self, LocalIp};
use crate::smtpd::auth::{self, Exchange, Step, Verdict};
use crate::smtpd::command::{self, LineBuffer, Verb};
use crate::smtpd::controls::{Peer, SmtpdControls};
use crate::smtpd::data::{Decoder, Outcome};
use crate::smtpd::extensions::mail_size;
use crate::smtpd::received::{received, ReceivedFrom};

/// What the driver must do next (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Reply(Vec<u8>),
    Flush,
    StartMessage,
    MessageData(Vec<u8>),
    EndMessage(Envelope),
    AbortMessage,
    /// `clean`: QUIT (exit 0) rather than an error (exit 1).
    Close {
        clean: bool,
    },
    StartTls,
    CheckPassword {
        user: Vec<u8>,
        password: Vec<u8>,
    },
}

/// Sender and accepted recipients of one message, for qmail-queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub sender: Vec<u8>,
    pub recipients: Vec<Vec<u8>>,
}

impl Envelope {
    /// Bytes the envelope holds on the heap (for the bounded-memory
    /// checks of the servers that collect one).
    pub fn footprint(&self) -> usize {
        self.sender.capacity()
            + self.recipients.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.recipients.iter().map(Vec::capacity).sum::<usize>()
    }
}

/// Everything a session needs to know about its server and connection.
#[derive(Clone)]
pub struct Context {
    pub controls: Arc<SmtpdControls>,
    pub peer: Peer,
    /// The clock for Received lines and the `250 ok <time>` reply.
    pub clock: fn() -> i64,
}

#[derive(Debug)]
enum Mode {
    Commands,
    /// DATA said yes; waiting for [`Session::message_started`].
    AwaitStart,
    Data(Decoder),
    /// The message ended; waiting for [`Session::message_done`].
    AwaitDone,
    /// STARTTLS said yes; waiting for [`Session::tls_started`].
    AwaitTls,
    /// Waiting for [`Session::auth_done`].
    AwaitAuth,
    Closed,
}

/// One SMTP conversation.
pub struct Session {
    ctx: Context,
    databytes: u64,
    mode: Mode,
    line: LineBuffer,
    /// Input received while waiting for the driver.
    pending: Vec<u8>,
    /// The HELO argument, when it differs from the remote host (qmail's
    /// `fakehelo`).
    helo: Option<Vec<u8>>,
    /// `Some` once MAIL was accepted (qmail's `seenmail`).
    sender: Option<Vec<u8>>,
    /// The sender is in badmailfrom (qmail's `flagbarf`).
    barf: bool,
    recipients: Vec<Vec<u8>>,
    /// The envelope of the message being received.
    envelope: Option<Envelope>,
    /// TLS is on (after STARTTLS).
    tls: bool,
    /// The user checkpassword accepted.
    auth_user: Option<Vec<u8>>,
    /// An AUTH exchange waiting for the client's next line.
    exchange: Option<Exchange>,
}

const MAIL_FIRST: &[u8] = b"503 MAIL first (#5.5.1)\r\n";
const RCPT_FIRST: &[u8] = b"503 RCPT first (#5.5.1)\r\n";
const SYNTAX: &[u8] = b"555 syntax error (#5.5.4)\r\n";
const BMF: &[u8] = b"553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n";
const NOGATEWAY: &[u8] =
    b"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n";
const CONTROLS: &[u8] = b"421 unable to read controls (#4.3.0)\r\n";
const STRAY_LF: &[u8] = b"451 See http://pobox.com/~djb/docs/smtplf.html.\r\n";
const HOPS: &[u8] = b"554 too many hops, this message is looping (#5.4.6)\r\n";
const DATABYTES: &[u8] = b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n";
const HELP: &[u8] = b"214 netqmail home page: http://qmail.org/netqmail\r\n";
/// The reply to a read timeout (spec §7.2).
pub const TIMEOUT: &[u8] = b"451 timeout (#4.4.2)\r\n";

impl Session {
    pub fn new(ctx: Context) -> Session {
        let databytes = ctx.peer.databytes.unwrap_or(ctx.controls.databytes);
        Session {
            databytes,
            mode: Mode::Commands,
            line: LineBuffer::default(),
            pending: Vec::new(),
            helo: None,
            sender: None,
            barf: false,
            recipients: Vec::new(),
            envelope: None,
            tls: false,
            auth_user: None,
            exchange: None,
            ctx,
        }
    }

    /// `220 <greeting> ESMTP`.
    pub fn greeting(&self) -> Vec<u8> {
        self.greet(b"220 ", b" ESMTP\r\n")
    }

    fn greet(&self, code: &[u8], tail: &[u8]) -> Vec<u8> {
        [code, &self.ctx.controls.greeting, tail].concat()
    }

    /// The read timeout the driver should apply, in seconds.
    pub fn timeout_secs(&self) -> u64 {
        self.ctx.controls.timeout
    }

    /// Bytes the session holds: the partial command line, input kept
    /// while waiting for the driver, HELO, sender and recipients. For the
    /// memory-bound tests and the fuzz target: apart from the recipient
    /// list (unbounded, as qmail's) it stays within a few [`MAX_LINE`]s
    /// plus what one `feed` was given.
    ///
    /// [`MAX_LINE`]: command::MAX_LINE
    pub fn footprint(&self) -> usize {
        let list = |v: &Vec<Vec<u8>>| {
            v.capacity() * std::mem::size_of::<Vec<u8>>()
                + v.iter().map(Vec::capacity).sum::<usize>()
        };
        self.line.held()
            + self.pending.capacity()
            + self.helo.as_ref().map_or(0, Vec::capacity)
            + self.sender.as_ref().map_or(0, Vec::capacity)
            + list(&self.recipients)
            + self
                .envelope
                .as_ref()
                .map_or(0, |e| e.sender.capacity() + list(&e.recipients))
    }

    /// True once the session has closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.mode, Mode::Closed)
    }

    /// Processes client bytes.
    pub fn feed(&mut self, input: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        self.process(input, &mut out);
        out
    }

    /// The driver's answer to [`Action::StartMessage`].
    pub fn message_started(&mut self, started: Result<(), QqError>) -> Vec<Action> {
        let mut out = Vec::new();
        if !matches!(self.mode, Mode::AwaitStart) {
            return out;
        }
        match started {
            Ok(()) => {
                out.push(Action::Reply(b"354 go ahead\r\n".to_vec()));
                let p = &self.ctx.peer;
                let r = ReceivedFrom {
                    protocol: self.protocol(),
                    local: &p.local,
                    remote_ip: &p.remote_ip,
                    remote_host: &p.remote_host,
                    remote_info: p.remote_info.as_deref(),
                    helo: self.helo.as_deref(),
                };
                out.push(Action::MessageData(received(&r, (self.ctx.clock)())));
                self.mode = Mode::Data(Decoder::new(self.databytes));
            }
            Err(_) => {
                self.envelope = None;
                reply(&mut out, b"451 qqt failure (#4.3.0)\r\n");
                out.push(Action::Flush);
                self.mode = Mode::Commands;
            }
        }
        self.resume(&mut out);
        out
    }

    /// The driver's answer to [`Action::EndMessage`]: qmail-queue's result
    /// (the qp, i.e. its pid, on success).
    pub fn message_done(&mut self, result: Result<u32, QqError>) -> Vec<Action> {
        let mut out = Vec::new();
        if !matches!(self.mode, Mode::AwaitDone) {
            return out;
        }
        match result {
            Ok(qp) => reply(
                &mut out,
                format!("250 ok {} qp {}\r\n", (self.ctx.clock)(), qp).as_bytes(),
            ),
            Err(e) => {
                let code: &[u8] = if e.permanent { b"554 " } else { b"451 " };
                reply(&mut out, &[code, e.text.as_bytes(), b"\r\n"].concat());
            }
        }
        out.push(Action::Flush);
        self.mode = Mode::Commands;
        self.resume(&mut out);
        out
    }

    /// The driver's answer to [`Action::StartTls`]: on success the session
    /// starts afresh (RFC 3207 §4.2: no HELO, no transaction); a failed
    /// handshake leaves nothing to talk over, so the session closes.
    pub fn tls_started(&mut self, ok: bool) -> Vec<Action> {
        let mut out = Vec::new();
        if !matches!(self.mode, Mode::AwaitTls) {
            return out;
        }
        if !ok {
            self.mode = Mode::Closed;
            out.push(Action::Close { clean: false });
            return out;
        }
        self.tls = true;
        self.helo = None;
        self.reset();
        self.line = LineBuffer::default();
        self.mode = Mode::Commands;
        out
    }

    /// The driver's answer to [`Action::CheckPassword`].
    pub fn auth_done(&mut self, verdict: Verdict, user: Vec<u8>) -> Vec<Action> {
        let mut out = Vec::new();
        if !matches!(self.mode, Mode::AwaitAuth) {
            return out;
        }
        self.mode = Mode::Commands;
        match verdict {
            Verdict::Accepted => {
                self.auth_user = Some(user);
                reply(&mut out, auth::OK);
            }
            Verdict::Rejected => reply(&mut out, auth::FAILED),
            Verdict::Temporary => reply(&mut out, auth::TEMPORARY),
        }
        out.push(Action::Flush);
        self.resume(&mut out);
        out
    }

    /// The checkpassword command line, when AUTH is enabled.
    pub fn checkpassword(&self) -> Option<&[String]> {
        self.ctx.controls.extensions.checkpassword.as_deref()
    }

    /// TLS is on.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The user AUTH accepted, if any.
    pub fn authenticated(&self) -> Option<&[u8]> {
        self.auth_user.as_deref()
    }

    /// `with <protocol>` in the Received line: netqmail's `SMTP`, or the
    /// RFC 3848 names once an extension was used.
    fn protocol(&self) -> &'static str {
        match (self.tls, self.auth_user.is_some()) {
            (false, false) => "SMTP",
            (true, false) => "ESMTPS",
            (false, true) => "ESMTPA",
            (true, true) => "ESMTPSA",
        }
    }

    fn starttls_offered(&self) -> bool {
        self.ctx.controls.extensions.servercert.is_some() && !self.tls
    }

    /// SIZE needs both `control/smtpsize` and a limit to announce.
    fn size_offered(&self) -> bool {
        self.ctx.controls.extensions.size && self.databytes > 0
    }

    fn auth_offered(&self) -> bool {
        let e = &self.ctx.controls.extensions;
        e.checkpassword.is_some() && (self.tls || e.auth_plaintext)
    }

    /// The EHLO reply: netqmail's three lines, then the enabled extensions.
    fn ehlo_reply(&self) -> Vec<u8> {
        let mut lines: Vec<Vec<u8>> = vec![
            self.ctx.controls.greeting.clone(),
            b"PIPELINING".to_vec(),
            b"8BITMIME".to_vec(),
        ];
        if self.starttls_offered() {
            lines.push(b"STARTTLS".to_vec());
        }
        if self.size_offered() {
            lines.push(format!("SIZE {}", self.databytes).into_bytes());
        }
        if self.auth_offered() {
            lines.push(auth::EHLO_LINE.as_bytes().to_vec());
        }
        let last = lines.len() - 1;
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            out.extend_from_slice(if i == last { b"250 " } else { b"250-" });
            out.extend_from_slice(l);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn starttls(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        if !self.starttls_offered() {
            let text: &[u8] = if self.tls && self.ctx.controls.extensions.servercert.is_some() {
                b"503 TLS already active (#5.5.1)\r\n"
            } else {
                b"502 unimplemented (#5.5.1)\r\n"
            };
            reply(out, text);
            return;
        }
        if !arg.is_empty() {
            reply(out, b"501 syntax error (#5.5.4)\r\n");
            return;
        }
        reply(out, b"220 ready to start TLS\r\n");
        out.push(Action::Flush);
        out.push(Action::StartTls);
        self.mode = Mode::AwaitTls;
    }

    fn auth(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        if !self.auth_offered() {
            reply(out, b"502 unimplemented (#5.5.1)\r\n");
        } else if self.auth_user.is_some() {
            reply(out, auth::ALREADY);
        } else if self.sender.is_some() {
            reply(out, auth::IN_MAIL);
        } else {
            self.auth_step(auth::start(arg), out);
        }
    }

    fn auth_step(&mut self, step: Step, out: &mut Vec<Action>) {
        match step {
            Step::Ask(challenge, next) => {
                reply(out, challenge);
                self.exchange = Some(next);
            }
            Step::Fail(text) => reply(out, text),
            Step::Check { user, password } => {
                out.push(Action::CheckPassword { user, password });
                self.mode = Mode::AwaitAuth;
            }
        }
    }

    /// The client sent nothing for `timeoutsmtpd` seconds.
    pub fn timeout(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if matches!(self.mode, Mode::Closed) {
            return out;
        }
        if matches!(self.mode, Mode::Data(_)) {
            out.push(Action::AbortMessage);
        }
        reply(&mut out, TIMEOUT);
        self.close(&mut out, false);
        out
    }

    /// The client closed the connection (or reading failed): qmail exits
    /// without a word.
    pub fn eof(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if matches!(self.mode, Mode::Closed) {
            return out;
        }
        if matches!(self.mode, Mode::Data(_)) {
            out.push(Action::AbortMessage);
        }
        self.mode = Mode::Closed;
        out.push(Action::Close { clean: false });
        out
    }

    fn close(&mut self, out: &mut Vec<Action>, clean: bool) {
        out.push(Action::Flush);
        out.push(Action::Close { clean });
        self.mode = Mode::Closed;
        self.pending = Vec::new();
    }

    fn resume(&mut self, out: &mut Vec<Action>) {
        let pending = std::mem::take(&mut self.pending);
        self.process(&pending, out);
    }

    fn process(&mut self, input: &[u8], out: &mut Vec<Action>) {
        let mut i = 0;
        while i < input.len() {
            match &mut self.mode {
                Mode::Closed => return,
                Mode::AwaitStart | Mode::AwaitDone | Mode::AwaitAuth => {
                    self.pending.extend_from_slice(&input[i..]);
                    return;
                }
                // Whatever followed STARTTLS in the clear is dropped.
                Mode::AwaitTls => return,
                Mode::Commands => {
                    let (n, line) = self.line.push(&input[i..]);
                    i += n;
                    if let Some(line) = line {
                        match self.exchange.take() {
                            Some(state) => {
                                self.auth_step(auth::next(state, &line), out);
                                if matches!(self.mode, Mode::Commands) {
                                    out.push(Action::Flush);
                                }
                            }
                            None => self.command(&line, out),
                        }
                    }
                }
                Mode::Data(dec) => {
                    let mut buf = Vec::new();
                    let outcome = dec.decode(&input[i..], &mut buf);
                    if !buf.is_empty() {
                        out.push(Action::MessageData(buf));
                    }
                    match outcome {
                        Outcome::More => i = input.len(),
                        Outcome::End { consumed } => {
                            i += consumed;
                            self.end_of_data(out);
                        }
                        Outcome::BareLf { .. } => {
                            out.push(Action::AbortMessage);
                            reply(out, STRAY_LF);
                            self.close(out, false);
                            return;
                        }
                    }
                }
            }
        }
    }

    fn end_of_data(&mut self, out: &mut Vec<Action>) {
        let Mode::Data(dec) = std::mem::replace(&mut self.mode, Mode::Commands) else {
            return;
        };
        let envelope = self.envelope.take();
        // Precedence as in qmail: hops, then size, then qmail-queue.
        let refusal = if dec.looping() {
            Some(HOPS)
        } else if dec.overflowed() {
            Some(DATABYTES)
        } else {
            None
        };
        match (refusal, envelope) {
            (None, Some(env)) => {
                out.push(Action::EndMessage(env));
                self.mode = Mode::AwaitDone;
            }
            (r, _) => {
                out.push(Action::AbortMessage);
                reply(out, r.unwrap_or(b"451 qq internal bug (#4.3.0)\r\n"));
                out.push(Action::Flush);
            }
        }
    }

    fn command(&mut self, line: &[u8], out: &mut Vec<Action>) {
        let (verb, arg) = command::parse(line);
        // qmail flushes after every command but MAIL, RCPT and RSET.
        let flush = !matches!(verb, Verb::Mail | Verb::Rcpt | Verb::Rset);
        match verb {
            Verb::Helo => {
                out.push(Action::Reply(self.greet(b"250 ", b"\r\n")));
                self.reset();
                self.set_helo(arg);
            }
            Verb::Ehlo => {
                out.push(Action::Reply(self.ehlo_reply()));
                self.reset();
                self.set_helo(arg);
            }
            Verb::Rset => {
                self.reset();
                reply(out, b"250 flushed\r\n");
            }
            Verb::Mail => self.mail(arg, out),
            Verb::Rcpt => {
                if !self.rcpt(arg, out) {
                    return;
                }
            }
            Verb::Data => {
                if self.data(out) {
                    // The flush comes after the message's final reply.
                    return;
                }
            }
            Verb::Quit => {
                out.push(Action::Reply(self.greet(b"221 ", b"\r\n")));
                self.close(out, true);
                return;
            }
            Verb::Help => reply(out, HELP),
            Verb::Noop => reply(out, b"250 ok\r\n"),
            Verb::Vrfy => reply(out, b"252 send some mail, i'll try my best\r\n"),
            Verb::StartTls | Verb::Auth => {
                if verb == Verb::StartTls {
                    self.starttls(arg, out);
                } else {
                    self.auth(arg, out);
                }
                if matches!(self.mode, Mode::AwaitTls | Mode::AwaitAuth) {
                    // The driver's answer comes first.
                    return;
                }
            }
            Verb::Unknown => reply(out, b"502 unimplemented (#5.5.1)\r\n"),
        }
        if flush {
            out.push(Action::Flush);
        }
    }

    /// Forgets the transaction (qmail's `seenmail = 0`).
    fn reset(&mut self) {
        self.sender = None;
        self.recipients.clear();
    }

    fn set_helo(&mut self, arg: &[u8]) {
        self.helo = (!arg.eq_ignore_ascii_case(&self.ctx.peer.remote_host)).then(|| arg.to_vec());
    }

    fn parse_addr(&self, arg: &[u8]) -> Option<Vec<u8>> {
        let c = &self.ctx.controls;
        let is_me = |ip| c.is_me(ip);
        let local = LocalIp {
            localiphost: c.localiphost.as_deref(),
            is_me: &is_me,
        };
        address::parse(arg, &local)
    }

    fn mail(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        let Some(addr) = self.parse_addr(arg) else {
            reply(out, SYNTAX);
            return;
        };
        // SIZE (RFC 1870) is only interpreted when it is offered
        // (control/smtpsize and a size limit); netqmail ignores every
        // parameter.
        if self.size_offered() && mail_size(arg).is_some_and(|n| n > self.databytes) {
            reply(out, DATABYTES);
            return;
        }
        self.barf = self.ctx.controls.badmailfrom.is_bad(&addr);
        self.sender = Some(addr);
        self.recipients.clear();
        reply(out, b"250 ok\r\n");
    }

    /// Returns false if the session closed.
    fn rcpt(&mut self, arg: &[u8], out: &mut Vec<Action>) -> bool {
        if self.sender.is_none() {
            reply(out, MAIL_FIRST);
            return true;
        }
        let Some(mut addr) = self.parse_addr(arg) else {
            reply(out, SYNTAX);
            return true;
        };
        if self.barf {
            reply(out, BMF);
            return true;
        }
        match &self.ctx.peer.relay_client {
            Some(suffix) => addr.extend_from_slice(suffix),
            // An authenticated client may relay (as RELAYCLIENT="").
            None if self.auth_user.is_some() => {}
            None => match self.ctx.controls.rcpthosts.allows(&addr) {
                Ok(true) => {}
                Ok(false) => {
                    reply(out, NOGATEWAY);
                    return true;
                }
                Err(_) => {
                    reply(out, CONTROLS);
                    self.close(out, false);
                    return false;
                }
            },
        }
        self.recipients.push(addr);
        reply(out, b"250 ok\r\n");
        true
    }

    /// Returns true if a message is starting.
    fn data(&mut self, out: &mut Vec<Action>) -> bool {
        let Some(sender) = self.sender.take() else {
            reply(out, MAIL_FIRST);
            return false;
        };
        if self.recipients.is_empty() {
            // qmail keeps `seenmail` here: a later RCPT still works.
            self.sender = Some(sender);
            reply(out, RCPT_FIRST);
            return false;
        }
        self.envelope = Some(Envelope {
            sender,
            recipients: std::mem::take(&mut self.recipients),
        });
        self.mode = Mode::AwaitStart;
        out.push(Action::StartMessage);
        true
    }
}

fn reply(out: &mut Vec<Action>, text: &[u8]) {
    out.push(Action::Reply(text.to_vec()));
}
