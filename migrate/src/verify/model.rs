//! Our model of sendmail 8.17's recipient expansion, used when no
//! sendmail binary is present (spec §1.4, §2).
//!
//! It walks the aliases the converter read ([`crate::aliases::Converted`]:
//! the entries sendmail kept, right-hand sides parsed by
//! [`crate::target`], include files inlined) and the users' `.forward`
//! files (read with [`crate::include::parse_list`], the same code as
//! `:include:`), with sendmail's rules: aliasing only for non-`\` local
//! names, `user+detail` → `user+detail`, `user+*`, `user`; a depth cap of
//! `MaxAliasRecursion` (10); a loop or self reference ends at a real
//! account (`self_reference()`), else bounces; unknown users bounce
//! 5.1.1; unsafe `.forward` files are ignored; programs and files in a
//! `.forward` need a shell listed in `/etc/shells`.
//!
//! Each walk also records which alias entries and files it passed
//! through, so a difference can be matched with the converter's findings.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::delivery::{code_of, Delivery};
use crate::aliases::expand::MAX_ALIAS_RECURSION;
use crate::aliases::{Alias, Converted};
use crate::site::Site;
use crate::target::{parse_piece, split_commas, Target};

/// Where one expansion went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    pub deliveries: Vec<Delivery>,
    /// (file, line) of every alias entry used; `.forward` and include
    /// files with line 0.
    pub sources: Vec<(String, usize)>,
}

/// sendmail's semantics over one converted aliases file.
pub struct Model<'a> {
    site: &'a Site,
    conv: &'a Converted,
    index: HashMap<&'a str, &'a Alias>,
    /// `ForwardPath` entries with `$z` (home), `$u` (user) still in them.
    forward_path: Vec<String>,
}

impl<'a> Model<'a> {
    /// `forward_path` is sendmail's `ForwardPath` option, colon-separated
    /// (`$z/.forward` when the configuration does not set it).
    pub fn new(site: &'a Site, conv: &'a Converted, forward_path: &str) -> Model<'a> {
        Model {
            site,
            conv,
            index: conv.aliases.iter().map(|a| (a.name.as_str(), a)).collect(),
            forward_path: forward_path
                .split(':')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    /// Expands `address` as `sendmail -bv` would.
    pub fn expand(&self, address: &str) -> Walk {
        let mut w = Walk::default();
        let p = parse_piece(self.site, address);
        match p.result {
            Ok(t) => self.target(&t, 0, &mut Vec::new(), &mut w),
            Err(b) => w.deliveries.push(Delivery::bounce(&code_of(b.why))),
        }
        w
    }

    fn alias_for(&self, user: &str) -> Option<&'a Alias> {
        if let Some(a) = self.index.get(user) {
            return Some(a);
        }
        // Ruleset 5's plus handling (spec §1.4): user+*, then user.
        let (base, _) = user.split_once('+')?;
        self.index
            .get(format!("{base}+*").as_str())
            .or_else(|| self.index.get(base))
            .copied()
    }

    fn target(&self, t: &Target, depth: usize, stack: &mut Vec<String>, w: &mut Walk) {
        match t {
            Target::Remote(a) => w.deliveries.push(Delivery::forward(a, None)),
            Target::Program(c) => w.deliveries.push(Delivery::Program { command: c.clone() }),
            Target::File(p) => w.deliveries.push(Delivery::File { path: p.clone() }),
            Target::Include(p) => self.include(p, depth, stack, w),
            Target::Local { user, backslash } => {
                self.local(user, *backslash, depth, stack, w);
            }
        }
    }

