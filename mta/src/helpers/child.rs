//! Running the program that `bouncesaying`, `condredirect` and `except`
//! wrap, with the message on its stdin, and what its exit means.

use std::ffi::OsString;
use std::process::Command;

/// How the wrapped program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Crashed,
}

/// Runs `argv` with this process's stdin, stdout and stderr. `Err` is the
/// text for "unable to run".
pub fn run(argv: &[OsString]) -> Result<Exit, String> {
    let (prog, args) = argv.split_first().ok_or("no program")?;
    let st = Command::new(prog)
        .args(args)
        .status()
        .map_err(|e| format!("unable to run {}: {e}", prog.to_string_lossy()))?;
    Ok(match st.code() {
        Some(c) => Exit::Code(c),
        None => Exit::Crashed,
    })
}

/// `bouncesaying text [prog args]`: without a program, bounce with the
/// text; with one, bounce when it exits 0, defer on 111 (or a crash),
/// otherwise succeed.
pub fn bouncesaying(args: &[OsString]) -> i32 {
    let Some((text, prog)) = args.split_first() else {
        eprintln!("bouncesaying: usage: bouncesaying error [ program [ arg ... ] ]");
        return 100;
    };
    let text = text.to_string_lossy();
    if prog.is_empty() {
        println!("{text}");
        return 100;
    }
    match run(prog) {
        Err(e) => super::die("bouncesaying", 111, &e),
        Ok(Exit::Code(0)) => {
            println!("{text}");
            100
        }
        Ok(Exit::Code(111)) | Ok(Exit::Crashed) => 111,
        Ok(Exit::Code(_)) => 0,
    }
}

/// `except prog args`: turns the program's success into a bounce and its
/// failure into success (111 and crashes stay temporary).
pub fn except(args: &[OsString]) -> i32 {
    if args.is_empty() {
        eprintln!("except: usage: except program [ arg ... ]");
        return 100;
    }
    match run(args) {
        Err(e) => super::die("except", 111, &e),
        Ok(Exit::Code(0)) => 100,
        Ok(Exit::Code(111)) | Ok(Exit::Crashed) => 111,
        Ok(Exit::Code(_)) => 0,
    }
}
