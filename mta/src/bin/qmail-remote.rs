//! `qmail-remote host sender recip...`: deliver one message by SMTP
//! (spec §6). Reports go to fd 1 as NUL-terminated records; the exit code
//! is always 0.
//!
//! No clap here on purpose: qmail-remote has no options, its arguments are
//! raw bytes (a sender may start with `-`), and a usage error must be a
//! `D` report on fd 1 rather than a message on fd 2.

use std::io::Write;
use std::os::unix::ffi::OsStringExt;

fn main() {
    let args: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.into_vec()).collect();
    let home = mta::home::Home::from_env();
    let out = mta::remote::deliver::qmail_remote(&home, &args, &mut std::io::stdin().lock());
    let mut stdout = std::io::stdout().lock();
    // Nothing useful can be done if fd 1 is gone; qmail exits 0 too.
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
}
