//! A blocking SMTP connection that sends exactly the bytes it is given and
//! reads replies with deadlines. Every byte in either direction is kept in
//! a [`Transcript`] for reports.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::reply::{is_last_line, Reply};
use crate::escape;

/// One event of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes the harness sent.
    Client(Vec<u8>),
    /// One line the server sent (with its line end, if it had one).
    Server(Vec<u8>),
    /// The server closed the connection.
    Closed,
    /// A harness note (connects, steps that do not speak SMTP).
    Note(String),
}

/// The events of a scenario run, in order.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub events: Vec<Event>,
}

impl Transcript {
    pub fn note(&mut self, s: impl Into<String>) {
        self.events.push(Event::Note(s.into()));
    }

    /// One line per event: `C: ` / `S: ` with CR, LF and other bytes made
    /// visible; a client write is split after each LF.
    pub fn render(&self, normalize: &dyn Fn(&[u8]) -> Vec<u8>) -> String {
        let mut out = String::new();
        for e in &self.events {
            render_event(e, normalize, &mut out);
        }
        out
    }
}

/// Appends one rendered event to `out`.
pub fn render_event(e: &Event, normalize: &dyn Fn(&[u8]) -> Vec<u8>, out: &mut String) {
    match e {
        Event::Client(b) => {
            for l in b.split_inclusive(|&c| c == b'\n') {
                out.push_str("C: ");
                out.push_str(&escape::visible(l));
                out.push('\n');
            }
        }
        Event::Server(l) => {
            out.push_str("S: ");
            out.push_str(&escape::visible(&normalize(l)));
            out.push('\n');
        }
        Event::Closed => out.push_str("S: <closed>\n"),
        Event::Note(n) => {
            out.push_str("-- ");
            out.push_str(n);
            out.push('\n');
        }
    }
}

/// What went wrong reading from the server.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("timed out after {0:?} waiting for the server")]
    Timeout(Duration),
    #[error("the server closed the connection")]
    Closed,
    #[error("reading from the server: {0}")]
    Io(std::io::Error),
}

/// The connection's byte stream: plain TCP, or TLS after `starttls`.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Tls(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(b),
            Stream::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// An open connection.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    eof: bool,
}

