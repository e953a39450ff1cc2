//! qmail-remote's STARTTLS (ours; netqmail has none): off unless
//! `control/remotetls` exists, so a stock configuration keeps netqmail's
//! HELO-only dialogue byte for byte (spec §6.6).
//!
//! When enabled the dialogue is: greeting, `EHLO <helohost>` (refused:
//! `HELO` as netqmail, and on in plaintext); if the EHLO reply lists
//! `STARTTLS`, `STARTTLS`, the handshake (rustls), `EHLO` again over TLS,
//! then the usual MAIL/RCPT/DATA of [`super::smtp`]. A peer that does not
//! offer STARTTLS, or answers it with anything but 220, gets the message
//! in plaintext (RFC 3207 §4.1: a refused STARTTLS leaves the session as
//! it was).
//!
//! ## Certificate policy
//! - Default: **opportunistic**. Any certificate is accepted (like most
//!   MTAs, RFC 7435, and the qmail TLS patch without `tlshosts/`): the
//!   connection is encrypted against eavesdroppers, not authenticated.
//!   The handshake signatures are still checked.
//! - `control/remotetlsverify` exists: **verify**. The certificate must
//!   chain to a CA in the PEM file named by its first line (empty:
//!   `/etc/ssl/certs/ca-certificates.crt`, Debian's system bundle) and
//!   match the next hop: the `smtproutes` relay, else the recipient domain
//!   (Postfix's "secure" level, `nexthop`), or an IP literal's address.
//!   A CA file that cannot be read or holds no certificate makes
//!   qmail-remote defer with `Unable to read control files.`
//!
//! ## Reports
//! A handshake that fails (a verification failure included) defers the
//! message: `ZTLS connect failed: <reason>; connected to <ip>. (#4.4.2)`,
//! after the qmail TLS patch's `TLS connect failed` text. After a failed
//! handshake nothing more is sent (there is no usable channel for QUIT).

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::report::Output;
use super::smtp::{Conn, Envelope, Stop};
use crate::control::{ControlDir, ControlError};

/// Debian's CA bundle, used when `control/remotetlsverify` names none.
pub const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The TLS client configuration qmail-remote uses when STARTTLS is on.
#[derive(Debug, Clone)]
pub struct RemoteTls {
    config: Arc<ClientConfig>,
    /// Certificates are checked (`control/remotetlsverify`).
    pub verify: bool,
}

/// Why the TLS controls could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsControlError {
    #[error(transparent)]
    Read(#[from] ControlError),
    #[error("{path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl RemoteTls {
    /// `None` unless `control/remotetls` exists.
    pub fn load(c: &ControlDir) -> Result<Option<RemoteTls>, TlsControlError> {
        if !exists(c, "remotetls")? {
            return Ok(None);
        }
        if !exists(c, "remotetlsverify")? {
            return Ok(Some(RemoteTls::opportunistic()));
        }
        let ca = c
            .line("remotetlsverify")?
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| SYSTEM_CAS.to_string());
        RemoteTls::verifying(&PathBuf::from(ca)).map(Some)
    }

    /// Accepts any certificate (the handshake signatures are still
    /// checked).
    pub fn opportunistic() -> RemoteTls {
        let p = provider();
        let config = ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAny(p)))
                    .with_no_client_auth()
            });
        // The ring provider supports the safe default versions; should a
        // future rustls disagree, fall back to its defaults.
        let config = config.unwrap_or_else(|_| {
            ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
                .with_no_client_auth()
        });
        RemoteTls {
            config: Arc::new(config),
            verify: false,
        }
    }

    /// The rustls client configuration (shared; the conformance harness
    /// uses the opportunistic one for its `starttls` step).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// Trusts exactly the CAs in the PEM file `ca`.
    pub fn verifying(ca: &std::path::Path) -> Result<RemoteTls, TlsControlError> {
        use rustls::pki_types::pem::PemObject;
        let err = |reason: String| TlsControlError::CaFile {
            path: ca.to_path_buf(),
            reason,
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| err(e.to_string()))? {
            let cert = cert.map_err(|e| err(e.to_string()))?;
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(err("no certificate".to_string()));
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(RemoteTls {
            config: Arc::new(config),
            verify: true,
        })
    }
}

