//! qmail-pop3d's protocol core (spec §11.3): the transaction state of a
//! POP3 session over a fixed message list, without I/O. The driver
//! ([`super::pop3d_io`]) reads the maildir into [`Message`]s, feeds command
//! lines, writes replies, sends message files through [`super::blast`] and
//! carries out the QUIT plan.
//!
//! Quirks kept from netqmail 1.06 (spec §12.3 items 10–11): STAT counts
//! deleted messages (but not their octets); LAST is the highest message
//! number *deleted*, RETR and TOP do not move it; RETR takes TOP's optional
//! line count; sizes are on-disk sizes (LF line ends).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::command::{scan_ulong, split};

/// Where a message is in the maildir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subdir {
    New,
    Cur,
}

impl Subdir {
    pub fn name(self) -> &'static str {
        match self {
            Subdir::New => "new",
            Subdir::Cur => "cur",
        }
    }
}

/// One message of the session's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subdir: Subdir,
    /// The file name inside `new/` or `cur/`.
    pub name: Vec<u8>,
    /// The on-disk size (0 when the file could not be stat'ed, as qmail).
    pub size: u64,
}

impl Message {
    /// The path relative to the maildir (`new/NAME` or `cur/NAME`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.subdir.name()).join(OsStr::from_bytes(&self.name))
    }

    /// The UIDL: the file name up to (excluding) the first `:`.
    pub fn unique(&self) -> &[u8] {
        match self.name.iter().position(|&c| c == b':') {
            Some(i) => &self.name[..i],
            None => &self.name,
        }
    }
}

/// One filesystem step of QUIT, in message order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuitOp {
    /// Remove a deleted message.
    Unlink(PathBuf),
    /// Move a message still in `new/` to `cur/NAME:2,` (seen by a client,
    /// no flags). A failure is ignored, as in qmail.
    ToCur { from: PathBuf, to: PathBuf },
}

/// What the driver does after a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Write this reply, read the next line.
    Reply(Vec<u8>),
    /// RETR or TOP: open the file (failure → [`ERR_NOSUCH`]), write
    /// [`OK`], then the file through `Blast::new(body_lines)`.
    Send {
        path: PathBuf,
        body_lines: Option<u64>,
    },
    /// QUIT: carry out the steps, write [`quit_reply`], exit 0.
    Quit(Vec<QuitOp>),
}

pub const OK: &[u8] = b"+OK \r\n";
pub const ERR_NOMAILDIR: &[u8] = b"-ERR this user has no $HOME/Maildir\r\n";
pub const ERR_SCAN: &[u8] = b"-ERR unable to scan $HOME/Maildir\r\n";
pub const ERR_NOSUCH: &[u8] = b"-ERR unable to open that message\r\n";
pub const ERR_NOUNLINK: &[u8] = b"-ERR unable to unlink all deleted messages\r\n";
const ERR_SYNTAX: &[u8] = b"-ERR syntax error\r\n";
const ERR_UNIMPL: &[u8] = b"-ERR unimplemented\r\n";
const ERR_DELETED: &[u8] = b"-ERR already deleted\r\n";
const ERR_NOZERO: &[u8] = b"-ERR messages are counted from 1\r\n";
const ERR_TOOBIG: &[u8] = b"-ERR not that many messages\r\n";

/// The reply to QUIT: one `-ERR` line per failed unlink (qmail reports
/// each as it happens), then `+OK `.
pub fn quit_reply(unlink_failures: usize) -> Vec<u8> {
    let mut v = ERR_NOUNLINK.repeat(unlink_failures);
    v.extend_from_slice(OK);
    v
}

/// One qmail-pop3d session.
#[derive(Debug)]
pub struct Pop3d {
    messages: Vec<Message>,
    deleted: Vec<bool>,
    last: usize,
}

impl Pop3d {
    /// A session over `messages`, already in qmail's order (mtime
    /// ascending); message `n` is `messages[n - 1]`.
    pub fn new(messages: Vec<Message>) -> Pop3d {
        let deleted = vec![false; messages.len()];
        Pop3d {
            messages,
            deleted,
            last: 0,
        }
    }

