//! Dropping root after binding, as `tcpserver -u qmaild -g nofiles` does
//! for qmail-smtpd (spec §1.1: qmail-smtpd runs as qmaild/nofiles).
//!
//! Production mode, started as root: the listening sockets are bound
//! first (port 25 needs root), then the process takes the `nofiles` group
//! (and no supplementary groups) and the `qmaild` uid, for good. Every
//! connection, qmail-queue (setuid qmailq) and checkpassword then run as
//! qmaild, so `control/servercert.pem` must be readable by qmaild and a
//! checkpassword that reads the shadow file must be setuid root (as with
//! the qmail-smtpd-auth patch). Unprivileged mode, or not root: nothing
//! changes.

use nix::unistd::{getuid, setgid, setgroups, setuid, Gid, Uid};

use crate::home::{Accounts, Home};

/// Why the uid switch failed; the listener must not run on as root.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(transparent)]
    Account(#[from] crate::home::MissingAccount),
    #[error("unable to switch to qmaild/nofiles: {0}")]
    Switch(#[from] nix::Error),
}

/// Becomes qmaild/nofiles when running as root in production mode.
/// Returns whether it switched.
pub fn drop_privileges(home: &Home) -> Result<bool, PrivilegeError> {
    if home.unprivileged() || !getuid().is_root() {
        return Ok(false);
    }
    let a = Accounts::resolve(home)?;
    let gid = Gid::from_raw(a.gid_nofiles);
    setgroups(&[gid])?;
    setgid(gid)?;
    setuid(Uid::from_raw(a.qmaild.uid))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprivileged_mode_never_switches() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::new(d.path(), crate::home::Mode::Unprivileged);
        assert!(!drop_privileges(&home).unwrap());
        assert_eq!(getuid(), nix::unistd::geteuid());
    }
}
