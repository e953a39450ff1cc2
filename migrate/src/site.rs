//! What the converter must know about the host: its name (`control/me`),
//! the names sendmail treated as local (class w, spec §4.2), and which
//! local parts qmail-getpw hands to a real account (spec §3.1).
//!
//! Accounts are read from a passwd file (not through NSS) so that tests and
//! dry runs can describe another machine. An account counts as qmail-getpw
//! counts it: uid not 0, home directory exists and is owned by that uid,
//! name shorter than 32 bytes, matched case-insensitively.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub home: String,
    pub shell: String,
    /// qmail-getpw would pick this account (uid ≠ 0, home exists, owned).
    pub qmail_visible: bool,
}

/// The passwd database as qmail-getpw and sendmail see it.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    by_name: HashMap<String, Account>,
    by_uid: HashMap<u32, String>,
}

/// qmail-getpw's `GETPW_USERLEN`.
const USERLEN: usize = 32;

impl Accounts {
    /// Parses passwd text (`name:pw:uid:gid:gecos:home:shell`); bad lines
    /// are skipped as getpwent skips them.
    pub fn parse(text: &str) -> Accounts {
        let mut a = Accounts::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                continue;
            }
            let Ok(uid) = f[2].parse::<u32>() else {
                continue;
            };
            let visible = uid != 0
                && f[0].len() < USERLEN
                && std::fs::metadata(f[5]).is_ok_and(|m| m.uid() == uid);
            let acct = Account {
                name: f[0].to_string(),
                uid,
                home: f[5].to_string(),
                shell: f[6].to_string(),
                qmail_visible: visible,
            };
            a.by_uid.entry(uid).or_insert_with(|| f[0].to_string());
            a.by_name.entry(f[0].to_ascii_lowercase()).or_insert(acct);
        }
        a
    }

    /// Reads a passwd file; a missing file means no accounts.
    pub fn load(path: &Path) -> std::io::Result<Accounts> {
        match std::fs::read_to_string(path) {
            Ok(t) => Ok(Accounts::parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Accounts::default()),
            Err(e) => Err(e),
        }
    }

    /// The entry named `name` (case-insensitive), as getpwnam sees it.
    pub fn get(&self, name: &str) -> Option<&Account> {
        // Asked for every alias and target: no copy when already lower case.
        if self.by_name.is_empty() {
            None
        } else if name.bytes().any(|c| c.is_ascii_uppercase()) {
            self.by_name.get(&name.to_ascii_lowercase())
        } else {
            self.by_name.get(name)
        }
    }

    /// Every account, sorted by name (for `--home-dirs`).
    pub fn all(&self) -> Vec<&Account> {
        let mut v: Vec<&Account> = self.by_name.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The name owning `uid`.
    pub fn name_of(&self, uid: u32) -> Option<&str> {
        self.by_uid.get(&uid).map(String::as_str)
    }

    /// sendmail's view: getpwnam knows the name (spec §1.4).
    pub fn sendmail_user(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// qmail-getpw's view: the account that takes `local` and the
    /// extension it gets, longest prefix ending before a `-` first.
    pub fn qmail_owner<'a>(&self, local: &'a str) -> Option<(&Account, Option<&'a str>)> {
        let b = local.as_bytes();
        for end in (0..=b.len()).rev() {
            if end >= USERLEN || (end < b.len() && b[end] != b'-') {
                continue;
            }
            let Some(acct) = self.get(&local[..end]) else {
                continue;
            };
            if acct.qmail_visible {
                let ext = (end < b.len()).then(|| &local[end + 1..]);
                return Some((acct, ext));
            }
        }
        None
    }
}

/// Host names and accounts the conversion runs against.
#[derive(Debug, Clone)]
pub struct Site {
    /// qmail's `control/me`; qualifies local targets (`bob` → `bob@me`).
    pub me: String,
    /// Appended by fastforward's newaliases to dotless host names (F11).
    pub default_domain: String,
    /// sendmail's class w, lower-cased; always holds `localhost` and `me`.
    pub locals: HashSet<String>,
    pub accounts: Accounts,
    /// `/etc/shells`: programs and files in a `.forward` need one (§2).
    pub shells: HashSet<String>,
}

impl Site {
    /// A site named `me` with extra local names, no accounts.
    pub fn new(me: &str, locals: &[&str]) -> Site {
        let mut set: HashSet<String> = locals.iter().map(|s| s.to_ascii_lowercase()).collect();
        set.insert("localhost".into());
        set.insert(me.to_ascii_lowercase());
        Site {
            me: me.to_ascii_lowercase(),
            default_domain: me.to_ascii_lowercase(),
            locals: set,
            accounts: Accounts::default(),
            shells: ["/bin/sh", "/bin/bash", "/usr/bin/bash", "/bin/dash"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// True when `host` was one of sendmail's local names.
    pub fn is_local(&self, host: &str) -> bool {
        if !host.bytes().any(|c| c.is_ascii_uppercase()) {
            return self.locals.contains(host);
        }
        self.locals.contains(&host.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::chown;

    #[test]
    fn qmail_owner_follows_getpw_prefix_rules() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("bob");
        std::fs::create_dir(&home).unwrap();
        chown(&home, Some(1001), None).unwrap();
        let text = format!(
            "root:x:0:0::/root:/bin/sh\nbob:x:1001:1001::{}:/bin/sh\nghost:x:1002:1002::/nonexistent:/bin/sh\n",
            home.display()
        );
        let a = Accounts::parse(&text);
        assert_eq!(a.qmail_owner("bob").unwrap().0.name, "bob");
        assert_eq!(a.qmail_owner("Bob-Request").unwrap().1, Some("Request"));
        assert!(a.qmail_owner("ghost").is_none(), "home must exist");
        assert!(a.qmail_owner("root").is_none(), "uid 0 never");
        assert!(a.sendmail_user("ghost"), "sendmail only needs getpwnam");
        assert_eq!(a.name_of(1001), Some("bob"));
    }
}
