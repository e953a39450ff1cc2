//! The spawn server loop shared by qmail-lspawn and qmail-rspawn
//! (spec §1.3).
//!
//! 1. Write one byte: the slot limit (conf-spawn, at most 255).
//! 2. Read commands on fd 0. For each: validate it (§1.3 texts), open the
//!    message, ask the [`Spawner`] for a child, start it with fd 0 = the
//!    message and fds 1+2 = one pipe, and collect that pipe on a thread.
//! 3. When the pipe is at EOF and the child reaped, write
//!    `<slot><letter><text>\0` on fd 1. Reports may leave in any order.
//! 4. At EOF on fd 0, finish outstanding deliveries and return.
//!
//! Threads instead of qmail's select loop: at most `slots` deliveries run,
//! each on a thread of its own, kept for the next delivery
//! ([`crate::workers`]), and one mutex guards fd 1 so that reports never
//! interleave.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use super::protocol::{Command, Framer, Report};
use super::Spawner;

/// Runs the spawn protocol on this process's fd 0 / fd 1.
pub fn run<S: Spawner + 'static>(spawner: S, queue_dir: &Path, slots: u8) -> io::Result<()> {
    let stdin = io::stdin().lock();
    let stdout = io::stdout();
    serve(spawner, queue_dir, slots, stdin, Box::new(stdout))
}

/// Runs the spawn protocol over any reader/writer (tests use pipes).
pub fn serve<S: Spawner + 'static, R: Read>(
    spawner: S,
    queue_dir: &Path,
    slots: u8,
    mut input: R,
    output: Box<dyn Write + Send>,
) -> io::Result<()> {
    let out = Arc::new(Mutex::new(output));
    {
        let mut o = lock(&out);
        o.write_all(&[slots])?;
        o.flush()?;
    }
    let spawner = Arc::new(spawner);
    let queue_dir: PathBuf = queue_dir.to_path_buf();
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let workers = crate::workers::Workers::new("delivery", 2 * 1024 * 1024);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        framer.push(&buf[..n]);
        while let Some(cmd) = framer.next_command() {
            let spawner = Arc::clone(&spawner);
            let out = Arc::clone(&out);
            let queue_dir = queue_dir.clone();
            let slot = cmd.slot;
            let tell = Arc::clone(&out);
            let started = workers.run(move || {
                let report = deliver(spawner.as_ref(), &queue_dir, &cmd);
                let mut o = lock(&out);
                // If qmail-send is gone there is nobody left to tell.
                let _ = o.write_all(&report.encode(slot));
                let _ = o.flush();
            });
            if started.is_err() {
                let report = Report::deferral("qmail-spawn unable to fork. (#4.3.0)\n");
                let mut o = lock(&tell);
                let _ = o.write_all(&report.encode(slot));
                let _ = o.flush();
            }
        }
    }
    workers.wait();
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One delivery: validate, open, start, collect, report.
fn deliver<S: Spawner + ?Sized>(spawner: &S, queue_dir: &Path, cmd: &Command) -> Report {
    if let Err(r) = cmd.validate() {
        return r;
    }
    let msg = match spawner.open_message(queue_dir, &cmd.messid) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(r) = spawner.inline(cmd, &msg) {
        return r;
    }
    let mut pc = match spawner.command(cmd) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (mut rd, wr) = match std::io::pipe() {
        Ok(p) => p,
        Err(_) => return Report::deferral("qmail-spawn unable to create pipe. (#4.3.0)\n"),
    };
    let wr2 = match wr.try_clone() {
        Ok(w) => w,
        Err(_) => return Report::deferral("qmail-spawn unable to create pipe. (#4.3.0)\n"),
    };
    pc.stdin(Stdio::from(msg))
        .stdout(Stdio::from(wr))
        .stderr(Stdio::from(wr2));
    let mut child = match pc.spawn() {
        Ok(c) => c,
        Err(_) => return Report::deferral("qmail-spawn unable to fork. (#4.3.0)\n"),
    };
    // The Command still holds the pipe's write ends; drop it so that EOF
    // arrives when the child (and its children) close theirs.
    drop(pc);
    let mut output = Vec::new();
    let _ = rd.read_to_end(&mut output);
    match child.wait() {
        Ok(status) => spawner.report(cmd, status, output),
        Err(_) => Report::deferral("qmail-spawn unable to fork. (#4.3.0)\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spawn::protocol::Status;
    use std::process::{Command as Proc, ExitStatus};

    struct Echo;
    impl Spawner for Echo {
        fn command(&self, cmd: &Command) -> Result<Proc, Report> {
            if cmd.recipient.starts_with(b"@") {
                return Err(Report::new(Status::Success, ""));
            }
            let mut p = Proc::new("/bin/sh");
            p.arg("-c")
                .arg("cat; echo; echo to \"$0\"; exit 3")
                .arg(String::from_utf8_lossy(&cmd.recipient).into_owned());
            Ok(p)
        }
        fn report(&self, _cmd: &Command, status: ExitStatus, output: Vec<u8>) -> Report {
            let st = if status.code() == Some(3) {
                Status::Success
            } else {
                Status::Failure
            };
            Report::new(st, output)
        }
    }

    #[test]
    fn runs_children_and_reports_per_slot() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("mess/5")).unwrap();
        std::fs::write(d.path().join("mess/5/28"), b"body").unwrap();
        let mut input = Vec::new();
        for (slot, r) in [(0u8, "a@x"), (1, "@x"), (2, "nohost")] {
            input.extend(
                Command {
                    slot,
                    messid: b"5/28".to_vec(),
                    sender: b"s@y".to_vec(),
                    recipient: r.as_bytes().to_vec(),
                }
                .encode(),
            );
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        struct W(Arc<Mutex<Vec<u8>>>);
        impl Write for W {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        serve(Echo, d.path(), 120, &input[..], Box::new(W(out.clone()))).unwrap();
        let bytes = out.lock().unwrap().clone();
        assert_eq!(bytes[0], 120);
        let mut f = Framer::default();
        f.push(&bytes[1..]);
        let mut reports = Vec::new();
        while let Some(r) = f.next_report() {
            reports.push(r);
        }
        reports.sort();
        assert_eq!(reports.len(), 3);
        assert_eq!(reports[0], (0, b'K', b"body\nto a@x\n".to_vec()));
        assert_eq!(reports[1], (1, b'K', b"".to_vec()));
        assert_eq!(
            reports[2],
            (
                2,
                b'D',
                b"Sorry, address must include host name. (#5.1.3)\n".to_vec()
            )
        );
    }
}
