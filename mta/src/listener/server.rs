//! The accept loop: tcpserver's job, in-process (ucspi-tcp 0.88
//! `tcpserver.c`; spec Appendix A for the variables).
//!
//! Per connection it sets what tcpserver sets: `PROTO=TCP`,
//! `TCPLOCALIP`, `TCPLOCALPORT`, `TCPLOCALHOST` (the `-l` name; we do no
//! DNS lookups, so without `-l` it is unset), `TCPREMOTEIP`,
//! `TCPREMOTEPORT`; `TCPREMOTEHOST` and `TCPREMOTEINFO` stay unset as
//! under `tcpserver -H -R` (no reverse DNS, no ident). Then the rules
//! (looked up as tcpserver does) may deny the connection (it is closed
//! without a word) or set more variables, e.g. `RELAYCLIENT`.
//!
//! Limits:
//! * `limit` (tcpserver `-c`, default 40): at most this many connections
//!   at once. Like tcpserver, the listener stops accepting at the limit;
//!   further clients wait in the kernel's listen queue and are served when
//!   a slot frees.
//! * `per_ip` (0 = none): a client address with this many connections
//!   open has further ones refused: accepted and closed at once, without
//!   a greeting, as the per-IP patches of tcpserver do.
//!
//! The rules file is checked (a `stat`) at every accept and reloaded when
//! it changed, so `mta-tcprules` takes effect without a restart. The
//! controls are read afresh for every connection, as every qmail-smtpd
//! process reads them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::controls_cache::{self, ControlsCache, Snapshot};
use super::rulescdb::{Decision, RulesDb, Stamp};
use super::session_task;
use crate::smtpd::controls::Peer;
use crate::smtpd::session::{Context, Session};

/// How to run (the validated `mta-listen` arguments).
#[derive(Debug, Clone)]
pub struct Config {
    /// The MTA's root (controls, and qmail-queue under `bin/`).
    pub root: PathBuf,
    /// Compiled rules (tcpserver `-x`); `None` = no rules.
    pub rules: Option<PathBuf>,
    /// A missing rules file allows everything (tcpserver `-X`); without
    /// it every connection is dropped while the file is missing.
    pub allow_no_rules: bool,
    /// Concurrent connections (tcpserver `-c`).
    pub limit: usize,
    /// Concurrent connections per client address (0 = unlimited).
    pub per_ip: usize,
    /// `TCPLOCALHOST` (tcpserver `-l`).
    pub local_name: Option<String>,
    /// What each connection gets.
    pub service: Service,
}

/// The service behind the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// qmail-smtpd's session on a task of this process.
    Smtp,
    /// A program per connection with the socket as fd 0 and 1 and
    /// tcpserver's environment, exactly as tcpserver runs it: used for
    /// `qmail-qmtpd` and `qmail-qmqpd`, whose traffic is light.
    Program(PathBuf),
}

/// The rules as last loaded, with the file's identity then.
#[derive(Default)]
struct RulesCache {
    stamp: Option<Stamp>,
    db: Option<Arc<RulesDb>>,
}

/// Shared by every accept loop.
struct Shared {
    config: Config,
    rules: Mutex<RulesCache>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    slots: Arc<Semaphore>,
    /// qmail-smtpd's controls, kept until `control/` changes.
    controls: ControlsCache,
}

/// Counts a connection against its address until dropped.
struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.shared.per_ip.lock() {
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
        }
    }
}

