//! `qmail-tcpto`: list the addresses in the TCP timeout table (spec §6.5,
//! Appendix A). Errors go to fd 1 as `fatal: unable to ...`, exit 111.

use std::io::Write;

fn main() {
    let home = mta::home::Home::from_env();
    let now = mta::date::now().max(0) as u64;
    let (text, code) = match mta::remote::tcpto::tcpto_main(&home.root, now) {
        Ok(t) => (t, 0),
        Err(t) => (t, 111),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    std::process::exit(code);
}
