//! qmail-inject's address rewriting (spec §8.3), applied to every address
//! of the sender and recipient fields, to `-f` and to command-line
//! recipients: source routes and a trailing `.` or `@` go, a missing host
//! becomes `defaulthost`, a trailing `+` becomes `.plusdomain`, a dotless
//! host gets `.defaultdomain`. `<>` and `...@[]` are left alone.
//!
//! The three controls come from `control/` (default `me`, else the literal
//! name, spec §9.2) unless `QMAILDEFAULTHOST`, `QMAILDEFAULTDOMAIN` or
//! `QMAILPLUSDOMAIN` override them (spec §8.2).

use super::env::InjectEnv;
use super::token::{self, Token};
use super::InjectError;
use crate::control::ControlDir;

/// The rewriting rules, with the three controls already tokenised.
#[derive(Debug, Clone)]
pub struct Rewriter {
    /// `@defaulthost`.
    defaulthost: Vec<Token>,
    /// `.defaultdomain`.
    defaultdomain: Vec<Token>,
    /// `.plusdomain`.
    plusdomain: Vec<Token>,
}

fn tokens_of(prefix: &str, value: &[u8]) -> Result<Vec<Token>, InjectError> {
    let mut s = prefix.as_bytes().to_vec();
    s.extend_from_slice(value);
    token::parse(&s).map_err(|_| InjectError::ParseLine(s))
}

impl Rewriter {
    /// Rules from explicit values (tests, and [`Rewriter::load`]).
    pub fn new(
        defaulthost: &[u8],
        defaultdomain: &[u8],
        plusdomain: &[u8],
    ) -> Result<Rewriter, InjectError> {
        Ok(Rewriter {
            defaulthost: tokens_of("@", defaulthost)?,
            defaultdomain: tokens_of(".", defaultdomain)?,
            plusdomain: tokens_of(".", plusdomain)?,
        })
    }

    /// Reads the controls, letting the environment override each.
    pub fn load(c: &ControlDir, env: &InjectEnv) -> Result<Rewriter, InjectError> {
        let get = |name: &str, over: &Option<Vec<u8>>| -> Result<Vec<u8>, InjectError> {
            let v = c.line_or_me(name, name)?;
            Ok(over.clone().unwrap_or_else(|| v.into_bytes()))
        };
        // qmail reads them in this order, so the first unreadable file is
        // the one reported.
        let dd = get("defaultdomain", &env.defaultdomain)?;
        let dh = get("defaulthost", &env.defaulthost)?;
        let pd = get("plusdomain", &env.plusdomain)?;
        Ok(Rewriter {
            defaultdomain: tokens_of(".", &dd)?,
            defaulthost: tokens_of("@", &dh)?,
            plusdomain: tokens_of(".", &pd)?,
        })
    }

    /// Rewrites one address (its tokens, in order) in place.
    pub fn rewrite(&self, a: &mut Vec<Token>) {
        if a.is_empty() {
            return; // <>
        }
        // `...@[]`: the empty literal marks #@[] and VERP senders.
        if a.len() >= 2
            && a[a.len() - 1] == Token::Literal(Vec::new())
            && a[a.len() - 2] == Token::At
        {
            return;
        }
        // Source route: `@a,@b:u@h` -> `u@h`; with no colon nothing is left.
        if a[0] == Token::At {
            match a.iter().position(|t| *t == Token::Colon) {
                Some(i) => drop(a.drain(..=i)),
                None => a.clear(),
            }
        }
        if a.last() == Some(&Token::Dot) {
            a.pop();
        }
        if a.last() == Some(&Token::At) {
            a.pop();
        }
        if a.is_empty() {
            return;
        }
        if !a.contains(&Token::At) {
            a.extend(self.defaulthost.iter().cloned());
        }
        if let Some(Token::Atom(last)) = a.last_mut() {
            if last.last() == Some(&b'+') {
                last.pop();
                a.extend(self.plusdomain.iter().cloned());
            }
        }
        // The host is everything after the last `@`.
        let host_start = a.iter().rposition(|t| *t == Token::At).map_or(0, |i| i + 1);
        let host = &a[host_start..];
        let dotted = host.contains(&Token::Dot);
        let literal = host.iter().any(|t| matches!(t, Token::Literal(_)));
        if !dotted && !literal {
            a.extend(self.defaultdomain.iter().cloned());
        }
    }

