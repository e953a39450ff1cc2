//! QMTP and QMQP (spec §10): the two netstring-framed front doors and the
//! QMQP client.
//!
//! ## Tour
//! - [`netstring`]: the incremental netstring decoder (no I/O, no
//!   buffering of payloads) and the encoder.
//! - [`qmtpd`]: qmail-qmtpd, the QMTP server (port 209): a protocol core
//!   fed with bytes, plus its fd 0/1 main.
//! - [`qmqpd`]: qmail-qmqpd, the QMQP server (port 628) for trusted
//!   clients: core and main.
//! - [`qmqpc`]: qmail-qmqpc, a drop-in `qmail-queue` that hands the message
//!   to the QMQP servers listed in `control/qmqpservers`.
//!
//! Both servers run under tcpserver or inetd with the connection on fd 0
//! and fd 1, like qmail-smtpd, and reuse its pieces: the [`Peer`] read
//! from the TCP* environment, the [`Transport`]/[`Queue`] abstractions and
//! the real queue ([`crate::smtpd::io::QmailQueue`], role `network`, which
//! honours `QMAILQUEUE`), and the Received line ([`received`]).
//!
//! ## Invariants
//! - A message is queued only when its whole package arrived intact and
//!   passed every check; on any framing error, timeout or disconnect the
//!   queue program is ended without an envelope, so nothing is queued.
//! - Memory per connection is bounded by the read size plus one address
//!   (< 1000 bytes), plus one status byte per recipient of the current
//!   package (as qmail's, the recipient list itself is unbounded).
//!
//! [`Peer`]: crate::smtpd::controls::Peer
//! [`Transport`]: crate::smtpd::io::Transport
//! [`Queue`]: crate::smtpd::io::Queue
//! [`received`]: crate::smtpd::received::received

pub mod netstring;
pub mod qmqpc;
pub mod qmqpd;
pub mod qmtpd;

use std::time::{Duration, Instant};

use crate::queue::client::QqError;
use crate::smtpd::controls::Peer;
use crate::smtpd::io::{Queue, Read, Transport, READ_SIZE};
use crate::smtpd::received::{received, ReceivedFrom};
use crate::smtpd::relay::LookupError;
use netstring::NetstringError;

/// qmail-qmtpd and qmail-qmqpd give up after this long (their `alarm`).
pub const SESSION_SECS: u64 = 3600;

/// Why a server stops without answering (spec §10.2, §10.3).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("bad framing: {0}")]
    Framing(#[from] NetstringError),
    #[error("the message netstring is empty")]
    EmptyMessage,
    #[error("the message starts with byte {0:#04x}, neither LF nor CR")]
    BadEncoding(u8),
    #[error(
        "a netstring of {len} bytes overruns the {left} bytes left in its enclosing netstring"
    )]
    Overrun { len: u64, left: u64 },
    #[error("the enclosing netstring ends inside one of its members")]
    Truncated,
    #[error("the package length is longer than {0} bytes")]
    LongLength(usize),
    #[error("unable to start qmail-queue: {0}")]
    QueueStart(QqError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

impl ServerError {
    /// qmail's exit code: 100 for a protocol violation (the client's
    /// fault, permanent), 111 for a resource problem (temporary).
    pub fn exit_code(&self) -> i32 {
        match self {
            ServerError::Framing(e) => e.exit_code(),
            ServerError::QueueStart(_) | ServerError::Lookup(_) => 111,
            _ => 100,
        }
    }
}

/// Whether a server wants more input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    More,
    /// The conversation is over (QMQP answers one package): exit 0.
    Done,
}

/// A protocol core the fd driver can run: bytes in, replies out, the
/// message streamed into `q`.
pub trait Server {
    /// Processes `input`, appending replies to `out`.
    fn feed<Q: Queue>(
        &mut self,
        input: &[u8],
        q: &mut Q,
        out: &mut Vec<u8>,
    ) -> Result<Progress, ServerError>;
}

/// The connection facts the Received line needs, and the clock.
#[derive(Clone)]
pub struct Origin {
    pub peer: Peer,
    /// Seconds since the epoch, for the Received line and `Kok <time>`.
    pub clock: fn() -> i64,
}

