//! qmail-local's failures (spec §5.3–5.6, Appendix C), each with qmail's
//! exact text and its permanence (exit 100 or 111).
//!
//! File names and commands inside texts come from .qmail files and
//! arguments; they are shown with lossy UTF-8 conversion, which only
//! differs from qmail for names that are not valid UTF-8.

use crate::queue::client::QqError;

/// Why qmail-local did not (completely) deliver.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty")]
    Usage,
    #[error("Sorry, no mailbox here by that name. (#5.1.1)")]
    NoMailbox,
    #[error("This message is looping: it already has my Delivered-To line. (#5.4.6)")]
    Looping,
    #[error("Unable to forward message: {}.", .0.text)]
    Forward(QqError),
    /// A program line failed; its own output is the explanation, so
    /// qmail-local adds no text.
    #[error("")]
    Program { permanent: bool },
    #[error("Uh-oh: home directory is writable. (#4.7.0)")]
    HomeWritable,
    #[error("Home directory is sticky: user is editing his .qmail file. (#4.2.1)")]
    HomeSticky,
    #[error("Uh-oh: .qmail file is writable. (#4.7.0)")]
    QmailWritable,
    #[error("Uh-oh: first line of .qmail file is blank. (#4.2.1)")]
    BlankFirstLine,
    #[error("Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)")]
    XbitFile,
    #[error("Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)")]
    XbitProg,
    #[error("Unable to switch to {home}: {err}. (#4.3.0)")]
    ChdirHome { home: String, err: &'static str },
    #[error("Unable to stat home directory: {err}. (#4.3.0)")]
    StatHome { err: &'static str },
    #[error("Unable to open {file}: {err}. (#4.3.0)")]
    OpenQmail { file: String, err: &'static str },
    #[error("Unable to open {path}: {err}. (#4.2.1)")]
    OpenMbox { path: String, err: &'static str },
    #[error("Unable to write {path}: {err}. (#4.3.0)")]
    WriteMbox { path: String, err: &'static str },
    #[error("Unable to read message: {err}. (#4.3.0)")]
    ReadMessage { err: &'static str },
    #[error("File has been locked for 30 seconds straight. (#4.3.0)")]
    SlowLock,
    #[error("Unable to chdir to maildir. (#4.2.1)")]
    MaildirChdir,
    #[error("Timeout on maildir delivery. (#4.3.0)")]
    MaildirTimeout,
    #[error("Unable to read message. (#4.3.0)")]
    MaildirRead,
    #[error("Temporary error on maildir delivery. (#4.3.0)")]
    MaildirTemp,
    #[error("Unable to run /bin/sh: {err}. (#4.3.0)")]
    RunShell { err: &'static str },
    /// Ours, not qmail's: a program line ran past `control/timeoutlocal`
    /// and was killed with its process group.
    #[error("Timeout on program delivery. (#4.3.0)")]
    ProgramTimeout,
    /// Ours: `control/timeoutlocal` exists but cannot be read (qmail-remote's
    /// text for the same trouble).
    #[error("Unable to read control files. (#4.3.0)")]
    Controls,
    #[error("Aack, child crashed. (#4.3.0)")]
    ChildCrashed,
    #[error("Unable to fork: {err}. (#4.3.0)")]
    Fork { err: &'static str },
    #[error("Unable to rewind message. (#4.3.0)")]
    Rewind,
    #[error("Out of memory. (#4.3.0)")]
    NoMem,
}

impl LocalError {
    /// Permanent failures bounce; everything else is retried.
    pub fn is_permanent(&self) -> bool {
        match self {
            LocalError::Usage | LocalError::NoMailbox | LocalError::Looping => true,
            LocalError::Forward(q) => q.permanent,
            LocalError::Program { permanent } => *permanent,
            _ => false,
        }
    }

    /// qmail-local's exit code: 100 permanent, 111 temporary.
    pub fn exit_code(&self) -> i32 {
        if self.is_permanent() {
            100
        } else {
            111
        }
    }
}

/// Lossy text of a byte string for messages.
pub(crate) fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_codes() {
        assert_eq!(LocalError::NoMailbox.exit_code(), 100);
        assert_eq!(LocalError::HomeWritable.exit_code(), 111);
        let e = LocalError::Forward(QqError {
            permanent: true,
            text: "qq permanent problem (#5.3.0)".into(),
        });
        assert_eq!(
            e.to_string(),
            "Unable to forward message: qq permanent problem (#5.3.0)."
        );
        assert_eq!(e.exit_code(), 100);
        let e = LocalError::OpenMbox {
            path: "./Mailbox".into(),
            err: "access denied",
        };
        assert_eq!(
            e.to_string(),
            "Unable to open ./Mailbox: access denied. (#4.2.1)"
        );
        assert_eq!(LocalError::Program { permanent: false }.to_string(), "");
    }
}
