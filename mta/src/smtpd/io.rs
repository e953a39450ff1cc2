//! Drives a [`Session`] over file descriptors 0 and 1, as qmail-smtpd
//! runs under tcpserver or inetd (spec §7.1, §7.2).
//!
//! * Replies are held until the session asks for a flush or until we are
//!   about to wait for input (qmail's PIPELINING behaviour).
//! * Every read and write waits at most `timeoutsmtpd` seconds; a read
//!   timeout is answered with `451 timeout (#4.4.2)`, a write failure or
//!   timeout just ends the process (exit 1), as in qmail.
//! * The message streams into qmail-queue (or `$QMAILQUEUE`) through
//!   [`Injection`] with role `network` (so its Received line says
//!   `invoked from network` in unprivileged mode too). Memory is bounded:
//!   one read buffer, one command line of at most
//!   [`super::command::MAX_LINE`] bytes, and the decoded piece of one read.
//!
//! The [`Transport`] and [`Queue`] traits keep this loop independent of
//! real fds and processes.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::control::ControlDir;
use crate::home::Home;
use crate::queue::client::{Injection, QqError};
use crate::smtpd::auth::Verdict;
use crate::smtpd::controls::{Peer, SmtpdControls};
use crate::smtpd::extensions::check_password;
use crate::smtpd::session::{Action, Context, Envelope, Session};

/// Bytes asked for per read.
pub const READ_SIZE: usize = 8192;

/// What a read gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Data(usize),
    /// End of input, or a read error: either way qmail exits silently.
    Eof,
    Timeout,
}

/// The client side of a connection.
pub trait Transport {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Read;
    /// Writes everything; an error ends the session.
    fn write_all(&mut self, buf: &[u8], timeout: Duration) -> std::io::Result<()>;
}

/// The queue side: one message at a time.
pub trait Queue {
    fn start(&mut self) -> Result<(), QqError>;
    /// A write failure is remembered and reported by `finish`.
    fn write(&mut self, data: &[u8]);
    fn finish(&mut self, envelope: &Envelope) -> Result<u32, QqError>;
    /// Ends the message without an envelope: nothing is queued.
    fn abort(&mut self);
}

/// Runs `session` until it closes; returns the exit code (0 after QUIT).
pub fn drive(mut session: Session, t: &mut impl Transport, q: &mut impl Queue) -> i32 {
    let timeout = Duration::from_secs(session.timeout_secs());
    let mut held = session.greeting();
    let mut buf = vec![0u8; READ_SIZE];
    let mut actions: VecDeque<Action> = VecDeque::new();
    loop {
        // StartMessage and EndMessage are always the last action of a
        // batch (the session stops until answered), so answers can be
        // appended.
        while let Some(a) = actions.pop_front() {
            match a {
                Action::Reply(b) => held.extend_from_slice(&b),
                Action::Flush => {
                    if flush(t, &mut held, timeout).is_err() {
                        q.abort();
                        return 1;
                    }
                }
                Action::StartMessage => actions.extend(session.message_started(q.start())),
                Action::MessageData(d) => q.write(&d),
                Action::EndMessage(env) => actions.extend(session.message_done(q.finish(&env))),
                Action::AbortMessage => q.abort(),
                Action::Close { clean } => {
                    let _ = flush(t, &mut held, timeout);
                    q.abort();
                    return if clean { 0 } else { 1 };
                }
                // Not offered by this driver (see run_stdio).
                Action::StartTls => {
                    q.abort();
                    return 1;
                }
                Action::CheckPassword { user, password } => {
                    let verdict = match session.checkpassword() {
                        Some(argv) => check_password(argv, &user, &password),
                        None => Verdict::Temporary,
                    };
                    actions.extend(session.auth_done(verdict, user));
                }
            }
        }
        if flush(t, &mut held, timeout).is_err() {
            q.abort();
            return 1;
        }
        let more = match t.read(&mut buf, timeout) {
            Read::Data(n) => session.feed(&buf[..n]),
            Read::Eof => session.eof(),
            Read::Timeout => session.timeout(),
        };
        actions.extend(more);
    }
}

fn flush(t: &mut impl Transport, held: &mut Vec<u8>, timeout: Duration) -> std::io::Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    let r = t.write_all(held, timeout);
    held.clear();
    r
}

/// fd 0 for input, fd 1 for output (the same socket under tcpserver).
#[derive(Debug, Default)]
pub struct Stdio;

