//! The `mta` supervisor: starts the whole MTA (qmail-start, hence
//! qmail-send, the spawns and qmail-clean), keeps the activity log, restarts
//! qmail-send if it dies, and stops it cleanly on SIGTERM or SIGINT.
//!
//! The log goes, line by line and unchanged, to `ROOT/log/current` (and to
//! stdout unless quiet). The supervisor's pid is in `ROOT/run/mta.pid`,
//! qmail-send's in `ROOT/run/qmail-send.pid`. SIGALRM and SIGHUP sent to
//! the supervisor are passed on to qmail-send.
//!
//! When `control/smtplisten` lists `ip:port` lines (our own control; `mta
//! init` writes `127.0.0.1:2525` in unprivileged mode), the supervisor also
//! runs the built-in listener, `mta-listen smtp <addrs>`, with the rules
//! in `control/tcp.smtp.cdb` (a missing file allows all); likewise
//! `control/qmtplisten` (rules `tcp.qmtp.cdb`, missing allows all) and
//! `control/qmqplisten` (rules `tcp.qmqp.cdb`, missing refuses all: QMQP
//! relays anything) run `mta-listen qmtp|qmqp`; all with
//! `TCPLOCALHOST` from `control/me`, at most `control/concurrencyincoming`
//! connections at once (default 40, as Life with qmail's run script), and
//! stops it on exit. A listener that
//! dies (say, its port is taken) is reported and not restarted.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::home::Home;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub delivery: String,
    /// Exit when qmail-send exits instead of restarting it (tests use this
    /// to observe a crash).
    pub once: bool,
    /// Don't copy the log to stdout.
    pub quiet: bool,
}

fn env_for(home: &Home, cmd: &mut Command) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut p = home.bin().into_os_string();
    p.push(":");
    p.push(path);
    cmd.env("PATH", p).env("QMAILHOME", &home.root).env(
        "MTA_MODE",
        if home.unprivileged() {
            "unprivileged"
        } else {
            "production"
        },
    );
}

fn start(home: &Home, opts: &Options, log: &Path) -> io::Result<Child> {
    let mut cmd = Command::new(home.bin().join("qmail-start"));
    cmd.arg(&opts.delivery)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    env_for(home, &mut cmd);
    let mut child = cmd.spawn()?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no log pipe"))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let quiet = opts.quiet;
    std::thread::spawn(move || {
        let mut r = io::BufReader::new(out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let _ = file.write_all(&line);
                    if !quiet {
                        let mut o = io::stdout().lock();
                        let _ = o.write_all(&line);
                        let _ = o.flush();
                    }
                }
            }
        }
    });
    Ok(child)
}

/// The listeners the supervisor can run: (service, its control file of
/// addresses, its rules cdb, whether a missing rules file allows all).
/// QMQP relays anything, so without `tcp.qmqp.cdb` it refuses everyone.
const LISTENERS: [(&str, &str, &str, bool); 3] = [
    ("smtp", "smtplisten", "tcp.smtp.cdb", true),
    ("qmtp", "qmtplisten", "tcp.qmtp.cdb", true),
    ("qmqp", "qmqplisten", "tcp.qmqp.cdb", false),
];

/// Starts one `mta-listen` per service whose control file lists addresses.
fn start_listeners(home: &Home) -> Vec<Child> {
    LISTENERS
        .iter()
        .filter_map(|&(service, file, rules, open)| {
            start_listener(home, service, file, rules, open)
        })
        .collect()
}

