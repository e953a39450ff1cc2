//! qmail-inject: fix up a message's header and queue it (spec §8.1–8.5);
//! see `mta::inject`.

use std::os::unix::ffi::OsStringExt;

fn main() {
    let args: Vec<Vec<u8>> = std::env::args_os()
        .skip(1)
        .map(OsStringExt::into_vec)
        .collect();
    let vars = mta::inject::env::Vars::from_env();
    let home = mta::home::Home::from_env();
    std::process::exit(mta::inject::run::main(&args, &vars, &home))
}
