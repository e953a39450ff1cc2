//! Drives one [`Session`] over a tokio socket: the built-in listener's
//! counterpart of [`crate::smtpd::io::drive`], with the same rules
//! (replies held until a flush point or until we wait for input;
//! `timeoutsmtpd` per read and write; `451 timeout (#4.4.2)` on a read
//! timeout) plus the TLS handshake and checkpassword the extensions need.
//!
//! No thread or process per connection: the session runs on a tokio task.
//! Work that blocks (starting qmail-queue, writing to its pipe, waiting
//! for it, running checkpassword) runs on tokio's blocking pool, one piece
//! at a time, so a connection never has more than one read's worth of
//! message in memory. In unprivileged mode the message is queued
//! in-process instead ([`super::inline_queue`]): no fork and exec.
//!
//! An idle connection holds no read buffer: a plain socket is read only
//! after it is readable, into a buffer that lives for that read.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::inline_queue::{self, InlineInjection};
use crate::home::Home;
use crate::queue::client::{Injection, QqError};
use crate::smtpd::auth::Verdict;
use crate::smtpd::extensions::check_password;
use crate::smtpd::io::READ_SIZE;
use crate::smtpd::session::{Action, Envelope, Session};

/// The client's connection, before and after STARTTLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the handshake owns the socket.
    Gone,
}

impl Conn {
    /// One read; an empty vector is end of input.
    async fn read(&mut self) -> io::Result<Vec<u8>> {
        match self {
            Conn::Plain(s) => loop {
                s.readable().await?;
                let mut buf = vec![0u8; READ_SIZE];
                match s.try_read(&mut buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        return Ok(buf);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            },
            Conn::Tls(s) => {
                let mut buf = vec![0u8; READ_SIZE];
                let n = s.read(&mut buf).await?;
                buf.truncate(n);
                Ok(buf)
            }
            Conn::Gone => Ok(Vec::new()),
        }
    }

    async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(b).await,
            Conn::Tls(s) => {
                s.write_all(b).await?;
                s.flush().await
            }
            Conn::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn shutdown(&mut self) {
        match self {
            Conn::Plain(s) => {
                let _ = s.shutdown().await;
            }
            Conn::Tls(s) => {
                let _ = s.shutdown().await;
            }
            Conn::Gone => {}
        }
    }
}

/// One message in progress: a qmail-queue process, or (unprivileged
/// mode) qmail-queue's core on a thread of ours ([`InlineInjection`]).
enum Current {
    Exec(Injection),
    Inline(InlineInjection),
}

/// qmail-queue for one connection. The exec path is driven from the
/// blocking pool; the inline path has its own thread per message.
struct AsyncQueue {
    home: PathBuf,
    /// Enqueue in-process ([`inline_queue::wanted`]), decided once per
    /// connection.
    inline: bool,
    current: Option<Current>,
    write_failed: bool,
}

fn pool_gone() -> QqError {
    QqError {
        permanent: false,
        text: "qq internal bug (#4.3.0)".to_string(),
    }
}

impl AsyncQueue {
    async fn start(&mut self) -> Result<(), QqError> {
        self.abort().await;
        self.write_failed = false;
        if self.inline {
            self.current = Some(Current::Inline(InlineInjection::start(&self.home)?));
            return Ok(());
        }
        let home = self.home.clone();
        let inj =
            tokio::task::spawn_blocking(move || Injection::start(&home, Some("network"))).await;
        self.current = Some(Current::Exec(inj.map_err(|_| pool_gone())??));
        Ok(())
    }

    async fn write(&mut self, data: Vec<u8>) {
        use std::io::Write;
        if self.write_failed {
            return;
        }
        let mut inj = match self.current.take() {
            Some(Current::Exec(inj)) => inj,
            Some(Current::Inline(mut inj)) => {
                inj.write(data).await;
                self.current = Some(Current::Inline(inj));
                return;
            }
            None => return,
        };
        let r = tokio::task::spawn_blocking(move || {
            let failed = inj.write_all(&data).is_err();
            (inj, failed)
        })
        .await;
        match r {
            Ok((inj, failed)) => {
                self.current = Some(Current::Exec(inj));
                self.write_failed = failed;
            }
            Err(_) => self.write_failed = true,
        }
    }

    async fn finish(&mut self, env: Envelope) -> Result<u32, QqError> {
        match self.current.take().ok_or_else(pool_gone)? {
            Current::Inline(inj) => inj.finish(&env.sender, &env.recipients).await,
            Current::Exec(inj) => {
                tokio::task::spawn_blocking(move || inj.finish(&env.sender, &env.recipients))
                    .await
                    .map_err(|_| pool_gone())?
            }
        }
    }

