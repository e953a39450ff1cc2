//! One qmail-local delivery (spec §5.3): checks, loop detection, .qmail
//! selection, the instructions in order, then all forwards at once.
//!
//! [`deliver`] never exits the process, never changes the working
//! directory, the umask or the environment, so a long-lived worker can
//! call it in-process; the `qmail-local` binary is a thin wrapper that
//! prints the outcome and maps it to exit code 0, 100 or 111.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::dotqmail;
use super::env::{self, Lines};
use super::errno;
use super::error::LocalError;
use super::instructions::{self, Instruction};
use super::params::Params;
use super::program::{self, Next, ProgramEnv};
use super::{forward, maildir, mbox};
use crate::home::PATRN;

/// A completed delivery: what was done, for the `did` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub files: u64,
    pub forwards: u64,
    pub programs: u64,
    /// The qp of the forwarding qmail-queue, if anything was forwarded.
    pub qp: Option<u32>,
}

impl Outcome {
    /// `did <f>+<w>+<p>\n`, then `qp <pid>\n` if something was forwarded.
    pub fn did_text(&self) -> Vec<u8> {
        let mut s = format!("did {}+{}+{}\n", self.files, self.forwards, self.programs);
        if let Some(qp) = self.qp {
            s.push_str(&format!("qp {qp}\n"));
        }
        s.into_bytes()
    }
}

/// qmail's `checkhome` on the home directory (spec §5.3 step 2).
fn check_home(p: &Params, notes: &mut Vec<u8>) -> Result<(), LocalError> {
    let md = std::fs::metadata(&p.homedir).map_err(|e| LocalError::ChdirHome {
        home: p.homedir.to_string_lossy().into_owned(),
        err: errno::text(&e),
    })?;
    if !md.is_dir() {
        return Err(LocalError::ChdirHome {
            home: p.homedir.to_string_lossy().into_owned(),
            err: errno::text_of(libc::ENOTDIR),
        });
    }
    if md.mode() & PATRN != 0 {
        return Err(LocalError::HomeWritable);
    }
    if md.mode() & 0o1000 != 0 {
        if p.doit {
            return Err(LocalError::HomeSticky);
        }
        notes.extend_from_slice(b"Warning: home directory is sticky.\n");
    }
    Ok(())
}

/// qmail's `bouncexf`: a header line equal to our Delivered-To line means
/// a loop (spec §5.3 step 4).
fn check_loop(message: &File, dtline: &[u8]) -> Result<(), LocalError> {
    let mut m: &File = message;
    m.seek(SeekFrom::Start(0)).map_err(|_| LocalError::Rewind)?;
    let mut r = BufReader::with_capacity(8192, m);
    let mut line = Vec::new();
    loop {
        line.clear();
        r.read_until(b'\n', &mut line)
            .map_err(|e| LocalError::ReadMessage {
                err: errno::text(&e),
            })?;
        if line.last() != Some(&b'\n') || line.len() <= 1 {
            return Ok(());
        }
        if line == dtline {
            return Err(LocalError::Looping);
        }
    }
}

fn say(notes: &mut Vec<u8>, kind: &str, what: &[u8]) {
    notes.extend_from_slice(kind.as_bytes());
    notes.extend_from_slice(what);
    notes.push(b'\n');
}

