//! qmail-getpw: who controls a local address when users/cdb does not say
//! (spec §5.1).
//!
//! Candidate user names are the prefixes of the address that end at its
//! end or just before a BREAK (`-`), longest first, each shorter than 32
//! bytes, lowercased. A candidate counts if the passwd database knows it,
//! its uid is not 0, and its home directory exists and is owned by it.
//! Nobody → the alias user with `dash` = `-` and `ext` = the whole address.
//!
//! In unprivileged mode the alias user is [`Accounts::alias`] (home
//! `QMAILHOME/alias`, the current uid), since there is no `alias` account.

use std::os::unix::fs::MetadataExt;

use super::errno;
use super::lspawn::Qlx;
use super::users::UserEntry;
use crate::home::{Accounts, Home, Mode, BREAK};

/// qmail-getpw's `GETPW_USERLEN`: candidates must be shorter than this.
const USERLEN: usize = 32;

fn passwd(name: &[u8]) -> Result<Option<nix::unistd::User>, Qlx> {
    let Ok(name) = std::str::from_utf8(name) else {
        return Ok(None);
    };
    match nix::unistd::User::from_name(name) {
        Ok(u) => Ok(u),
        // qmail-getpw treats only ETXTBSY as a temporary lookup failure.
        Err(nix::errno::Errno::ETXTBSY) => Err(Qlx::Sys),
        Err(_) => Ok(None),
    }
}

fn entry(u: &nix::unistd::User, dash: &[u8], ext: &[u8]) -> UserEntry {
    use std::os::unix::ffi::OsStrExt;
    UserEntry {
        user: u.name.as_bytes().to_vec(),
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        home: u.dir.as_os_str().as_bytes().to_vec(),
        dash: dash.to_vec(),
        ext: ext.to_vec(),
    }
}

/// The passwd user owning `local`, if any (qmail-getpw's `userext`).
pub fn userext(local: &[u8]) -> Result<Option<UserEntry>, Qlx> {
    for end in (0..=local.len()).rev() {
        if end >= USERLEN {
            continue;
        }
        if end < local.len() && local[end] != BREAK {
            continue;
        }
        let name = local[..end].to_ascii_lowercase();
        let Some(u) = passwd(&name)? else { continue };
        if u.uid.is_root() {
            continue;
        }
        match std::fs::metadata(&u.dir) {
            Ok(md) if md.uid() == u.uid.as_raw() => {
                return Ok(Some(if end == local.len() {
                    entry(&u, b"", b"")
                } else {
                    entry(&u, b"-", &local[end + 1..])
                }));
            }
            Ok(_) => {}
            Err(e) if errno::is_temp(&e) => return Err(Qlx::Nfs),
            Err(_) => {}
        }
    }
    Ok(None)
}

/// The alias user, with `dash` = `-` and `ext` = `local`.
pub fn alias(home: &Home, local: &[u8]) -> Result<UserEntry, Qlx> {
    match home.mode {
        Mode::Unprivileged => {
            let a = Accounts::resolve(home).map_err(|_| Qlx::NoAlias)?.alias;
            use std::os::unix::ffi::OsStrExt;
            Ok(UserEntry {
                user: a.name.into_bytes(),
                uid: a.uid,
                gid: a.gid,
                home: a.home.as_os_str().as_bytes().to_vec(),
                dash: b"-".to_vec(),
                ext: local.to_vec(),
            })
        }
        Mode::Production => match passwd(b"alias") {
            Ok(Some(u)) => Ok(entry(&u, b"-", local)),
            _ => Err(Qlx::NoAlias),
        },
    }
}

/// qmail-getpw as a library call: the user owning `local`, else alias.
pub fn getpw(home: &Home, local: &[u8]) -> Result<UserEntry, Qlx> {
    match userext(local)? {
        Some(e) => Ok(e),
        None => alias(home, local),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_address_goes_to_alias_in_unprivileged_mode() {
        let home = Home::new("/tmp/qh", Mode::Unprivileged);
        let e = getpw(&home, b"No-Such-User-xyzzy").unwrap();
        assert_eq!(e.user, b"alias");
        assert_eq!(e.home, b"/tmp/qh/alias");
        assert_eq!(e.dash, b"-");
        assert_eq!(e.ext, b"No-Such-User-xyzzy");
        assert_eq!(e.uid, nix::unistd::getuid().as_raw());
    }

    #[test]
    fn root_never_matches() {
        // root exists with uid 0, so it is skipped and falls to alias.
        assert_eq!(userext(b"root").unwrap(), None);
        assert_eq!(userext(b"root-x").unwrap(), None);
    }

    #[test]
    fn overlong_candidates_are_skipped() {
        let long = vec![b'a'; 40];
        assert_eq!(userext(&long).unwrap(), None);
    }
}
