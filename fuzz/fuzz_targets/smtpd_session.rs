//! Feeds arbitrary bytes to the SMTP session core (qmail-smtpd, spec §7),
//! cut into pieces at points the input chooses, answering every request
//! the session makes (queue started or not, queued, TLS up, password
//! accepted or not) as a driver would. Checks: no panic; replies are
//! whole CRLF lines; message data only inside a message; nothing after
//! Close; and the session's memory stays within a few command lines plus
//! what the input itself lists (recipients, unbounded as in qmail).
//!
//! Input layout: byte 0 = flags (extensions on, AUTH in the clear,
//! databytes, RELAYCLIENT, qmail-queue fails, TLS fails, password ok,
//! STARTTLS offered; see `mta::smtpd::sample`),
//! byte 1 = piece size (1..=256), the rest is the stream.

#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use mta::queue::client::QqError;
use mta::smtpd::auth::Verdict;
use mta::smtpd::command::MAX_LINE;
use mta::smtpd::sample;
use mta::smtpd::session::{Action, Session};

fn session(flags: u8) -> Session {
    sample::session(flags, || 0)
}

struct Driver {
    flags: u8,
    in_message: bool,
    closed: bool,
}

impl Driver {
    fn carry_out(&mut self, s: &mut Session, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            assert!(!self.closed, "{a:?} after Close");
            let more = match a {
                Action::Reply(r) => {
                    assert!(r.ends_with(b"\r\n"), "reply not a CRLF line: {r:?}");
                    Vec::new()
                }
                Action::Flush => Vec::new(),
                Action::StartMessage => {
                    assert!(!self.in_message);
                    if self.flags & 16 != 0 {
                        s.message_started(Err(QqError {
                            permanent: false,
                            text: "qq".into(),
                        }))
                    } else {
                        self.in_message = true;
                        s.message_started(Ok(()))
                    }
                }
                Action::MessageData(d) => {
                    assert!(self.in_message, "message data outside a message");
                    assert!(!d.is_empty());
                    Vec::new()
                }
                Action::EndMessage(env) => {
                    assert!(self.in_message && !env.recipients.is_empty());
                    self.in_message = false;
                    s.message_done(Ok(1))
                }
                Action::AbortMessage => {
                    self.in_message = false;
                    Vec::new()
                }
                Action::Close { .. } => {
                    self.closed = true;
                    Vec::new()
                }
                Action::StartTls => s.tls_started(self.flags & 32 == 0),
                Action::CheckPassword { .. } => {
                    let v = if self.flags & 64 != 0 {
                        Verdict::Accepted
                    } else {
                        Verdict::Rejected
                    };
                    s.auth_done(v, b"joe".to_vec())
                }
            };
            for m in more.into_iter().rev() {
                queue.push_front(m);
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let [flags, step, data @ ..] = input else {
        return;
    };
    let step = usize::from(*step) + 1;
    let mut s = session(*flags);
    let mut d = Driver {
        flags: *flags,
        in_message: false,
        closed: false,
    };
    let _ = s.greeting();
    let mut fed = 0;
    for piece in data.chunks(step) {
        fed += piece.len();
        let actions = s.feed(piece);
        d.carry_out(&mut s, actions);
        assert!(
            s.footprint() <= 3 * MAX_LINE + 8 * fed,
            "footprint {} after {fed} bytes",
            s.footprint()
        );
        if d.closed {
            assert!(s.is_closed());
            assert!(s.feed(b"NOOP\r\n").is_empty());
            return;
        }
    }
    let actions = s.eof();
    d.carry_out(&mut s, actions);
    assert!(d.closed && !d.in_message);
});