    /// Parses a raw address (quoting its local part first, like qmail's
    /// `quote2`), rewrites it, and returns its envelope form. `None` if it
    /// does not parse.
    fn raw(&self, s: &[u8]) -> Option<Vec<u8>> {
        let mut t = token::parse(&crate::quote::quote(s)).ok()?;
        self.rewrite(&mut t);
        Some(token::unquote(&t))
    }

    /// A command-line recipient.
    pub fn recipient_arg(&self, s: &[u8]) -> Result<Vec<u8>, InjectError> {
        self.raw(s)
            .ok_or_else(|| InjectError::ParseAddress(s.to_vec()))
    }

    /// The `-f` sender.
    pub fn sender_arg(&self, s: &[u8]) -> Result<Vec<u8>, InjectError> {
        self.raw(s)
            .ok_or_else(|| InjectError::ParseLine(crate::quote::quote(s)))
    }
}

/// qmail's `quote_need` on a whole string (the default From's user part).
pub fn needs_quote(s: &[u8]) -> bool {
    // quote() only looks before the last `@`; an `@` itself needs quoting.
    s.is_empty() || s.contains(&b'@') || crate::quote::quote(s) != s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw() -> Rewriter {
        Rewriter::new(b"silverton.berkeley.edu", b"berkeley.edu", b"cs.example").unwrap()
    }

    fn one(s: &str) -> String {
        String::from_utf8(rw().recipient_arg(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn spec_8_3_examples() {
        assert_eq!(one("joe"), "joe@silverton.berkeley.edu");
        assert_eq!(one("djb@silverton"), "djb@silverton.berkeley.edu");
        assert_eq!(one("eric@mammoth.cs+"), "eric@mammoth.cs.cs.example");
        assert_eq!(one("u@h.example."), "u@h.example");
        assert_eq!(one("u@"), "u@silverton.berkeley.edu");
        // An argument's local part is quoted first, so a route survives.
        assert_eq!(one("@a,@b:u@h.example"), "@a,@b:u@h.example");
        assert_eq!(one("#@[]"), "#@[]");
        assert_eq!(one("me-@h-@[]"), "me-@h-@[]");
        assert_eq!(one(""), "");
        assert_eq!(one("u@[1.2.3.4]"), "u@[1.2.3.4]");
        assert_eq!(one("u@localhost"), "u@localhost.berkeley.edu");
    }

    #[test]
    fn dotless_defaulthost_gets_defaultdomain() {
        let r = Rewriter::new(b"box", b"example.org", b"p").unwrap();
        assert_eq!(r.recipient_arg(b"joe").unwrap(), b"joe@box.example.org");
    }

    #[test]
    fn source_routes_in_fields_are_removed() {
        let mut t = token::parse(b"@a,@b:u@h.example").unwrap();
        rw().rewrite(&mut t);
        assert_eq!(token::unquote(&t), b"u@h.example");
    }

    #[test]
    fn route_without_colon_is_empty() {
        let mut t = token::parse(b"@a").unwrap();
        rw().rewrite(&mut t);
        assert!(t.is_empty());
    }

    #[test]
    fn odd_local_parts_are_quoted_then_unquoted() {
        assert_eq!(one("a b@x.example"), "a b@x.example");
        assert!(rw().recipient_arg(b"x@(y").is_err());
    }

    #[test]
    fn quote_need() {
        assert!(!needs_quote(b"joe"));
        assert!(needs_quote(b"joe smith"));
        assert!(needs_quote(b"a@b"));
        assert!(needs_quote(b""));
    }
}
