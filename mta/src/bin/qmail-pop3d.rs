//! qmail-pop3d: serves a maildir over POP3 (spec §11.3).
//! `qmail-pop3d maildirname`, run by a checkpassword program in the
//! user's home directory with the connection on fd 0/1.

fn main() -> std::process::ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    std::process::ExitCode::from(mta::pop3::pop3d_io::run(&args) as u8)
}
