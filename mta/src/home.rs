//! Where the MTA lives and whose ids it runs under.
//!
//! qmail compiles its home (`conf-qmail`, `/var/qmail`) and its eight
//! accounts (`conf-users`) into every program. We resolve them at run time
//! (as notqmail does), from two environment variables:
//!
//! * `QMAILHOME` — the root (default `/var/qmail`).
//! * `MTA_MODE` — `production` (default) or `unprivileged`.
//!
//! In **production** mode the accounts `alias qmaild qmaill root qmailp
//! qmailq qmailr qmails` and the groups `qmail nofiles` are looked up in the
//! passwd and group databases, and components switch to them (spec §1.1).
//!
//! In **unprivileged** mode one ordinary user runs every component; every
//! account resolves to the current uid/gid, and nothing calls `setuid`.
//! Because the real uid then cannot say who injected a message, the
//! component that runs `qmail-queue` names its role in `MTA_ROLE`
//! (`network`, `bounce`, `alias`); see [`Accounts::invoked_how`].
//!
//! Security: a setuid program (real uid ≠ effective uid) must not trust its
//! caller's environment, so [`Home::from_env`] ignores both variables there:
//! the root is where the binary is installed (`ROOT/bin/qmail-queue`, read
//! from `/proc/self/exe`), else the compiled-in default; the mode is
//! production.

use std::path::{Path, PathBuf};

/// The compiled-in default home, as qmail's `conf-qmail`.
pub const DEFAULT_HOME: &str = "/var/qmail";
/// `conf-split`: number of queue subdirectories.
pub const SPLIT: u64 = 23;
/// `conf-spawn`: hard cap on each channel's concurrency.
pub const SPAWN_LIMIT: u32 = 120;
/// `conf-break`: user/extension separator.
pub const BREAK: u8 = b'-';
/// `conf-patrn`: forbidden mode bits on home directories and .qmail files.
pub const PATRN: u32 = 0o002;

/// How the MTA runs: under qmail's separate accounts, or as one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Production,
    Unprivileged,
}

/// The resolved home and mode.
#[derive(Debug, Clone)]
pub struct Home {
    pub root: PathBuf,
    pub mode: Mode,
}

impl Home {
    /// Reads `QMAILHOME` and `MTA_MODE`, ignoring both when setuid.
    pub fn from_env() -> Home {
        if is_setuid() {
            return Home {
                root: root_from_exe().unwrap_or_else(|| PathBuf::from(DEFAULT_HOME)),
                mode: Mode::Production,
            };
        }
        let root = std::env::var_os("QMAILHOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(root_from_argv0)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME));
        let mode = match std::env::var("MTA_MODE").as_deref() {
            Ok("unprivileged") => Mode::Unprivileged,
            Ok(_) => Mode::Production,
            Err(_) if root.join(UNPRIVILEGED_MARKER).exists() => Mode::Unprivileged,
            Err(_) => Mode::Production,
        };
        Home { root, mode }
    }

    pub fn new(root: impl Into<PathBuf>, mode: Mode) -> Home {
        Home {
            root: root.into(),
            mode,
        }
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }
    pub fn control(&self) -> PathBuf {
        self.root.join("control")
    }
    pub fn queue(&self) -> PathBuf {
        self.root.join("queue")
    }
    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }
    pub fn unprivileged(&self) -> bool {
        self.mode == Mode::Unprivileged
    }
}

/// A file at the root of an unprivileged installation (written by
/// `mta init`), so that its programs run in unprivileged mode without
/// `MTA_MODE` in the environment.
pub const UNPRIVILEGED_MARKER: &str = "unprivileged";

/// A program run as `ROOT/bin/NAME` (the links `mta init` makes) belongs to
/// `ROOT` when `ROOT/queue` exists; so `ROOT/bin/qmail-qstat` works without
/// `QMAILHOME`. argv[0] is used, not the resolved executable, because the
/// links point into the build directory.
fn root_from_argv0() -> Option<PathBuf> {
    let a0 = PathBuf::from(std::env::args_os().next()?);
    let bin = a0.parent()?;
    if bin.file_name()? != "bin" {
        return None;
    }
    let root = bin.parent()?;
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    root.join("queue").is_dir().then(|| root.to_path_buf())
}

/// For a setuid program: the root it was *installed* in. `/proc/self/exe`
/// is where the kernel found the binary, which the caller cannot forge
/// (unlike argv[0] or the environment; hard links to another's setuid file
/// are refused by `fs.protected_hardlinks`). A binary installed as
/// `ROOT/bin/NAME` with `ROOT/queue` present belongs to `ROOT`; anything
/// else gets the compiled-in default, as qmail's conf-qmail.
fn root_from_exe() -> Option<PathBuf> {
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let bin = exe.parent()?;
    if bin.file_name()? != "bin" {
        return None;
    }
    let root = bin.parent()?;
    root.join("queue").is_dir().then(|| root.to_path_buf())
}