/// Waits until `fd` is ready for `events`, at most `timeout`.
fn wait(
    fd: std::os::fd::BorrowedFd<'_>,
    events: PollFlags,
    timeout: Duration,
) -> nix::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.min(Duration::from_millis(i32::MAX as u64)))
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd, events)];
        match nix::poll::poll(&mut fds, ms) {
            Ok(0) if Instant::now() >= deadline => return Ok(false),
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}

impl Transport for Stdio {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Read {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        match wait(fd, PollFlags::POLLIN, timeout) {
            Ok(false) => return Read::Timeout,
            Ok(true) => {}
            Err(_) => return Read::Eof,
        }
        loop {
            match nix::unistd::read(fd, buf) {
                Ok(0) => return Read::Eof,
                Ok(n) => return Read::Data(n),
                Err(Errno::EINTR) => continue,
                Err(_) => return Read::Eof,
            }
        }
    }

    fn write_all(&mut self, mut buf: &[u8], timeout: Duration) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let fd = stdout.as_fd();
        while !buf.is_empty() {
            if !wait(fd, PollFlags::POLLOUT, timeout)? {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            match nix::unistd::write(fd, buf) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// The real queue: `QMAILHOME/bin/qmail-queue` or `$QMAILQUEUE`.
pub struct QmailQueue {
    home: PathBuf,
    role: Option<&'static str>,
    current: Option<Injection>,
    write_failed: bool,
}

impl QmailQueue {
    pub fn new(home: impl Into<PathBuf>) -> QmailQueue {
        QmailQueue::with_role(home, Some("network"))
    }

    /// With another `MTA_ROLE` for qmail-queue (`None`: "invoked by uid",
    /// as for `sendmail -bs`, which runs as the local user).
    pub fn with_role(home: impl Into<PathBuf>, role: Option<&'static str>) -> QmailQueue {
        QmailQueue {
            home: home.into(),
            role,
            current: None,
            write_failed: false,
        }
    }
}

impl Queue for QmailQueue {
    fn start(&mut self) -> Result<(), QqError> {
        self.abort();
        self.current = Some(Injection::start(&self.home, self.role)?);
        self.write_failed = false;
        Ok(())
    }

    fn write(&mut self, data: &[u8]) {
        use std::io::Write;
        if let (Some(inj), false) = (self.current.as_mut(), self.write_failed) {
            // Injection remembers the error for finish(); qmail likewise
            // keeps reading the client's data and stops writing.
            self.write_failed = inj.write_all(data).is_err();
        }
    }

    fn finish(&mut self, envelope: &Envelope) -> Result<u32, QqError> {
        match self.current.take() {
            Some(inj) => inj.finish(&envelope.sender, &envelope.recipients),
            None => Err(QqError {
                permanent: false,
                text: "qq internal bug (#4.3.0)".to_string(),
            }),
        }
    }

    fn abort(&mut self) {
        if let Some(inj) = self.current.take() {
            // Closing both pipes without an envelope makes qmail-queue
            // exit without queueing; abort() also reaps it.
            inj.abort();
        }
    }
}

/// qmail-smtpd's main: controls, environment, then the session over fd
/// 0/1. Returns the exit code.
pub fn run_stdio(home: &Home) -> i32 {
    run_stdio_with(
        home,
        Peer::from_env(),
        &mut QmailQueue::new(home.root.clone()),
    )
}

/// [`run_stdio`] with the connection facts and the queue given (for
/// `sendmail -bs`, spec §7.8).
pub fn run_stdio_with(home: &Home, peer: Peer, queue: &mut impl Queue) -> i32 {
    let mut t = Stdio;
    // Before the controls are read, qmail's default timeout applies.
    let early = Duration::from_secs(1200);
    if std::env::set_current_dir(&home.root).is_err() {
        let _ = t.write_all(b"421 unable to read controls (#4.3.0)\r\n", early);
        return 1;
    }
    let controls = match SmtpdControls::load(&ControlDir::new(home.control())) {
        // This driver speaks over plain fds and cannot do the TLS
        // handshake, so it never offers STARTTLS (mta-listen does).
        Ok(mut c) => {
            c.extensions.servercert = None;
            c
        }
        Err(e) => {
            let _ = t.write_all(e.reply(), early);
            return 1;
        }
    };
    let ctx = Context {
        controls: Arc::new(controls),
        peer,
        clock: crate::date::now,
    };
    drive(Session::new(ctx), &mut t, queue)
}
