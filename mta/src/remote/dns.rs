//! DNS queries for qmail-remote: MX and A, nothing else (spec §6.3).
//!
//! [`Dns`] is the two questions qmail's `dns.c` asks, with its two kinds of
//! failure; [`mx`](super::mx) builds the target list on top of it and is
//! unit-tested with a fake. [`HickoryDns`] answers them with
//! `hickory-resolver` on a current-thread tokio runtime that lives only
//! for this process.
//!
//! Hard vs soft follows `res_query`'s `h_errno` as `dns.c` maps it: the
//! name does not exist (NXDOMAIN), exists without that type (NODATA), or
//! the server refused / could not parse the query → **hard**; SERVFAIL,
//! timeouts and network errors (`TRY_AGAIN`, `ECONNREFUSED`) → **soft**.
//!
//! Names are always queried as absolute names, as `res_query` does: no
//! search list, no `/etc/hosts`. No CNAME canonicalisation and no `ANY`
//! queries (notqmail, deliberately; see [`super`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{Name, ResolveError, TokioResolver};

/// Why a query gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name (or that record type) does not exist: permanent.
    #[error("permanent DNS failure")]
    Hard,
    /// Try again later.
    #[error("temporary DNS failure")]
    Soft,
}

impl DnsError {
    pub fn is_permanent(self) -> bool {
        self == DnsError::Hard
    }
}

/// One MX record, in the order the answer gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub pref: u16,
    /// The exchange, without the trailing dot.
    pub host: Vec<u8>,
}

/// The two questions qmail-remote asks.
pub trait Dns {
    /// MX records of `name`. `Ok(vec![])` is an answer without MX records
    /// (for example only a CNAME), which qmail treats like "no MX".
    fn mx(&mut self, name: &[u8]) -> Result<Vec<Mx>, DnsError>;
    /// A records of `name` (CNAMEs followed by the resolver).
    fn a(&mut self, name: &[u8]) -> Result<Vec<Ipv4Addr>, DnsError>;
}

/// The resolver could not be set up (no runtime).
#[derive(Debug, thiserror::Error)]
#[error("unable to start the DNS resolver: {0}")]
pub struct DnsSetupError(#[from] std::io::Error);

/// [`HickoryDns`] built on the first question. A delivery to an address
/// literal (an `smtproutes` relay given by IP, `[1.2.3.4]`) asks none,
/// and a resolver costs a runtime and a read of resolv.conf per delivery.
/// When it cannot be built, every question fails softly and
/// [`LazyDns::failed`] says why, so the caller can report it as qmail
/// reports a failed setup.
pub struct LazyDns {
    servers: Option<Vec<SocketAddr>>,
    dns: Option<HickoryDns>,
    pub failed: bool,
}

impl LazyDns {
    pub fn new(servers: Option<&[SocketAddr]>) -> LazyDns {
        LazyDns {
            servers: servers.map(<[SocketAddr]>::to_vec),
            dns: None,
            failed: false,
        }
    }

    fn get(&mut self) -> Option<&mut HickoryDns> {
        if self.dns.is_none() && !self.failed {
            match HickoryDns::new(self.servers.as_deref()) {
                Ok(d) => self.dns = Some(d),
                Err(_) => self.failed = true,
            }
        }
        self.dns.as_mut()
    }
}

impl Dns for LazyDns {
    fn mx(&mut self, name: &[u8]) -> Result<Vec<Mx>, DnsError> {
        self.get().ok_or(DnsError::Soft)?.mx(name)
    }
    fn a(&mut self, name: &[u8]) -> Result<Vec<Ipv4Addr>, DnsError> {
        self.get().ok_or(DnsError::Soft)?.a(name)
    }
}

/// [`Dns`] over hickory-resolver.
pub struct HickoryDns {
    rt: tokio::runtime::Runtime,
    resolver: TokioResolver,
}

impl HickoryDns {
    /// Asks `servers` (UDP, TCP when truncated), or when `None` the servers
    /// of the system configuration; if that cannot be read, 127.0.0.1:53,
    /// which is what the C resolver falls back to as well.
    pub fn new(servers: Option<&[SocketAddr]>) -> Result<HickoryDns, DnsSetupError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (config, mut opts) = match servers {
            Some(list) => (config_for(list), ResolverOpts::default()),
            None => hickory_resolver::system_conf::read_system_conf().unwrap_or_else(|_| {
                (
                    config_for(&[SocketAddr::from(([127, 0, 0, 1], 53))]),
                    ResolverOpts::default(),
                )
            }),
        };
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        opts.cache_size = 64;
        opts.timeout = Duration::from_secs(5);
        let resolver = {
            // Building the resolver spawns nothing, but hickory expects to
            // be inside a runtime context when it later creates sockets.
            let _guard = rt.enter();
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(opts)
                .build()
        };
        Ok(HickoryDns { rt, resolver })
    }
}

fn config_for(servers: &[SocketAddr]) -> ResolverConfig {
    let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
    for &sa in servers {
        config.add_name_server(NameServerConfig::new(sa, Protocol::Udp));
        config.add_name_server(NameServerConfig::new(sa, Protocol::Tcp));
    }
    config
}

/// An absolute name for `name`, or `None` if it cannot be one (a hard
/// failure, as `res_query` would report).
fn absolute(name: &[u8]) -> Option<Name> {
    let s = std::str::from_utf8(name).ok()?;
    if s.is_empty() || s == "." {
        return None;
    }
    let mut n = Name::from_ascii(s).ok()?;
    n.set_fqdn(true);
    Some(n)
}

fn classify(e: &ResolveError) -> DnsError {
    if let Some(p) = e.proto() {
        if let ProtoErrorKind::NoRecordsFound { response_code, .. } = p.kind() {
            return match *response_code {
                ResponseCode::NXDomain
                | ResponseCode::NoError
                | ResponseCode::FormErr
                | ResponseCode::NotImp
                | ResponseCode::Refused => DnsError::Hard,
                _ => DnsError::Soft,
            };
        }
    }
    DnsError::Soft
}

impl Dns for HickoryDns {
    fn mx(&mut self, name: &[u8]) -> Result<Vec<Mx>, DnsError> {
        let n = absolute(name).ok_or(DnsError::Hard)?;
        let lookup = self
            .rt
            .block_on(self.resolver.mx_lookup(n))
            .map_err(|e| classify(&e))?;
        Ok(lookup
            .iter()
            .map(|mx| {
                let mut host = mx.exchange().to_ascii().into_bytes();
                if host.last() == Some(&b'.') {
                    host.pop();
                }
                Mx {
                    pref: mx.preference(),
                    host,
                }
            })
            .collect())
    }

    fn a(&mut self, name: &[u8]) -> Result<Vec<Ipv4Addr>, DnsError> {
        let n = absolute(name).ok_or(DnsError::Hard)?;
        let lookup = self
            .rt
            .block_on(self.resolver.ipv4_lookup(n))
            .map_err(|e| classify(&e))?;
        Ok(lookup.iter().map(|a| a.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_absolute_and_bad_names_are_hard() {
        assert_eq!(absolute(b"example.org").unwrap().to_ascii(), "example.org.");
        assert_eq!(
            absolute(b"example.org.").unwrap().to_ascii(),
            "example.org."
        );
        assert!(absolute(b"").is_none());
        assert!(absolute(b"\xff.org").is_none());
    }
}