/// One maildir line on a new thread, its file named by the thread's id
/// (see [`Params::maildir_thread`]); a panic there stays a panic.
fn maildir_on_thread(
    home: &Path,
    path: &[u8],
    head: &[u8],
    message: &File,
) -> Result<(), LocalError> {
    std::thread::scope(|s| {
        let h = std::thread::Builder::new()
            .spawn_scoped(s, || {
                let tag = nix::unistd::gettid().to_string();
                maildir::deliver(home, path, head, message, &tag)
            })
            .map_err(|e| LocalError::Fork {
                err: errno::text(&e),
            })?;
        match h.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Delivers `message` as `p` says. Warnings and, with `-n`, the plan are
/// appended to `notes` (qmail-local prints them as they happen); programs
/// write to their own stdout/stderr (see [`Params::program_output`]).
pub fn deliver(p: &Params, message: &File, notes: &mut Vec<u8>) -> Result<Outcome, LocalError> {
    let home = p.homedir.as_path();
    check_home(p, notes)?;
    let lines = Lines::new(p, crate::date::now());
    if p.doit {
        check_loop(message, &lines.dtline)?;
    }
    let mut vars = env::variables(p, &lines);

    let found = dotqmail::search(home, &p.dash, &p.ext)?;
    if found.is_none() && !p.dash.is_empty() {
        return Err(LocalError::NoMailbox);
    }
    let newsender = dotqmail::newsender(home, &p.dash, &p.ext, &p.local, &p.host, &p.sender)?;
    vars.push(("NEWSENDER", newsender.clone()));

    let mut contents = Vec::new();
    let mut forward_only = false;
    let mut default = None;
    if let Some(mut f) = found {
        // qmail reports a failed read of the .qmail file as out of memory.
        f.file
            .read_to_end(&mut contents)
            .map_err(|_| LocalError::NoMem)?;
        forward_only = f.forward_only;
        default = f.default.take();
    }
    if contents.is_empty() {
        contents = p.aliasempty.clone();
        forward_only = false;
    }
    let script = instructions::parse(&contents)?;

    // Only a delivery that runs a program needs its time limit.
    let runs_program = p.doit && script.iter().any(|i| matches!(i, Instruction::Program(_)));
    let timeout = if runs_program {
        program::timeout_control(&p.qmailhome)?
    } else {
        std::time::Duration::from_secs(program::DEFAULT_TIMEOUT)
    };
    let penv = ProgramEnv {
        vars: &vars,
        default: default.as_deref(),
        output: p.program_output.as_ref(),
        timeout,
    };
    let tag = std::process::id().to_string();
    let mut out = Outcome::default();
    let mut recipients = Vec::new();
    for ins in script {
        match ins {
            Instruction::Mbox(_) | Instruction::Maildir(_) if forward_only => {
                return Err(LocalError::XbitFile);
            }
            Instruction::Maildir(path) => {
                out.files += 1;
                if p.doit {
                    let mut head = lines.rpline.clone();
                    head.extend_from_slice(&lines.dtline);
                    if p.maildir_thread {
                        maildir_on_thread(home, &path, &head, message)?;
                    } else {
                        maildir::deliver(home, &path, &head, message, &tag)?;
                    }
                } else {
                    say(notes, "maildir ", &path);
                }
            }
            Instruction::Mbox(path) => {
                out.files += 1;
                if p.doit {
                    let l = [&lines.ufline[..], &lines.rpline, &lines.dtline];
                    mbox::deliver(home, &path, l, message)?;
                } else {
                    say(notes, "mbox ", &path);
                }
            }
            Instruction::Program(_) if forward_only => return Err(LocalError::XbitProg),
            Instruction::Program(cmd) => {
                out.programs += 1;
                if p.doit {
                    if program::run(home, &cmd, message, &penv)? == Next::Stop {
                        break;
                    }
                } else {
                    say(notes, "program ", &cmd);
                }
            }
            Instruction::ForwardOnly => forward_only = true,
            Instruction::Forward(addr) => {
                out.forwards += 1;
                if p.doit {
                    recipients.push(addr);
                } else {
                    say(notes, "forward ", &addr);
                }
            }
        }
    }
    if !recipients.is_empty() {
        out.qp = Some(forward::forward(
            &p.qmailhome,
            &lines.dtline,
            message,
            &newsender,
            &recipients,
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_text() {
        let o = Outcome {
            files: 1,
            forwards: 2,
            programs: 3,
            qp: None,
        };
        assert_eq!(o.did_text(), b"did 1+2+3\n");
        let o = Outcome { qp: Some(42), ..o };
        assert_eq!(o.did_text(), b"did 1+2+3\nqp 42\n");
    }
}
