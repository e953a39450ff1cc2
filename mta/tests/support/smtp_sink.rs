//! A scripted SMTP server for tests: listens on a loopback address, answers
//! each command from a [`Script`], and records the raw bytes each client
//! sent, one entry per connection.
//!
//! Connections are served one at a time on the sink's own thread. After
//! the script's last reply (or QUIT) the sink keeps reading until the
//! client closes, so a recorded session always holds everything the client
//! wrote, including a QUIT sent without waiting for the answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Sent as is; `\r\n` is appended when the text does not end with `\n`.
    /// Multi-line replies are written with embedded `\r\n`.
    Line(String),
    /// Close the connection instead of answering.
    Close,
}

impl Reply {
    pub fn line(s: &str) -> Reply {
        Reply::Line(s.to_string())
    }
}

/// What the sink answers at each step.
#[derive(Debug, Clone)]
pub struct Script {
    pub greeting: Reply,
    pub helo: Reply,
    pub mail: Reply,
    /// One per RCPT in order; the last one repeats.
    pub rcpt: Vec<Reply>,
    pub data: Reply,
    /// The answer after the final dot.
    pub message: Reply,
    /// Close the connection after reading this many lines of the message
    /// body (a peer that dies mid-DATA); `None` reads it all.
    pub body_close_after: Option<usize>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            greeting: Reply::line("220 sink.test ESMTP"),
            helo: Reply::line("250 sink.test"),
            mail: Reply::line("250 ok"),
            rcpt: vec![Reply::line("250 ok")],
            data: Reply::line("354 go ahead"),
            message: Reply::line("250 ok 1700000000 qp 4242"),
            body_close_after: None,
        }
    }
}

/// A running sink; stop it with [`SmtpSink::finish`] (or drop it).
pub struct SmtpSink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    sessions: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Listens on `ip:0` (e.g. `"127.0.0.1"`).
    pub fn start(ip: &str, script: Script) -> SmtpSink {
        SmtpSink::start_on(&format!("{ip}:0"), script)
    }

    /// Listens on an exact address (to share a port across two loopback
    /// addresses).
    pub fn start_on(addr: &str, script: Script) -> SmtpSink {
        let listener = TcpListener::bind(addr).expect("bind SMTP sink");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let (st, ss) = (stop.clone(), sessions.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let mut record = Vec::new();
                serve(conn, &script, &mut record);
                ss.lock().unwrap().push(record);
            }
        });
        SmtpSink {
            addr,
            stop,
            sessions,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops the sink and returns what each connection sent, in order.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        self.shutdown();
        std::mem::take(&mut *self.sessions.lock().unwrap())
    }

    /// Like [`finish`](Self::finish), each session as lossy text.
    pub fn finish_text(self) -> Vec<String> {
        self.finish()
            .into_iter()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .collect()
    }

    fn shutdown(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop.
            let _ = TcpStream::connect(self.addr);
            let _ = t.join();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Writes `reply`; false if the connection is to be (or was) closed.
fn send(conn: &mut TcpStream, reply: &Reply) -> bool {
    match reply {
        Reply::Close => {
            let _ = conn.shutdown(Shutdown::Both);
            false
        }
        Reply::Line(s) => {
            let mut bytes = s.clone().into_bytes();
            if !s.ends_with('\n') {
                bytes.extend_from_slice(b"\r\n");
            }
            conn.write_all(&bytes).is_ok()
        }
    }
}

/// Serves one connection; everything the client sent goes to `record`.
fn serve(mut conn: TcpStream, script: &Script, record: &mut Vec<u8>) {
    // Backstop so a broken test cannot hang forever.
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(rd) = conn.try_clone() else { return };
    let mut rd = BufReader::new(rd);
    if !send(&mut conn, &script.greeting) {
        return;
    }
    let mut rcpts = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        match rd.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => record.extend_from_slice(&line),
        }
        let verb = String::from_utf8_lossy(&line[..line.len().min(4)]).to_ascii_uppercase();
        let reply = match verb.as_str() {
            "HELO" => script.helo.clone(),
            "MAIL" => script.mail.clone(),
            "RCPT" => {
                let r = script
                    .rcpt
                    .get(rcpts)
                    .or(script.rcpt.last())
                    .cloned()
                    .unwrap_or(Reply::line("250 ok"));
                rcpts += 1;
                r
            }
            "DATA" => {
                let r = script.data.clone();
                let go = matches!(&r, Reply::Line(s) if s.starts_with('3'));
                if !send(&mut conn, &r) {
                    return;
                }
                if !go {
                    continue;
                }
                if !read_data(&mut rd, record, script.body_close_after) {
                    let _ = conn.shutdown(Shutdown::Both);
                    return;
                }
                script.message.clone()
            }
            "QUIT" => Reply::line("221 sink.test"),
            _ => Reply::line("502 unimplemented (#5.5.1)"),
        };
        if !send(&mut conn, &reply) {
            // Drain whatever the client still sends (e.g. QUIT) until it
            // closes, so the record is complete.
            let _ = rd.read_to_end(record);
            return;
        }
    }
}

/// Reads message data up to and including the terminating `.\r\n`; false
/// if the client went away first or after `close_after` lines.
fn read_data(
    rd: &mut BufReader<TcpStream>,
    record: &mut Vec<u8>,
    close_after: Option<usize>,
) -> bool {
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        if close_after.is_some_and(|max| n >= max) {
            return false;
        }
        n += 1;
        line.clear();
        match rd.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => record.extend_from_slice(&line),
        }
        // read_until splits at LF, so every `line` starts a line.
        if line == b".\r\n" {
            return true;
        }
    }
}
