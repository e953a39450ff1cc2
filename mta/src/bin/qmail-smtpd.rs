//! qmail-smtpd: receive mail over SMTP on fd 0/1 (spec §7). Run it under
//! tcpserver or inetd; it reads TCPREMOTEIP, TCPREMOTEHOST, TCPREMOTEINFO,
//! TCPLOCALHOST, TCPLOCALIP, RELAYCLIENT and DATABYTES. Like qmail's, it
//! ignores its arguments (some setups pass a checkpassword chain).

fn main() -> std::process::ExitCode {
    let home = mta::home::Home::from_env();
    std::process::ExitCode::from(mta::smtpd::io::run_stdio(&home) as u8)
}
