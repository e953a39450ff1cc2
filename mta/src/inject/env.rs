//! The environment qmail-inject reads (spec §8.2), resolved once into
//! [`InjectEnv`]. Variables are read through a [`Vars`] snapshot rather
//! than the process environment, so the sendmail wrapper can adjust them
//! (`-f`, `-F`) for an in-process qmail-inject, and tests can pass a map.
//!
//! | variable | field |
//! |---|---|
//! | `QMAILUSER`, `MAILUSER`, `USER`, `LOGNAME`, else `anonymous` | `user` |
//! | `QMAILHOST`, `MAILHOST` | `host` |
//! | `QMAILNAME`, `MAILNAME`, `NAME` | `name` |
//! | `QMAILSUSER` (else `user`) | `suser` |
//! | `QMAILSHOST` (else `host`) | `shost` |
//! | `QMAILINJECT` | `flags` |
//! | `QMAILDEFAULTDOMAIN`, `QMAILDEFAULTHOST`, `QMAILPLUSDOMAIN`, `QMAILIDHOST` | overrides of the controls |
//! | `QMAILMFTFILE` | `mftfile` |
//!
//! A variable that is set but empty counts as set, as in qmail.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// A snapshot of environment variables (bytes, as Unix has them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Vars {
    /// The process environment.
    pub fn from_env() -> Vars {
        Vars {
            map: std::env::vars_os()
                .map(|(k, v)| (k.into_vec(), v.into_vec()))
                .collect(),
        }
    }

    /// From pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vars {
        Vars {
            map: pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.map.get(name.as_bytes()).map(Vec::as_slice)
    }

    pub fn set(&mut self, name: &str, value: &[u8]) {
        self.map.insert(name.as_bytes().to_vec(), value.to_vec());
    }

    pub fn unset(&mut self, name: &str) {
        self.map.remove(name.as_bytes());
    }

    /// The first of `names` that is set.
    fn first(&self, names: &[&str]) -> Option<Vec<u8>> {
        names.iter().find_map(|n| self.get(n)).map(<[u8]>::to_vec)
    }

    /// The pairs, for handing to a child process.
    pub fn iter(&self) -> impl Iterator<Item = (OsString, OsString)> + '_ {
        self.map.iter().map(|(k, v)| {
            (
                std::ffi::OsStr::from_bytes(k).to_os_string(),
                std::ffi::OsStr::from_bytes(v).to_os_string(),
            )
        })
    }
}

/// The letters of `QMAILINJECT` (spec §8.2); unknown letters are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `c`: default From as `user@host (Name)`.
    pub name_comment: bool,
    /// `s`: drop incoming `Return-Path:` unused.
    pub delete_sender: bool,
    /// `f`: drop incoming `From:`.
    pub delete_from: bool,
    /// `i`: drop incoming `Message-ID:`.
    pub delete_message_id: bool,
    /// `r`: per-recipient VERP.
    pub verp_recipient: bool,
    /// `m`: per-message VERP.
    pub verp_message: bool,
}

impl Flags {
    pub fn parse(s: &[u8]) -> Flags {
        let mut f = Flags::default();
        for &c in s {
            match c {
                b'c' => f.name_comment = true,
                b's' => f.delete_sender = true,
                b'f' => f.delete_from = true,
                b'i' => f.delete_message_id = true,
                b'r' => f.verp_recipient = true,
                b'm' => f.verp_message = true,
                _ => {}
            }
        }
        f
    }
}

/// What qmail-inject takes from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectEnv {
    /// User part of the default From.
    pub user: Vec<u8>,
    /// Host of the default From; `None` leaves it to `defaulthost`.
    pub host: Option<Vec<u8>>,
    /// Personal name of the default From.
    pub name: Option<Vec<u8>>,
    /// User part of the default envelope sender.
    pub suser: Vec<u8>,
    /// Host part of the default envelope sender.
    pub shost: Option<Vec<u8>>,
    pub flags: Flags,
    pub defaultdomain: Option<Vec<u8>>,
    pub defaulthost: Option<Vec<u8>>,
    pub plusdomain: Option<Vec<u8>>,
    pub idhost: Option<Vec<u8>>,
    /// `QMAILMFTFILE`: mailing lists for Mail-Followup-To.
    pub mftfile: Option<PathBuf>,
}

impl InjectEnv {
    pub fn from_vars(v: &Vars) -> InjectEnv {
        let user = v
            .first(&["QMAILUSER", "MAILUSER", "USER", "LOGNAME"])
            .unwrap_or_else(|| b"anonymous".to_vec());
        let host = v.first(&["QMAILHOST", "MAILHOST"]);
        InjectEnv {
            suser: v.first(&["QMAILSUSER"]).unwrap_or_else(|| user.clone()),
            shost: v.first(&["QMAILSHOST"]).or_else(|| host.clone()),
            user,
            host,
            name: v.first(&["QMAILNAME", "MAILNAME", "NAME"]),
            flags: Flags::parse(v.get("QMAILINJECT").unwrap_or_default()),
            defaultdomain: v.first(&["QMAILDEFAULTDOMAIN"]),
            defaulthost: v.first(&["QMAILDEFAULTHOST"]),
            plusdomain: v.first(&["QMAILPLUSDOMAIN"]),
            idhost: v.first(&["QMAILIDHOST"]),
            mftfile: v
                .first(&["QMAILMFTFILE"])
                .map(|p| PathBuf::from(OsString::from_vec(p))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_of_user_host_name() {
        let e = InjectEnv::from_vars(&Vars::from_pairs([
            ("USER", "u"),
            ("LOGNAME", "l"),
            ("MAILHOST", "mh.example"),
            ("NAME", "N"),
            ("MAILNAME", "M"),
        ]));
        assert_eq!(e.user, b"u");
        assert_eq!(e.suser, b"u");
        assert_eq!(e.host.as_deref(), Some(&b"mh.example"[..]));
        assert_eq!(e.shost.as_deref(), Some(&b"mh.example"[..]));
        assert_eq!(e.name.as_deref(), Some(&b"M"[..]));
        let e = InjectEnv::from_vars(&Vars::from_pairs([
            ("QMAILUSER", "q"),
            ("MAILUSER", "m"),
            ("QMAILSUSER", "s"),
            ("QMAILSHOST", "sh"),
            ("QMAILHOST", "qh"),
            ("MAILHOST", "mh"),
        ]));
        assert_eq!(
            (e.user.as_slice(), e.suser.as_slice()),
            (&b"q"[..], &b"s"[..])
        );
        assert_eq!(e.host.as_deref(), Some(&b"qh"[..]));
        assert_eq!(e.shost.as_deref(), Some(&b"sh"[..]));
    }

    #[test]
    fn defaults() {
        let e = InjectEnv::from_vars(&Vars::default());
        assert_eq!(e.user, b"anonymous");
        assert_eq!(e.host, None);
        assert_eq!(e.name, None);
        assert_eq!(e.flags, Flags::default());
    }

    #[test]
    fn flag_letters() {
        let f = Flags::parse(b"csfirmx");
        assert!(f.name_comment && f.delete_sender && f.delete_from);
        assert!(f.delete_message_id && f.verp_recipient && f.verp_message);
        assert!(!Flags::parse(b"r").verp_message);
    }

    #[test]
    fn set_but_empty_counts() {
        let e = InjectEnv::from_vars(&Vars::from_pairs([("QMAILHOST", ""), ("MAILHOST", "m")]));
        assert_eq!(e.host.as_deref(), Some(&b""[..]));
    }
}
