//! From a host name to the ordered list of addresses to try (spec §6.3):
//! qmail's `dns_ip`, `dns_mxip` and the best-MX rule of `qmail-remote.c`.
//!
//! Hand-written rather than left to a resolver's "lookup MX then A" helper
//! because the order, the shuffle and the soft/hard bookkeeping are all
//! observable: which host is tried first, and which of `#4.1.2`, `#5.1.2`
//! and `#5.4.4` a bounce carries.

use std::net::Ipv4Addr;

use super::dns::{Dns, DnsError, Mx};

/// One address to try, with the preference of the MX that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub ip: Ipv4Addr,
    pub pref: u32,
}

/// The outcome of `dns_mxip` when the MX query itself did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxTargets {
    pub targets: Vec<Target>,
    /// Some MX host's address lookup failed temporarily.
    pub soft: bool,
}

/// qmail's `ip_scan`: `d.d.d.d`, each part leading decimal digits taken
/// modulo 256; returns the address and the bytes consumed.
fn ip_scan(s: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut d = [0u8; 4];
    let mut pos = 0;
    for (k, part) in d.iter_mut().enumerate() {
        if k > 0 {
            if s.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
        let start = pos;
        let mut u: u64 = 0;
        while let Some(&c) = s.get(pos).filter(|c| c.is_ascii_digit()) {
            u = u.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            pos += 1;
        }
        if pos == start {
            return None;
        }
        *part = u as u8;
    }
    Some((Ipv4Addr::from(d), pos))
}

/// An IPv4 literal host, bare (`1.2.3.4`) or bracketed (`[1.2.3.4]`),
/// the whole string and nothing else, as `dns_ipplus` accepts it.
/// Hand-written: `Ipv4Addr::from_str` rejects `01.2.3.4` and `1.2.3.300`,
/// which qmail accepts (the latter as `1.2.3.44`).
pub fn literal(host: &[u8]) -> Option<Ipv4Addr> {
    if let Some((ip, n)) = ip_scan(host) {
        if n == host.len() {
            return Some(ip);
        }
    }
    let inner = host.strip_prefix(b"[")?;
    let (ip, n) = ip_scan(inner)?;
    (inner.get(n) == Some(&b']') && n + 2 == host.len()).then_some(ip)
}

/// `dns_ipplus`: a literal (always preference 0, even as an MX target:
/// `dns.c` never sets the MX preference on that path), else the A records.
fn ip_plus(
    dns: &mut dyn Dns,
    host: &[u8],
    pref: u32,
    out: &mut Vec<Target>,
) -> Result<(), DnsError> {
    if let Some(ip) = literal(host) {
        out.push(Target { ip, pref: 0 });
        return Ok(());
    }
    out.extend(dns.a(host)?.into_iter().map(|ip| Target { ip, pref }));
    Ok(())
}

/// `dns_ip`: the addresses of `host` itself (a literal, or its A records).
pub fn dns_ip(dns: &mut dyn Dns, host: &[u8]) -> Result<Vec<Target>, DnsError> {
    let mut v = Vec::new();
    ip_plus(dns, host, 0, &mut v)?;
    Ok(v)
}

/// The seed of the equal-preference shuffle: `now() + (getpid() << 16)`,
/// with C's int shift and unsigned-long wrap-around.
pub fn seed(now: u64, pid: u32) -> u64 {
    let shifted = (pid as i32).wrapping_shl(16);
    now.wrapping_add(i64::from(shifted) as u64)
}

/// `dns_mxip`. `Err` when the MX query failed softly, or when it failed
/// hard and so did the A fallback. Equal preferences are picked in
/// qmail's pseudo-random order (LCG ×69069+1 on a 64-bit `unsigned long`).
pub fn dns_mxip(dns: &mut dyn Dns, host: &[u8], mut random: u64) -> Result<MxTargets, DnsError> {
    if literal(host).is_some() {
        return Ok(MxTargets {
            targets: dns_ip(dns, host)?,
            soft: false,
        });
    }
    let mut mx: Vec<Mx> = match dns.mx(host) {
        Ok(v) => v,
        Err(DnsError::Soft) => return Err(DnsError::Soft),
        Err(DnsError::Hard) => {
            return Ok(MxTargets {
                targets: dns_ip(dns, host)?,
                soft: false,
            })
        }
    };
    if mx.is_empty() {
        // e.g. a CNAME answer without MX records
        return Ok(MxTargets {
            targets: dns_ip(dns, host)?,
            soft: false,
        });
    }
    let mut targets = Vec::new();
    let mut soft = false;
    while !mx.is_empty() {
        let mut i = 0;
        let mut numsame: u64 = 1;
        for j in 1..mx.len() {
            if mx[j].pref < mx[i].pref {
                i = j;
                numsame = 1;
            } else if mx[j].pref == mx[i].pref {
                numsame += 1;
                random = random.wrapping_mul(69069).wrapping_add(1);
                if random / 2 < 2147483647 / numsame {
                    i = j;
                }
            }
        }
        let picked = mx.swap_remove(i);
        if ip_plus(dns, &picked.host, u32::from(picked.pref), &mut targets) == Err(DnsError::Soft) {
            soft = true;
        }
    }
    Ok(MxTargets { targets, soft })
}

/// The best-MX rule: `prefme` is the lowest preference among our own
/// addresses (100000 if none), or 300000 for a routed delivery; only
/// targets strictly below it are tried. `None` when nothing is left
/// (the `#5.4.6` bounce).
pub fn usable(
    targets: &[Target],
    is_me: impl Fn(Ipv4Addr) -> bool,
    routed: bool,
) -> Option<Vec<Target>> {
    let mut prefme = 100000;
    for t in targets {
        if is_me(t.ip) && t.pref < prefme {
            prefme = t.pref;
        }
    }
    if routed {
        prefme = 300000;
    }
    let left: Vec<Target> = targets
        .iter()
        .copied()
        .filter(|t| t.pref < prefme)
        .collect();
    (!left.is_empty()).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct FakeDns {
        mx: HashMap<Vec<u8>, Result<Vec<Mx>, DnsError>>,
        a: HashMap<Vec<u8>, Result<Vec<Ipv4Addr>, DnsError>>,
        asked: Vec<String>,
    }

    impl FakeDns {
        fn mx(mut self, name: &str, r: Result<&[(u16, &str)], DnsError>) -> Self {
            let r = r.map(|v| {
                v.iter()
                    .map(|&(pref, h)| Mx {
                        pref,
                        host: h.as_bytes().to_vec(),
                    })
                    .collect()
            });
            self.mx.insert(name.as_bytes().to_vec(), r);
            self
        }
        fn a(mut self, name: &str, r: Result<&[[u8; 4]], DnsError>) -> Self {
            let r = r.map(|v| v.iter().map(|&d| Ipv4Addr::from(d)).collect());
            self.a.insert(name.as_bytes().to_vec(), r);
            self
        }
    }

    impl Dns for FakeDns {
        fn mx(&mut self, name: &[u8]) -> Result<Vec<Mx>, DnsError> {
            self.asked
                .push(format!("MX {}", String::from_utf8_lossy(name)));
            self.mx.get(name).cloned().unwrap_or(Err(DnsError::Hard))
        }
        fn a(&mut self, name: &[u8]) -> Result<Vec<Ipv4Addr>, DnsError> {
            self.asked
                .push(format!("A {}", String::from_utf8_lossy(name)));
            self.a.get(name).cloned().unwrap_or(Err(DnsError::Hard))
        }
    }

    fn t(d: [u8; 4], pref: u32) -> Target {
        Target {
            ip: Ipv4Addr::from(d),
            pref,
        }
    }

    #[test]
    fn literals_as_qmail_scans_them() {
        assert_eq!(literal(b"1.2.3.4"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(literal(b"[1.2.3.4]"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(literal(b"01.2.3.300"), Some(Ipv4Addr::new(1, 2, 3, 44)));
        assert_eq!(literal(b"1.2.3"), None);
        assert_eq!(literal(b"1.2.3.4.example"), None);
        assert_eq!(literal(b"[1.2.3.4]x"), None);
        assert_eq!(literal(b"[1.2.3.4"), None);
        assert_eq!(literal(b""), None);
    }

    #[test]
    fn literal_host_asks_nothing() {
        let mut dns = FakeDns::default();
        let r = dns_mxip(&mut dns, b"[127.0.0.1]", 1).unwrap();
        assert_eq!(r.targets, vec![t([127, 0, 0, 1], 0)]);
        assert!(dns.asked.is_empty());
    }

    #[test]
    fn mx_sorted_by_preference_each_with_its_addresses() {
        let mut dns = FakeDns::default()
            .mx("x.org", Ok(&[(20, "b.x.org"), (10, "a.x.org")]))
            .a("a.x.org", Ok(&[[10, 0, 0, 1], [10, 0, 0, 2]]))
            .a("b.x.org", Ok(&[[10, 0, 0, 3]]));
        let r = dns_mxip(&mut dns, b"x.org", 7).unwrap();
        assert_eq!(
            r.targets,
            vec![
                t([10, 0, 0, 1], 10),
                t([10, 0, 0, 2], 10),
                t([10, 0, 0, 3], 20)
            ]
        );
        assert!(!r.soft);
    }

    #[test]
    fn no_mx_falls_back_to_a_and_nxdomain_is_hard() {
        let mut dns = FakeDns::default().a("x.org", Ok(&[[10, 0, 0, 9]]));
        assert_eq!(
            dns_mxip(&mut dns, b"x.org", 0).unwrap().targets,
            vec![t([10, 0, 0, 9], 0)]
        );
        let mut dns = FakeDns::default();
        assert_eq!(dns_mxip(&mut dns, b"nope.org", 0), Err(DnsError::Hard));
        assert_eq!(dns.asked, vec!["MX nope.org", "A nope.org"]);
        let mut dns = FakeDns::default().mx("x.org", Ok(&[]));
        assert_eq!(dns_mxip(&mut dns, b"x.org", 0), Err(DnsError::Hard));
    }

    #[test]
    fn soft_mx_failure_is_soft_and_soft_target_is_remembered() {
        let mut dns = FakeDns::default().mx("x.org", Err(DnsError::Soft));
        assert_eq!(dns_mxip(&mut dns, b"x.org", 0), Err(DnsError::Soft));
        let mut dns = FakeDns::default()
            .mx(
                "x.org",
                Ok(&[(10, "gone.x.org"), (20, "slow.x.org"), (30, "ok.x.org")]),
            )
            .a("slow.x.org", Err(DnsError::Soft))
            .a("ok.x.org", Ok(&[[10, 0, 0, 1]]));
        let r = dns_mxip(&mut dns, b"x.org", 0).unwrap();
        assert_eq!(r.targets, vec![t([10, 0, 0, 1], 30)]);
        assert!(r.soft);
    }

    #[test]
    fn literal_mx_target_gets_preference_zero() {
        let mut dns = FakeDns::default().mx("x.org", Ok(&[(10, "127.0.0.1")]));
        let r = dns_mxip(&mut dns, b"x.org", 0).unwrap();
        assert_eq!(r.targets, vec![t([127, 0, 0, 1], 0)]);
    }

    #[test]
    fn equal_preferences_follow_the_lcg() {
        // Reference values computed by hand from dns.c's loop: with seed 0
        // the first draw is 1 (1/2 = 0 < 2147483647/2) so the second record
        // is taken first; the next round has only one record left.
        let mut dns = FakeDns::default()
            .mx("x.org", Ok(&[(10, "a"), (10, "b")]))
            .a("a", Ok(&[[10, 0, 0, 1]]))
            .a("b", Ok(&[[10, 0, 0, 2]]));
        let r = dns_mxip(&mut dns, b"x.org", 0).unwrap();
        assert_eq!(r.targets, vec![t([10, 0, 0, 2], 10), t([10, 0, 0, 1], 10)]);
        // With a seed whose draw is large the first record stays first.
        let big = (u64::MAX - 1) / 69069;
        let mut dns = FakeDns::default()
            .mx("x.org", Ok(&[(10, "a"), (10, "b")]))
            .a("a", Ok(&[[10, 0, 0, 1]]))
            .a("b", Ok(&[[10, 0, 0, 2]]));
        let r = dns_mxip(&mut dns, b"x.org", big).unwrap();
        assert_eq!(r.targets[0], t([10, 0, 0, 1], 10));
    }

    #[test]
    fn seed_matches_c_arithmetic() {
        assert_eq!(seed(1000, 1), 1000 + 65536);
        // pid << 16 overflows int for pid >= 32768 and goes negative.
        assert_eq!(seed(1 << 40, 32768), (1u64 << 40) - (1 << 31));
    }

    #[test]
    fn best_mx_rule() {
        let me = |ip: Ipv4Addr| ip == Ipv4Addr::new(127, 0, 0, 1);
        let ts = vec![
            t([10, 0, 0, 1], 5),
            t([127, 0, 0, 1], 10),
            t([10, 0, 0, 2], 20),
        ];
        assert_eq!(usable(&ts, me, false), Some(vec![t([10, 0, 0, 1], 5)]));
        assert_eq!(usable(&ts, me, true).unwrap().len(), 3);
        let ts = vec![t([127, 0, 0, 1], 10), t([10, 0, 0, 2], 20)];
        assert_eq!(usable(&ts, me, false), None);
        let ts = vec![t([10, 0, 0, 2], 0)];
        assert_eq!(usable(&ts, me, false), Some(ts.clone()));
    }
}
