//! mta-checkpassword: a checkpassword-compatible program over the MTA's
//! POP3 password file (spec §11.2; see `mta::pop3::checkpassword`).
//! `mta-checkpassword prog [args...]`: reads `user\0password\0timestamp\0`
//! on fd 3, then execs `prog args...` as the user in their home directory.
//! Exit codes: 1 refused, 2 misuse, 111 temporary trouble.

fn main() -> std::process::ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    std::process::ExitCode::from(mta::pop3::checkpassword::run(&args) as u8)
}
