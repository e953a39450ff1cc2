//! Everything qmail-smtpd reads at start-up (spec §7.1, §9), as one
//! immutable snapshot, plus the per-connection facts from the environment
//! tcpserver (or tcp-env, or `sendmail -bs`) sets.

use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;

use crate::control::{ControlDir, ControlError};
use crate::smtpd::extensions::Extensions;
use crate::smtpd::relay::{BadMailFrom, RcptHosts};

/// The controls qmail-smtpd reads.
pub struct SmtpdControls {
    /// First line of `smtpgreeting`, else `me`.
    pub greeting: Vec<u8>,
    /// `localiphost`, else `me`; `None` disables the `[ip]` rewrite.
    pub localiphost: Option<Vec<u8>>,
    /// `timeoutsmtpd` seconds (default 1200; 0 becomes 1).
    pub timeout: u64,
    pub rcpthosts: RcptHosts,
    pub badmailfrom: BadMailFrom,
    /// `databytes` (0 = no limit), before the `DATABYTES` override.
    pub databytes: u64,
    /// This host's IPv4 addresses, for the `[ip]` rewrite (qmail's ipme).
    pub local_ips: Vec<Ipv4Addr>,
    /// STARTTLS, AUTH (off unless their control files exist).
    pub extensions: Extensions,
}

/// Why qmail-smtpd cannot start; the reply replaces the greeting.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Controls(#[from] ControlError),
    #[error("neither control/smtpgreeting nor control/me exists")]
    NoGreeting,
    #[error("unable to change to the qmail home: {0}")]
    Home(#[source] std::io::Error),
    #[error("unable to list network interfaces: {0}")]
    IpMe(#[source] nix::Error),
}

impl StartupError {
    /// The reply qmail sends instead of its greeting (then it exits 1).
    pub fn reply(&self) -> &'static [u8] {
        match self {
            StartupError::IpMe(_) => b"421 unable to figure out my IP addresses (#4.3.0)\r\n",
            _ => b"421 unable to read controls (#4.3.0)\r\n",
        }
    }
}

impl SmtpdControls {
    /// Reads the controls in qmail's order, then this host's addresses.
    pub fn load(c: &ControlDir) -> Result<SmtpdControls, StartupError> {
        let me = c.me()?;
        let greeting = match c.line("smtpgreeting")? {
            Some(g) => g,
            None => me.clone().ok_or(StartupError::NoGreeting)?,
        };
        let localiphost = c.line("localiphost")?.or(me);
        let timeout = c.number("timeoutsmtpd", 1200)?.max(1);
        let rcpthosts = RcptHosts::load(c)?;
        let badmailfrom = BadMailFrom::load(c)?;
        let databytes = c.number("databytes", 0)?;
        let extensions = Extensions::load(c)?;
        let local_ips = local_ips().map_err(StartupError::IpMe)?;
        Ok(SmtpdControls {
            greeting: greeting.into_bytes(),
            localiphost: localiphost.map(String::into_bytes),
            timeout,
            rcpthosts,
            badmailfrom,
            databytes,
            local_ips,
            extensions,
        })
    }

    /// Is `ip` an address of this host? netqmail also counts 0.0.0.0.
    pub fn is_me(&self, ip: Ipv4Addr) -> bool {
        ip.is_unspecified() || self.local_ips.contains(&ip)
    }
}

/// The IPv4 addresses of every interface (qmail's `ipme_init`).
pub fn local_ips() -> Result<Vec<Ipv4Addr>, nix::Error> {
    let mut v = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        if let Some(sin) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
            v.push(sin.ip());
        }
    }
    Ok(v)
}

/// qmail's `scan_ulong` on `DATABYTES`: leading digits, else 0.
fn scan_number(s: &[u8]) -> u64 {
    s.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u64, |v, &c| {
            v.saturating_mul(10).saturating_add(u64::from(c - b'0'))
        })
}

