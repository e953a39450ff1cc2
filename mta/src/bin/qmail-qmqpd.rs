//! qmail-qmqpd: receive one message over QMQP on fd 0/1 (spec §10.3), for
//! authorised clients only (port 628 under tcpserver or inetd, with access
//! rules). Exit codes: 0 after answering or when the client closes, 100 on
//! a protocol error, 111 on a resource problem or after an hour.

fn main() -> std::process::ExitCode {
    let home = mta::home::Home::from_env();
    std::process::ExitCode::from(mta::qmtp::qmqpd::run_stdio(&home) as u8)
}