fn exists(c: &ControlDir, name: &str) -> Result<bool, ControlError> {
    let path = c.path(name);
    match std::fs::metadata(&path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ControlError { path, source }),
    }
}

/// The opportunistic verifier: every certificate is fine, but the
/// handshake must still be signed by the key in it.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The name the certificate must match: `nexthop` as a DNS name, an IP
/// literal (`1.2.3.4` or `[1.2.3.4]`) as an address, else the address we
/// connected to.
pub fn server_name(nexthop: &[u8], ip: Ipv4Addr) -> ServerName<'static> {
    let s = String::from_utf8_lossy(nexthop);
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    if let Ok(a) = bare.parse::<IpAddr>() {
        return ServerName::IpAddress(a.into());
    }
    ServerName::try_from(bare.to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(IpAddr::V4(ip).into()))
}

/// Whether an EHLO reply text (CR removed) lists STARTTLS.
pub fn offers_starttls(text: &[u8]) -> bool {
    text.split(|&c| c == b'\n')
        .any(|l| l.len() > 4 && l[4..].trim_ascii().eq_ignore_ascii_case(b"STARTTLS"))
}

/// `ZTLS connect failed: <reason>; connected to <ip>. (#4.4.2)\n`; the
/// reason's control and 8-bit bytes become `?`.
pub fn tls_failed(ip: Ipv4Addr, reason: &str) -> Vec<u8> {
    let reason: Vec<u8> = reason
        .bytes()
        .map(|c| if (32..=126).contains(&c) { c } else { b'?' })
        .collect();
    let mut t = b"TLS connect failed: ".to_vec();
    t.extend_from_slice(&reason);
    t.extend_from_slice(format!("; connected to {ip}. (#4.4.2)\n").as_bytes());
    t
}

/// How the plaintext opening ended.
enum Opening {
    /// A final report was made already.
    Done(u8, Vec<u8>),
    /// Go on in plaintext.
    Plain,
    /// The server said 220 to STARTTLS.
    Tls,
}

/// The whole dialogue with STARTTLS enabled (see the module docs); the
/// reports go to `out` as with [`super::smtp::session`].
pub fn session<M: Read>(
    stream: &TcpStream,
    ip: Ipv4Addr,
    env: &Envelope<'_>,
    nexthop: &[u8],
    tls: &RemoteTls,
    message: M,
    out: &mut Output,
) {
    let mut c = Conn::new(stream, stream, ip);
    let opening = opening(&mut c, env);
    match opening {
        Err(stop) => c.report(Err(stop), out),
        Ok(Opening::Done(letter, text)) => out.push(letter, &text),
        Ok(Opening::Plain) => {
            let r = c.transaction(env, message, out);
            c.report(r, out);
        }
        Ok(Opening::Tls) => {
            // A server that sent more after its 220 is either broken or
            // injecting plaintext into the TLS session (RFC 3207 §4.2).
            if c.buffered() > 0 {
                out.push(b'Z', &tls_failed(ip, "data after the 220 to STARTTLS"));
                return;
            }
            drop(c);
            over_tls(stream, ip, env, nexthop, tls, message, out);
        }
    }
}

fn opening<R: Read, W: Write>(c: &mut Conn<R, W>, env: &Envelope<'_>) -> Result<Opening, Stop> {
    if c.code()? != 220 {
        let (l, t) = c.quit("ZConnected to ", " but greeting failed")?;
        return Ok(Opening::Done(l, t));
    }
    if c.command(&[b"EHLO ", env.helohost, b"\r\n"])? != 250 {
        if c.command(&[b"HELO ", env.helohost, b"\r\n"])? != 250 {
            let (l, t) = c.quit("ZConnected to ", " but my name was rejected")?;
            return Ok(Opening::Done(l, t));
        }
        return Ok(Opening::Plain);
    }
    if !offers_starttls(c.text()) {
        return Ok(Opening::Plain);
    }
    if c.command(&[b"STARTTLS\r\n"])? != 220 {
        return Ok(Opening::Plain);
    }
    Ok(Opening::Tls)
}

