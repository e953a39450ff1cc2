//! `preline [-frdFRD] cmd [arg...]`: runs `cmd` with the message on its
//! stdin preceded by `$UFLINE`, `$RPLINE` and `$DTLINE` (spec §5.9), for
//! programs such as procmail that expect an mbox-style message.
//! `-f`, `-r`, `-d` leave out the From_, Return-Path and Delivered-To line;
//! the upper-case letters put them back. The command's exit code is
//! preline's.

use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};

use super::die;

/// Runs preline with its arguments (not including argv[0]).
pub fn main(args: &[OsString]) -> i32 {
    let (mut uf, mut rp, mut dt) = (true, true, true);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--" {
            i += 1;
            break;
        }
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        for c in flags.chars() {
            match c {
                'f' => uf = false,
                'F' => uf = true,
                'r' => rp = false,
                'R' => rp = true,
                'd' => dt = false,
                'D' => dt = true,
                _ => {
                    eprintln!("preline: usage: preline [ -frdFRD ] command");
                    return 100;
                }
            }
        }
        i += 1;
    }
    let cmd = &args[i..];
    let Some((prog, rest)) = cmd.split_first() else {
        eprintln!("preline: usage: preline [ -frdFRD ] command");
        return 100;
    };
    let mut head = Vec::new();
    for (on, var) in [(uf, "UFLINE"), (rp, "RPLINE"), (dt, "DTLINE")] {
        if on {
            match std::env::var_os(var) {
                Some(v) => head.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(&*v)),
                None => return die("preline", 111, &format!("{var} not set")),
            }
        }
    }
    let mut child = match Command::new(prog).args(rest).stdin(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => {
            return die(
                "preline",
                111,
                &format!("unable to run {}: {e}", prog.to_string_lossy()),
            )
        }
    };
    if let Some(mut w) = child.stdin.take() {
        // A program that stops reading early is its own business: its exit
        // code decides.
        if w.write_all(&head).is_ok() {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut w);
        }
    }
    match child.wait() {
        Ok(st) => st.code().unwrap_or(111),
        Err(e) => die("preline", 111, &format!("unable to wait for child: {e}")),
    }
}
