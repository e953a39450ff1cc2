//! qmail-local's command line (spec §5.2), parsed as qmail's `getopt`
//! does.
//!
//! Hand-written rather than with clap: the eight positional arguments are
//! raw bytes, may be empty, and may begin with `-` after `--`; a wrong
//! call must produce qmail's exact usage text and exit 100.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::error::LocalError;

/// Everything one delivery needs besides the message.
#[derive(Debug)]
pub struct Params {
    /// `-N` (deliver, the default) rather than `-n` (print the plan).
    pub doit: bool,
    pub user: Vec<u8>,
    /// Absolute home directory; all relative paths are taken from here.
    pub homedir: PathBuf,
    /// Full local part, original case.
    pub local: Vec<u8>,
    pub dash: Vec<u8>,
    pub ext: Vec<u8>,
    /// The recipient's domain.
    pub host: Vec<u8>,
    pub sender: Vec<u8>,
    /// The instructions used when the .qmail file is absent or empty
    /// (qmail-start's defaultdelivery).
    pub aliasempty: Vec<u8>,
    /// QMAILHOME, for running qmail-queue when forwarding.
    pub qmailhome: PathBuf,
    /// Where program lines' stdout/stderr go; `None` inherits the
    /// process's own (the report pipe when run by qmail-lspawn).
    pub program_output: Option<File>,
    /// Deliver each maildir line on a thread of its own, named
    /// `<time>.<thread id>.<host>`: for a long-lived worker delivering
    /// many messages in one process. A thread id comes from the same
    /// counter as process ids, so the name is as unique as qmail's
    /// `<time>.<pid of the child>.<host>` (qmail forks a child per maildir
    /// line). The binary leaves it false and uses its own pid.
    pub maildir_thread: bool,
}

impl Params {
    /// Parses `args` (without the program name).
    pub fn parse(args: Vec<OsString>, qmailhome: PathBuf) -> Result<Params, LocalError> {
        let mut doit = true;
        let mut it = args.into_iter().peekable();
        while let Some(a) = it.peek() {
            let b = a.as_bytes();
            if b == b"--" {
                it.next();
                break;
            }
            if b.len() < 2 || b[0] != b'-' {
                break;
            }
            for &c in &b[1..] {
                match c {
                    b'n' => doit = false,
                    b'N' => doit = true,
                    _ => return Err(LocalError::Usage),
                }
            }
            it.next();
        }
        let rest: Vec<Vec<u8>> = it.map(OsStringExt::into_vec).collect();
        let [user, homedir, local, dash, ext, host, sender, aliasempty]: [Vec<u8>; 8] =
            rest.try_into().map_err(|_| LocalError::Usage)?;
        if homedir.first() != Some(&b'/') {
            return Err(LocalError::Usage);
        }
        Ok(Params {
            doit,
            user,
            homedir: PathBuf::from(OsString::from_vec(homedir)),
            local,
            dash,
            ext,
            host,
            sender,
            aliasempty,
            qmailhome,
            program_output: None,
            maildir_thread: false,
        })
    }

    /// `<local>@<host>`, the recipient this delivery is for.
    pub fn recipient(&self) -> Vec<u8> {
        let mut r = self.local.clone();
        r.push(b'@');
        r.extend_from_slice(&self.host);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_options_and_positionals() {
        let p = Params::parse(
            args(&["-n", "--", "u", "/h", "-x", "", "", "d", "", "./Mailbox"]),
            "/q".into(),
        )
        .unwrap();
        assert!(!p.doit);
        assert_eq!(p.local, b"-x");
        assert_eq!(p.recipient(), b"-x@d");
        let p = Params::parse(
            args(&["-nN", "u", "/h", "l", "", "", "d", "s", "a"]),
            "/q".into(),
        )
        .unwrap();
        assert!(p.doit);
    }

    #[test]
    fn wrong_usage() {
        for a in [
            &["u", "/h", "l", "", "", "d", "s"][..],
            &["u", "/h", "l", "", "", "d", "s", "a", "extra"],
            &["u", "h", "l", "", "", "d", "s", "a"],
            &["-x", "u", "/h", "l", "", "", "d", "s", "a"],
        ] {
            assert!(matches!(
                Params::parse(args(a), "/q".into()),
                Err(LocalError::Usage)
            ));
        }
    }
}
