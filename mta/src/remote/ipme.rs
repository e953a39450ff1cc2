//! "Which addresses are mine?" for the best-MX rule (spec §6.3, §12.2).
//!
//! qmail's `ipme.c` asks the kernel for every IPv4 address of every
//! interface that is up (`SIOCGIFCONF`), plus `0.0.0.0` (netqmail: "this
//! host, this network", RFC 1122 §3.2.1.3a). We ask `getifaddrs`, which
//! gives the same set on Linux and the BSDs.

use std::net::Ipv4Addr;

use nix::net::if_::InterfaceFlags;

/// This host's IPv4 addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipme {
    addrs: Vec<Ipv4Addr>,
}

impl Ipme {
    /// The addresses of the interfaces that are up, plus `0.0.0.0`.
    /// An error here is qmail-remote's `temp_oserr`.
    pub fn from_system() -> nix::Result<Ipme> {
        let mut addrs = vec![Ipv4Addr::UNSPECIFIED];
        for ifa in nix::ifaddrs::getifaddrs()? {
            if !ifa.flags.contains(InterfaceFlags::IFF_UP) {
                continue;
            }
            if let Some(sin) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
                addrs.push(sin.ip());
            }
        }
        Ok(Ipme { addrs })
    }

    /// A fixed set (for tests), `0.0.0.0` included as always.
    pub fn from_addrs(list: &[Ipv4Addr]) -> Ipme {
        let mut addrs = vec![Ipv4Addr::UNSPECIFIED];
        addrs.extend_from_slice(list);
        Ipme { addrs }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.addrs.contains(&ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_zero_are_mine() {
        let me = Ipme::from_system().unwrap();
        assert!(me.contains(Ipv4Addr::LOCALHOST));
        assert!(me.contains(Ipv4Addr::UNSPECIFIED));
        // 127.0.0.2 routes to lo on Linux but is not an interface address;
        // the end-to-end tests rely on that to reach a sink "elsewhere".
        assert!(!me.contains(Ipv4Addr::new(127, 0, 0, 2)));
    }

    #[test]
    fn fixed_set_includes_zero() {
        let me = Ipme::from_addrs(&[Ipv4Addr::new(192, 0, 2, 1)]);
        assert!(me.contains(Ipv4Addr::UNSPECIFIED));
        assert!(me.contains(Ipv4Addr::new(192, 0, 2, 1)));
    }
}
