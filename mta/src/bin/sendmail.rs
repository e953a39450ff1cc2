//! sendmail: the wrapper that runs qmail-inject, qmail-smtpd (`-bs`) or
//! qmail-qread (`-bp`, or when invoked as `mailq`); spec §8.6. See
//! `mta::inject::sendmail`.

use std::os::unix::ffi::OsStringExt;

fn main() {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<Vec<u8>> = argv.map(OsStringExt::into_vec).collect();
    let vars = mta::inject::env::Vars::from_env();
    let home = mta::home::Home::from_env();
    std::process::exit(mta::inject::sendmail::main(&argv0, &args, vars, &home))
}
