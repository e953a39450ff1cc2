//! qmail-lspawn: turning a recipient into a qmail-local run (spec §1.4).
//!
//! [`LocalSpawner`] implements the shared [`Spawner`] trait; the spawn
//! server (`spawn::server`) does the framing and the process plumbing.
//!
//! Differences from qmail's process layout, with the reasons:
//! * qmail forks a child that looks the user up (users/cdb, then an exec
//!   of qmail-getpw as `qmailp`) and exits with a `QLX_*` code on trouble.
//!   We do the lookup in the spawn itself, calling [`getpw::getpw`] as a
//!   library function, and turn a [`Qlx`] code straight into the report
//!   qmail-lspawn would have written for that exit code. The lookup only
//!   reads the passwd database and stats home directories.
//! * The uid/gid switch uses `CommandExt::uid`/`gid`, which (as root)
//!   also drops every supplementary group; qmail sets the groups to
//!   `{gid}`. Either way the user gets no extra groups (spec §1.1).

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command as ProcessCommand, ExitStatus};

use super::{getpw, users};
use crate::home::{Accounts, Home, MissingAccount, Mode};
use crate::spawn::protocol::{cut_output, Command, Report, Status};
use crate::spawn::Spawner;

/// qmail-lspawn's private exit codes (`qlx.h`), each with a fixed report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qlx {
    /// 112: malformed user entry, or a failed uid/gid switch.
    Usage = 112,
    /// 113: the user is root.
    Root = 113,
    /// 115: temporary error stat'ing a home directory.
    Nfs = 115,
    /// 116: no alias user.
    NoAlias = 116,
    /// 117: users/cdb unreadable.
    Cdb = 117,
    /// 118: temporary system failure.
    Sys = 118,
    /// 119: out of memory.
    NoMem = 119,
    /// 120: exec of qmail-local failed with a temporary errno.
    ExecSoft = 120,
    /// 121: exec of qmail-getpw failed.
    ExecPw = 121,
    /// 126: exec of qmail-local failed with a permanent errno.
    ExecHard = 126,
}

impl Qlx {
    pub fn code(self) -> i32 {
        self as i32
    }
    /// The report qmail-lspawn writes for this exit code.
    pub fn report(self) -> Report {
        report_for(ExitStatus::from_raw(self.code() << 8), Vec::new())
    }
}

/// The report for a delivery child's exit status and collected output
/// (spec §1.4 table). Pure: no I/O.
pub fn report_for(status: ExitStatus, output: Vec<u8>) -> Report {
    let Some(code) = status.code() else {
        return Report::deferral("qmail-local crashed.\n");
    };
    let fixed = |s: Status, t: &str| Report::new(s, t);
    let letter = match code {
        112 => return fixed(Status::Deferral, "Internal qmail-lspawn bug.\n"),
        113 => {
            return fixed(
                Status::Deferral,
                "Not allowed to perform deliveries as root.\n",
            )
        }
        115 => return fixed(Status::Deferral, "NFS failure in qmail-local.\n"),
        116 => return fixed(Status::Deferral, "Unable to find alias user!\n"),
        117 => {
            return fixed(
                Status::Deferral,
                "Trouble reading users/cdb in qmail-lspawn.\n",
            )
        }
        118 => return fixed(Status::Deferral, "Temporary failure in qmail-lspawn.\n"),
        119 => return fixed(Status::Deferral, "Out of memory in qmail-lspawn.\n"),
        120 => return fixed(Status::Deferral, "Unable to run qmail-local.\n"),
        121 => return fixed(Status::Deferral, "Unable to run qmail-getpw.\n"),
        126 => return fixed(Status::Failure, "Unable to run qmail-local.\n"),
        0 => Status::Success,
        111 | 71 | 74 | 75 => Status::Deferral,
        _ => Status::Failure,
    };
    Report::new(letter, cut_output(output))
}

/// Finds the controlling user of `local`: users/cdb, then qmail-getpw.
pub fn find_user(home: &Home, local: &[u8]) -> Result<users::UserEntry, Qlx> {
    match users::lookup(&home.path("users/cdb"), local)? {
        Some(e) => Ok(e),
        None => getpw::getpw(home, local),
    }
}

/// The local-delivery spawner.
pub struct LocalSpawner {
    home: Home,
    accounts: Accounts,
    default_delivery: Vec<u8>,
    /// `MTA_LOCAL_EXEC=1`: always exec qmail-local, even when inline
    /// delivery would do.
    exec_always: bool,
}

