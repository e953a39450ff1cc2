//! qmail-popup: the POP3 authorization front end (spec §11.1).
//! `qmail-popup hostname subprogram [args...]`, run under tcpserver or
//! inetd with the connection on fd 0/1; the subprogram is a checkpassword
//! program (spec §11.2), e.g. `mta-checkpassword qmail-pop3d Maildir`.

fn main() -> std::process::ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    std::process::ExitCode::from(mta::pop3::popup_exec::run(&args) as u8)
}
