//! Running `qmail-queue` as a client: qmail's `qmail.c` (`qmail_open`,
//! `qmail_close`), used by everything that injects mail (forwarding in
//! qmail-local, bounces in qmail-send, and later the SMTP server).
//!
//! The program is `$QMAILQUEUE` if set (relative to QMAILHOME), else
//! `QMAILHOME/bin/qmail-queue` (spec §2.3). It gets the message on fd 0
//! and the envelope on fd 1, and answers with an exit code that
//! [`qq_text`] turns into qmail's text (spec §2.2).

use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Why an injection failed, with qmail's text (without the D/Z letter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct QqError {
    pub permanent: bool,
    pub text: String,
}

impl QqError {
    fn temp(text: &str) -> QqError {
        QqError {
            permanent: false,
            text: text.to_string(),
        }
    }
    fn perm(text: &str) -> QqError {
        QqError {
            permanent: true,
            text: text.to_string(),
        }
    }
    /// The text with its qmail letter in front (`D...` or `Z...`).
    pub fn lettered(&self) -> String {
        format!("{}{}", if self.permanent { 'D' } else { 'Z' }, self.text)
    }
}

/// Maps a qmail-queue exit status to qmail's text (spec §2.2).
pub fn qq_text(status: ExitStatus) -> Result<(), QqError> {
    let code = match status.code() {
        Some(c) => c,
        None => {
            debug_assert!(status.signal().is_some());
            return Err(QqError::temp("qq crashed (#4.3.0)"));
        }
    };
    Err(match code {
        0 => return Ok(()),
        11 | 115 => QqError::perm("envelope address too long for qq (#5.1.3)"),
        31 => QqError::perm("mail server permanently rejected message (#5.3.0)"),
        51 => QqError::temp("qq out of memory (#4.3.0)"),
        52 => QqError::temp("qq timeout (#4.3.0)"),
        53 => QqError::temp("qq write error or disk full (#4.3.0)"),
        54 => QqError::temp("qq read error (#4.3.0)"),
        55 => QqError::temp("qq unable to read configuration (#4.3.0)"),
        56 => QqError::temp("qq trouble making network connection (#4.3.0)"),
        61 => QqError::temp("qq trouble in home directory (#4.3.0)"),
        62..=66 => QqError::temp("qq trouble creating files in queue (#4.3.0)"),
        71 => QqError::temp("mail server temporarily rejected message (#4.3.0)"),
        72 => QqError::temp("connection to mail server timed out (#4.4.1)"),
        73 => QqError::temp("connection to mail server rejected (#4.4.1)"),
        74 => QqError::temp("communication with mail server failed (#4.4.2)"),
        81 | 91 => QqError::temp("qq internal bug (#4.3.0)"),
        120 => QqError::temp("unable to exec qq (#4.3.0)"),
        11..=40 => QqError::perm("qq permanent problem (#5.3.0)"),
        _ => QqError::temp("qq temporary problem (#4.3.0)"),
    })
}

/// The program to run: `$QMAILQUEUE` (relative to `home`) or
/// `home/bin/qmail-queue`.
pub fn program(home: &Path) -> PathBuf {
    match std::env::var_os("QMAILQUEUE").filter(|v| !v.is_empty()) {
        Some(v) => home.join(v),
        None => home.join("bin").join("qmail-queue"),
    }
}

/// Encodes an envelope as qmail-queue reads it: `F<sender>\0`, then
/// `T<recip>\0` per recipient, then one more `\0`.
pub fn envelope(sender: &[u8], recipients: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::with_capacity(
        sender.len() + 3 + recipients.iter().map(|r| r.len() + 2).sum::<usize>(),
    );
    v.push(b'F');
    v.extend_from_slice(sender);
    v.push(0);
    for r in recipients {
        v.push(b'T');
        v.extend_from_slice(r);
        v.push(0);
    }
    v.push(0);
    v
}

/// One injection in progress. Write the message with [`Write`], then call
/// [`Injection::finish`] with the envelope.
pub struct Injection {
    child: std::process::Child,
    message: Option<std::process::ChildStdin>,
    envelope: Option<std::fs::File>,
    write_error: bool,
}

