//! qmail-pop3d's driver (spec §11.3): `qmail-pop3d maildirname`, run by a
//! checkpassword program in the user's home directory with the network on
//! fds 0/1.
//!
//! `chdir(maildirname)`, clean `tmp/`, scan `new/` and `cur/`, `+OK `,
//! then the [`Pop3d`] core until QUIT. Every exit is 0, as in qmail (its
//! `die` is `_exit(0)`): end of input, a timeout, a write error or a read
//! error on a message file end the session **without** committing
//! deletions. netqmail serves root like any user (spec §12.3 item 10);
//! so do we ([notqmail] refuses uid 0).

use std::ffi::OsString;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use super::blast::Blast;
use super::command::{timeout, LineBuffer};
use super::maildir::{clean_tmp, commit, scan};
use super::pop3d::{quit_reply, Pop3d, Step, ERR_NOMAILDIR, ERR_NOSUCH, ERR_SCAN, OK};
use crate::smtpd::io::{Read, Stdio, Transport, READ_SIZE};

/// Output is written in pieces of about this size while a message is sent.
const WRITE_CHUNK: usize = 16 * 1024;

/// qmail-pop3d's main: `args` are the arguments after the program name.
/// Returns the exit code (always 0).
pub fn run(args: &[OsString]) -> i32 {
    let mut t = Stdio;
    let timeout = timeout();
    let chdir_ok = args
        .first()
        .is_some_and(|d| std::env::set_current_dir(d).is_ok());
    if !chdir_ok {
        let _ = t.write_all(ERR_NOMAILDIR, timeout);
        return 0;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let here = Path::new(".");
    clean_tmp(here, now);
    let messages = match scan(here, now) {
        Ok(m) => m,
        Err(_) => {
            let _ = t.write_all(ERR_SCAN, timeout);
            return 0;
        }
    };
    serve(Pop3d::new(messages), here, &mut t, timeout)
}

/// Runs a session over `t` on the maildir `maildir` until QUIT or the end
/// of the connection. Returns the exit code (0).
pub fn serve(mut p: Pop3d, maildir: &Path, t: &mut impl Transport, timeout: Duration) -> i32 {
    if t.write_all(OK, timeout).is_err() {
        return 0;
    }
    let mut lines = LineBuffer::default();
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = match t.read(&mut buf, timeout) {
            Read::Data(n) => n,
            Read::Eof | Read::Timeout => return 0,
        };
        let mut input = &buf[..n];
        while !input.is_empty() {
            let (used, line) = lines.push(input);
            input = &input[used..];
            let Some(line) = line else { continue };
            let ok = match p.command(&line) {
                Step::Reply(r) => t.write_all(&r, timeout).is_ok(),
                Step::Send { path, body_lines } => {
                    send(&maildir.join(path), body_lines, t, timeout).is_ok()
                }
                Step::Quit(ops) => {
                    let failures = commit(maildir, &ops);
                    let _ = t.write_all(&quit_reply(failures), timeout);
                    return 0;
                }
            };
            if !ok {
                return 0;
            }
        }
    }
}

/// RETR/TOP: `+OK ` and the encoded message, or `-ERR unable to open that
/// message`. `Err` ends the session (write error, or a read error in the
/// middle of a message, where qmail dies too).
fn send(
    path: &Path,
    body_lines: Option<u64>,
    t: &mut impl Transport,
    timeout: Duration,
) -> std::io::Result<()> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(_) => return t.write_all(ERR_NOSUCH, timeout),
    };
    let mut out = OK.to_vec();
    let mut blast = Blast::new(body_lines);
    let mut chunk = vec![0u8; READ_SIZE];
    while !blast.is_done() {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = t.write_all(&out, timeout);
                return Err(e);
            }
        };
        blast.feed(&chunk[..n], &mut out);
        if out.len() >= WRITE_CHUNK {
            t.write_all(&out, timeout)?;
            out.clear();
        }
    }
    blast.finish(&mut out);
    t.write_all(&out, timeout)
}