/// True when the real and effective uids differ (a setuid program).
pub fn is_setuid() -> bool {
    nix::unistd::getuid() != nix::unistd::geteuid()
}

/// One account: name, uid, gid, home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// qmail's eight accounts and two groups (`conf-users`, `conf-groups`).
#[derive(Debug, Clone)]
pub struct Accounts {
    pub alias: Account,
    pub qmaild: Account,
    pub qmaill: Account,
    pub root: Account,
    pub qmailp: Account,
    pub qmailq: Account,
    pub qmailr: Account,
    pub qmails: Account,
    pub gid_qmail: u32,
    pub gid_nofiles: u32,
    mode: Mode,
}

/// An account or group that production mode needs is missing.
#[derive(Debug, thiserror::Error)]
#[error("unable to find {kind} {name} (production mode needs qmail's accounts; see README)")]
pub struct MissingAccount {
    pub kind: &'static str,
    pub name: String,
}

impl Accounts {
    /// Resolves the accounts for `home`. In unprivileged mode every account
    /// is the current user, and the alias user's home is `QMAILHOME/alias`.
    pub fn resolve(home: &Home) -> Result<Accounts, MissingAccount> {
        match home.mode {
            Mode::Unprivileged => Ok(Self::unprivileged(home)),
            Mode::Production => Self::production(),
        }
    }

    fn unprivileged(home: &Home) -> Accounts {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let acct = |name: &str, h: PathBuf| Account {
            name: name.to_string(),
            uid,
            gid,
            home: h,
        };
        Accounts {
            alias: acct("alias", home.path("alias")),
            qmaild: acct("qmaild", home.root.clone()),
            qmaill: acct("qmaill", home.root.clone()),
            root: acct("root", home.root.clone()),
            qmailp: acct("qmailp", home.root.clone()),
            qmailq: acct("qmailq", home.root.clone()),
            qmailr: acct("qmailr", home.root.clone()),
            qmails: acct("qmails", home.root.clone()),
            gid_qmail: gid,
            gid_nofiles: gid,
            mode: Mode::Unprivileged,
        }
    }

    fn production() -> Result<Accounts, MissingAccount> {
        let user = |name: &str| -> Result<Account, MissingAccount> {
            match nix::unistd::User::from_name(name) {
                Ok(Some(u)) => Ok(Account {
                    name: name.to_string(),
                    uid: u.uid.as_raw(),
                    gid: u.gid.as_raw(),
                    home: u.dir,
                }),
                _ => Err(MissingAccount {
                    kind: "user",
                    name: name.to_string(),
                }),
            }
        };
        let group = |name: &str| -> Result<u32, MissingAccount> {
            match nix::unistd::Group::from_name(name) {
                Ok(Some(g)) => Ok(g.gid.as_raw()),
                _ => Err(MissingAccount {
                    kind: "group",
                    name: name.to_string(),
                }),
            }
        };
        Ok(Accounts {
            alias: user("alias")?,
            qmaild: user("qmaild")?,
            qmaill: user("qmaill")?,
            root: user("root")?,
            qmailp: user("qmailp")?,
            qmailq: user("qmailq")?,
            qmailr: user("qmailr")?,
            qmails: user("qmails")?,
            gid_qmail: group("qmail")?,
            gid_nofiles: group("nofiles")?,
            mode: Mode::Production,
        })
    }

    /// The `<how>` of qmail-queue's Received line (spec §2.6) for a caller
    /// with real uid `uid`. In unprivileged mode the role comes from
    /// `MTA_ROLE`, since every component shares one uid.
    pub fn invoked_how(&self, uid: u32) -> String {
        if self.mode == Mode::Unprivileged && !is_setuid() {
            return match std::env::var("MTA_ROLE").as_deref() {
                Ok("alias") => "by alias".to_string(),
                Ok("network") => "from network".to_string(),
                Ok("bounce") => "for bounce".to_string(),
                _ => format!("by uid {uid}"),
            };
        }
        if uid == self.alias.uid {
            "by alias".to_string()
        } else if uid == self.qmaild.uid {
            "from network".to_string()
        } else if uid == self.qmails.uid {
            "for bounce".to_string()
        } else {
            format!("by uid {uid}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprivileged_accounts_are_the_current_user() {
        let home = Home::new("/tmp/q", Mode::Unprivileged);
        let a = Accounts::resolve(&home).unwrap();
        assert_eq!(a.alias.uid, nix::unistd::getuid().as_raw());
        assert_eq!(a.alias.home, PathBuf::from("/tmp/q/alias"));
    }
}