/// What the environment says about this connection (spec §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `TCPREMOTEIP`, else `unknown`.
    pub remote_ip: Vec<u8>,
    /// `TCPREMOTEHOST`, else `unknown`.
    pub remote_host: Vec<u8>,
    /// `TCPREMOTEINFO`, if set.
    pub remote_info: Option<Vec<u8>>,
    /// `TCPLOCALHOST`, else `TCPLOCALIP`, else `unknown`.
    pub local: Vec<u8>,
    /// `RELAYCLIENT`, if set (even empty): appended to every recipient,
    /// and rcpthosts is not consulted.
    pub relay_client: Option<Vec<u8>>,
    /// `DATABYTES`, if set: overrides `control/databytes`.
    pub databytes: Option<u64>,
}

impl Peer {
    /// Reads the variables through `get` (the process environment in
    /// [`Peer::from_env`]; a map in tests and in a built-in listener).
    pub fn from_vars(get: impl Fn(&str) -> Option<Vec<u8>>) -> Peer {
        let unknown = || b"unknown".to_vec();
        Peer {
            remote_ip: get("TCPREMOTEIP").unwrap_or_else(unknown),
            remote_host: get("TCPREMOTEHOST").unwrap_or_else(unknown),
            remote_info: get("TCPREMOTEINFO"),
            local: get("TCPLOCALHOST")
                .or_else(|| get("TCPLOCALIP"))
                .unwrap_or_else(unknown),
            relay_client: get("RELAYCLIENT"),
            databytes: get("DATABYTES").map(|v| scan_number(&v)),
        }
    }

    pub fn from_env() -> Peer {
        Peer::from_vars(|k| std::env::var_os(k).map(|v| v.as_bytes().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, ControlDir) {
        let d = tempfile::tempdir().unwrap();
        let c = ControlDir::new(d.path());
        (d, c)
    }

    #[test]
    fn greeting_falls_back_to_me_and_is_required() {
        let (d, c) = dir();
        assert!(matches!(
            SmtpdControls::load(&c),
            Err(StartupError::NoGreeting)
        ));
        std::fs::write(d.path().join("me"), "me.example\n").unwrap();
        let s = SmtpdControls::load(&c).unwrap();
        assert_eq!(s.greeting, b"me.example");
        assert_eq!(s.localiphost.as_deref(), Some(&b"me.example"[..]));
        assert_eq!(s.timeout, 1200);
        assert_eq!(s.databytes, 0);
        std::fs::write(d.path().join("smtpgreeting"), "mx.example ready  \n").unwrap();
        std::fs::write(d.path().join("timeoutsmtpd"), "0\n").unwrap();
        std::fs::write(d.path().join("databytes"), "10\n").unwrap();
        let s = SmtpdControls::load(&c).unwrap();
        assert_eq!(s.greeting, b"mx.example ready");
        assert_eq!(s.timeout, 1);
        assert_eq!(s.databytes, 10);
        assert!(s.is_me(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn unreadable_control_is_a_startup_error() {
        let (d, c) = dir();
        std::fs::write(d.path().join("me"), "me.example\n").unwrap();
        std::fs::create_dir(d.path().join("rcpthosts")).unwrap();
        let e = SmtpdControls::load(&c).err().unwrap();
        assert_eq!(e.reply(), b"421 unable to read controls (#4.3.0)\r\n");
    }

    #[test]
    fn peer_defaults_and_overrides() {
        let p = Peer::from_vars(|_| None);
        assert_eq!(p.remote_ip, b"unknown");
        assert_eq!(p.local, b"unknown");
        assert_eq!(p.relay_client, None);
        let p = Peer::from_vars(|k| match k {
            "TCPLOCALIP" => Some(b"127.0.0.1".to_vec()),
            "RELAYCLIENT" => Some(Vec::new()),
            "DATABYTES" => Some(b"12abc".to_vec()),
            _ => None,
        });
        assert_eq!(p.local, b"127.0.0.1");
        assert_eq!(p.relay_client, Some(Vec::new()));
        assert_eq!(p.databytes, Some(12));
        let p = Peer::from_vars(|k| (k == "DATABYTES").then(|| b"x".to_vec()));
        assert_eq!(p.databytes, Some(0));
    }
}
