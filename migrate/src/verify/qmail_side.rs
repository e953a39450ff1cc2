//! The new side of `migrate verify`: where the reference MTA would deliver
//! an address, computed with its own routing code, not a re-implementation.
//!
//! * qmail-send's rewriting: [`mta::send::rewrite::Rewriter`]
//!   (envnoathost, percenthack, locals, virtualdomains);
//! * remote recipients: [`mta::remote::routes::Routes`] (smtproutes);
//! * local recipients: users/cdb ([`mta::local::users::lookup`]), then
//!   qmail-getpw's prefix rule, then the alias user
//!   ([`mta::local::getpw::alias`]);
//! * the delivery itself: [`mta::local::deliver`] with `doit` off, which
//!   is exactly `qmail-local -n`: .qmail selection, instruction parsing
//!   and every check, printing the plan instead of delivering.
//!
//! Forwards are followed recursively. A local address met a second time
//! is a loop: qmail-local would find its own Delivered-To line and bounce
//! with 5.4.6; 100 hops bounce the same way (qmail's hop limit). A
//! `|bouncesaying` program line is a bounce (it exits 100), with the code
//! in its text.
//!
//! Deviation: qmail-getpw asks NSS; this side asks the passwd file the
//! conversion was told about ([`crate::site::Accounts::qmail_owner`],
//! the same rule), so a check can describe another machine.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use mta::control::{ControlDir, DomainSet, VirtualDomains};
use mta::home::{Home, Mode};
use mta::local::users::UserEntry;
use mta::remote::routes::Routes;
use mta::send::rewrite::{Rewriter, Route};

use super::delivery::{code_of, Delivery};
use crate::site::Site;

/// qmail's hop limit (qmail-inject and qmail-smtpd count 100).
const MAX_HOPS: usize = 100;

/// Why the new configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum QmailSideError {
    #[error("{0}: {1}")]
    Control(PathBuf, String),
}

/// The reference MTA's configuration under one QMAILHOME.
pub struct QmailSide<'a> {
    home: Home,
    rewriter: Rewriter,
    routes: Routes,
    default_delivery: Vec<u8>,
    site: &'a Site,
}