/// Binds every address (before privileges are dropped). Port 0 picks a
/// free port; [`std::net::TcpListener::local_addr`] says which.
pub fn bind(addrs: &[SocketAddr]) -> std::io::Result<Vec<std::net::TcpListener>> {
    addrs
        .iter()
        .map(|a| {
            let l = std::net::TcpListener::bind(a)
                .map_err(|e| std::io::Error::new(e.kind(), format!("unable to bind {a}: {e}")))?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .collect()
}

/// Serves on `listeners` forever (each in its own accept loop).
pub async fn serve(listeners: Vec<std::net::TcpListener>, config: Config) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        controls: ControlsCache::new(config.root.join("control")),
        slots: Arc::new(Semaphore::new(config.limit.max(1))),
        config,
        rules: Mutex::new(RulesCache::default()),
        per_ip: Mutex::new(HashMap::new()),
    });
    let mut loops = tokio::task::JoinSet::new();
    for l in listeners {
        let l = TcpListener::from_std(l)?;
        loops.spawn(accept_loop(l, shared.clone()));
    }
    while let Some(r) = loops.join_next().await {
        r.map_err(std::io::Error::other)??;
    }
    Ok(())
}

async fn accept_loop(l: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    loop {
        // At the limit, stop accepting (tcpserver -c).
        let permit = shared
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        let (stream, remote) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("mta-listen: warning: accept failed: {e}");
                continue;
            }
        };
        let Some(slot) = take_ip_slot(&shared, remote.ip()) else {
            eprintln!("mta-listen: refused {remote}: per-IP limit reached");
            drop(stream);
            continue;
        };
        let decision = match rules_for(&shared, remote.ip()) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("mta-listen: warning: dropping connection, {e}");
                continue;
            }
        };
        if decision.deny {
            eprintln!("mta-listen: deny {remote}");
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            connection(stream, remote, decision, &shared).await;
            drop(slot);
            drop(permit);
        });
    }
}

fn take_ip_slot(shared: &Arc<Shared>, ip: IpAddr) -> Option<IpSlot> {
    let mut m = shared.per_ip.lock().ok()?;
    let n = m.entry(ip).or_insert(0);
    if shared.config.per_ip > 0 && *n >= shared.config.per_ip {
        return None;
    }
    *n += 1;
    Some(IpSlot {
        shared: shared.clone(),
        ip,
    })
}

/// The rules' decision for `ip`, reloading the cdb if it changed.
fn rules_for(shared: &Shared, ip: IpAddr) -> Result<Decision, String> {
    let Some(path) = &shared.config.rules else {
        return Ok(Decision::default());
    };
    let show = |e: std::io::Error| format!("unable to read {}: {e}", path.display());
    let stamp = match Stamp::of(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && shared.config.allow_no_rules => {
            return Ok(Decision::default());
        }
        Err(e) => return Err(show(e)),
    };
    let db = {
        let mut cache = shared.rules.lock().map_err(|_| "rules lock poisoned")?;
        match (&cache.db, cache.stamp == Some(stamp)) {
            (Some(db), true) => db.clone(),
            _ => {
                let db = Arc::new(RulesDb::open(path).map_err(show)?);
                cache.db = Some(db.clone());
                cache.stamp = Some(stamp);
                db
            }
        }
    };
    Ok(db.lookup(&ip_text(ip), None, None))
}

/// tcpserver's address text: IPv4-mapped addresses as plain IPv4.
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The tcpserver environment of one connection, then the rules' settings.
pub fn environment(
    local: SocketAddr,
    remote: SocketAddr,
    local_name: Option<&str>,
    decision: &Decision,
) -> HashMap<String, Vec<u8>> {
    let mut env: HashMap<String, Vec<u8>> = HashMap::new();
    let v4 = !matches!(ip_text(remote.ip()).parse(), Ok(IpAddr::V6(_)));
    env.insert("PROTO".into(), if v4 { "TCP" } else { "TCP6" }.into());
    env.insert("TCPLOCALIP".into(), ip_text(local.ip()).into_bytes());
    env.insert("TCPLOCALPORT".into(), local.port().to_string().into_bytes());
    if let Some(n) = local_name {
        env.insert("TCPLOCALHOST".into(), n.as_bytes().to_vec());
    }
    env.insert("TCPREMOTEIP".into(), ip_text(remote.ip()).into_bytes());
    env.insert(
        "TCPREMOTEPORT".into(),
        remote.port().to_string().into_bytes(),
    );
    for (k, v) in &decision.env {
        env.insert(k.clone(), v.clone());
    }
    env
}

