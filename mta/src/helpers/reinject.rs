//! `forward` and `condredirect`: queue the message again, with `$DTLINE`
//! in front, through qmail-queue (or `$QMAILQUEUE`).

use std::ffi::OsString;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsFd;

use super::child::{run, Exit};
use super::die;
use crate::home::Home;
use crate::queue::client::Injection;

fn env(name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::env::var_os(name).map(OsString::into_vec)
}

/// Queues stdin (from its start) with `$DTLINE` prepended, from `sender` to
/// `rcpts`. Returns the qp, or the exit code after printing the error.
fn reinject(prog: &str, sender: &[u8], rcpts: &[Vec<u8>]) -> Result<u32, i32> {
    let Some(dtline) = env("DTLINE") else {
        return Err(die(prog, 111, "DTLINE not set"));
    };
    let home = Home::from_env();
    let stdin = std::io::stdin();
    let mut msg = match stdin.as_fd().try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => return Err(die(prog, 111, &format!("unable to read message: {e}"))),
    };
    // qmail-local gives programs the message at offset 0; a pipe (when run
    // by hand) cannot seek, which is fine too.
    let _ = msg.seek(SeekFrom::Start(0));
    let mut inj = match Injection::start(&home.root, None) {
        Ok(i) => i,
        Err(e) => return Err(die(prog, if e.permanent { 100 } else { 111 }, &e.text)),
    };
    if inj.write_all(&dtline).is_err() || inj.copy_from(&mut msg).is_err() {
        inj.abort();
        return Err(die(prog, 111, "unable to read message"));
    }
    inj.finish(sender, rcpts)
        .map_err(|e| die(prog, if e.permanent { 100 } else { 111 }, &e.text))
}

/// `forward addr...`: sender `$NEWSENDER`; prints `forward: qp N`.
pub fn forward(args: &[OsString]) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    if args.is_empty() {
        eprintln!("forward: usage: forward address [ address ... ]");
        return 100;
    }
    let Some(sender) = env("NEWSENDER") else {
        return die("forward", 111, "NEWSENDER not set");
    };
    let rcpts: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    match reinject("forward", &sender, &rcpts) {
        Ok(qp) => {
            eprintln!("forward: qp {qp}");
            0
        }
        Err(code) => code,
    }
}

/// `condredirect addr prog args`: if the program exits 0, forward to
/// `addr` (sender `$SENDER`) and exit 99 so no later line runs.
pub fn condredirect(args: &[OsString]) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    if args.len() < 2 {
        eprintln!("condredirect: usage: condredirect newaddress program [ arg ... ]");
        return 100;
    }
    match run(&args[1..]) {
        Err(e) => return die("condredirect", 111, &e),
        Ok(Exit::Code(0)) => {}
        Ok(Exit::Code(111)) | Ok(Exit::Crashed) => return 111,
        Ok(Exit::Code(_)) => return 0,
    }
    let Some(sender) = env("SENDER") else {
        return die("condredirect", 111, "SENDER not set");
    };
    match reinject("condredirect", &sender, &[args[0].as_bytes().to_vec()]) {
        Ok(qp) => {
            eprintln!("condredirect: qp {qp}");
            99
        }
        Err(code) => code,
    }
}