    /// Handles one command line (without its line end).
    pub fn command(&mut self, line: &[u8]) -> Step {
        let (verb, arg) = split(line);
        let reply = match verb.as_slice() {
            b"quit" => return Step::Quit(self.quit_plan()),
            b"stat" => self.stat(),
            b"list" => self.listing(arg, false),
            b"uidl" => self.listing(arg, true),
            b"dele" => match self.msgno(arg) {
                Ok(i) => {
                    self.deleted[i] = true;
                    self.last = self.last.max(i + 1);
                    OK.to_vec()
                }
                Err(e) => e.to_vec(),
            },
            b"retr" | b"top" => return self.top(arg),
            b"rset" => {
                self.deleted.fill(false);
                self.last = 0;
                OK.to_vec()
            }
            b"last" => format!("+OK {}\r\n", self.last).into_bytes(),
            b"noop" => OK.to_vec(),
            _ => ERR_UNIMPL.to_vec(),
        };
        Step::Reply(reply)
    }

    /// `+OK <messages, deleted ones included> <octets of the others>`.
    fn stat(&self) -> Vec<u8> {
        let octets: u64 = self
            .live()
            .map(|i| self.messages[i].size)
            .fold(0, u64::saturating_add);
        format!("+OK {} {}\r\n", self.messages.len(), octets).into_bytes()
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.messages.len()).filter(|&i| !self.deleted[i])
    }

    /// qmail's `msgno`: the index of a live message, or the error reply.
    fn msgno(&self, arg: &[u8]) -> Result<usize, &'static [u8]> {
        let (n, digits) = scan_ulong(arg);
        if digits == 0 {
            return Err(ERR_SYNTAX);
        }
        if n == 0 {
            return Err(ERR_NOZERO);
        }
        let i = usize::try_from(n - 1).map_err(|_| ERR_TOOBIG)?;
        if i >= self.messages.len() {
            return Err(ERR_TOOBIG);
        }
        if self.deleted[i] {
            return Err(ERR_DELETED);
        }
        Ok(i)
    }

    /// One listing line: `<n> <size>` or `<n> <unique>`.
    fn list_line(&self, i: usize, uidl: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{} ", i + 1).as_bytes());
        if uidl {
            out.extend_from_slice(self.messages[i].unique());
        } else {
            out.extend_from_slice(self.messages[i].size.to_string().as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    /// LIST and UIDL, with or without a message number.
    fn listing(&self, arg: &[u8], uidl: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if arg.is_empty() {
            out.extend_from_slice(OK);
            for i in self.live() {
                self.list_line(i, uidl, &mut out);
            }
            out.extend_from_slice(b".\r\n");
        } else {
            match self.msgno(arg) {
                Ok(i) => {
                    out.extend_from_slice(b"+OK ");
                    self.list_line(i, uidl, &mut out);
                }
                Err(e) => out.extend_from_slice(e),
            }
        }
        out
    }

    /// RETR and TOP: `n`, then an optional body line count (missing or
    /// non-numeric: the whole message).
    fn top(&self, arg: &[u8]) -> Step {
        let i = match self.msgno(arg) {
            Ok(i) => i,
            Err(e) => return Step::Reply(e.to_vec()),
        };
        let (_, digits) = scan_ulong(arg);
        let mut rest = &arg[digits..];
        while let [b' ', r @ ..] = rest {
            rest = r;
        }
        let (k, digits) = scan_ulong(rest);
        Step::Send {
            path: self.messages[i].path(),
            body_lines: (digits > 0).then_some(k),
        }
    }

    /// QUIT's steps: unlink what is deleted, move the rest of `new/` to
    /// `cur/NAME:2,`.
    fn quit_plan(&self) -> Vec<QuitOp> {
        let mut ops = Vec::new();
        for (m, &deleted) in self.messages.iter().zip(&self.deleted) {
            if deleted {
                ops.push(QuitOp::Unlink(m.path()));
            } else if m.subdir == Subdir::New {
                let mut to = m.name.clone();
                to.extend_from_slice(b":2,");
                ops.push(QuitOp::ToCur {
                    from: m.path(),
                    to: PathBuf::from("cur").join(OsStr::from_bytes(&to)),
                });
            }
        }
        ops
    }
}

#[cfg(test)]
#[path = "pop3d_tests.rs"]
mod tests;
