//! qmail-rspawn as a [`Spawner`] (spec §1.5): one qmail-remote per
//! delivery, its output collapsed into one K/Z/D report.
//!
//! The program is `$QMAILREMOTE` if set (notqmail; looked up on `PATH` if
//! it has no slash), else `QMAILHOME/bin/qmail-remote`. Its arguments are
//! `<domain> <sender> <recipient>`, the domain being what follows the last
//! `@` of the recipient.
//!
//! [`collapse`] is netqmail's `report()` as a pure function over the exit
//! status and the raw output. It needs the output *uncut*: qmail-rspawn,
//! unlike qmail-lspawn, does not truncate child output, and the NUL bytes
//! between qmail-remote's reports are what it parses.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command as ProcessCommand, ExitStatus};

use crate::home::Home;
use crate::spawn::{Command, Report, Spawner, Status};

/// Starts qmail-remote for each delivery.
///
/// When neither `$QMAILREMOTE` nor `MTA_REMOTE_EXEC=1` is set, the delivery
/// runs on the spawn's own thread instead ([`Spawner::inline`]): qmail-rspawn
/// and qmail-remote run under the same uid (`qmailr`) in qmail, so nothing
/// is lost in separation, and a fork and exec per delivery is saved. The
/// report is the same, built from the same code as the binary.
#[derive(Debug, Clone)]
pub struct RSpawn {
    program: OsString,
    /// Run qmail-remote in-process with this home (None: always exec).
    inline_home: Option<Home>,
}

impl RSpawn {
    /// `$QMAILREMOTE`, else `QMAILHOME/bin/qmail-remote`.
    pub fn from_env(home: &Home) -> RSpawn {
        let custom = std::env::var_os("QMAILREMOTE").filter(|v| !v.is_empty());
        let exec = std::env::var_os("MTA_REMOTE_EXEC").is_some_and(|v| v == "1");
        let inline_home = (custom.is_none() && !exec).then(|| home.clone());
        let program = custom.unwrap_or_else(|| home.bin().join("qmail-remote").into_os_string());
        RSpawn {
            program,
            inline_home,
        }
    }

    /// A fixed program (tests).
    pub fn with_program(program: impl Into<OsString>) -> RSpawn {
        RSpawn {
            program: program.into(),
            inline_home: None,
        }
    }

    /// qmail-rspawn's start-up: zero the timeout table (`tcpto_clean`).
    pub fn start(queue: &Path) {
        super::tcpto::clean(queue);
    }
}

impl Spawner for RSpawn {
    fn command(&self, cmd: &Command) -> Result<ProcessCommand, Report> {
        let (_, domain) = cmd.split_recipient();
        let mut c = ProcessCommand::new(&self.program);
        c.arg(OsStr::from_bytes(domain))
            .arg(OsStr::from_bytes(&cmd.sender))
            .arg(OsStr::from_bytes(&cmd.recipient));
        Ok(c)
    }

    fn report(&self, _cmd: &Command, status: ExitStatus, output: Vec<u8>) -> Report {
        collapse(status, &output)
    }

    fn inline(&self, cmd: &Command, msg: &std::fs::File) -> Option<Report> {
        let home = self.inline_home.as_ref()?;
        let (_, domain) = cmd.split_recipient();
        let args = [domain.to_vec(), cmd.sender.clone(), cmd.recipient.clone()];
        let mut m = msg;
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::deliver::qmail_remote(home, &args, &mut m)
        }));
        Some(match out {
            Ok(out) => collapse(ExitStatus::from_raw(0), &out),
            Err(_) => Report::deferral("qmail-remote crashed.\n"),
        })
    }
}

