//! `control/smtproutes` (spec §6.2).
//!
//! Lines are `domain:relay` or `domain:relay:port`. For a recipient host
//! `H` the keys tried are `H`, then each dot-suffix of `H` longest first
//! (`.b.c`, `.c`), then the empty key; the first key present wins. Keys
//! match case-insensitively. A present key with an empty relay means "no
//! route, use MX" (an exception to a broader rule).
//!
//! Two details follow qmail's `constmap` rather than anything written in
//! the spec: lines without a `:` are ignored, and when the same key appears
//! twice the *last* line wins (constmap chains later entries in front).
//! The port is read as `scan_ulong` reads it (leading digits; none → the
//! default), and truncated to 16 bits as `timeoutconn` does.

/// Where a routed delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The relay host: a name (A lookup only) or an IPv4 literal.
    pub relay: Vec<u8>,
    /// The port from `:port`, if the line had one with leading digits.
    pub port: Option<u16>,
}

/// The parsed smtproutes table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    /// (key, value) in file order.
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Routes {
    /// Builds the table from the lines of `control/smtproutes` as
    /// [`crate::control::ControlDir::list`] returns them.
    pub fn from_lines(lines: &[String]) -> Routes {
        let entries = lines
            .iter()
            .filter_map(|l| {
                let (k, v) = l.as_bytes().split_at(l.find(':')?);
                Some((k.to_vec(), v[1..].to_vec()))
            })
            .collect();
        Routes { entries }
    }

    /// The value stored for `key`, last matching line first.
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_slice())
    }

    /// The route for recipient host `host`, or `None` for normal MX routing
    /// (no key matched, or the first matching key has an empty relay).
    pub fn lookup(&self, host: &[u8]) -> Option<Route> {
        let mut value = None;
        for i in 0..=host.len() {
            if i == 0 || i == host.len() || host[i] == b'.' {
                if let Some(v) = self.get(&host[i..]) {
                    value = Some(v);
                    break;
                }
            }
        }
        let value = value.filter(|v| !v.is_empty())?;
        Some(match value.iter().position(|&c| c == b':') {
            Some(i) => Route {
                relay: value[..i].to_vec(),
                port: scan_port(&value[i + 1..]),
            },
            None => Route {
                relay: value.to_vec(),
                port: None,
            },
        })
    }
}

/// `scan_ulong` then `(unsigned int)` then `htons`: leading decimal digits,
/// wrapping, low 16 bits; no digits → `None` (the default port stays).
fn scan_port(s: &[u8]) -> Option<u16> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit());
    let mut n: u64 = 0;
    let mut any = false;
    for &d in digits {
        any = true;
        n = n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
    }
    any.then_some(n as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(lines: &[&str]) -> Routes {
        Routes::from_lines(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn route(relay: &str, port: Option<u16>) -> Option<Route> {
        Some(Route {
            relay: relay.as_bytes().to_vec(),
            port,
        })
    }

    #[test]
    fn exact_then_suffixes_then_default() {
        let r = routes(&[
            "a.b.c:exact",
            ".b.c:suffix:2525",
            ":[127.0.0.1]:26",
            "nocolon",
        ]);
        assert_eq!(r.lookup(b"A.B.C"), route("exact", None));
        assert_eq!(r.lookup(b"x.b.c"), route("suffix", Some(2525)));
        assert_eq!(r.lookup(b"b.c"), route("[127.0.0.1]", Some(26)));
        assert_eq!(r.lookup(b"other.org"), route("[127.0.0.1]", Some(26)));
    }

    #[test]
    fn empty_relay_is_an_exception_to_the_default() {
        let r = routes(&[":relay.example", "direct.example:"]);
        assert_eq!(r.lookup(b"direct.example"), None);
        assert_eq!(
            r.lookup(b"sub.direct.example"),
            route("relay.example", None)
        );
    }

    #[test]
    fn no_table_means_no_route() {
        assert_eq!(Routes::default().lookup(b"x.org"), None);
    }

    #[test]
    fn later_duplicate_key_wins_as_in_constmap() {
        let r = routes(&["x.org:first", "X.ORG:second"]);
        assert_eq!(r.lookup(b"x.org"), route("second", None));
    }

    #[test]
    fn port_is_scanned_like_scan_ulong() {
        let r = routes(&["a:h:25x", "b:h:junk", "c:h:65561", "d:h:2525:9"]);
        assert_eq!(r.lookup(b"a"), route("h", Some(25)));
        assert_eq!(r.lookup(b"b"), route("h", None));
        assert_eq!(r.lookup(b"c"), route("h", Some(25)));
        assert_eq!(r.lookup(b"d"), route("h", Some(2525)));
    }
}