impl LocalSpawner {
    /// `default_delivery` is qmail-lspawn's argument (qmail-local's
    /// `aliasempty`).
    pub fn new(home: Home, default_delivery: Vec<u8>) -> Result<LocalSpawner, MissingAccount> {
        let accounts = Accounts::resolve(&home)?;
        Ok(LocalSpawner {
            home,
            accounts,
            default_delivery,
            exec_always: std::env::var_os("MTA_LOCAL_EXEC").is_some_and(|v| v == "1"),
        })
    }

    /// qmail-lspawn's command line: exactly one argument, the default
    /// delivery. Without it qmail-lspawn exits 100; a missing production
    /// account is a temporary failure (111).
    pub fn from_args(home: Home, args: &[std::ffi::OsString]) -> Result<LocalSpawner, i32> {
        let dd = args.first().ok_or(100)?;
        LocalSpawner::new(home, dd.as_bytes().to_vec()).map_err(|_| 111)
    }

    /// The qmail-local argument vector (after the program name) for a
    /// resolved user, recipient parts and sender.
    pub fn local_args(
        &self,
        u: &users::UserEntry,
        local: &[u8],
        domain: &[u8],
        sender: &[u8],
    ) -> Vec<Vec<u8>> {
        vec![
            b"--".to_vec(),
            u.user.clone(),
            u.home.clone(),
            local.to_vec(),
            u.dash.clone(),
            u.ext.clone(),
            domain.to_vec(),
            sender.to_vec(),
            self.default_delivery.clone(),
        ]
    }
}

impl Spawner for LocalSpawner {
    fn command(&self, cmd: &Command) -> Result<ProcessCommand, Report> {
        let (local, domain) = cmd.split_recipient();
        if local.is_empty() {
            // `<>@domain`-like trash address: success, nothing run.
            return Err(Report::new(Status::Success, Vec::new()));
        }
        let u = find_user(&self.home, local).map_err(Qlx::report)?;
        let mut p = ProcessCommand::new(self.home.bin().join("qmail-local"));
        p.current_dir(&self.home.root);
        for a in self.local_args(&u, local, domain, &cmd.sender) {
            p.arg(std::ffi::OsStr::from_bytes(&a));
        }
        if self.home.mode == Mode::Production {
            if u.uid == 0 {
                return Err(Qlx::Root.report());
            }
            p.gid(u.gid).uid(u.uid);
        }
        Ok(p)
    }

    fn report(&self, _cmd: &Command, status: ExitStatus, output: Vec<u8>) -> Report {
        report_for(status, output)
    }

    /// In unprivileged mode every delivery runs as this very user, so
    /// qmail-local's work is done on the spawn's thread instead of a fork
    /// and exec per delivery (see [`super::inline`]). `MTA_LOCAL_EXEC=1`
    /// keeps the exec path.
    fn inline(&self, cmd: &Command, msg: &std::fs::File) -> Option<Report> {
        if self.home.mode != Mode::Unprivileged || self.exec_always {
            return None;
        }
        let (local, domain) = cmd.split_recipient();
        if local.is_empty() {
            return Some(Report::new(Status::Success, Vec::new()));
        }
        let u = match find_user(&self.home, local) {
            Ok(u) => u,
            Err(q) => return Some(q.report()),
        };
        let args = self.local_args(&u, local, domain, &cmd.sender);
        Some(super::inline::deliver(&self.home, args, msg))
    }

