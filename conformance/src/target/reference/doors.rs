//! The reference target's doors besides SMTP (qmail-behaviour §10, §11),
//! opened only for scenarios that use them (`Setup::needs`).
//!
//! - QMTP and QMQP: the MTA's own listeners ([`Listeners`]).
//! - POP3: a door like the SMTP one, running per connection
//!   `qmail-popup mx.test CHECKPASSWORD R/bin/qmail-pop3d Maildir` with
//!   tcpserver's variables and `setup.env`; CHECKPASSWORD is
//!   `R/bin/mta-checkpassword` or the scenario's stub. Users with a
//!   `password` are added with `mta-passwd`.
//! - For every scenario: `control/smtplisten` is empty unless the scenario
//!   sets it (the harness' door serves SMTP, so no instance binds the
//!   default 127.0.0.1:2525), and files a scenario puts in a user's
//!   `Maildir/new/` or `Maildir/cur/` get modification times an hour in
//!   the past, one second apart in name order: qmail-pop3d lists only
//!   messages older than the current second, ordered by that time (§11.3),
//!   so the message numbers follow the names.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::door::Door;
use super::{set_mode, write, ME};
use crate::scenario::{Capability, Protocol, Setup};
use crate::target::listeners::Listeners;
use crate::target::TargetError;

/// The doors of one instance.
#[derive(Default)]
pub(super) struct Doors {
    listeners: Listeners,
    pop3: Option<Door>,
}

impl Doors {
    /// Writes what the doors need into the configured root (after the
    /// scenario's controls and users), and opens the POP3 door.
    pub(super) fn configure(
        root: &Path,
        scratch: &Path,
        setup: &Setup,
    ) -> Result<Doors, TargetError> {
        let c = root.join("control");
        if !setup.controls.contains_key("smtplisten") {
            write(&c.join("smtplisten"), b"")?;
        }
        let mut doors = Doors {
            listeners: Listeners::configure(&c, setup)?,
            pop3: None,
        };
        for u in &setup.users {
            let home = root.join("home").join(&u.name);
            age_messages(&home, u.files.keys())?;
            if let Some(pw) = &u.password {
                add_login(root, &u.name, &home, pw)?;
            }
        }
        if setup.needs.contains(&Capability::Pop3) {
            let checkpassword = match setup.pop3.as_ref().and_then(|p| p.checkpassword.as_ref()) {
                Some(stub) => {
                    let p = scratch.join("checkpassword");
                    write(&p, &stub.0)?;
                    set_mode(&p, 0o755)?;
                    p
                }
                None => root.join("bin/mta-checkpassword"),
            };
            let argv = vec![
                root.join("bin/qmail-popup").into_os_string(),
                ME.into(),
                checkpassword.into_os_string(),
                root.join("bin/qmail-pop3d").into_os_string(),
                "Maildir".into(),
            ];
            doors.pop3 = Some(Door::serve("POP3", argv, root, &setup.env, Arc::default())?);
        }
        Ok(doors)
    }

    /// After each start of the MTA: waits until its QMTP and QMQP
    /// listeners accept connections.
    pub(super) fn wait_ready(&self) -> Result<(), TargetError> {
        self.listeners.wait_ready(Duration::from_secs(20))
    }

    /// The `mta-listen smtp` door of a `starttls` scenario, which then
    /// replaces the harness's qmail-smtpd door.
    pub(super) fn smtp_listener(&self) -> Option<SocketAddr> {
        self.listeners.smtp
    }

    pub(super) fn addr(&self, door: Protocol, smtp: SocketAddr) -> Result<SocketAddr, TargetError> {
        let addr = match door {
            Protocol::Smtp => Some(smtp),
            Protocol::Qmtp | Protocol::Qmqp => self.listeners.addr(door),
            Protocol::Pop3 => self.pop3.as_ref().map(|d| d.addr),
        };
        addr.ok_or_else(|| {
            TargetError::Failed(format!(
                "the {door} door was not opened (the scenario does not require `{door}`)"
            ))
        })
    }

    pub(super) fn wait_idle(&self) {
        if let Some(d) = &self.pop3 {
            d.wait_idle(Duration::from_secs(10));
        }
    }
}

/// Gives the scenario's files under `Maildir/new/` and `Maildir/cur/`
/// modification times an hour ago, one second apart in name order.
fn age_messages<'a>(
    home: &Path,
    files: impl Iterator<Item = &'a String>,
) -> Result<(), TargetError> {
    let base = SystemTime::now() - Duration::from_secs(3600);
    let messages = files.filter(|f| f.starts_with("Maildir/new/") || f.starts_with("Maildir/cur/"));
    for (i, name) in messages.enumerate() {
        let p = home.join(name);
        let when = base + Duration::from_secs(i as u64);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_modified(when))
            .map_err(TargetError::io(format!(
                "setting the time of {}",
                p.display()
            )))?;
    }
    Ok(())
}

/// `mta-passwd set NAME --home HOME` with the password on stdin.
fn add_login(root: &Path, name: &str, home: &Path, password: &str) -> Result<(), TargetError> {
    use std::io::Write;
    let mut child = Command::new(root.join("bin/mta-passwd"))
        .args(["set", name, "--home"])
        .arg(home)
        .env("QMAILHOME", root)
        .env("MTA_MODE", "unprivileged")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(TargetError::io("running mta-passwd"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(format!("{password}\n").as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(TargetError::io("waiting for mta-passwd"))?;
    if !out.status.success() {
        return Err(TargetError::Failed(format!(
            "mta-passwd set {name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_aged_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        let names: Vec<String> = ["Maildir/new/b", "Maildir/cur/a:2,", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for n in &names {
            write(&d.path().join(n), b"m\n").unwrap();
        }
        let mut sorted = names.clone();
        sorted.sort();
        age_messages(d.path(), sorted.iter()).unwrap();
        let mtime = |n: &str| {
            std::fs::metadata(d.path().join(n))
                .unwrap()
                .modified()
                .unwrap()
        };
        let now = SystemTime::now();
        assert!(mtime("Maildir/cur/a:2,") < mtime("Maildir/new/b"));
        assert!(mtime("Maildir/new/b") < now - Duration::from_secs(3000));
        assert!(mtime("x") > now - Duration::from_secs(60));
    }
}
