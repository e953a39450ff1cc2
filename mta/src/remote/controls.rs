//! The controls qmail-remote reads (spec §6.1, §9.2), validated into one
//! snapshot.
//!
//! qmail's own: `timeoutremote` (1200), `timeoutconnect` (60), `helohost`
//! (default `me`; neither → failure), `smtproutes`.
//!
//! Ours (extensions, documented in [`super`]):
//! - `dnsserver`: one `ip` or `ip:port` per line; the DNS servers to ask
//!   instead of the system's `resolv.conf`. Tests point it at a DNS server
//!   on loopback.
//! - `remotetls`, `remotetlsverify`: STARTTLS (see [`super::starttls`]).
//! - `remoteport`: the SMTP port for unrouted deliveries and for routes
//!   without `:port` (default 25, qmail's compiled-in `PORT_SMTP`). Tests
//!   use it to reach a sink on an unprivileged port through real MX
//!   routing.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::routes::Routes;
use super::starttls::{RemoteTls, TlsControlError};
use crate::control::{ControlDir, ControlError};

/// Everything qmail-remote reads from `control/`.
#[derive(Debug, Clone)]
pub struct RemoteControls {
    /// Per read and per write on the SMTP connection.
    pub timeout: Duration,
    /// For the TCP connect.
    pub timeout_connect: Duration,
    pub helohost: Vec<u8>,
    pub routes: Routes,
    /// `None`: use the system resolver configuration.
    pub dns_servers: Option<Vec<SocketAddr>>,
    pub port: u16,
    /// `control/remotetls` (ours): STARTTLS when offered; `None`:
    /// netqmail's HELO dialogue.
    pub tls: Option<RemoteTls>,
}

/// Any of these makes qmail-remote say `Unable to read control files.`
#[derive(Debug, thiserror::Error)]
pub enum ControlsError {
    #[error(transparent)]
    Read(#[from] ControlError),
    #[error("neither control/helohost nor control/me exists")]
    NoHelohost,
    #[error("control/dnsserver: not an address: {0}")]
    BadDnsServer(String),
    #[error(transparent)]
    Tls(#[from] TlsControlError),
}

impl ControlsError {
    /// qmail defers on every control problem.
    pub fn is_permanent(&self) -> bool {
        false
    }
}

impl RemoteControls {
    pub fn load(c: &ControlDir) -> Result<RemoteControls, ControlsError> {
        let helohost = match c.line("helohost")? {
            Some(h) => h,
            None => c.me()?.ok_or(ControlsError::NoHelohost)?,
        };
        let dns_servers = match c.list("dnsserver")? {
            Some(lines) => Some(
                lines
                    .iter()
                    .map(|l| parse_dns_server(l))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(RemoteControls {
            timeout: seconds(c.number("timeoutremote", 1200)?),
            timeout_connect: seconds(c.number("timeoutconnect", 60)?),
            helohost: helohost.into_bytes(),
            routes: Routes::from_lines(&c.list("smtproutes")?.unwrap_or_default()),
            dns_servers,
            port: c.number("remoteport", 25)? as u16,
            tls: RemoteTls::load(c)?,
        })
    }
}

/// qmail's timeouts are whole seconds; 0 means "don't wait", which std
/// cannot express, so it becomes the shortest wait std accepts.
fn seconds(n: u64) -> Duration {
    Duration::from_secs(n).max(Duration::from_millis(1))
}

fn parse_dns_server(line: &str) -> Result<SocketAddr, ControlsError> {
    let l = line.trim();
    if let Ok(sa) = l.parse::<SocketAddr>() {
        return Ok(sa);
    }
    l.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| ControlsError::BadDnsServer(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &str)]) -> (tempfile::TempDir, ControlDir) {
        let d = tempfile::tempdir().unwrap();
        for (n, c) in files {
            std::fs::write(d.path().join(n), c).unwrap();
        }
        let c = ControlDir::new(d.path());
        (d, c)
    }

    #[test]
    fn defaults_and_helohost_from_me() {
        let (_d, c) = dir(&[("me", "me.example\n")]);
        let r = RemoteControls::load(&c).unwrap();
        assert_eq!(r.timeout, Duration::from_secs(1200));
        assert_eq!(r.timeout_connect, Duration::from_secs(60));
        assert_eq!(r.helohost, b"me.example");
        assert_eq!(r.port, 25);
        assert!(r.dns_servers.is_none());
    }

    #[test]
    fn helohost_file_wins_and_neither_fails() {
        let (_d, c) = dir(&[("me", "me.example"), ("helohost", "helo.example")]);
        assert_eq!(RemoteControls::load(&c).unwrap().helohost, b"helo.example");
        let (_d, c) = dir(&[]);
        assert!(matches!(
            RemoteControls::load(&c),
            Err(ControlsError::NoHelohost)
        ));
    }

    #[test]
    fn dnsserver_takes_ip_or_ip_port() {
        let (_d, c) = dir(&[
            ("me", "m"),
            ("dnsserver", "127.0.0.1:5353\n# c\n10.0.0.1\n"),
            ("remoteport", "2525"),
            ("timeoutconnect", "1"),
        ]);
        let r = RemoteControls::load(&c).unwrap();
        assert_eq!(
            r.dns_servers.unwrap(),
            vec![
                "127.0.0.1:5353".parse::<SocketAddr>().unwrap(),
                "10.0.0.1:53".parse().unwrap()
            ]
        );
        assert_eq!(r.port, 2525);
        assert_eq!(r.timeout_connect, Duration::from_secs(1));
        let (_d, c) = dir(&[("me", "m"), ("dnsserver", "nonsense")]);
        assert!(matches!(
            RemoteControls::load(&c),
            Err(ControlsError::BadDnsServer(_))
        ));
    }
}
