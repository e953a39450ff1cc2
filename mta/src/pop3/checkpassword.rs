//! `mta-checkpassword`: a checkpassword-compatible program (spec §11.2)
//! over our [`super::passwd`] file.
//!
//! `mta-checkpassword prog [args...]` reads `user\0password\0timestamp\0`
//! from fd 3 (at most 512 bytes, as djb's checkpassword), looks the user
//! up, and on success sets `USER`, `HOME` and `SHELL` (`/bin/sh`), switches
//! to the user's uid and gid (production mode, running as root), changes to
//! the home directory and execs `prog args...`. In unprivileged mode it
//! never switches ids: everything runs as the one user.
//!
//! Exit codes as djb's: 1 login refused, 2 misuse (no program, fd 3
//! unreadable or malformed), 111 temporary trouble (password file, home
//! directory, exec). qmail-popup answers all of them with `-ERR
//! authorization failed`; the reason goes to stderr (netqmail's popup
//! makes that the network connection, so only [`Refusal`]'s text goes
//! out, and it says nothing about which part was wrong).
//!
//! APOP: the digest arrives in place of the password; with only hashes
//! stored it cannot be checked, so APOP logins are refused (as djb's
//! checkpassword refuses them).

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::passwd::{self, Entry, PasswdFile};
use crate::home::{Home, Mode};

/// The most fd 3 may carry (djb's checkpassword buffer).
pub const FD3_MAX: usize = 512;

pub const EXIT_REFUSED: i32 = 1;
pub const EXIT_MISUSE: i32 = 2;
pub const EXIT_TEMPORARY: i32 = 111;

/// The fd 3 data.
#[derive(PartialEq, Eq)]
pub struct Credentials {
    pub user: Vec<u8>,
    pub password: Vec<u8>,
    /// The APOP challenge; empty when absent.
    pub timestamp: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &String::from_utf8_lossy(&self.user))
            .finish_non_exhaustive()
    }
}

/// Splits the fd 3 data. User and password must each end with a NUL;
/// the timestamp may be missing (other checkpassword callers omit it).
pub fn parse_fd3(data: &[u8]) -> Option<Credentials> {
    let mut fields = data.splitn(3, |&c| c == 0);
    let user = fields.next()?;
    let password = fields.next()?;
    let rest = fields.next()?;
    let timestamp = rest.split(|&c| c == 0).next().unwrap_or_default();
    Some(Credentials {
        user: user.to_vec(),
        password: password.to_vec(),
        timestamp: timestamp.to_vec(),
    })
}

/// Why a login was not accepted, with the exit code.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("login refused")]
    Refused,
    #[error("{0}")]
    Temporary(String),
}

impl Refusal {
    pub fn exit_code(&self) -> i32 {
        match self {
            Refusal::Refused => EXIT_REFUSED,
            Refusal::Temporary(_) => EXIT_TEMPORARY,
        }
    }
}

/// Checks the credentials against `file`.
pub fn check<'f>(file: &'f PasswdFile, c: &Credentials) -> Result<&'f Entry, Refusal> {
    let entry = std::str::from_utf8(&c.user).ok().and_then(|u| file.get(u));
    match entry {
        Some(e) if passwd::verify(&c.password, &e.hash) => Ok(e),
        Some(_) => Err(Refusal::Refused),
        None => {
            passwd::verify_nobody(&c.password);
            Err(Refusal::Refused)
        }
    }
}

/// Reads fd 3 to its end. `Err` is the exit code.
fn read_fd3() -> Result<Vec<u8>, i32> {
    // SAFETY: F_GETFD only asks whether fd 3 is open.
    if unsafe { libc::fcntl(3, libc::F_GETFD) } == -1 {
        eprintln!("mta-checkpassword: fd 3 is not open (run me from qmail-popup)");
        return Err(EXIT_MISUSE);
    }
    // SAFETY: fd 3 is open and by the checkpassword interface it is ours
    // to read and close; nothing else in this process uses it.
    let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(3) });
    let mut data = Vec::new();
    let mut buf = [0u8; FD3_MAX];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(data),
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                if data.len() >= FD3_MAX {
                    data.fill(0);
                    return Err(EXIT_REFUSED);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("mta-checkpassword: unable to read fd 3: {e}");
                return Err(EXIT_TEMPORARY);
            }
        }
    }
}