fn over_tls<M: Read>(
    stream: &TcpStream,
    ip: Ipv4Addr,
    env: &Envelope<'_>,
    nexthop: &[u8],
    tls: &RemoteTls,
    message: M,
    out: &mut Output,
) {
    let name = server_name(nexthop, ip);
    let mut conn = match rustls::ClientConnection::new(tls.config.clone(), name) {
        Ok(conn) => conn,
        Err(e) => return out.push(b'Z', &tls_failed(ip, &e.to_string())),
    };
    let mut sock = stream;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return out.push(b'Z', &tls_failed(ip, &e.to_string()));
        }
    }
    let tls_stream = RefCell::new(rustls::StreamOwned::new(conn, sock));
    let mut c = Conn::new(Shared(&tls_stream), Shared(&tls_stream), ip);
    let r = (|| {
        if c.command(&[b"EHLO ", env.helohost, b"\r\n"])? != 250 {
            return c.quit("ZConnected to ", " but my name was rejected");
        }
        c.transaction(env, message, out)
    })();
    c.report(r, out);
}

/// One TLS stream used as both the reader and the writer of a [`Conn`]
/// (they are never used at the same time: the dialogue is lock-step).
struct Shared<'a, S>(&'a RefCell<S>);

impl<S: Read> Read for Shared<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl<S: Write> Write for Shared<'_, S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttls_is_found_on_any_line_of_the_ehlo_reply() {
        assert!(offers_starttls(b"250-x\n250-PIPELINING\n250 STARTTLS\n"));
        assert!(offers_starttls(b"250-x\n250-starttls \n250 SIZE 5\n"));
        assert!(!offers_starttls(b"250-x\n250 STARTTLSX\n"));
        assert!(!offers_starttls(b"250 x STARTTLS\n"));
    }

    #[test]
    fn server_names_from_the_next_hop() {
        let ip = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(
            server_name(b"mx.example.org", ip),
            ServerName::try_from("mx.example.org").unwrap()
        );
        assert_eq!(
            server_name(b"[127.0.0.1]", ip),
            ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into())
        );
        assert_eq!(
            server_name(b"bad name!", ip),
            ServerName::IpAddress(IpAddr::V4(ip).into())
        );
    }

    #[test]
    fn failure_text_is_qmail_like_and_safe() {
        assert_eq!(
            tls_failed(Ipv4Addr::new(1, 2, 3, 4), "bad\ncert\u{e9}"),
            b"TLS connect failed: bad?cert??; connected to 1.2.3.4. (#4.4.2)\n"
        );
    }

    #[test]
    fn controls_decide_policy() {
        let d = tempfile::tempdir().unwrap();
        let c = ControlDir::new(d.path());
        assert!(RemoteTls::load(&c).unwrap().is_none());
        std::fs::write(d.path().join("remotetls"), "").unwrap();
        assert!(!RemoteTls::load(&c).unwrap().unwrap().verify);
        let ca = d.path().join("ca.pem");
        std::fs::write(
            d.path().join("remotetlsverify"),
            format!("{}\n", ca.display()),
        )
        .unwrap();
        assert!(matches!(
            RemoteTls::load(&c),
            Err(TlsControlError::CaFile { .. })
        ));
        std::fs::write(&ca, "not pem\n").unwrap();
        assert!(matches!(
            RemoteTls::load(&c),
            Err(TlsControlError::CaFile { .. })
        ));
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(&ca, ck.cert.pem()).unwrap();
        assert!(RemoteTls::load(&c).unwrap().unwrap().verify);
    }
}
