//! Deciding local vs remote for each envelope recipient (spec §3.4):
//! envnoathost, percenthack, locals, virtualdomains, in that order.

use crate::control::{DomainSet, VirtualDomains};

/// Where a recipient goes, with the address to store in the channel file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Local(Vec<u8>),
    Remote(Vec<u8>),
}

/// The controls rewriting needs.
#[derive(Debug, Clone)]
pub struct Rewriter {
    pub envnoathost: String,
    pub percenthack: DomainSet,
    pub locals: DomainSet,
    pub virtualdomains: VirtualDomains,
}

fn domain_of(addr: &[u8]) -> &[u8] {
    match addr.iter().rposition(|&c| c == b'@') {
        Some(i) => &addr[i + 1..],
        None => &[],
    }
}

impl Rewriter {
    pub fn rewrite(&self, addr: &[u8]) -> Route {
        let mut a = addr.to_vec();
        // 1. envnoathost
        if !a.contains(&b'@') {
            a.push(b'@');
            a.extend_from_slice(self.envnoathost.as_bytes());
        }
        // 2. percenthack: while the domain is listed, turn the last % of the
        //    local part into the @ (dropping the old domain).
        while let Some(at) = a.iter().rposition(|&c| c == b'@') {
            let dom = String::from_utf8_lossy(&a[at + 1..]).into_owned();
            if !self.percenthack.contains(&dom) {
                break;
            }
            match a[..at].iter().rposition(|&c| c == b'%') {
                Some(p) => {
                    a.truncate(at);
                    a[p] = b'@';
                }
                None => break,
            }
        }
        // 3. locals
        let dom = String::from_utf8_lossy(domain_of(&a)).into_owned();
        if self.locals.contains(&dom) {
            return Route::Local(a);
        }
        // 4. virtualdomains
        let text = String::from_utf8_lossy(&a).into_owned();
        if let Some(prepend) = self.virtualdomains.lookup(&text) {
            if !prepend.is_empty() {
                let mut v = Vec::with_capacity(prepend.len() + 1 + a.len());
                v.extend_from_slice(prepend.as_bytes());
                v.push(b'-');
                v.extend_from_slice(&a);
                return Route::Local(v);
            }
        }
        Route::Remote(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(vd: &[&str]) -> Rewriter {
        Rewriter {
            envnoathost: "me.example".into(),
            percenthack: DomainSet::from_lines(&["relay.example".into(), "c".into()]),
            locals: DomainSet::from_lines(&["me.example".into()]),
            virtualdomains: VirtualDomains::from_lines(
                &vd.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ),
        }
    }

    #[test]
    fn envnoathost_and_locals() {
        let r = rw(&[]);
        assert_eq!(r.rewrite(b"bob"), Route::Local(b"bob@me.example".to_vec()));
        assert_eq!(r.rewrite(b""), Route::Local(b"@me.example".to_vec()));
        assert_eq!(
            r.rewrite(b"x@ME.example"),
            Route::Local(b"x@ME.example".to_vec())
        );
        assert_eq!(r.rewrite(b"x@other"), Route::Remote(b"x@other".to_vec()));
    }

    #[test]
    fn percenthack() {
        let r = rw(&[]);
        assert_eq!(
            r.rewrite(b"bob%other.example@relay.example"),
            Route::Remote(b"bob@other.example".to_vec())
        );
        // a%b%c@relay.example -> a%b@c -> c is listed too -> a@b
        assert_eq!(
            r.rewrite(b"a%b%c@relay.example"),
            Route::Remote(b"a@b".to_vec())
        );
    }

    #[test]
    fn virtualdomains() {
        let r = rw(&[
            "example.com:joe",
            ".example.com:joe",
            "sub.example.com:",
            ":alias-catch",
        ]);
        assert_eq!(
            r.rewrite(b"x@example.com"),
            Route::Local(b"joe-x@example.com".to_vec())
        );
        assert_eq!(
            r.rewrite(b"x@sub.example.com"),
            Route::Remote(b"x@sub.example.com".to_vec())
        );
        assert_eq!(
            r.rewrite(b"x@else.org"),
            Route::Local(b"alias-catch-x@else.org".to_vec())
        );
    }
}
