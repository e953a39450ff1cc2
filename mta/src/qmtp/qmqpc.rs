//! qmail-qmqpc: a drop-in replacement for qmail-queue that hands the
//! message to a QMQP server instead of the local queue (spec §10.3, §2.2).
//!
//! Same interface as qmail-queue: the message on fd 0, the envelope on
//! fd 1 (`F<sender>\0`, `T<recipient>\0`..., `\0`), the answer in the exit
//! code. The servers are the lines of `control/qmqpservers`, tried in
//! order; the first one that accepts the connection decides.
//!
//! **Extension:** a line may be `a.b.c.d:port` (the whole rest after the
//! address being a port number 1–65535) to use another port than 628.
//! qmail reads only the leading dotted quad of a line and ignores the
//! rest, and so do we for anything that is not such a port.
//!
//! Like qmail's, the whole message is read into memory first, because it
//! may have to be sent to several servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use crate::control::ControlDir;
use crate::home::Home;
use crate::qmtp::netstring::encode_into;

/// The QMQP port.
pub const PORT: u16 = 628;
/// Seconds to wait for a connection.
pub const CONNECT_SECS: u64 = 10;
/// Seconds to wait for each read or write.
pub const IO_SECS: u64 = 60;

/// Why qmail-qmqpc did not deliver the message; each maps to one of
/// qmail-queue's exit codes (spec §2.2), 31 being the only permanent one.
#[derive(Debug, thiserror::Error)]
pub enum QmqpcError {
    #[error("server permanently refused the message")]
    Refused,
    #[error("unable to read the message or envelope: {0}")]
    Read(#[source] std::io::Error),
    #[error("unable to read control/qmqpservers: {0}")]
    Control(String),
    #[error("no QMQP server listed in control/qmqpservers")]
    NoServers,
    #[error("unable to create a socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("unable to change to the qmail home: {0}")]
    Home(#[source] std::io::Error),
    #[error("server temporarily refused the message")]
    Deferred,
    #[error("connection to {0} timed out")]
    ConnectTimeout(SocketAddrV4),
    #[error("connection to {0} refused: {1}")]
    ConnectRefused(SocketAddrV4, #[source] std::io::Error),
    #[error("communication with {0} failed: {1}")]
    Communication(SocketAddrV4, String),
    #[error("envelope format error: {0}")]
    Format(&'static str),
}

impl QmqpcError {
    /// The qmail-queue exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            QmqpcError::Refused => 31,
            QmqpcError::Read(_) => 54,
            QmqpcError::Control(_) | QmqpcError::NoServers => 55,
            QmqpcError::Socket(_) => 56,
            QmqpcError::Home(_) => 61,
            QmqpcError::Deferred => 71,
            QmqpcError::ConnectTimeout(_) => 72,
            QmqpcError::ConnectRefused(..) => 73,
            QmqpcError::Communication(..) => 74,
            QmqpcError::Format(_) => 91,
        }
    }

    pub fn is_permanent(&self) -> bool {
        (11..=40).contains(&self.exit_code())
    }
}

/// A sender and its recipients, as read from fd 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub sender: Vec<u8>,
    pub recipients: Vec<Vec<u8>>,
}

/// Reads qmail-queue's envelope up to its terminating `\0` (qmail's
/// `getmess`): EOF before it, or a record not starting with `F`/`T`, is a
/// format error (91).
pub fn read_envelope(r: &mut impl BufRead) -> Result<Envelope, QmqpcError> {
    let mut record = |what: &'static str| -> Result<Vec<u8>, QmqpcError> {
        let mut v = Vec::new();
        r.read_until(0, &mut v).map_err(QmqpcError::Read)?;
        if v.pop() != Some(0) {
            return Err(QmqpcError::Format(what));
        }
        Ok(v)
    };
    let sender = record("the envelope ends before its sender record")?;
    let sender = match sender.split_first() {
        Some((b'F', s)) => s.to_vec(),
        _ => return Err(QmqpcError::Format("the first record does not start with F")),
    };
    let mut recipients = Vec::new();
    loop {
        let rec = record("the envelope ends before its terminating NUL")?;
        match rec.split_first() {
            None => break,
            Some((b'T', r)) => recipients.push(r.to_vec()),
            Some(_) => {
                return Err(QmqpcError::Format(
                    "a recipient record does not start with T",
                ))
            }
        }
    }
    Ok(Envelope { sender, recipients })
}

/// The addresses to try, from the lines of `control/qmqpservers`.
/// Lines that do not start with an IPv4 address are skipped.
pub fn servers(lines: &[String]) -> Vec<SocketAddrV4> {
    lines.iter().filter_map(|l| server(l)).collect()
}

