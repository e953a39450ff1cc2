//! Steps whose outcome goes into the crash history (conformance spec
//! §4.4): `mail` (one whole SMTP transaction on a fresh connection) and
//! the record of an `inject` with an id.

use std::time::Duration;

use super::{dot_stuff, Session, Skip};
use crate::crash::history::{self, Record};
use crate::scenario::step::{KillAt, Mail};
use crate::scenario::Protocol;
use crate::smtp::client::{Conn, ReadError, Transcript};

impl Session<'_> {
    pub(super) fn record_injection(&mut self, id: &str, to: &[String], msg: &[u8], code: i32) {
        let (outcome, temporary) = match code {
            0 => (history::Outcome::Acked, false),
            -1 => (history::Outcome::Unknown, false),
            11..=40 | 100 => (history::Outcome::Rejected, false),
            _ => (history::Outcome::Rejected, true),
        };
        self.t
            .note(format!("history: {id} {outcome} (exit {code})"));
        self.history.push(Record {
            id: id.to_string(),
            outcome,
            temporary,
            rcpts: to.iter().map(|r| r.to_ascii_lowercase()).collect(),
            body: history::body_of(msg),
            at: now(),
        });
    }

    /// One transaction on a fresh connection; its outcome goes into the
    /// history. Only a failure to connect fails the step.
    pub(super) fn mail(&mut self, m: &Mail) -> Result<(), Skip> {
        let sub = |s: &str| String::from_utf8_lossy(&self.subst(s.as_bytes())).into_owned();
        let id = sub(&m.id);
        let from = sub(&m.from);
        let to: Vec<String> = m.to.iter().map(|t| sub(t)).collect();
        let text = m.message.as_ref().map_or_else(
            || format!("Subject: message {id}\n\nThis is message {id}.\n").into_bytes(),
            |t| self.subst(&t.0),
        );
        let msg = history::tagged(&id, &text);
        self.door = Protocol::Smtp;
        self.connect()?;
        let mut t = std::mem::take(&mut self.t);
        let r = self.transaction(&mut t, &from, &to, &msg, m.kill);
        self.t = t;
        let (outcome, temporary, rcpts) = r;
        self.t.note(format!("history: {id} {outcome}"));
        self.history.push(Record {
            id,
            outcome,
            temporary,
            rcpts,
            body: history::body_of(&msg),
            at: now(),
        });
        if let Some(mut c) = self.conn.take() {
            c.shutdown();
        }
        Ok(())
    }

    fn transaction(
        &mut self,
        t: &mut Transcript,
        from: &str,
        to: &[String],
        msg: &[u8],
        kill: Option<KillAt>,
    ) -> (history::Outcome, bool, Vec<String>) {
        use history::Outcome::{Acked, Rejected, Unknown};
        let wait = Duration::from_secs(30);
        let Some(c) = self.conn.as_mut() else {
            return (Rejected, true, Vec::new());
        };
        let code = |r: Result<crate::smtp::reply::Reply, ReadError>| {
            r.ok().and_then(|r| r.code()).unwrap_or(0)
        };
        // Anything failing before the dot: the message was never sent.
        let refused = (Rejected, true, Vec::new());
        if code(c.reply(wait, t)) != 220 {
            return refused;
        }
        let cmd = |c: &mut Conn, line: String, t: &mut Transcript| {
            if c.send(line.as_bytes(), t).is_err() {
                return 0;
            }
            code(c.reply(wait, t))
        };
        if cmd(c, "HELO conformance.test\r\n".into(), t) / 100 != 2
            || cmd(c, format!("MAIL FROM:<{from}>\r\n"), t) / 100 != 2
        {
            return refused;
        }
        let mut accepted = Vec::new();
        for r in to {
            if cmd(c, format!("RCPT TO:<{r}>\r\n"), t) / 100 == 2 {
                accepted.push(r.to_ascii_lowercase());
            }
        }
        if accepted.is_empty() || cmd(c, "DATA\r\n".into(), t) != 354 {
            return refused;
        }
        if c.send(&dot_stuff(msg), t).is_err() {
            return (Unknown, false, accepted);
        }
        if kill == Some(KillAt::AfterDot) {
            t.note("SIGKILL the MTA right after the final dot");
            let _ = self.inst.kill();
        }
        let Some(c) = self.conn.as_mut() else {
            return (Unknown, false, accepted);
        };
        let got = code(c.reply(wait, t));
        if kill == Some(KillAt::AfterReply) {
            t.note("SIGKILL the MTA right after the reply to the dot");
            let _ = self.inst.kill();
        } else if let Some(c) = self.conn.as_mut() {
            let _ = c.send(b"QUIT\r\n", t);
        }
        match got / 100 {
            2 => (Acked, false, accepted),
            4 => (Rejected, true, accepted),
            5 => (Rejected, false, accepted),
            _ => (Unknown, false, accepted),
        }
    }
}

/// Wall-clock seconds (comparable with `strace -ttt`).
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