impl Injection {
    /// Starts the queue program for `home`. `role` is set as `MTA_ROLE`
    /// for unprivileged mode (see [`crate::home`]).
    pub fn start(home: &Path, role: Option<&str>) -> Result<Injection, QqError> {
        // Close-on-exec, so that only qmail-queue's fd 1 (dup2'ed by std)
        // holds the read end, and the write end stays ours alone: then
        // qmail-queue sees EOF on the envelope when we close it.
        let (env_r, env_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|_| QqError::temp("unable to exec qq (#4.3.0)"))?;
        let mut cmd = Command::new(program(home));
        cmd.current_dir(home)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(env_r))
            .stderr(Stdio::inherit());
        if let Some(r) = role {
            cmd.env("MTA_ROLE", r);
        }
        let mut child = cmd
            .spawn()
            .map_err(|_| QqError::temp("unable to exec qq (#4.3.0)"))?;
        let message = child.stdin.take();
        Ok(Injection {
            child,
            message,
            envelope: Some(std::fs::File::from(env_w)),
            write_error: false,
        })
    }

    /// The pid of the queue program: qmail's "qp".
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Copies `r` into the message.
    pub fn copy_from(&mut self, r: &mut dyn Read) -> io::Result<u64> {
        match self.message.as_mut() {
            Some(m) => io::copy(r, m).inspect_err(|_| self.write_error = true),
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        }
    }

    /// Closes the message, writes the envelope, waits for the exit code.
    /// Returns the qp on success.
    pub fn finish(mut self, sender: &[u8], recipients: &[Vec<u8>]) -> Result<u32, QqError> {
        drop(self.message.take());
        if let Some(mut e) = self.envelope.take() {
            // After a failed message write the envelope is withheld, so a
            // still-running qmail-queue cannot commit a truncated message.
            if self.write_error || e.write_all(&envelope(sender, recipients)).is_err() {
                self.write_error = true;
            }
        }
        let pid = self.child.id();
        let status = self
            .child
            .wait()
            .map_err(|_| QqError::temp("qq waitpid surprise (#4.3.0)"))?;
        qq_text(status)?;
        if self.write_error {
            return Err(QqError::temp("qq read error (#4.3.0)"));
        }
        Ok(pid)
    }
}

impl Injection {
    /// Gives up: closes both pipes without an envelope (so nothing is
    /// queued) and reaps the child.
    pub fn abort(mut self) {
        drop(self.message.take());
        drop(self.envelope.take());
        let _ = self.child.wait();
    }
}

impl Write for Injection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.message.as_mut() {
            Some(m) => m.write(buf).inspect_err(|_| self.write_error = true),
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.message.as_mut() {
            Some(m) => m.flush(),
            None => Ok(()),
        }
    }
}

/// Injects a whole message held in memory. Returns the qp.
pub fn inject(
    home: &Path,
    role: Option<&str>,
    message: &[u8],
    sender: &[u8],
    recipients: &[Vec<u8>],
) -> Result<u32, QqError> {
    let mut inj = Injection::start(home, role)?;
    // A write error is remembered and reported by finish().
    let _ = inj.write_all(message);
    inj.finish(sender, recipients)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn exit_codes_map_to_qmail_texts() {
        assert!(qq_text(status(0)).is_ok());
        let e = qq_text(status(31)).unwrap_err();
        assert!(e.permanent);
        assert_eq!(
            e.lettered(),
            "Dmail server permanently rejected message (#5.3.0)"
        );
        assert_eq!(
            qq_text(status(71)).unwrap_err().lettered(),
            "Zmail server temporarily rejected message (#4.3.0)"
        );
        assert_eq!(
            qq_text(status(20)).unwrap_err().text,
            "qq permanent problem (#5.3.0)"
        );
        assert_eq!(
            qq_text(status(99)).unwrap_err().text,
            "qq temporary problem (#4.3.0)"
        );
        assert_eq!(
            qq_text(ExitStatus::from_raw(9)).unwrap_err().text,
            "qq crashed (#4.3.0)"
        );
    }

    #[test]
    fn envelope_encoding() {
        assert_eq!(envelope(b"a@b", &[b"c@d".to_vec()]), b"Fa@b\0Tc@d\0\0");
        assert_eq!(envelope(b"", &[]), b"F\0\0");
    }

    #[test]
    fn inject_runs_queueprogram_with_fds() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("fakeqq");
        // Saves fd 0 and fd 1 so the test can see both.
        std::fs::write(&script, "#!/bin/sh\ncat > msg\ncat <&1 > env\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::env::set_var("QMAILQUEUE", "fakeqq");
        let r = inject(d.path(), None, b"hello\n", b"s@x", &[b"r@y".to_vec()]);
        std::env::remove_var("QMAILQUEUE");
        r.unwrap();
        assert_eq!(std::fs::read(d.path().join("msg")).unwrap(), b"hello\n");
        assert_eq!(
            std::fs::read(d.path().join("env")).unwrap(),
            b"Fs@x\0Tr@y\0\0"
        );
    }
}
