//! Which recipients and senders qmail-smtpd accepts (spec §7.5):
//! `rcpthosts` with `.suffix` wildcards, `morercpthosts.cdb`, and
//! `badmailfrom` with `@host` lines. (`RELAYCLIENT` is applied by the
//! session, which skips [`RcptHosts`] entirely when it is set.)

use std::collections::HashSet;
use std::path::Path;

use crate::control::{ControlDir, ControlError};

/// The accepted recipient domains, as qmail's `rcpthosts.c`.
pub struct RcptHosts {
    /// `None`: no `control/rcpthosts`, every recipient is accepted.
    hosts: Option<HashSet<Vec<u8>>>,
    /// Only opened when rcpthosts exists, as in qmail.
    more: More,
}

enum More {
    Absent,
    /// A cdb with no records: the `cdb` crate refuses to open one, but
    /// qmail-newmrh writes one for an empty `morercpthosts`.
    Empty,
    Cdb(cdb::CDB),
}

/// `morercpthosts.cdb` could not be read: qmail answers
/// `421 unable to read controls (#4.3.0)`.
#[derive(Debug, thiserror::Error)]
#[error("unable to read control/morercpthosts.cdb: {0}")]
pub struct LookupError(#[source] pub std::io::Error);

/// An empty cdb is just its 2048-byte table of hash-table pointers.
const CDB_EMPTY_LEN: u64 = 2048;

impl RcptHosts {
    /// Reads `rcpthosts` and, only if it exists, opens `morercpthosts.cdb`.
    pub fn load(c: &ControlDir) -> Result<RcptHosts, ControlError> {
        let Some(lines) = c.list("rcpthosts")? else {
            return Ok(RcptHosts {
                hosts: None,
                more: More::Absent,
            });
        };
        let hosts = lines
            .iter()
            .map(|l| l.as_bytes().to_ascii_lowercase())
            .collect();
        let path = c.path("morercpthosts.cdb");
        let more = open_cdb(&path).map_err(|source| ControlError { path, source })?;
        Ok(RcptHosts {
            hosts: Some(hosts),
            more,
        })
    }

    /// From lines, without a cdb (for tests and other front doors).
    pub fn from_lines(lines: Option<&[&str]>) -> RcptHosts {
        RcptHosts {
            hosts: lines.map(|l| {
                l.iter()
                    .map(|h| h.as_bytes().to_ascii_lowercase())
                    .collect()
            }),
            more: More::Absent,
        }
    }

    /// Is a recipient at `addr` accepted? An address without `@` always
    /// is; otherwise its domain (after the last `@`, lowercased) or one of
    /// its dot-suffixes (`.b.c`, `.c`) must be listed.
    pub fn allows(&self, addr: &[u8]) -> Result<bool, LookupError> {
        let Some(hosts) = &self.hosts else {
            return Ok(true);
        };
        let Some(at) = addr.iter().rposition(|&c| c == b'@') else {
            return Ok(true);
        };
        let host = addr[at + 1..].to_ascii_lowercase();
        let keys = || {
            (0..host.len())
                .filter(|&j| j == 0 || host[j] == b'.')
                .map(|j| &host[j..])
        };
        if keys().any(|k| hosts.contains(k)) {
            return Ok(true);
        }
        if let More::Cdb(db) = &self.more {
            for k in keys() {
                match db.get(k) {
                    Some(Ok(_)) => return Ok(true),
                    Some(Err(e)) => return Err(LookupError(e)),
                    None => {}
                }
            }
        }
        Ok(false)
    }
}

fn open_cdb(path: &Path) -> std::io::Result<More> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(More::Absent),
        Err(e) => Err(e),
        Ok(m) if m.len() == CDB_EMPTY_LEN => Ok(More::Empty),
        Ok(_) => Ok(More::Cdb(cdb::CDB::open(path)?)),
    }
}

/// `control/badmailfrom`: senders whose recipients are all refused.
#[derive(Debug, Clone, Default)]
pub struct BadMailFrom {
    /// Lowercased lines; `None` when the file does not exist.
    lines: Option<HashSet<Vec<u8>>>,
}

impl BadMailFrom {
    pub fn load(c: &ControlDir) -> Result<BadMailFrom, ControlError> {
        Ok(BadMailFrom {
            lines: c.list("badmailfrom")?.map(|l| {
                l.iter()
                    .map(|s| s.as_bytes().to_ascii_lowercase())
                    .collect()
            }),
        })
    }

    pub fn from_lines(lines: &[&str]) -> BadMailFrom {
        BadMailFrom {
            lines: Some(
                lines
                    .iter()
                    .map(|s| s.as_bytes().to_ascii_lowercase())
                    .collect(),
            ),
        }
    }

    /// The sender equals a line, or its part from the last `@` equals an
    /// `@domain` line; both without regard to case.
    pub fn is_bad(&self, sender: &[u8]) -> bool {
        let Some(lines) = &self.lines else {
            return false;
        };
        if lines.contains(&sender.to_ascii_lowercase()) {
            return true;
        }
        match sender.iter().rposition(|&c| c == b'@') {
            Some(at) => lines.contains(&sender[at..].to_ascii_lowercase()),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_domains_and_dot_suffixes() {
        let r = RcptHosts::from_lines(Some(&["Example.COM", ".sub.example.org"]));
        assert!(r.allows(b"a@example.com").unwrap());
        assert!(r.allows(b"a@EXAMPLE.com").unwrap());
        assert!(!r.allows(b"a@x.example.com").unwrap());
        assert!(r.allows(b"a@x.sub.example.org").unwrap());
        assert!(r.allows(b"a@y.x.sub.example.org").unwrap());
        assert!(!r.allows(b"a@sub.example.org").unwrap());
        assert!(r.allows(b"postmaster").unwrap());
        assert!(r.allows(b"").unwrap());
        assert!(!r.allows(b"a@").unwrap());
        // The last @ decides.
        assert!(r.allows(b"a@evil@example.com").unwrap());
        assert!(!r.allows(b"a@example.com@evil").unwrap());
    }

    #[test]
    fn no_file_accepts_all_and_empty_file_rejects_all() {
        assert!(RcptHosts::from_lines(None).allows(b"a@any").unwrap());
        assert!(!RcptHosts::from_lines(Some(&[])).allows(b"a@any").unwrap());
    }

    #[test]
    fn badmailfrom_whole_addresses_and_at_domains() {
        let b = BadMailFrom::from_lines(&["Spammer@x.example", "@spam.example"]);
        assert!(b.is_bad(b"spammer@X.example"));
        assert!(b.is_bad(b"anyone@SPAM.example"));
        assert!(!b.is_bad(b"anyone@sub.spam.example"));
        assert!(!b.is_bad(b"other@x.example"));
        assert!(!b.is_bad(b""));
        assert!(!BadMailFrom::default().is_bad(b"a@spam.example"));
    }
}
