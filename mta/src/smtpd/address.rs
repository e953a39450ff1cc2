//! Envelope addresses in MAIL and RCPT, parsed as qmail-smtpd's
//! `addrparse` does (spec §7.4).
//!
//! Hand-written on purpose: qmail's rules are deliberately loose (the
//! `FROM:`/`TO:` keyword is never checked, quotes and backslashes are just
//! removed, a source route is dropped) and a standard RFC 5321 parser
//! would reject or rewrite addresses qmail accepts.

use std::net::Ipv4Addr;

/// Addresses whose length plus a terminating NUL exceeds this are a
/// syntax error (qmail's `addr.len > 900`), so at most 899 bytes pass.
pub const MAX_ADDR_WITH_NUL: usize = 900;

/// How `[d.d.d.d]` literals naming this host are rewritten.
pub struct LocalIp<'a> {
    /// `control/localiphost` (or `me`); `None` disables the rewrite.
    pub localiphost: Option<&'a [u8]>,
    /// Is this an address of this host? (netqmail also counts 0.0.0.0.)
    pub is_me: &'a dyn Fn(Ipv4Addr) -> bool,
}

/// Parses the argument of MAIL or RCPT. `None` means
/// `555 syntax error (#5.5.4)`. `arg` must not contain NUL (the command
/// line was cut at the first NUL).
pub fn parse(arg: &[u8], local: &LocalIp<'_>) -> Option<Vec<u8>> {
    let (mut a, terminator) = match arg.iter().position(|&c| c == b'<') {
        Some(i) => (&arg[i + 1..], b'>'),
        None => {
            // "partner should go read rfc 821": after the first colon,
            // spaces skipped, up to the first unquoted space.
            let mut a = match arg.iter().position(|&c| c == b':') {
                Some(i) => &arg[i + 1..],
                None => &arg[arg.len()..],
            };
            while let [b' ', rest @ ..] = a {
                a = rest;
            }
            (a, b' ')
        }
    };
    // A source route: everything up to and including the first colon.
    if a.first() == Some(&b'@') {
        a = match a.iter().position(|&c| c == b':') {
            Some(i) => &a[i + 1..],
            None => &a[a.len()..],
        };
    }
    let mut addr = Vec::with_capacity(a.len().min(MAX_ADDR_WITH_NUL));
    let mut escaped = false;
    let mut quoted = false;
    for &ch in a {
        if escaped {
            addr.push(ch);
            escaped = false;
            continue;
        }
        if !quoted && ch == terminator {
            break;
        }
        match ch {
            b'\\' => escaped = true,
            b'"' => quoted = !quoted,
            _ => addr.push(ch),
        }
    }
    if let Some(liphost) = local.localiphost {
        if let Some(at) = addr.iter().rposition(|&c| c == b'@') {
            if let Some((ip, len)) = scan_bracket(&addr[at + 1..]) {
                if at + 1 + len == addr.len() && (local.is_me)(ip) {
                    addr.truncate(at + 1);
                    addr.extend_from_slice(liphost);
                }
            }
        }
    }
    if addr.len() + 1 > MAX_ADDR_WITH_NUL {
        return None;
    }
    Some(addr)
}

/// qmail's `scan_ulong`: leading decimal digits (wrapping, as C's
/// unsigned long would) and how many there were.
fn scan_ulong(s: &[u8]) -> (u64, usize) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let v = s[..n].iter().fold(0u64, |v, &c| {
        v.wrapping_mul(10).wrapping_add(u64::from(c - b'0'))
    });
    (v, n)
}

/// qmail's `ip_scanbracket`: `[a.b.c.d]` at the start of `s`; returns the
/// address and the length consumed. Each part is stored in a byte, so
/// `257` is `1`, as in qmail.
pub fn scan_bracket(s: &[u8]) -> Option<(Ipv4Addr, usize)> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let mut pos = 1;
    let mut d = [0u8; 4];
    for (k, part) in d.iter_mut().enumerate() {
        if k > 0 {
            if s.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
        let (v, n) = scan_ulong(&s[pos..]);
        if n == 0 {
            return None;
        }
        *part = v as u8;
        pos += n;
    }
    if s.get(pos) != Some(&b']') {
        return None;
    }
    Some((Ipv4Addr::from(d), pos + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(ip: Ipv4Addr) -> bool {
        ip == Ipv4Addr::new(127, 0, 0, 1) || ip.is_unspecified()
    }

    fn p(arg: &str) -> Option<String> {
        let l = LocalIp {
            localiphost: Some(b"mx.example"),
            is_me: &me,
        };
        parse(arg.as_bytes(), &l).map(|a| String::from_utf8(a).unwrap())
    }

    #[test]
    fn angle_brackets() {
        assert_eq!(p("FROM:<a@b>").as_deref(), Some("a@b"));
        assert_eq!(p("<a@b> SIZE=100").as_deref(), Some("a@b"));
        assert_eq!(p("TO:<>").as_deref(), Some(""));
        assert_eq!(p("TO:<a@b").as_deref(), Some("a@b"));
        assert_eq!(p("junk <x@y>").as_deref(), Some("x@y"));
    }

    #[test]
    fn without_angle_brackets() {
        assert_eq!(p("FROM: a@b c").as_deref(), Some("a@b"));
        assert_eq!(p("FROM:a@b").as_deref(), Some("a@b"));
        assert_eq!(p("").as_deref(), Some(""));
        assert_eq!(p("a@b").as_deref(), Some(""));
        assert_eq!(p("TO:\"a b\"@c d").as_deref(), Some("a b@c"));
    }

    #[test]
    fn source_route_quotes_and_escapes() {
        assert_eq!(
            p("TO:<@a.example,@b.example:u@example.com>").as_deref(),
            Some("u@example.com")
        );
        assert_eq!(p("TO:<@a.example>").as_deref(), Some(""));
        assert_eq!(
            p("TO:<\"a b\"@example.com>").as_deref(),
            Some("a b@example.com")
        );
        assert_eq!(p("TO:<a\\\"b@h>").as_deref(), Some("a\"b@h"));
        assert_eq!(p("TO:<\"a>b\"@h>").as_deref(), Some("a>b@h"));
        assert_eq!(p("TO:<a\\>b@h>").as_deref(), Some("a>b@h"));
    }

    #[test]
    fn local_ip_literal_becomes_localiphost() {
        assert_eq!(p("TO:<u@[127.0.0.1]>").as_deref(), Some("u@mx.example"));
        assert_eq!(p("TO:<u@[0.0.0.0]>").as_deref(), Some("u@mx.example"));
        assert_eq!(p("TO:<u@[127.0.0.257]>").as_deref(), Some("u@mx.example"));
        assert_eq!(p("TO:<u@[192.0.2.1]>").as_deref(), Some("u@[192.0.2.1]"));
        assert_eq!(p("TO:<u@[127.0.0.1]x>").as_deref(), Some("u@[127.0.0.1]x"));
        let l = LocalIp {
            localiphost: None,
            is_me: &me,
        };
        assert_eq!(parse(b"<u@[127.0.0.1]>", &l).unwrap(), b"u@[127.0.0.1]");
    }

    #[test]
    fn length_limit_is_899() {
        let ok = format!("TO:<{}>", "a".repeat(899));
        assert_eq!(p(&ok).unwrap().len(), 899);
        assert_eq!(p(&format!("TO:<{}>", "a".repeat(900))), None);
    }
}