    /// Adds qmail's owner check in production mode: the message must
    /// belong to qmailq.
    fn open_message(
        &self,
        queue: &std::path::Path,
        messid: &[u8],
    ) -> Result<std::fs::File, Report> {
        let f = crate::spawn::protocol::open_message(queue, messid)?;
        if self.home.mode == Mode::Production {
            let md = f
                .metadata()
                .map_err(|_| Report::deferral("qmail-spawn unable to fstat message. (#4.3.0)\n"))?;
            if md.uid() != self.accounts.qmailq.uid {
                return Err(Report::deferral(
                    "Sorry, message has wrong owner. (#4.3.5)\n",
                ));
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn exit_codes_map_like_qmail_lspawn() {
        let r = report_for(exit(0), b"did 1+0+0\n".to_vec());
        assert_eq!(
            (r.status, r.text.as_slice()),
            (Status::Success, &b"did 1+0+0\n"[..])
        );
        for c in [111, 71, 74, 75] {
            assert_eq!(report_for(exit(c), b"x".to_vec()).status, Status::Deferral);
        }
        for c in [100, 1, 99, 114, 122, 127] {
            let r = report_for(exit(c), b"x".to_vec());
            assert_eq!((r.status, r.text.as_slice()), (Status::Failure, &b"x"[..]));
        }
        let fixed: &[(i32, Status, &str)] = &[
            (112, Status::Deferral, "Internal qmail-lspawn bug.\n"),
            (
                113,
                Status::Deferral,
                "Not allowed to perform deliveries as root.\n",
            ),
            (115, Status::Deferral, "NFS failure in qmail-local.\n"),
            (116, Status::Deferral, "Unable to find alias user!\n"),
            (
                117,
                Status::Deferral,
                "Trouble reading users/cdb in qmail-lspawn.\n",
            ),
            (
                118,
                Status::Deferral,
                "Temporary failure in qmail-lspawn.\n",
            ),
            (119, Status::Deferral, "Out of memory in qmail-lspawn.\n"),
            (120, Status::Deferral, "Unable to run qmail-local.\n"),
            (121, Status::Deferral, "Unable to run qmail-getpw.\n"),
            (126, Status::Failure, "Unable to run qmail-local.\n"),
        ];
        for (c, s, t) in fixed {
            let r = report_for(exit(*c), b"ignored".to_vec());
            assert_eq!(
                (r.status, r.text.as_slice()),
                (*s, t.as_bytes()),
                "code {c}"
            );
        }
        assert_eq!(
            Qlx::Cdb.report().text,
            b"Trouble reading users/cdb in qmail-lspawn.\n"
        );
    }

    #[test]
    fn crash_and_long_output() {
        let r = report_for(ExitStatus::from_raw(9), b"x".to_vec());
        assert_eq!(
            (r.status, r.text.as_slice()),
            (Status::Deferral, &b"qmail-local crashed.\n"[..])
        );
        let r = report_for(exit(0), b"ab\0cd".to_vec());
        assert_eq!(r.text, b"ab");
        let r = report_for(exit(100), vec![b'a'; 5000]);
        assert!(r.text.ends_with(b"\nError report too long, sorry.\n"));
    }

    fn spawner(root: &std::path::Path) -> LocalSpawner {
        LocalSpawner::new(Home::new(root, Mode::Unprivileged), b"./Maildir/".to_vec()).unwrap()
    }

    fn cmd(recipient: &[u8]) -> Command {
        Command {
            slot: 0,
            messid: b"1/1".to_vec(),
            sender: b"s@x".to_vec(),
            recipient: recipient.to_vec(),
        }
    }

    #[test]
    fn empty_local_part_is_success_without_a_child() {
        let d = tempfile::tempdir().unwrap();
        let r = spawner(d.path())
            .command(&cmd(b"@example.com"))
            .unwrap_err();
        assert_eq!((r.status, r.text.len()), (Status::Success, 0));
    }

    #[test]
    fn builds_qmail_local_arguments() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("users")).unwrap();
        std::fs::write(
            d.path().join("users/assign"),
            b"+joe-:joe:507:100:/home/joe:-:p:\n.\n",
        )
        .unwrap();
        crate::local::newu::compile(d.path()).unwrap();
        let p = spawner(d.path())
            .command(&cmd(b"Joe-Box@a@Example.COM"))
            .unwrap();
        assert_eq!(p.get_program(), d.path().join("bin/qmail-local"));
        let args: Vec<_> = p
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        // Split at the last @; local part keeps its case.
        assert_eq!(
            args,
            [
                "--",
                "joe",
                "/home/joe",
                "Joe-Box@a",
                "-",
                "pBox@a",
                "Example.COM",
                "s@x",
                "./Maildir/"
            ]
        );
    }

    #[test]
    fn command_line() {
        let h = || Home::new("/tmp/x", Mode::Unprivileged);
        assert_eq!(LocalSpawner::from_args(h(), &[]).err(), Some(100));
        let s = LocalSpawner::from_args(h(), &["./Maildir/".into()]).unwrap();
        assert_eq!(s.default_delivery, b"./Maildir/");
    }

    #[test]
    fn unreadable_cdb_defers() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("users")).unwrap();
        std::fs::write(d.path().join("users/cdb"), b"garbage").unwrap();
        let r = spawner(d.path()).command(&cmd(b"x@y")).unwrap_err();
        assert_eq!(r.text, b"Trouble reading users/cdb in qmail-lspawn.\n");
    }
}