/// Switches to the account's ids in production mode when running as root.
fn become_user(mode: Mode, e: &Entry) -> Result<(), Refusal> {
    use nix::unistd::{geteuid, setgid, setgroups, setuid, Gid, Uid};
    if mode != Mode::Production {
        return Ok(());
    }
    if !geteuid().is_root() {
        if geteuid().as_raw() == e.uid {
            return Ok(());
        }
        return Err(Refusal::Temporary(format!(
            "unable to switch to uid {} of user {}: not running as root",
            e.uid, e.user
        )));
    }
    let gid = Gid::from_raw(e.gid);
    let fail = |what: &str, err: nix::Error| {
        Refusal::Temporary(format!("unable to set {what} of user {}: {err}", e.user))
    };
    setgroups(&[gid]).map_err(|err| fail("groups", err))?;
    setgid(gid).map_err(|err| fail("gid", err))?;
    setuid(Uid::from_raw(e.uid)).map_err(|err| fail("uid", err))
}

/// The program's main; `args` are the arguments after its name. Returns
/// only on failure, with the exit code.
pub fn run(args: &[OsString]) -> i32 {
    let Some(program) = args.first() else {
        eprintln!("mta-checkpassword: usage: mta-checkpassword program [arg ...]");
        return EXIT_MISUSE;
    };
    let data = match read_fd3() {
        Ok(d) => d,
        Err(code) => return code,
    };
    let Some(mut cred) = parse_fd3(&data) else {
        eprintln!("mta-checkpassword: fd 3 data is not user\\0password\\0");
        return EXIT_MISUSE;
    };
    drop(data);
    let home = Home::from_env();
    let path = passwd::path(&home);
    let file = match PasswdFile::load(&path, false) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mta-checkpassword: {e}");
            return EXIT_TEMPORARY;
        }
    };
    let checked = check(&file, &cred);
    cred.password.fill(0);
    let entry = match checked.and_then(|e| become_user(home.mode, e).map(|()| e)) {
        Ok(e) => e,
        Err(r) => {
            if let Refusal::Temporary(text) = &r {
                eprintln!("mta-checkpassword: {text}");
            }
            return r.exit_code();
        }
    };
    if let Err(e) = std::env::set_current_dir(&entry.home) {
        eprintln!(
            "mta-checkpassword: unable to chdir to {}: {e}",
            entry.home.display()
        );
        return EXIT_TEMPORARY;
    }
    let err = Command::new(program)
        .args(&args[1..])
        .env("USER", &entry.user)
        .env("HOME", &entry.home)
        .env("SHELL", "/bin/sh")
        .exec();
    eprintln!(
        "mta-checkpassword: unable to run {}: {err}",
        program.to_string_lossy()
    );
    EXIT_TEMPORARY
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn fd3_fields() {
        let c = parse_fd3(b"joe\0pw\0<1.2@h>\0").unwrap();
        assert_eq!(
            (c.user.as_slice(), c.password.as_slice()),
            (&b"joe"[..], &b"pw"[..])
        );
        assert_eq!(c.timestamp, b"<1.2@h>");
        assert_eq!(parse_fd3(b"joe\0pw\0").unwrap().timestamp, b"");
        assert!(parse_fd3(b"joe\0pw").is_none());
        assert!(parse_fd3(b"joe").is_none());
        assert!(parse_fd3(b"").is_none());
        assert!(!format!("{c:?}").contains("pw"));
    }

    #[test]
    fn check_accepts_only_the_right_password_of_a_known_user() {
        let h = passwd::hash(b"right").unwrap();
        let text = format!("joe:{h}:1:2:/home/joe\nlocked:*:1:2:/h\n");
        let f = PasswdFile::parse(&text, Path::new("pw")).unwrap();
        let cred = |u: &str, p: &str| parse_fd3(format!("{u}\0{p}\0<t>\0").as_bytes()).unwrap();
        assert_eq!(check(&f, &cred("joe", "right")).unwrap().user, "joe");
        assert!(matches!(
            check(&f, &cred("joe", "wrong")),
            Err(Refusal::Refused)
        ));
        assert!(matches!(
            check(&f, &cred("ann", "right")),
            Err(Refusal::Refused)
        ));
        assert!(matches!(
            check(&f, &cred("locked", "")),
            Err(Refusal::Refused)
        ));
        assert_eq!(Refusal::Refused.exit_code(), 1);
        assert_eq!(Refusal::Temporary("x".into()).exit_code(), 111);
    }

    #[test]
    fn unprivileged_mode_never_switches_ids() {
        let e = Entry {
            user: "joe".into(),
            hash: String::new(),
            uid: 12345,
            gid: 12345,
            home: "/".into(),
        };
        assert!(become_user(Mode::Unprivileged, &e).is_ok());
        assert_ne!(nix::unistd::geteuid().as_raw(), 12345);
    }
}