    fn local(
        &self,
        user: &str,
        backslash: bool,
        depth: usize,
        stack: &mut Vec<String>,
        w: &mut Walk,
    ) {
        let account = self
            .site
            .accounts
            .get(user.split('+').next().unwrap_or(user));
        if !backslash {
            if let Some(a) = self.alias_for(user) {
                w.sources.push((self.conv.file.clone(), a.line));
                if stack.iter().any(|s| s == &a.name) {
                    // A loop: self_reference() delivers to a real account.
                    return w.deliveries.push(match account {
                        Some(_) => Delivery::mailbox(user),
                        None => Delivery::bounce("5.4.6"),
                    });
                }
                if depth >= MAX_ALIAS_RECURSION {
                    return w.deliveries.push(Delivery::bounce("5.4.6"));
                }
                stack.push(a.name.clone());
                // The right-hand side as sendmail reads it at delivery
                // time: bogus pieces bounce, includes are read now.
                for piece in split_commas(self.conv.raw_rhs(a)) {
                    let t = match parse_piece(self.site, piece).result {
                        Ok(t) => t,
                        Err(b) => {
                            w.deliveries.push(Delivery::bounce(&code_of(b.why)));
                            continue;
                        }
                    };
                    match &t {
                        Target::Local {
                            user: u,
                            backslash: false,
                        } if *u == a.name => w.deliveries.push(match account {
                            Some(_) => Delivery::mailbox(u),
                            None => Delivery::bounce("5.1.1"),
                        }),
                        _ => self.target(&t, depth + 1, stack, w),
                    }
                }
                stack.pop();
                return;
            }
        }
        let Some(acct) = account else {
            return w.deliveries.push(Delivery::bounce("5.1.1"));
        };
        w.sources
            .push((format!("account:{}", acct.name.to_ascii_lowercase()), 0));
        if !backslash {
            if let Some(list) = self.forward(&acct.name, &acct.home, w) {
                let shell_ok = self.site.shells.contains(&acct.shell);
                for t in list {
                    match &t {
                        Target::Local { user: u, .. } if u.eq_ignore_ascii_case(&acct.name) => {
                            w.deliveries.push(Delivery::mailbox(u));
                        }
                        Target::Program(_) | Target::File(_) if !shell_ok => {
                            w.deliveries.push(Delivery::bounce("5.7.1"));
                        }
                        _ => {
                            stack.push(acct.name.to_ascii_lowercase());
                            self.target(&t, depth + 1, stack, w);
                            stack.pop();
                        }
                    }
                }
                return;
            }
        }
        w.deliveries.push(Delivery::mailbox(user));
    }

    /// An `:include:` read at delivery time (spec §1.3): a file that
    /// cannot be opened bounces 5.2.4; nesting too deep bounces 5.4.6.
    fn include(&self, path: &str, depth: usize, stack: &mut Vec<String>, w: &mut Walk) {
        w.sources.push((path.to_string(), 0));
        let mut r = crate::report::Report::default();
        match crate::include::expand(self.site, path, &mut r, &mut Vec::new()) {
            Ok(list) => {
                for t in list {
                    self.target(&t, depth + 1, stack, w);
                }
                // Pieces of the file sendmail bounced.
                for f in r.findings.iter().filter(|f| f.reason.contains("bounced")) {
                    w.deliveries.push(Delivery::bounce(&code_of(&f.reason)));
                }
            }
            Err(crate::include::IncludeError::CannotOpen(_)) => {
                w.deliveries.push(Delivery::bounce("5.2.4"))
            }
            Err(crate::include::IncludeError::Loop) => w.deliveries.push(Delivery::bounce("5.4.6")),
        }
    }