impl Origin {
    /// The `Received: from ...` line for `protocol` (spec §7.7: QMTP and
    /// QMQP never have a HELO part).
    pub fn received(&self, protocol: &str) -> Vec<u8> {
        let p = &self.peer;
        received(
            &ReceivedFrom {
                protocol,
                local: &p.local,
                remote_ip: &p.remote_ip,
                remote_host: &p.remote_host,
                remote_info: p.remote_info.as_deref(),
                helo: None,
            },
            (self.clock)(),
        )
    }

    /// `Kok <unix time> qp <pid>`.
    pub fn ok(&self, qp: u32) -> Vec<u8> {
        format!("Kok {} qp {}", (self.clock)(), qp).into_bytes()
    }
}

/// Runs `server` over `t` until the peer closes (exit 0), the server is
/// done (0), a protocol error (100) or resource problem (111) stops it, or
/// `session` has passed (111, qmail's alarm). A write failure ends the
/// process with 0, as qmail's `safewrite` does.
///
/// Replies are written whenever the input read so far is used up (qmail
/// flushes before each read). Replies for packages completed before an
/// error are still sent (qmail may lose them in its buffer; sending them
/// tells a pipelining client which packages were queued).
pub fn drive(
    server: &mut impl Server,
    t: &mut impl Transport,
    q: &mut impl Queue,
    session: Duration,
) -> i32 {
    let deadline = Instant::now() + session;
    let mut buf = vec![0u8; READ_SIZE];
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            q.abort();
            return 111;
        }
        let n = match t.read(&mut buf, left) {
            Read::Data(n) => n,
            Read::Eof => {
                q.abort();
                return 0;
            }
            Read::Timeout => {
                q.abort();
                return 111;
            }
        };
        let r = server.feed(&buf[..n], q, &mut out);
        if !out.is_empty() {
            let wrote = t.write_all(&out, left);
            out.clear();
            if wrote.is_err() {
                q.abort();
                return 0;
            }
        }
        match r {
            Ok(Progress::More) => {}
            Ok(Progress::Done) => return 0,
            Err(e) => {
                q.abort();
                return e.exit_code();
            }
        }
    }
}

/// Changes to the home directory, as both servers do first; qmail exits
/// 111 ("resources") when it cannot.
pub(crate) fn enter_home(home: &crate::home::Home) -> Result<(), i32> {
    std::env::set_current_dir(&home.root).map_err(|_| 111)
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
pub(crate) mod testing {
    //! An in-memory [`Queue`] for the cores' unit tests.

    use super::*;
    use crate::smtpd::session::Envelope;

    #[derive(Default)]
    pub struct MemQueue {
        pub started: usize,
        pub aborted: usize,
        pub message: Vec<u8>,
        pub queued: Vec<(Vec<u8>, Envelope)>,
        /// Make the next start fail.
        pub fail_start: bool,
        /// Make finish fail with this.
        pub fail_finish: Option<QqError>,
        pub open: bool,
    }

    impl Queue for MemQueue {
        fn start(&mut self) -> Result<(), QqError> {
            if self.fail_start {
                return Err(QqError {
                    permanent: false,
                    text: "unable to exec qq (#4.3.0)".into(),
                });
            }
            self.started += 1;
            self.open = true;
            self.message.clear();
            Ok(())
        }
        fn write(&mut self, data: &[u8]) {
            assert!(self.open, "write without start");
            self.message.extend_from_slice(data);
        }
        fn finish(&mut self, env: &Envelope) -> Result<u32, QqError> {
            assert!(self.open, "finish without start");
            self.open = false;
            if let Some(e) = self.fail_finish.clone() {
                return Err(e);
            }
            self.queued
                .push((std::mem::take(&mut self.message), env.clone()));
            Ok(4242)
        }
        fn abort(&mut self) {
            if self.open {
                self.aborted += 1;
            }
            self.open = false;
        }
    }

    pub fn origin() -> Origin {
        Origin {
            peer: Peer::from_vars(|k| match k {
                "TCPREMOTEIP" => Some(b"192.0.2.7".to_vec()),
                "TCPLOCALHOST" => Some(b"mx.example.com".to_vec()),
                _ => None,
            }),
            clock: || 1704423845,
        }
    }
}
