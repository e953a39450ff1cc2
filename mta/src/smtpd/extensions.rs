//! The SMTP extensions beyond netqmail: STARTTLS, AUTH, SIZE. Each is off
//! in a stock configuration, so that the EHLO reply and every other answer
//! stay exactly netqmail's (spec §7.3) until the administrator opts in:
//!
//! | control file | effect |
//! |---|---|
//! | `control/servercert.pem` (certificate chain and key in one PEM file, as the qmail TLS patch reads it) | `STARTTLS` is offered (only by a driver that can do TLS: `mta-listen`) |
//! | `control/smtpauth` (first line: a checkpassword command line) | `AUTH LOGIN PLAIN` is offered after STARTTLS; authenticated clients may relay |
//! | `control/smtpauthplaintext` (exists) | AUTH is offered without TLS too |
//! | `control/smtpsize` (exists) and `control/databytes` > 0 (or `DATABYTES`) | `SIZE <databytes>` is offered, and `MAIL FROM:<x> SIZE=n` with n over the limit gets the 552 at once |
//!
//! The session decides *what* to say; the drivers do the TLS handshake and
//! run checkpassword ([`check_password`]).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::control::{ControlDir, ControlError};
use crate::smtpd::auth::{checkpassword_input, Verdict};

/// Which extensions the controls enable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// `control/servercert.pem`, when it exists.
    pub servercert: Option<PathBuf>,
    /// `control/smtpauth`: the checkpassword program and its arguments.
    pub checkpassword: Option<Vec<String>>,
    /// `control/smtpauthplaintext` exists: AUTH without TLS.
    pub auth_plaintext: bool,
    /// `control/smtpsize` exists: SIZE (RFC 1870) is offered and checked
    /// when there is a size limit. Opt-in, because netqmail with only
    /// `databytes` says nothing about sizes before DATA.
    pub size: bool,
}

impl Extensions {
    pub fn load(c: &ControlDir) -> Result<Extensions, ControlError> {
        let exists = |name: &str| -> Result<Option<PathBuf>, ControlError> {
            let path = c.path(name);
            match std::fs::metadata(&path) {
                Ok(_) => Ok(Some(path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(ControlError { path, source }),
            }
        };
        let checkpassword = c
            .line("smtpauth")?
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .filter(|v| !v.is_empty());
        Ok(Extensions {
            servercert: exists("servercert.pem")?,
            checkpassword,
            auth_plaintext: exists("smtpauthplaintext")?.is_some(),
            size: exists("smtpsize")?.is_some(),
        })
    }
}

/// The `SIZE=n` parameter of a MAIL argument (RFC 1870), if any: looked
/// for only after the `<...>` address (whose end is found as qmail finds
/// it: the first `>` outside quotes, backslash escaping one byte).
pub fn mail_size(arg: &[u8]) -> Option<u64> {
    let start = arg.iter().position(|&c| c == b'<')? + 1;
    let (mut quoted, mut escaped) = (false, false);
    let mut end = None;
    for (i, &c) in arg[start..].iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            b'\\' => escaped = true,
            b'"' => quoted = !quoted,
            b'>' if !quoted => {
                end = Some(start + i + 1);
                break;
            }
            _ => {}
        }
    }
    arg[end?..]
        .split(|&c| c == b' ')
        .filter_map(|p| {
            let (k, v) = p.split_at(p.iter().position(|&c| c == b'=')?);
            let v = &v[1..];
            (k.eq_ignore_ascii_case(b"size") && !v.is_empty() && v.iter().all(u8::is_ascii_digit))
                .then(|| {
                    v.iter().fold(0u64, |n, &d| {
                        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                    })
                })
        })
        .next()
}

/// Runs checkpassword with `user\0password\0\0` on fd 3 and waits for
/// its verdict. Blocking: the listener calls it from a blocking task.
pub fn check_password(argv: &[String], user: &[u8], password: &[u8]) -> Verdict {
    let Some((prog, args)) = argv.split_first() else {
        return Verdict::Temporary;
    };
    let Ok((r, w)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return Verdict::Temporary;
    };
    // The credentials are far smaller than a pipe's buffer, so they are
    // written before the child starts and no deadlock is possible.
    let mut w = std::fs::File::from(w);
    if w.write_all(&checkpassword_input(user, password)).is_err() {
        return Verdict::Temporary;
    }
    drop(w);
    let fd = r.as_raw_fd();
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: between fork and exec only async-signal-safe calls are
    // made (dup2, fcntl), on descriptors this process owns.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                // dup2 onto itself would keep close-on-exec.
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status();
    drop(r);
    match status {
        Ok(st) => Verdict::from_exit(st.code()),
        Err(_) => Verdict::Temporary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_parameter_after_the_address() {
        assert_eq!(mail_size(b"FROM:<a@b> SIZE=1000"), Some(1000));
        assert_eq!(mail_size(b"FROM:<a@b> BODY=8BITMIME size=7"), Some(7));
        assert_eq!(mail_size(b"FROM:<a@b>"), None);
        assert_eq!(mail_size(b"FROM:<\"x> SIZE=5\"@b>"), None);
        assert_eq!(mail_size(b"FROM:<a@b> SIZE=x1"), None);
        assert_eq!(mail_size(b"FROM:a@b SIZE=5"), None);
    }

    #[test]
    fn controls_enable_extensions() {
        let d = tempfile::tempdir().unwrap();
        let c = ControlDir::new(d.path());
        assert_eq!(Extensions::load(&c).unwrap(), Extensions::default());
        std::fs::write(d.path().join("servercert.pem"), "x").unwrap();
        std::fs::write(d.path().join("smtpauth"), "/bin/cp /bin/true\n").unwrap();
        std::fs::write(d.path().join("smtpauthplaintext"), "").unwrap();
        std::fs::write(d.path().join("smtpsize"), "").unwrap();
        let e = Extensions::load(&c).unwrap();
        assert!(e.size);
        assert_eq!(e.servercert, Some(d.path().join("servercert.pem")));
        assert_eq!(e.checkpassword.unwrap(), ["/bin/cp", "/bin/true"]);
        assert!(e.auth_plaintext);
    }

    #[test]
    fn checkpassword_reads_fd3_and_exit_codes_decide() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("cp");
        let seen = d.path().join("seen");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ncat <&3 > {}\ntest \"$(tr '\\0' : < {})\" = 'joe:pw::' && exit 0\nexit 1\n",
                seen.display(),
                seen.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let argv = vec![script.display().to_string()];
        assert_eq!(check_password(&argv, b"joe", b"pw"), Verdict::Accepted);
        assert_eq!(std::fs::read(&seen).unwrap(), b"joe\0pw\0\0");
        assert_eq!(check_password(&argv, b"joe", b"no"), Verdict::Rejected);
        let missing = vec![d.path().join("nope").display().to_string()];
        assert_eq!(check_password(&missing, b"joe", b"pw"), Verdict::Temporary);
    }
}