impl Conn {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: Stream::Plain(stream),
            buf: Vec::new(),
            eof: false,
        })
    }

    /// Writes `bytes` in one call (one packet for small writes).
    pub fn send(&mut self, bytes: &[u8], t: &mut Transcript) -> std::io::Result<()> {
        t.events.push(Event::Client(bytes.to_vec()));
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Upgrades the connection to TLS (RFC 3207) and completes the
    /// handshake within `wait`. Any certificate is accepted (rustls still
    /// checks the handshake is signed by its key): the suite tests SMTP
    /// behaviour, not PKI, and the reference target's certificate is a
    /// throwaway self-signed one. Bytes the server sent in plaintext after
    /// its 220 are an error (RFC 3207 §4.2: nothing may follow it).
    pub fn starttls(&mut self, wait: Duration) -> Result<(), String> {
        if !self.buf.is_empty() {
            return Err(format!(
                "the server sent {} plaintext bytes after its reply to STARTTLS: {}",
                self.buf.len(),
                escape::visible(&self.buf)
            ));
        }
        let tcp = match &self.stream {
            Stream::Plain(s) => s.try_clone().map_err(|e| e.to_string())?,
            Stream::Tls(_) => return Err("the connection is already TLS".into()),
        };
        let config = mta::remote::starttls::RemoteTls::opportunistic().client_config();
        let name = rustls::pki_types::ServerName::IpAddress(
            tcp.peer_addr().map_err(|e| e.to_string())?.ip().into(),
        );
        let mut conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(wait))
            .map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(wait))
            .map_err(|e| e.to_string())?;
        let mut sock = tcp;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
        }
        sock.set_write_timeout(None).map_err(|e| e.to_string())?;
        self.stream = Stream::Tls(Box::new(rustls::StreamOwned::new(conn, sock)));
        Ok(())
    }

    /// Reads more bytes into the buffer; Ok(false) at EOF.
    fn fill(&mut self, deadline: Instant, wait: Duration) -> Result<bool, ReadError> {
        if self.eof {
            return Ok(false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout(wait));
        }
        self.stream
            .tcp()
            .set_read_timeout(Some(left))
            .map_err(ReadError::Io)?;
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(ReadError::Timeout(wait))
            }
            // A TLS peer that closes without close_notify: still a close.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                ) =>
            {
                self.eof = true;
                Ok(false)
            }
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    /// One line (up to LF), or what is left at EOF.
    pub(crate) fn line(&mut self, deadline: Instant, wait: Duration) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return Ok(self.buf.drain(..=i).collect());
            }
            if !self.fill(deadline, wait)? {
                if self.buf.is_empty() {
                    return Err(ReadError::Closed);
                }
                return Ok(std::mem::take(&mut self.buf));
            }
        }
    }

    /// Reads one whole reply within `wait`. Lines are recorded as they
    /// arrive, so a partial reply still shows in the transcript.
    pub fn reply(&mut self, wait: Duration, t: &mut Transcript) -> Result<Reply, ReadError> {
        let deadline = Instant::now() + wait;
        let mut r = Reply::default();
        loop {
            match self.line(deadline, wait) {
                Ok(l) => {
                    t.events.push(Event::Server(l.clone()));
                    let last = is_last_line(&l) || !l.ends_with(b"\n");
                    r.raw.push(l);
                    if last {
                        return Ok(r);
                    }
                }
                Err(ReadError::Closed) => {
                    t.events.push(Event::Closed);
                    return Err(ReadError::Closed);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads one unit of a binary protocol (a netstring) within `wait`:
    /// `split` says, once enough has arrived, how many leading bytes
    /// form the unit (`None`: more are needed). The unit is recorded as
    /// one server event; if the server closes first, what it sent is
    /// recorded and the error is [`ReadError::Closed`].
    pub fn unit(
        &mut self,
        wait: Duration,
        t: &mut Transcript,
        split: &dyn Fn(&[u8]) -> Option<usize>,
    ) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(n) = split(&self.buf) {
                let n = n.min(self.buf.len());
                let unit: Vec<u8> = self.buf.drain(..n).collect();
                t.events.push(Event::Server(unit.clone()));
                return Ok(unit);
            }
            if !self.fill(deadline, wait)? {
                if !self.buf.is_empty() {
                    t.events.push(Event::Server(std::mem::take(&mut self.buf)));
                }
                t.events.push(Event::Closed);
                return Err(ReadError::Closed);
            }
        }
    }

    /// Waits for the server to close; returns the bytes it sent before.
    pub fn closed(&mut self, wait: Duration, t: &mut Transcript) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + wait;
        let mut extra = Vec::new();
        loop {
            match self.line(deadline, wait) {
                Ok(l) => {
                    t.events.push(Event::Server(l.clone()));
                    extra.extend_from_slice(&l);
                }
                Err(ReadError::Closed) => {
                    t.events.push(Event::Closed);
                    return Ok(extra);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes our side.
    pub fn shutdown(&mut self) {
        let _ = self.stream.tcp().shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_server_that_does_not_speak_tls_fails_the_handshake() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"220 go ahead\r\n").unwrap();
            let mut hello = [0u8; 5];
            s.read_exact(&mut hello).unwrap();
            s.write_all(b"500 what?\r\n").unwrap();
        });
        let mut c = Conn::connect(addr, Duration::from_secs(10)).unwrap();
        let mut t = Transcript::default();
        c.reply(Duration::from_secs(10), &mut t).unwrap();
        let e = c.starttls(Duration::from_secs(10)).unwrap_err();
        assert!(!e.is_empty());
        server.join().unwrap();
    }

    #[test]
    fn plaintext_after_the_220_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"220 go ahead\r\n250 ok\r\n").unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        });
        let mut c = Conn::connect(addr, Duration::from_secs(10)).unwrap();
        let mut t = Transcript::default();
        // Both lines arrive before the handshake: wait for the second.
        c.reply(Duration::from_secs(10), &mut t).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.buf.is_empty() && Instant::now() < deadline {
            let _ = c.fill(deadline, Duration::from_secs(10));
        }
        let e = c.starttls(Duration::from_secs(10)).unwrap_err();
        assert!(e.contains("8 plaintext bytes"), "{e}");
        c.shutdown();
        server.join().unwrap();
    }
}
