//! The harness sink (conformance spec §8.1): an SMTP server inside the
//! runner that every target relays non-local mail and bounces to. It
//! records each transaction's raw DATA bytes and answers MAIL, each RCPT
//! and the final dot as the running scenario says ([`SinkSetup`]), like
//! Postfix's smtp-sink or Exim's `server` script.
//!
//! One sink serves one worker for the whole run; [`Sink::reset`] gives it
//! the next scenario's behaviour and starts a new *generation*, so a late
//! connection from an earlier scenario is never counted for a later one.
//! Every connection's command lines are kept too ([`Sink::sessions`]);
//! the hosts of a scenario's network ([`crate::network`]) are sinks on
//! other loopback addresses ([`Sink::start_at`]).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::scenario::{SinkReply, SinkSetup};

/// One transaction that reached the end of DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub generation: u64,
    /// The envelope sender as written between `<` and `>`.
    pub from: String,
    /// The recipients the sink accepted.
    pub rcpts: Vec<String>,
    /// Everything after 354 up to and including `.` CRLF, as sent.
    pub raw: Vec<u8>,
    /// The message: dot-unstuffed, line ends as sent, final dot removed.
    pub message: Vec<u8>,
    /// True if the sink answered the final dot with 2xx.
    pub accepted: bool,
}

/// One SMTP connection: the command lines the client sent (without
/// CRLF; message data not included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub generation: u64,
    /// Unique per sink.
    pub id: u64,
    pub commands: Vec<String>,
}

