//! The reference target's extras: `migrate aliases` into the alias
//! home, injection through `ROOT/bin/sendmail`, and the tier B hooks
//! ([`PowerCut`]: the root, its snapshot, the traces, halt and boot).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{write, RefInstance, ME};
use crate::crash::powercut::PowerCut;
use crate::scenario::step::Inject;
use crate::target::TargetError;

impl RefInstance {
    /// `migrate aliases --qmail ROOT/alias` on `aliases` (the `migrate`
    /// program next to the MTA's).
    pub(super) fn migrate(&mut self, programs: &Path, aliases: &[u8]) -> Result<(), TargetError> {
        let f = self.scratch.join("aliases");
        write(&f, aliases)?;
        let out = Command::new(programs.join("migrate"))
            .arg("aliases")
            .arg("--qmail")
            .arg(self.root.join("alias"))
            .args(["--me", ME, "--local-domain", ME])
            .arg(&f)
            .env("QMAILHOME", &self.root)
            .stdin(Stdio::null())
            .output()
            .map_err(TargetError::io("running migrate aliases"))?;
        if !out.status.success() {
            return Err(TargetError::Failed(format!(
                "migrate aliases failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// `ROOT/bin/sendmail` (qmail's wrapper around qmail-inject): `-f
    /// FROM TO...`, or exactly the scenario's `args`; message on stdin.
    pub(super) fn sendmail(&mut self, inj: &Inject) -> Result<i32, TargetError> {
        let mut cmd = Command::new(self.root.join("bin/sendmail"));
        match &inj.args {
            Some(a) => {
                cmd.args(a);
            }
            None => {
                cmd.arg("-f").arg(&inj.from).args(&inj.to);
            }
        }
        let mut child = cmd
            .env("QMAILHOME", &self.root)
            .env("MTA_MODE", "unprivileged")
            .env("QMAILQUEUE", self.qq_program())
            .envs(inj.env.iter())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(TargetError::io("running sendmail"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&inj.message.0);
        }
        let st = child
            .wait()
            .map_err(TargetError::io("waiting for sendmail"))?;
        Ok(st.code().unwrap_or(-1))
    }
}

impl PowerCut for RefInstance {
    fn root(&self) -> PathBuf {
        self.root.clone()
    }
    fn snapshot(&self) -> PathBuf {
        self.scratch.join("snapshot")
    }
    fn traces(&self) -> Vec<PathBuf> {
        self.trace_files()
    }
    fn halt(&mut self) {
        if let Some(d) = &self.door {
            d.kill_all();
        }
        self.crash_mta();
        self.disarm();
    }
    fn boot(&mut self) -> Result<(), TargetError> {
        self.start_mta()
    }
}
