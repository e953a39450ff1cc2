//! qmail-qmtpd: receive mail over QMTP on fd 0/1 (spec §10.2). Run it
//! under tcpserver or inetd (port 209); it reads TCPREMOTEIP,
//! TCPREMOTEHOST, TCPREMOTEINFO, TCPLOCALHOST, TCPLOCALIP, RELAYCLIENT and
//! DATABYTES. Exit codes: 0 when the client closes, 100 on a protocol
//! error, 111 on a resource problem or after an hour.

fn main() -> std::process::ExitCode {
    let home = mta::home::Home::from_env();
    std::process::ExitCode::from(mta::qmtp::qmtpd::run_stdio(&home) as u8)
}