impl<'a> QmailSide<'a> {
    /// Reads `root`'s controls. `default_delivery` is qmail-start's
    /// argument; `None` reads `control/defaultdelivery`, else
    /// `./Maildir/`.
    pub fn load(
        root: &Path,
        default_delivery: Option<&str>,
        site: &'a Site,
    ) -> Result<QmailSide<'a>, QmailSideError> {
        let mode = if root.join(mta::home::UNPRIVILEGED_MARKER).exists() {
            Mode::Unprivileged
        } else {
            Mode::Production
        };
        let home = Home::new(root, mode);
        let c = ControlDir::new(home.control());
        let err =
            |e: &dyn std::fmt::Display| QmailSideError::Control(home.control(), e.to_string());
        let me = c.me().map_err(|e| err(&e))?;
        let list = |n: &str| c.list(n).map_err(|e| err(&e));
        let locals = match list("locals")? {
            Some(l) => l,
            None => me.clone().into_iter().collect(),
        };
        let rewriter = Rewriter {
            envnoathost: c
                .line_or_me("envnoathost", "envnoathost")
                .map_err(|e| err(&e))?,
            percenthack: DomainSet::from_lines(&list("percenthack")?.unwrap_or_default()),
            locals: DomainSet::from_lines(&locals),
            virtualdomains: VirtualDomains::from_lines(
                &list("virtualdomains")?.unwrap_or_default(),
            ),
        };
        let routes = Routes::from_lines(&list("smtproutes")?.unwrap_or_default());
        let dd = match default_delivery {
            Some(d) => d.to_string(),
            None => match std::fs::read_to_string(home.control().join("defaultdelivery")) {
                Ok(t) if !t.trim().is_empty() => t,
                _ => "./Maildir/".to_string(),
            },
        };
        let mut dd = dd.into_bytes();
        if !dd.ends_with(b"\n") {
            dd.push(b'\n');
        }
        Ok(QmailSide {
            home,
            rewriter,
            routes,
            default_delivery: dd,
            site,
        })
    }

    /// The final deliveries of `address`.
    pub fn expand(&self, address: &str) -> Vec<Delivery> {
        let mut out = Vec::new();
        self.walk(address.as_bytes(), 0, &mut HashSet::new(), &mut out);
        out
    }

    fn walk(&self, addr: &[u8], hops: usize, seen: &mut HashSet<Vec<u8>>, out: &mut Vec<Delivery>) {
        if hops >= MAX_HOPS {
            return out.push(Delivery::bounce("5.4.6"));
        }
        match self.rewriter.rewrite(addr) {
            Route::Remote(a) => {
                let text = String::from_utf8_lossy(&a).into_owned();
                let domain = text.rsplit_once('@').map_or("", |(_, d)| d);
                let relay = self
                    .routes
                    .lookup(domain.as_bytes())
                    .map(|r| String::from_utf8_lossy(&r.relay).into_owned());
                out.push(Delivery::forward(&text, relay.as_deref()));
            }
            Route::Local(a) => {
                if !seen.insert(a.to_ascii_lowercase()) {
                    return out.push(Delivery::bounce("5.4.6"));
                }
                let at = a.iter().rposition(|&c| c == b'@').unwrap_or(a.len());
                let (local, host) = (&a[..at], a.get(at + 1..).unwrap_or(b""));
                self.local(local, host, hops, seen, out);
            }
        }
    }

    fn user(&self, local: &[u8]) -> Result<UserEntry, String> {
        let cdb = self.home.path("users/cdb");
        match mta::local::users::lookup(&cdb, local) {
            Ok(Some(e)) => return Ok(e),
            Ok(None) => {}
            Err(q) => return Err(format!("users/cdb: qmail-lspawn exit {}", q.code())),
        }
        let text = String::from_utf8_lossy(local);
        if let Some((acct, ext)) = self.site.accounts.qmail_owner(&text) {
            return Ok(UserEntry {
                user: acct.name.clone().into_bytes(),
                uid: acct.uid,
                gid: acct.uid,
                home: acct.home.clone().into_bytes(),
                dash: if ext.is_some() {
                    b"-".to_vec()
                } else {
                    Vec::new()
                },
                ext: ext.unwrap_or("").as_bytes().to_vec(),
            });
        }
        mta::local::getpw::alias(&self.home, local)
            .map_err(|q| format!("no alias user: qmail-lspawn exit {}", q.code()))
    }

    fn local(
        &self,
        local: &[u8],
        host: &[u8],
        hops: usize,
        seen: &mut HashSet<Vec<u8>>,
        out: &mut Vec<Delivery>,
    ) {
        let u = match self.user(local) {
            Ok(u) => u,
            Err(reason) => return out.push(Delivery::Defer { reason }),
        };
        let Ok(message) = tempfile::tempfile() else {
            return out.push(Delivery::Defer {
                reason: "cannot create a scratch file".into(),
            });
        };
        let params = mta::local::Params {
            doit: false,
            user: u.user.clone(),
            homedir: PathBuf::from(std::ffi::OsStr::from_bytes(&u.home)),
            local: local.to_vec(),
            dash: u.dash.clone(),
            ext: u.ext.clone(),
            host: host.to_vec(),
            sender: b"verify@example.invalid".to_vec(),
            aliasempty: self.default_delivery.clone(),
            qmailhome: self.home.root.clone(),
            program_output: None,
            maildir_thread: false,
        };
        let mut notes = Vec::new();
        if let Err(e) = mta::local::deliver(&params, &message, &mut notes) {
            let text = e.to_string();
            return out.push(if e.is_permanent() {
                Delivery::bounce(&code_of(&text))
            } else {
                Delivery::Defer { reason: text }
            });
        }
        let name = String::from_utf8_lossy(&u.user).into_owned();
        for line in notes.split(|&c| c == b'\n') {
            let line = String::from_utf8_lossy(line);
            let Some((kind, arg)) = line.split_once(' ') else {
                continue;
            };
            match kind {
                "maildir" | "mbox" if !arg.starts_with('/') => out.push(Delivery::mailbox(&name)),
                "maildir" | "mbox" => out.push(Delivery::File {
                    path: arg.to_string(),
                }),
                "program" => out.push(program(arg)),
                "forward" => self.walk(arg.as_bytes(), hops + 1, seen, out),
                _ => {}
            }
        }
    }
}

/// A program line; `bouncesaying` always exits 100, so it is a bounce;
/// `cat >/dev/null` (the converter's form of sendmail's `/dev/null`)
/// discards, as the file mailer did.
fn program(cmd: &str) -> Delivery {
    let c = cmd.trim_start();
    if c == "cat >/dev/null" {
        return Delivery::File {
            path: "/dev/null".into(),
        };
    }
    if let Some(rest) = c.strip_prefix("bouncesaying") {
        if rest.is_empty() || rest.starts_with([' ', '\t']) {
            return Delivery::bounce(&code_of(rest));
        }
    }
    Delivery::Program {
        command: c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bouncesaying_is_a_bounce() {
        assert_eq!(
            program("bouncesaying 'Sorry, no mailbox here by that name. (#5.1.1)'"),
            Delivery::bounce("5.1.1")
        );
        assert_eq!(
            program("/usr/bin/prog x"),
            Delivery::Program {
                command: "/usr/bin/prog x".into()
            }
        );
        assert_eq!(
            program("bouncesayingx"),
            Delivery::Program {
                command: "bouncesayingx".into()
            }
        );
    }
}