/// The bytes up to (not including) the first NUL at or after `from`, as
/// C's `substdio_puts(ss, s + from)` writes them.
fn c_str(s: &[u8], from: usize) -> &[u8] {
    let s = s.get(from..).unwrap_or(&[]);
    match s.iter().position(|&c| c == 0) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// netqmail's `report()` in qmail-rspawn.c: qmail-remote's exit status and
/// output → the one report qmail-send receives.
pub fn collapse(status: ExitStatus, s: &[u8]) -> Report {
    if status.signal().is_some() {
        return Report::deferral("qmail-remote crashed.\n");
    }
    match status.code() {
        Some(0) => {}
        Some(111) => return Report::deferral("Unable to run qmail-remote.\n"),
        _ => return Report::failure("Unable to run qmail-remote.\n"),
    }
    if s.is_empty() {
        return Report::deferral("qmail-remote produced no output.\n");
    }

    // result: the first NUL-terminated segment starting with K/Z/D
    // (1 success, 0 temporary, -1 permanent or none).
    let mut result = -1;
    let mut j = 0;
    for k in 0..s.len() {
        if s[k] == 0 {
            match s[j] {
                b'K' => {
                    result = 1;
                    break;
                }
                b'Z' => {
                    result = 0;
                    break;
                }
                b'D' => break,
                _ => j = k + 1,
            }
        }
    }
    let overall = match s[0] {
        b's' => 0,
        b'h' => -1,
        _ => result,
    };
    let status = match overall {
        1 => Status::Success,
        0 => Status::Deferral,
        _ => Status::Failure,
    };

    // The first segment without its letter; then, if the message result
    // is no better than the overall status, the second segment without its
    // letter when that one is a message report.
    let mut text = Vec::new();
    if let Some(nul) = s.iter().skip(1).position(|&c| c == 0) {
        let k = nul + 2; // index just past the first NUL
        text.extend_from_slice(c_str(s, 1));
        if result <= overall && k < s.len() && matches!(s[k], b'K' | b'Z' | b'D') {
            text.extend_from_slice(c_str(s, k + 1));
        }
    }
    Report::new(status, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> ExitStatus {
        ExitStatus::from_raw(0)
    }

    fn text(r: &Report) -> String {
        String::from_utf8_lossy(&r.text).into_owned()
    }

    #[test]
    fn accepted() {
        let r = collapse(
            ok(),
            b"r\0K1.2.3.4 accepted message.\nRemote host said: 250 ok 1700000000 qp 4242\n\0",
        );
        assert_eq!(r.status, Status::Success);
        assert_eq!(
            text(&r),
            "1.2.3.4 accepted message.\nRemote host said: 250 ok 1700000000 qp 4242\n"
        );
    }

    #[test]
    fn hard_rejected_recipient() {
        let r = collapse(
            ok(),
            b"h1.2.3.4 does not like recipient.\nRemote host said: 550 no such user\n\0\
              DGiving up on 1.2.3.4.\n\0",
        );
        assert_eq!(r.status, Status::Failure);
        assert_eq!(
            text(&r),
            "1.2.3.4 does not like recipient.\nRemote host said: 550 no such user\nGiving up on 1.2.3.4.\n"
        );
    }

    #[test]
    fn soft_rejected_recipient() {
        let r = collapse(
            ok(),
            b"s1.2.3.4 does not like recipient.\nRemote host said: 450 try later\n\0\
              DGiving up on 1.2.3.4.\n\0",
        );
        assert_eq!(r.status, Status::Deferral);
        assert_eq!(
            text(&r),
            "1.2.3.4 does not like recipient.\nRemote host said: 450 try later\nGiving up on 1.2.3.4.\n"
        );
    }

    #[test]
    fn connection_never_made() {
        let r = collapse(
            ok(),
            b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0",
        );
        assert_eq!(r.status, Status::Deferral);
        assert_eq!(
            text(&r),
            "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"
        );
    }

    #[test]
    fn accepted_recipient_but_message_failed() {
        let r = collapse(ok(), b"r\0D1.2.3.4 failed after I sent the message.\n\0");
        assert_eq!(r.status, Status::Failure);
        assert_eq!(text(&r), "1.2.3.4 failed after I sent the message.\n");
    }

    #[test]
    fn exit_status_and_empty_output() {
        let r = collapse(ExitStatus::from_raw(9), b"K\0"); // killed by SIGKILL
        assert_eq!(
            (r.status, text(&r).as_str()),
            (Status::Deferral, "qmail-remote crashed.\n")
        );
        let r = collapse(ExitStatus::from_raw(111 << 8), b"");
        assert_eq!(
            (r.status, text(&r).as_str()),
            (Status::Deferral, "Unable to run qmail-remote.\n")
        );
        let r = collapse(ExitStatus::from_raw(100 << 8), b"");
        assert_eq!(
            (r.status, text(&r).as_str()),
            (Status::Failure, "Unable to run qmail-remote.\n")
        );
        let r = collapse(ok(), b"");
        assert_eq!(
            (r.status, text(&r).as_str()),
            (Status::Deferral, "qmail-remote produced no output.\n")
        );
    }

    #[test]
    fn garbage_without_a_message_report_is_permanent() {
        let r = collapse(ok(), b"xyz");
        assert_eq!(r.status, Status::Failure);
        assert_eq!(text(&r), "");
    }

    #[test]
    fn command_is_domain_sender_recipient() {
        let sp = RSpawn::with_program("/bin/echo");
        let cmd = Command {
            slot: 0,
            messid: b"1/2".to_vec(),
            sender: b"s@a".to_vec(),
            recipient: b"u@x@b.org".to_vec(),
        };
        let c = sp.command(&cmd).unwrap();
        let args: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, vec!["b.org", "s@a", "u@x@b.org"]);
        assert_eq!(c.get_program(), "/bin/echo");
    }
}