fn start_listener(
    home: &Home,
    service: &str,
    file: &str,
    rules: &str,
    open: bool,
) -> Option<Child> {
    let c = crate::control::ControlDir::new(home.control());
    let addrs = match c.list(file) {
        Ok(Some(a)) if !a.is_empty() => a,
        Ok(_) => return None,
        Err(e) => {
            eprintln!("mta: warning: no {service} listener: {e}");
            return None;
        }
    };
    let mut cmd = Command::new(home.bin().join("mta-listen"));
    // Life with qmail's run script takes tcpserver's -c from
    // control/concurrencyincoming; the same file sets mta-listen's limit.
    if let Ok(n) = c.number("concurrencyincoming", 0) {
        if n > 0 {
            cmd.arg("-c").arg(n.to_string());
        }
    }
    cmd.arg("-x").arg(home.control().join(rules));
    if open {
        cmd.arg("-X");
    }
    if let Ok(Some(me)) = c.me() {
        cmd.arg("-l").arg(me);
    }
    cmd.arg(service)
        .args(&addrs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    env_for(home, &mut cmd);
    match cmd.spawn() {
        Ok(child) => Some(child),
        Err(e) => {
            eprintln!("mta: warning: unable to start mta-listen {service}: {e}");
            None
        }
    }
}

/// Stops the listeners (SIGTERM) and reaps them.
fn stop_listener(listeners: &mut Vec<Child>) {
    for mut l in listeners.drain(..) {
        let pid = nix::unistd::Pid::from_raw(l.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = l.wait();
    }
}

/// The supervisor's pid file in a root.
pub fn pid_file(root: &Path) -> PathBuf {
    root.join("run").join("mta.pid")
}

/// qmail-send's pid file in a root (for `kill -ALRM`, `kill -HUP`).
pub fn send_pid_file(root: &Path) -> PathBuf {
    root.join("run").join("qmail-send.pid")
}

/// Runs until SIGTERM/SIGINT (exit 0) or, with `once`, until qmail-send
/// exits (its exit code, or 111 after a signal).
pub fn run(home: &Home, opts: &Options) -> io::Result<i32> {
    use signal_hook::consts::{SIGALRM, SIGHUP, SIGINT, SIGTERM};
    let (tx, rx) = mpsc::channel();
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGALRM, SIGHUP])?;
    std::thread::spawn(move || {
        for s in signals.forever() {
            if tx.send(s).is_err() {
                return;
            }
        }
    });
    std::fs::write(pid_file(&home.root), format!("{}\n", std::process::id()))?;
    let log = home.root.join("log").join("current");
    let mut listener = start_listeners(home);
    loop {
        let mut child = start(home, opts, &log)?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        // qmail-start becomes qmail-send, so this is qmail-send's pid.
        std::fs::write(send_pid_file(&home.root), format!("{pid}\n"))?;
        let status = loop {
            let sig = rx.recv_timeout(Duration::from_millis(100)).ok();
            if let Some(s @ (SIGALRM | SIGHUP)) = sig {
                // Passed on, as `svc -a` / `svc -h` would: retry deferred
                // mail now / reread locals and virtualdomains.
                if let Ok(sig) = nix::sys::signal::Signal::try_from(s) {
                    let _ = nix::sys::signal::kill(pid, sig);
                }
                continue;
            }
            if sig.is_some() {
                stop_listener(&mut listener);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let st = child.wait()?;
                let _ = std::fs::remove_file(pid_file(&home.root));
                // Let the spawns finish their last reports.
                std::thread::sleep(Duration::from_millis(50));
                return Ok(if st.success() {
                    0
                } else {
                    st.code().unwrap_or(111)
                });
            }
            if let Some(st) = child.try_wait()? {
                break st;
            }
            listener.retain_mut(|l| match l.try_wait() {
                Ok(Some(st)) => {
                    eprintln!("mta: mta-listen exited ({st}); not restarted");
                    false
                }
                _ => true,
            });
        };
        if opts.once {
            stop_listener(&mut listener);
            let _ = std::fs::remove_file(pid_file(&home.root));
            return Ok(status.code().unwrap_or(111));
        }
        eprintln!("mta: qmail-send exited ({status}); restarting in 1 second");
        // A stop request during the pause ends the supervisor here, rather
        // than reaching a qmail-send too young to handle it.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(SIGTERM | SIGINT) => {
                    let _ = std::fs::remove_file(pid_file(&home.root));
                    return Ok(0);
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
}

/// Sends SIGTERM to a running supervisor and waits (up to `timeout`) for
/// it to finish.
pub fn stop(root: &Path, timeout: Duration) -> io::Result<()> {
    let text = std::fs::read_to_string(pid_file(root))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", pid_file(root).display())))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("{}: not a pid", pid_file(root).display())))?;
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).map_err(io::Error::from)?;
    let deadline = std::time::Instant::now() + timeout;
    while nix::sys::signal::kill(pid, None).is_ok() {
        if std::time::Instant::now() > deadline {
            return Err(io::Error::other("the MTA did not stop in time"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The banner the README's main command prints.
pub fn banner(home: &Home) -> String {
    let r = home.root.display();
    let user = super::init::DEFAULT_USER;
    format!(
        "mta: the reference qmail-compatible MTA is running ({} mode)\n\
         \x20 root:       {r}\n\
         \x20 mail for {user}@localhost lands in {r}/home/{user}/Maildir/new/\n\
         \x20 send it a message:\n\
         \x20   printf 'Subject: hello\\n\\nhi there\\n' | {r}/bin/mta inject --root {r} {user}@localhost\n\
         \x20 activity log: {r}/log/current   queue: {r}/bin/qmail-qstat\n\
         \x20 stop: Ctrl-C, or {r}/bin/mta stop --root {r}\n",
        if home.unprivileged() {
            "unprivileged"
        } else {
            "production"
        }
    )
}