struct Shared {
    setup: Mutex<SinkSetup>,
    log: Mutex<Vec<Transaction>>,
    sessions: Mutex<Vec<Session>>,
    next_session: AtomicU64,
    generation: AtomicU64,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not take the sink down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running sink on 127.0.0.1.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Sink {
    pub fn start() -> std::io::Result<Sink> {
        Sink::start_at(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// A sink listening on `addr` (port 0: any free port).
    pub fn start_at(addr: SocketAddr) -> std::io::Result<Sink> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            setup: Mutex::new(SinkSetup::default()),
            log: Mutex::new(Vec::new()),
            sessions: Mutex::new(Vec::new()),
            next_session: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s2 = shared.clone();
        let accept = std::thread::Builder::new()
            .name("sink-accept".into())
            .spawn(move || accept_loop(listener, s2))?;
        Ok(Sink {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next scenario's behaviour; forgets earlier transactions.
    pub fn reset(&self, setup: &SinkSetup) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        *lock(&self.shared.setup) = setup.clone();
        lock(&self.shared.log).clear();
        lock(&self.shared.sessions).clear();
    }

    /// The current scenario's connections, in the order they came.
    pub fn sessions(&self) -> Vec<Session> {
        let g = self.shared.generation.load(Ordering::SeqCst);
        lock(&self.shared.sessions)
            .iter()
            .filter(|t| t.generation == g)
            .cloned()
            .collect()
    }

    /// The current scenario's transactions.
    pub fn transactions(&self) -> Vec<Transaction> {
        let g = self.shared.generation.load(Ordering::SeqCst);
        lock(&self.shared.log)
            .iter()
            .filter(|t| t.generation == g)
            .cloned()
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let s = shared.clone();
        // Connection threads end when the peer does (or after the read
        // timeout); they hold no resource the run must wait for.
        let _ = std::thread::Builder::new()
            .name("sink-conn".into())
            .spawn(move || {
                let _ = serve(conn, &s);
            });
    }
}

fn reply_for(r: &Option<SinkReply>, default: &str) -> SinkReply {
    r.clone()
        .unwrap_or_else(|| SinkReply::Reply(default.to_string()))
}

/// Writes `r`; false if the connection is to be dropped.
fn answer(w: &mut TcpStream, r: &SinkReply) -> std::io::Result<bool> {
    match r {
        SinkReply::Drop => {
            let _ = w.shutdown(std::net::Shutdown::Both);
            Ok(false)
        }
        SinkReply::Reply(s) => {
            w.write_all(s.as_bytes())?;
            w.write_all(b"\r\n")?;
            Ok(true)
        }
    }
}

fn is_2xx(r: &SinkReply) -> bool {
    matches!(r, SinkReply::Reply(s) if s.starts_with('2'))
}

/// The address between `<` and `>` (or after the colon).
fn path_of(arg: &str) -> String {
    match (arg.find('<'), arg.rfind('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_string(),
        _ => arg.split_once(':').map_or("", |x| x.1).trim().to_string(),
    }
}

fn serve(conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let generation = s.generation.load(Ordering::SeqCst);
    let session = s.next_session.fetch_add(1, Ordering::SeqCst);
    lock(&s.sessions).push(Session {
        generation,
        id: session,
        commands: Vec::new(),
    });
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let greeting = lock(&s.setup).greeting.clone();
    // A refusing greeting answers every later command too (RFC 5321
    // §3.1: the client should send QUIT and wait for the close).
    let refusing = match &greeting {
        None => {
            w.write_all(b"220 sink.test ESMTP conformance sink\r\n")?;
            None
        }
        Some(g) if is_2xx(g) => {
            answer(&mut w, g)?;
            None
        }
        Some(g) => {
            if !answer(&mut w, g)? {
                return Ok(());
            }
            Some(g.clone())
        }
    };
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if let Some(rec) = lock(&s.sessions).iter_mut().find(|x| x.id == session) {
            rec.commands.push(text.to_string());
        }
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let setup = lock(&s.setup).clone();
        if let Some(g) = &refusing {
            if verb.eq_ignore_ascii_case("QUIT") {
                w.write_all(b"221 sink.test\r\n")?;
                return Ok(());
            }
            answer(&mut w, g)?;
            continue;
        }
        match verb.to_ascii_uppercase().as_str() {
            "HELO" => w.write_all(b"250 sink.test\r\n")?,
            "EHLO" => w.write_all(b"250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")?,
            "MAIL" => {
                let a = reply_for(&setup.mail, "250 ok");
                from = is_2xx(&a).then(|| path_of(arg));
                rcpts.clear();
                if !answer(&mut w, &a)? {
                    return Ok(());
                }
            }
            "RCPT" => {
                let addr = path_of(arg);
                let a = setup
                    .rcpt
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&addr))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| reply_for(&setup.rcpt_default, "250 ok"));
                if from.is_none() {
                    w.write_all(b"503 MAIL first\r\n")?;
                    continue;
                }
                if is_2xx(&a) {
                    rcpts.push(addr);
                }
                if !answer(&mut w, &a)? {
                    return Ok(());
                }
            }
            "DATA" => {
                let Some(f) = from.take() else {
                    w.write_all(b"503 MAIL first\r\n")?;
                    continue;
                };
                if rcpts.is_empty() {
                    w.write_all(b"503 RCPT first\r\n")?;
                    continue;
                }
                w.write_all(b"354 go ahead\r\n")?;
                let (raw, message) = read_data(&mut r)?;
                let a = reply_for(&setup.data, "250 ok queued");
                lock(&s.log).push(Transaction {
                    generation,
                    from: f,
                    rcpts: std::mem::take(&mut rcpts),
                    raw,
                    message,
                    accepted: is_2xx(&a),
                });
                if !answer(&mut w, &a)? {
                    return Ok(());
                }
            }
            "RSET" => {
                from = None;
                rcpts.clear();
                w.write_all(b"250 ok\r\n")?;
            }
            "NOOP" => w.write_all(b"250 ok\r\n")?,
            "QUIT" => {
                w.write_all(b"221 sink.test\r\n")?;
                return Ok(());
            }
            _ => w.write_all(b"502 unimplemented\r\n")?,
        }
    }
}

/// Reads DATA up to the `.` CRLF line: (raw bytes, unstuffed message).
fn read_data(r: &mut impl BufRead) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut msg = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&line);
        if line == b".\r\n" {
            return Ok((raw, msg));
        }
        msg.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn talk(addr: SocketAddr, input: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(input).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn records_transactions_and_answers_per_recipient() {
        let sink = Sink::start().unwrap();
        let mut setup = SinkSetup::default();
        setup
            .rcpt
            .insert("bad@x.test".into(), SinkReply::Reply("550 5.1.1 no".into()));
        sink.reset(&setup);
        let out = talk(
            sink.addr(),
            b"HELO h\r\nMAIL FROM:<s@a>\r\nRCPT TO:<Bad@x.test>\r\nRCPT TO:<ok@x.test>\r\nDATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
        );
        assert_eq!(
            out,
            "220 sink.test ESMTP conformance sink\r\n250 sink.test\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n354 go ahead\r\n250 ok queued\r\n221 sink.test\r\n"
        );
        let t = sink.transactions();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].from, "s@a");
        assert_eq!(t[0].rcpts, ["ok@x.test"]);
        assert_eq!(t[0].raw, b"Subject: x\r\n\r\n..dot\r\n.\r\n");
        assert_eq!(t[0].message, b"Subject: x\r\n\r\n.dot\r\n");
        sink.reset(&SinkSetup::default());
        assert!(sink.transactions().is_empty());
    }

    #[test]
    fn a_refusing_greeting_answers_everything_and_commands_are_kept() {
        let sink = Sink::start_at(SocketAddr::from(([127, 0, 0, 2], 0))).unwrap();
        let setup = SinkSetup {
            greeting: Some(SinkReply::Reply("421 busy".into())),
            ..Default::default()
        };
        sink.reset(&setup);
        let out = talk(sink.addr(), b"HELO h\r\nQUIT\r\n");
        assert_eq!(out, "421 busy\r\n421 busy\r\n221 sink.test\r\n");
        let s = sink.sessions();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].commands, ["HELO h", "QUIT"]);
        sink.reset(&SinkSetup::default());
        assert!(sink.sessions().is_empty());
    }

    #[test]
    fn drop_closes_without_an_answer() {
        let sink = Sink::start().unwrap();
        let setup = SinkSetup {
            mail: Some(SinkReply::Drop),
            ..Default::default()
        };
        sink.reset(&setup);
        let out = talk(sink.addr(), b"HELO h\r\nMAIL FROM:<s@a>\r\nNOOP\r\n");
        assert_eq!(
            out,
            "220 sink.test ESMTP conformance sink\r\n250 sink.test\r\n"
        );
    }
}
