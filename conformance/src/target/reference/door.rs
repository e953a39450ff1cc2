//! The reference target's SMTP door: until the MTA has its own listener,
//! the harness accepts on 127.0.0.1:0 and runs `R/bin/qmail-smtpd` per
//! connection with the socket as fd 0 and 1 and the TCP* variables set,
//! as tcpserver would. Each qmail-smtpd leads its own process group, so a
//! crash (`kill_all`) takes its qmail-queue too. The POP3 door
//! ([`super::doors`]) is the same machinery running qmail-popup.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{kill_group, ME};
use crate::target::TargetError;

/// The environment tcpserver would give a server on 127.0.0.1, plus the
/// MTA's root and mode.
pub(super) fn base_env(root: &Path) -> Vec<(String, String)> {
    vec![
        ("QMAILHOME".into(), root.display().to_string()),
        ("MTA_MODE".into(), "unprivileged".into()),
        ("PROTO".into(), "TCP".into()),
        ("TCPLOCALIP".into(), "127.0.0.1".into()),
        ("TCPLOCALHOST".into(), ME.into()),
        ("TCPREMOTEIP".into(), "127.0.0.1".into()),
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
    ]
}

/// A door: a listener whose connections each get a server process (the
/// SMTP door: a qmail-smtpd).
pub(super) struct Door {
    pub(super) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    children: Arc<Mutex<Vec<Child>>>,
    thread: Option<JoinHandle<()>>,
}

impl Door {
    /// The SMTP door.
    pub(super) fn open(
        root: &Path,
        extra: &std::collections::BTreeMap<String, String>,
        more: Arc<Mutex<Vec<(String, String)>>>,
    ) -> Result<Door, TargetError> {
        let argv = vec![root.join("bin/qmail-smtpd").into_os_string()];
        Door::serve("SMTP", argv, root, extra, more)
    }

    /// A door running `argv` per connection with [`base_env`], then
    /// `extra`, then what `more` holds at the time.
    pub(super) fn serve(
        what: &str,
        argv: Vec<OsString>,
        root: &Path,
        extra: &std::collections::BTreeMap<String, String>,
        more: Arc<Mutex<Vec<(String, String)>>>,
    ) -> Result<Door, TargetError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(TargetError::io(format!("binding the {what} door")))?;
        let addr = listener
            .local_addr()
            .map_err(TargetError::io(format!("{what} door address")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let children: Arc<Mutex<Vec<Child>>> = Arc::default();
        let mut env = base_env(root);
        env.retain(|(k, _)| !extra.contains_key(k));
        env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        let (s2, c2) = (stop.clone(), children.clone());
        let thread = std::thread::Builder::new()
            .name(format!("{}-door", what.to_lowercase()))
            .spawn(move || {
                for conn in listener.incoming() {
                    if s2.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let Ok(out) = conn.try_clone() else { continue };
                    let Some((program, args)) = argv.split_first() else {
                        return;
                    };
                    let mut cmd = Command::new(program);
                    cmd.args(args);
                    let more = more.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    cmd.env_clear()
                        .envs(env.iter().map(|(k, v)| (k, v)))
                        .envs(more)
                        // Its own group, so a crash takes its qmail-queue too.
                        .process_group(0)
                        .stdin(Stdio::from(OwnedFd::from(conn)))
                        .stdout(Stdio::from(OwnedFd::from(out)))
                        .stderr(Stdio::null());
                    let mut kids = c2.lock().unwrap_or_else(|p| p.into_inner());
                    kids.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
                    if let Ok(child) = cmd.spawn() {
                        kids.push(child);
                    }
                }
            })
            .map_err(TargetError::io(format!("starting the {what} door")))?;
        Ok(Door {
            addr,
            stop,
            children,
            thread: Some(thread),
        })
    }
}

impl Door {
    /// Waits up to `timeout` until every server process has exited.
    pub(super) fn wait_idle(&self, timeout: Duration) {
        super::wait_until(timeout, || {
            let mut kids = self.children.lock().unwrap_or_else(|p| p.into_inner());
            kids.iter_mut().all(|c| matches!(c.try_wait(), Ok(Some(_))))
        });
    }

    /// SIGKILL to every qmail-smtpd and what it started.
    pub(super) fn kill_all(&self) {
        let mut kids = self.children.lock().unwrap_or_else(|p| p.into_inner());
        for c in kids.iter_mut() {
            kill_group(c.id());
            let _ = c.wait();
        }
        kids.clear();
    }
}

impl Drop for Door {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut kids = self.children.lock().unwrap_or_else(|p| p.into_inner());
        for c in kids.iter_mut() {
            kill_group(c.id());
            let _ = c.wait();
        }
    }
}