fn server(line: &str) -> Option<SocketAddrV4> {
    // The leading dotted quad, as qmail's ip_scan reads it.
    let end = line
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(line.len());
    let ip: Ipv4Addr = line[..end].parse().ok()?;
    let port = line[end..]
        .strip_prefix(':')
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|&p| p != 0)
        .unwrap_or(PORT);
    Some(SocketAddrV4::new(ip, port))
}

/// The QMQP package: a netstring holding the message, sender and
/// recipients, each a netstring. Returned as (head, tail) to be sent
/// around the message, which is not copied.
pub fn package(message_len: usize, env: &Envelope) -> (Vec<u8>, Vec<u8>) {
    let mut tail = b",".to_vec();
    encode_into(&mut tail, &env.sender);
    for r in &env.recipients {
        encode_into(&mut tail, r);
    }
    let inner_head = format!("{message_len}:");
    let total = inner_head.len() + message_len + tail.len();
    let head = format!("{total}:{inner_head}").into_bytes();
    tail.push(b',');
    (head, tail)
}

/// The answer's first `K`, `Z` or `D` decides (qmail skips the length
/// and anything else before it).
pub fn verdict(reply: &mut impl Read) -> Result<Result<(), QmqpcError>, std::io::Error> {
    let mut b = [0u8; 1];
    loop {
        if reply.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match b[0] {
            b'K' => return Ok(Ok(())),
            b'Z' => return Ok(Err(QmqpcError::Deferred)),
            b'D' => return Ok(Err(QmqpcError::Refused)),
            _ => {}
        }
    }
}

/// How a failed connect counts: timeout (72), resource trouble with the
/// socket itself (56), anything else refused (73).
pub fn connect_error(addr: SocketAddrV4, e: std::io::Error) -> QmqpcError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return QmqpcError::ConnectTimeout(addr);
    }
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EAFNOSUPPORT) => {
            QmqpcError::Socket(e)
        }
        _ => QmqpcError::ConnectRefused(addr, e),
    }
}

/// Sends the package to one server and returns its verdict (the inner
/// result). The outer error is a connection or communication failure.
fn try_server(
    addr: SocketAddrV4,
    message: &[u8],
    env: &Envelope,
) -> Result<Result<(), QmqpcError>, QmqpcError> {
    let s = TcpStream::connect_timeout(&SocketAddr::V4(addr), Duration::from_secs(CONNECT_SECS))
        .map_err(|e| connect_error(addr, e))?;
    let comm = |e: std::io::Error| QmqpcError::Communication(addr, e.to_string());
    let io = Some(Duration::from_secs(IO_SECS));
    s.set_read_timeout(io).map_err(comm)?;
    s.set_write_timeout(io).map_err(comm)?;
    let (head, tail) = package(message.len(), env);
    let mut w = std::io::BufWriter::new(&s);
    w.write_all(&head)
        .and_then(|_| w.write_all(message))
        .and_then(|_| w.write_all(&tail))
        .and_then(|_| w.flush())
        .map_err(comm)?;
    drop(w);
    verdict(&mut BufReader::new(&s)).map_err(comm)
}

/// Everything qmail-qmqpc does after reading its inputs: tries each
/// server in order until one accepts the connection.
pub fn send(servers: &[SocketAddrV4], message: &[u8], env: &Envelope) -> Result<(), QmqpcError> {
    let mut last = QmqpcError::NoServers;
    for &addr in servers {
        match try_server(addr, message, env) {
            Ok(verdict) => return verdict,
            Err(e @ (QmqpcError::ConnectTimeout(_) | QmqpcError::ConnectRefused(..))) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// qmail-qmqpc's main, in qmail's order: home (61), controls (55), the
/// message (54), the envelope (54, 91), then the servers.
pub fn run(
    home: &Home,
    message: &mut impl Read,
    envelope: &mut impl Read,
) -> Result<(), QmqpcError> {
    std::env::set_current_dir(&home.root).map_err(QmqpcError::Home)?;
    let lines = ControlDir::new(home.control())
        .list("qmqpservers")
        .map_err(|e| QmqpcError::Control(e.to_string()))?
        .ok_or(QmqpcError::NoServers)?;
    let mut m = Vec::new();
    message.read_to_end(&mut m).map_err(QmqpcError::Read)?;
    let env = read_envelope(&mut BufReader::new(envelope))?;
    send(&servers(&lines), &m, &env)
}

#[cfg(test)]
#[path = "qmqpc_tests.rs"]
mod tests;