async fn connection(
    mut stream: TcpStream,
    remote: SocketAddr,
    decision: Decision,
    shared: &Shared,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let env = environment(
        local,
        remote,
        shared.config.local_name.as_deref(),
        &decision,
    );
    if let Service::Program(prog) = &shared.config.service {
        run_program(stream, prog, &env, &shared.config.root).await;
        return;
    }
    let peer = Peer::from_vars(|k| env.get(k).cloned());
    drop(env);
    let loaded = match shared.controls.current() {
        Some(s) => Ok(Ok(s)),
        None => {
            let dir = shared.controls.dir().to_path_buf();
            let at = std::time::Instant::now();
            let r = tokio::task::spawn_blocking(move || controls_cache::read(&dir)).await;
            if let Ok(Ok(s)) = &r {
                shared.controls.keep(s, at);
            }
            r
        }
    };
    let Snapshot { controls, tls } = match loaded {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            eprintln!("mta-listen: {e}");
            let _ = stream.write_all(e.reply()).await;
            return;
        }
        Err(_) => {
            let _ = stream
                .write_all(b"421 unable to read controls (#4.3.0)\r\n")
                .await;
            return;
        }
    };
    let session = Session::new(Context {
        controls,
        peer,
        clock: crate::date::now,
    });
    session_task::run(stream, session, tls, shared.config.root.clone()).await;
}

/// Runs `prog` for one connection, as tcpserver does: the socket on fd 0
/// and fd 1, tcpserver's variables in the environment, the MTA's root as
/// the working directory; waits for it without holding a thread.
async fn run_program(
    stream: TcpStream,
    prog: &std::path::Path,
    env: &HashMap<String, Vec<u8>>,
    root: &std::path::Path,
) {
    use std::os::unix::ffi::OsStrExt;
    let std_stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mta-listen: warning: dropping connection: {e}");
            return;
        }
    };
    // The program expects a blocking descriptor.
    let _ = std_stream.set_nonblocking(false);
    let (Ok(input), Ok(output)) = (std_stream.try_clone(), std_stream.try_clone()) else {
        eprintln!("mta-listen: warning: dropping connection: unable to dup the socket");
        return;
    };
    drop(std_stream);
    let mut cmd = tokio::process::Command::new(prog);
    cmd.current_dir(root)
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(input)))
        .stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            output,
        )))
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, std::ffi::OsStr::from_bytes(v));
    }
    match cmd.spawn() {
        Ok(mut child) => {
            drop(cmd);
            let _ = child.wait().await;
        }
        Err(e) => eprintln!("mta-listen: warning: unable to run {}: {e}", prog.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_is_tcpservers_and_rules_override() {
        let d = Decision {
            deny: false,
            env: vec![
                ("RELAYCLIENT".into(), Vec::new()),
                ("TCPREMOTEHOST".into(), b"h".to_vec()),
            ],
        };
        let env = environment(
            "127.0.0.1:25".parse().unwrap(),
            "[::ffff:192.0.2.7]:4000".parse().unwrap(),
            Some("mx.example"),
            &d,
        );
        let get = |k: &str| String::from_utf8(env[k].clone()).unwrap();
        assert_eq!(get("PROTO"), "TCP");
        assert_eq!(get("TCPLOCALIP"), "127.0.0.1");
        assert_eq!(get("TCPLOCALPORT"), "25");
        assert_eq!(get("TCPLOCALHOST"), "mx.example");
        assert_eq!(get("TCPREMOTEIP"), "192.0.2.7");
        assert_eq!(get("TCPREMOTEPORT"), "4000");
        assert_eq!(get("TCPREMOTEHOST"), "h");
        assert_eq!(get("RELAYCLIENT"), "");
        assert!(!env.contains_key("TCPREMOTEINFO"));
    }
}