    async fn abort(&mut self) {
        match self.current.take() {
            Some(Current::Exec(inj)) => {
                let _ = tokio::task::spawn_blocking(move || inj.abort()).await;
            }
            Some(Current::Inline(inj)) => inj.abort().await,
            None => {}
        }
    }
}

/// Runs `session` on `stream` until it closes; returns qmail-smtpd's exit
/// code (0 after QUIT). `tls` is the acceptor when STARTTLS is on; `home`
/// is the root whose `bin/qmail-queue` (or `$QMAILQUEUE`) queues.
pub async fn run(
    stream: TcpStream,
    session: Session,
    tls: Option<TlsAcceptor>,
    home: PathBuf,
) -> i32 {
    let mut conn = Conn::Plain(stream);
    let inline = inline_queue::wanted(&Home::from_env());
    let mut q = AsyncQueue {
        home,
        inline,
        current: None,
        write_failed: false,
    };
    let code = drive(&mut conn, session, tls, &mut q).await;
    q.abort().await;
    conn.shutdown().await;
    code
}

async fn flush(conn: &mut Conn, held: &mut Vec<u8>, timeout: Duration) -> io::Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    let r = match tokio::time::timeout(timeout, conn.write_all(held)).await {
        Ok(r) => r,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    };
    held.clear();
    held.shrink_to(256);
    r
}

async fn drive(
    conn: &mut Conn,
    mut session: Session,
    tls: Option<TlsAcceptor>,
    q: &mut AsyncQueue,
) -> i32 {
    let timeout = Duration::from_secs(session.timeout_secs());
    let mut held = session.greeting();
    let mut actions: VecDeque<Action> = VecDeque::new();
    loop {
        while let Some(a) = actions.pop_front() {
            match a {
                Action::Reply(b) => held.extend_from_slice(&b),
                Action::Flush => {
                    if flush(conn, &mut held, timeout).await.is_err() {
                        return 1;
                    }
                }
                Action::StartMessage => {
                    let started = q.start().await;
                    actions.extend(session.message_started(started));
                }
                Action::MessageData(d) => q.write(d).await,
                Action::EndMessage(env) => {
                    let done = q.finish(env).await;
                    actions.extend(session.message_done(done));
                }
                Action::AbortMessage => q.abort().await,
                Action::Close { clean } => {
                    let _ = flush(conn, &mut held, timeout).await;
                    return if clean { 0 } else { 1 };
                }
                Action::StartTls => {
                    if flush(conn, &mut held, timeout).await.is_err() {
                        return 1;
                    }
                    let ok = match (std::mem::replace(conn, Conn::Gone), &tls) {
                        (Conn::Plain(s), Some(acceptor)) => {
                            match tokio::time::timeout(timeout, acceptor.accept(s)).await {
                                Ok(Ok(t)) => {
                                    *conn = Conn::Tls(Box::new(t));
                                    true
                                }
                                _ => false,
                            }
                        }
                        (other, _) => {
                            *conn = other;
                            false
                        }
                    };
                    actions.extend(session.tls_started(ok));
                }
                Action::CheckPassword { user, password } => {
                    let argv = session.checkpassword().map(<[String]>::to_vec);
                    let verdict = match argv {
                        Some(argv) => tokio::task::spawn_blocking(move || {
                            let v = check_password(&argv, &user, &password);
                            (v, user)
                        })
                        .await
                        .unwrap_or((Verdict::Temporary, Vec::new())),
                        None => (Verdict::Temporary, user),
                    };
                    actions.extend(session.auth_done(verdict.0, verdict.1));
                }
            }
        }
        if flush(conn, &mut held, timeout).await.is_err() {
            return 1;
        }
        let more = match tokio::time::timeout(timeout, conn.read()).await {
            Ok(Ok(buf)) if !buf.is_empty() => session.feed(&buf),
            Ok(_) => session.eof(),
            Err(_) => session.timeout(),
        };
        actions.extend(more);
    }
}

/// Loads `servercert.pem` (certificate chain and private key in one
/// file, as the qmail TLS patch reads it) into an acceptor.
pub fn acceptor(pem: &std::path::Path) -> Result<TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let show = |e: &dyn std::fmt::Display| format!("{}: {e}", pem.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pem)
        .map_err(|e| show(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| show(&e))?;
    if certs.is_empty() {
        return Err(show(&"no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(pem).map_err(|e| show(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| show(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| show(&e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
