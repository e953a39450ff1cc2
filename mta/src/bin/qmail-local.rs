//! qmail-local: deliver one message to one local recipient (spec §5.2).
//! Thin wrapper over [`mta::local::deliver`].

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;

use mta::home::Home;
use mta::local::{deliver, Params};

fn main() {
    // umask 077 as qmail-local; SIGPIPE is already ignored by the Rust
    // runtime (and restored for the programs we run).
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let home = Home::from_env();
    let args = std::env::args_os().skip(1).collect();
    let code = match Params::parse(args, home.root) {
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
        Ok(params) => run(&params),
    };
    std::process::exit(code);
}

fn run(params: &Params) -> i32 {
    let message = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(_) => {
            eprintln!("Unable to rewind message. (#4.3.0)");
            return 111;
        }
    };
    let mut notes = Vec::new();
    let result = deliver(params, &message, &mut notes);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&notes);
    match result {
        Ok(outcome) => {
            let _ = out.write_all(&outcome.did_text());
            let _ = out.flush();
            0
        }
        Err(e) => {
            let _ = out.flush();
            let text = e.to_string();
            if !text.is_empty() {
                eprintln!("{text}");
            }
            e.exit_code()
        }
    }
}