    /// The targets of `user`'s `.forward`, or `None` for normal delivery
    /// (no file, an unsafe file, or a file without addresses; spec §2).
    fn forward(&self, user: &str, home: &str, w: &mut Walk) -> Option<Vec<Target>> {
        for pat in &self.forward_path {
            let path = PathBuf::from(
                pat.replace("$z", home)
                    .replace("$u", user)
                    .replace("$w", &self.site.me),
            );
            let Ok(md) = std::fs::metadata(&path) else {
                continue;
            };
            let shown = path.display().to_string();
            let owner_ok = md.uid() == 0
                || self
                    .site
                    .accounts
                    .name_of(md.uid())
                    .is_some_and(|n| n.eq_ignore_ascii_case(user));
            if md.mode() & 0o022 != 0 || !owner_ok {
                w.sources.push((shown, 0));
                return None;
            }
            let text = std::fs::read(&path).ok()?;
            let text = String::from_utf8_lossy(&text);
            w.sources.push((shown.clone(), 0));
            let mut out = Vec::new();
            for item in crate::include::parse_list(self.site, &text) {
                match item.parsed.result {
                    Ok(t) => out.push(t),
                    // A piece sendmail bounces: an address no account has.
                    Err(_) => out.push(Target::Local {
                        user: format!("{} (bogus)", item.parsed.piece),
                        backslash: true,
                    }),
                }
            }
            return (!out.is_empty()).then_some(out);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::Accounts;

    fn site() -> Site {
        let mut s = Site::new("mail.example.org", &["example.org"]);
        s.accounts = Accounts::parse(
            "alice:x:2001:2001::/nonexistent/alice:/bin/sh\n\
             bob:x:2002:2002::/nonexistent/bob:/bin/sh\n\
             carol:x:2003:2003::/nonexistent/carol:/bin/sh\n",
        );
        s
    }

    fn expand(text: &str, addr: &str) -> Vec<Delivery> {
        let s = site();
        let conv = crate::aliases::convert(&s, "aliases", text.as_bytes()).unwrap();
        let m = Model::new(&s, &conv, "$z/.forward");
        super::super::delivery::normalise(m.expand(addr).deliveries)
    }

    #[test]
    fn aliases_expand_like_sendmail() {
        let a = "a1: bob, carol\na5: a5, bob\nalice: alice, bob\nl1: l2\nl2: l1\n\
                 p: \"|/bin/prog x\"\nn: nosuch\nr: Bob@Example.NET\nlist: bob\n";
        assert_eq!(
            expand(a, "a1"),
            vec![Delivery::mailbox("bob"), Delivery::mailbox("carol")]
        );
        // Self reference of a non-account bounces (spec §5 #26).
        assert_eq!(
            expand(a, "a5"),
            vec![Delivery::mailbox("bob"), Delivery::bounce("5.1.1")]
        );
        assert_eq!(
            expand(a, "alice"),
            vec![Delivery::mailbox("alice"), Delivery::mailbox("bob")]
        );
        assert_eq!(expand(a, "l1"), vec![Delivery::bounce("5.4.6")]);
        assert_eq!(
            expand(a, "p"),
            vec![Delivery::Program {
                command: "/bin/prog x".into()
            }]
        );
        assert_eq!(expand(a, "n"), vec![Delivery::bounce("5.1.1")]);
        assert_eq!(
            expand(a, "r"),
            vec![Delivery::forward("Bob@example.net", None)]
        );
        assert_eq!(expand(a, "list+foo"), vec![Delivery::mailbox("bob")]);
        assert_eq!(
            expand(a, "carol@example.org"),
            vec![Delivery::mailbox("carol")]
        );
    }

    #[test]
    fn depth_cap_is_ten() {
        let mut a = String::new();
        for i in 0..11 {
            a.push_str(&format!("c{i}: c{}\n", i + 1));
        }
        a.push_str("c11: bob\n");
        assert_eq!(expand(&a, "c0"), vec![Delivery::bounce("5.4.6")]);
        assert_eq!(expand(&a, "c2"), vec![Delivery::mailbox("bob")]);
    }

    #[test]
    fn forward_files_are_followed() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("bob");
        std::fs::create_dir(&home).unwrap();
        std::fs::write(home.join(".forward"), "\\bob, carol@example.net\n").unwrap();
        let mut s = site();
        s.accounts = Accounts::parse(&format!(
            "bob:x:0:0::{}:/bin/sh\ndave:x:2004:2004::{}:/usr/sbin/nologin\n",
            home.display(),
            home.display()
        ));
        let conv = crate::aliases::convert(&s, "aliases", b"x: bob\n").unwrap();
        let m = Model::new(&s, &conv, "$z/.forward");
        let w = m.expand("x");
        assert_eq!(
            super::super::delivery::normalise(w.deliveries),
            vec![
                Delivery::mailbox("bob"),
                Delivery::forward("carol@example.net", None)
            ]
        );
        assert!(w.sources.iter().any(|(f, _)| f.ends_with(".forward")));
    }
}
