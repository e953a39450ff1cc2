//! The client side of POP3 (RFC 1939 §3, qmail-behaviour §11): reading
//! one response, single-line or multi-line, off a connection. Sending is
//! the ordinary `send` step: POP3 commands are CRLF-terminated lines.

use std::time::{Duration, Instant};

use crate::smtp::client::{Conn, Event, ReadError, Transcript};
use crate::smtp::reply::Reply;

/// Reads one response within `wait`: the status line and, when `multi`
/// and the status is `+OK`, every line up to and including the line
/// `.`. Lines are recorded as they arrive.
pub fn response(
    c: &mut Conn,
    wait: Duration,
    multi: bool,
    t: &mut Transcript,
) -> Result<Reply, ReadError> {
    let deadline = Instant::now() + wait;
    let mut r = Reply::default();
    loop {
        let l = match c.line(deadline, wait) {
            Ok(l) => l,
            Err(ReadError::Closed) => {
                t.events.push(Event::Closed);
                return Err(ReadError::Closed);
            }
            Err(e) => return Err(e),
        };
        t.events.push(Event::Server(l.clone()));
        let first = r.raw.is_empty();
        let done = if first {
            !(multi && l.starts_with(b"+OK"))
        } else {
            is_terminator(&l)
        };
        let complete = l.ends_with(b"\n");
        r.raw.push(l);
        if done || !complete {
            return Ok(r);
        }
    }
}

/// The line that ends a multi-line response: `.` alone (a bare LF is
/// accepted here and reported by [`malformed`]).
fn is_terminator(l: &[u8]) -> bool {
    l == b".\r\n" || l == b".\n"
}

/// Why `r` is not a well-formed POP3 response, if it is not: the first
/// line must start with `+OK` or `-ERR`, every line must end in CRLF,
/// and a multi-line one must end with `.`.
pub fn malformed(r: &Reply, multi: bool) -> Option<String> {
    let first = r.raw.first()?;
    if !(first.starts_with(b"+OK") || first.starts_with(b"-ERR")) {
        return Some("the response does not start with +OK or -ERR (RFC 1939 §3)".into());
    }
    if let Some(i) = r.raw.iter().position(|l| !l.ends_with(b"\r\n")) {
        return Some(format!(
            "line {} of the response does not end in CRLF (RFC 1939 §3)",
            i + 1
        ));
    }
    if multi && first.starts_with(b"+OK") && !r.raw.last().is_some_and(|l| is_terminator(l)) {
        return Some("the multi-line response does not end with `.`".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(lines: &[&[u8]]) -> Reply {
        Reply {
            raw: lines.iter().map(|l| l.to_vec()).collect(),
        }
    }

    #[test]
    fn well_formed_responses() {
        assert_eq!(malformed(&reply(&[b"+OK \r\n"]), false), None);
        assert_eq!(malformed(&reply(&[b"-ERR x\r\n"]), true), None);
        assert_eq!(
            malformed(&reply(&[b"+OK \r\n", b"1 2\r\n", b".\r\n"]), true),
            None
        );
    }

    #[test]
    fn malformed_responses() {
        assert!(malformed(&reply(&[b"OK\r\n"]), false).is_some());
        assert!(malformed(&reply(&[b"+OK\n"]), false).is_some());
        assert!(malformed(&reply(&[b"+OK \r\n", b"1 2\r\n"]), true).is_some());
        assert!(malformed(&reply(&[b"+OK \r\n", b".\n"]), true).is_some());
    }

    #[test]
    fn reads_single_and_multi_line_responses() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"+OK <1.2@h>\r\n+OK \r\n1 5\r\n.\r\n-ERR no\r\n")
                .unwrap();
        });
        let mut c = Conn::connect(addr, Duration::from_secs(5)).unwrap();
        let mut t = Transcript::default();
        let wait = Duration::from_secs(5);
        assert_eq!(response(&mut c, wait, false, &mut t).unwrap().raw.len(), 1);
        assert_eq!(response(&mut c, wait, true, &mut t).unwrap().raw.len(), 3);
        // A -ERR ends a multi-line response at once.
        assert_eq!(response(&mut c, wait, true, &mut t).unwrap().raw.len(), 1);
        server.join().unwrap();
    }
}
