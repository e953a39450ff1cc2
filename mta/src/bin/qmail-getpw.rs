//! qmail-getpw: print the user controlling a local part (spec §5.1):
//! six NUL-terminated fields `user uid gid homedir dash ext`; exit 100
//! without an argument, 116 without an alias user, 115/118 on temporary
//! trouble.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

fn main() {
    let Some(local) = std::env::args_os().nth(1) else {
        std::process::exit(100);
    };
    let home = mta::home::Home::from_env();
    match mta::local::getpw::getpw(&home, local.as_bytes()) {
        Ok(e) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(&e.encode())
                .and_then(|()| out.flush())
                .is_err()
            {
                std::process::exit(111);
            }
        }
        Err(q) => std::process::exit(q.code()),
    }
}
