//! The workloads, each run against every MTA interleaved (A B C … A B C …)
//! so that drift on a shared machine hits all alike. Every run starts the
//! MTA afresh in an empty directory and stops it afterwards.
//!
//! Metrics (names used in the JSON):
//! - `accepted_per_s`: messages / time until the sender had every 250;
//! - `e2e_per_s`: messages / time from the first message sent to the last
//!   one in `Maildir/new` (or received by the sink);
//! - `cpu_ms_per_msg`: CPU of the MTA's process tree over the workload;
//! - `idle_pss_kib`, `peak_pss_kib`: PSS of the tree before the load and
//!   its highest sample (every 100 ms) during it;
//! - `conns_pss_kib`, `conns_open`, `conns_greeted`: with N idle
//!   connections open;
//! - `ms`: wall time of one aliases conversion.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::{self, Sink};
use crate::mtas::{self, Env, Injector, Kind, Setup, RELAY_DOMAIN};
use crate::procs;
use crate::stats::Sample;

/// How much to run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub runs: usize,
    /// Messages per SMTP run.
    pub messages: usize,
    /// Messages per SMTP run for OpenSMTPD (see README: it accepts a few
    /// messages per second here, so a full count would take hours).
    pub slow_messages: usize,
    /// Messages per SMTP run for Exim (about 80 messages/s here).
    pub exim_messages: usize,
    pub sessions: usize,
    pub inject_messages: usize,
    pub injectors: usize,
    /// Idle connections for the memory workload.
    pub conns: usize,
    pub kinds: Vec<Kind>,
    /// Workload names to run (empty: all).
    pub only: Vec<String>,
}

/// One MTA's runs of one workload.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Cell {
    pub messages: usize,
    pub samples: Vec<Sample>,
    pub errors: Vec<String>,
}

/// One workload's results, by MTA name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkloadResult {
    pub name: String,
    pub title: String,
    pub cells: BTreeMap<String, Cell>,
}

/// A free loopback port (bound and released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A message of exactly `size` bytes with headers, lines under 80 bytes.
pub fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: bench@example.org\nTo: user@localhost\nSubject: bench\n\n".to_vec();
    while m.len() < size {
        m.extend_from_slice(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n");
    }
    m.truncate(size.saturating_sub(1));
    m.push(b'\n');
    m
}

/// Samples the tree's PSS every 100 ms until dropped; keeps the peak.
struct PeakSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    fn start(pid: u32) -> PeakSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(procs::tree_pss_kib(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(procs::tree_pss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        PeakSampler {
            stop,
            peak,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// Waits until the tree's CPU stops growing (100 ms without a tick, at
/// most 5 s): queue clean-up after the last delivery belongs to the run.
fn settled_cpu_ms(pid: u32) -> f64 {
    let t = Instant::now();
    let mut last = procs::tree_cpu_ms(pid);
    while t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        let now = procs::tree_cpu_ms(pid);
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// Lets a freshly started MTA finish its start-up before measuring idle.
fn idle_pss(pid: u32) -> u64 {
    let _ = settled_cpu_ms(pid);
    procs::tree_pss_kib(pid)
}

struct Ctx<'a> {
    env: &'a Env,
    plan: &'a Plan,
}

impl Ctx<'_> {
    fn dir(&self, kind: Kind) -> PathBuf {
        self.env.work.join(kind.name())
    }

    fn messages(&self, kind: Kind) -> usize {
        match kind {
            Kind::Opensmtpd | Kind::OpensmtpdBacklog => {
                self.plan.slow_messages.min(self.plan.messages)
            }
            Kind::Exim => self.plan.exim_messages.min(self.plan.messages),
            _ => self.plan.messages,
        }
    }
}

/// One SMTP run: smtp-source → MTA → Maildir (or → smtp-sink).
fn smtp_run(cx: &Ctx, kind: Kind, size: usize, relay: bool) -> anyhow::Result<Sample> {
    let n = cx.messages(kind);
    let sink = if relay {
        Some(Sink::start(cx.env, free_port()?)?)
    } else {
        None
    };
    let setup = Setup {
        port: free_port()?,
        sink: sink.as_ref().map(|s| s.port),
        conns: 40,
    };
    let inst = mtas::start(kind, cx.env, &setup, &cx.dir(kind))?;
    let pid = inst.pid();
    let idle = idle_pss(pid);
    let cpu0 = procs::tree_cpu_ms(pid);
    let peak = PeakSampler::start(pid);
    let rcpt = if relay {
        format!("user@{RELAY_DOMAIN}")
    } else {
        "user@localhost".to_string()
    };
    let t0 = Instant::now();
    let sent = load::smtp_source(cx.env, setup.port, cx.plan.sessions, n, size, &rcpt);
    let counted = match (&sent, &sink) {
        (Err(_), _) => None,
        (Ok(_), Some(s)) => {
            let c = s.counter();
            Some(load::wait_for(
                || c.load(Ordering::Relaxed),
                n as u64,
                Duration::from_secs(60),
            ))
        }
        (Ok(_), None) => {
            let dir = inst.maildir_new.clone();
            Some(load::wait_for(
                || load::count_files(&dir),
                n as u64,
                Duration::from_secs(60),
            ))
        }
    };
    let cpu1 = settled_cpu_ms(pid);
    let peak = peak.finish();
    inst.stop();
    if let Some(s) = sink {
        s.stop();
    }
    let accepted = sent?;
    let last = counted.unwrap_or_else(|| Ok(Instant::now()))?;
    let mut s = Sample::new();
    s.insert("accepted_per_s".into(), n as f64 / accepted.as_secs_f64());
    s.insert("e2e_per_s".into(), n as f64 / (last - t0).as_secs_f64());
    s.insert("cpu_ms_per_msg".into(), (cpu1 - cpu0) / n as f64);
    s.insert("idle_pss_kib".into(), idle as f64);
    s.insert("peak_pss_kib".into(), peak as f64);
    Ok(s)
}

/// Injects one message locally; the program's complaint when it failed.
fn inject_one(inj: &Injector, msg: &[u8]) -> Result<(), String> {
    let mut cmd = Command::new(&inj.program);
    cmd.envs(inj.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    let envelope = if inj.qmail_queue {
        // qmail-queue reads the envelope from fd 1 (spec §2).
        let (r, w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        cmd.stdout(Stdio::from(r));
        Some(std::fs::File::from(w))
    } else {
        cmd.args(["-f", "bench@example.org", "user@localhost"])
            .stdout(Stdio::null());
        None
    };
    let mut c = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", inj.program.display()))?;
    drop(cmd);
    if let Some(mut s) = c.stdin.take() {
        let _ = s.write_all(msg);
    }
    if let Some(mut e) = envelope {
        let _ = e.write_all(b"Fbench@example.org\0Tuser@localhost\0\0");
    }
    let out = c.wait_with_output().map_err(|e| format!("wait: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "{} ({}): {}",
        inj.program.display(),
        out.status,
        err.trim()
    ))
}

/// One injection run: M concurrent injectors → MTA → Maildir.
fn inject_run(cx: &Ctx, kind: Kind) -> anyhow::Result<Sample> {
    let n = cx.plan.inject_messages;
    let m = cx.plan.injectors.max(1);
    let setup = Setup {
        port: free_port()?,
        sink: None,
        conns: 40,
    };
    let inst = mtas::start(kind, cx.env, &setup, &cx.dir(kind))?;
    let Some(inj) = inst.injector.clone() else {
        inst.stop();
        anyhow::bail!("{} has no local injection measured here", kind.name());
    };
    let pid = inst.pid();
    let idle = idle_pss(pid);
    let cpu0 = procs::tree_cpu_ms(pid);
    let peak = PeakSampler::start(pid);
    let msg = Arc::new(message(1024));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..m)
        .map(|i| {
            let (inj, msg) = (inj.clone(), msg.clone());
            let (failed, first) = (failed.clone(), first_error.clone());
            let count = n / m + usize::from(i < n % m);
            std::thread::spawn(move || {
                for _ in 0..count {
                    if let Err(e) = inject_one(&inj, &msg) {
                        failed.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut f) = first.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let accepted = t0.elapsed();
    let dir = inst.maildir_new.clone();
    let last = load::wait_for(
        || load::count_files(&dir),
        n as u64,
        Duration::from_secs(60),
    );
    let cpu1 = settled_cpu_ms(pid);
    let peak = peak.finish();
    inst.stop();
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        let why = first_error
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        anyhow::bail!("{failed} of {n} injections failed; the first: {why}");
    }
    let last = last?;
    let mut s = Sample::new();
    s.insert("accepted_per_s".into(), n as f64 / accepted.as_secs_f64());
    s.insert("e2e_per_s".into(), n as f64 / (last - t0).as_secs_f64());
    // The injection programs are not children of the MTA's tree: this is
    // the daemons' CPU only, so it is reported but not compared.
    s.insert("daemon_cpu_ms_per_msg".into(), (cpu1 - cpu0) / n as f64);
    s.insert("idle_pss_kib".into(), idle as f64);
    s.insert("peak_pss_kib".into(), peak as f64);
    Ok(s)
}

/// Memory with `conns` idle SMTP connections open.
fn idle_run(cx: &Ctx, kind: Kind) -> anyhow::Result<Sample> {
    let n = cx.plan.conns;
    let setup = Setup {
        port: free_port()?,
        sink: None,
        conns: n,
    };
    let inst = mtas::start(kind, cx.env, &setup, &cx.dir(kind))?;
    let pid = inst.pid();
    let idle = idle_pss(pid);
    // Keep 4 GiB for the other users of the machine.
    let pool = load::open_idle(setup.port, n, Duration::from_secs(120), 4 << 20);
    let _ = settled_cpu_ms(pid);
    let with = procs::tree_pss_kib(pid);
    let (open, greeted) = (pool.conns.len(), pool.greeted);
    drop(pool);
    inst.stop();
    let mut s = Sample::new();
    s.insert("idle_pss_kib".into(), idle as f64);
    s.insert("conns_pss_kib".into(), with as f64);
    s.insert("conns_open".into(), open as f64);
    s.insert("conns_greeted".into(), greeted as f64);
    Ok(s)
}

/// Runs `f` for each MTA, `runs` times, interleaved.
fn interleave(
    cx: &Ctx,
    name: &str,
    title: &str,
    kinds: &[Kind],
    messages: impl Fn(Kind) -> usize,
    f: impl Fn(&Ctx, Kind) -> anyhow::Result<Sample>,
) -> WorkloadResult {
    let mut cells: BTreeMap<String, Cell> = BTreeMap::new();
    for run in 0..cx.plan.runs {
        for &k in kinds {
            eprintln!(
                "mta-bench: {name} run {}/{} {}",
                run + 1,
                cx.plan.runs,
                k.name()
            );
            let cell = cells.entry(k.name().to_string()).or_default();
            cell.messages = messages(k);
            match f(cx, k) {
                Ok(s) => cell.samples.push(s),
                Err(e) => {
                    eprintln!("mta-bench:   {}: {e:#}", k.name());
                    cell.errors.push(format!("run {}: {e:#}", run + 1));
                }
            }
        }
    }
    WorkloadResult {
        name: name.into(),
        title: title.into(),
        cells,
    }
}

/// Runs every workload the plan selects.
pub fn run_all(env: &Env, plan: &Plan) -> Vec<WorkloadResult> {
    let cx = Ctx { env, plan };
    let want = |n: &str| plan.only.is_empty() || plan.only.iter().any(|o| o == n);
    let peers: Vec<Kind> = plan
        .kinds
        .iter()
        .copied()
        .filter(|k| *k != Kind::OpensmtpdBacklog)
        .collect();
    let mut out = Vec::new();
    if want("smtp-maildir-1k") {
        out.push(interleave(
            &cx,
            "smtp-maildir-1k",
            "SMTP → local Maildir, 1 KiB",
            &plan.kinds,
            |k| cx.messages(k),
            |cx, k| smtp_run(cx, k, 1024, false),
        ));
    }
    if want("smtp-maildir-10k") {
        out.push(interleave(
            &cx,
            "smtp-maildir-10k",
            "SMTP → local Maildir, 10 KiB",
            &peers,
            |k| cx.messages(k),
            |cx, k| smtp_run(cx, k, 10240, false),
        ));
    }
    if want("smtp-relay-1k") {
        out.push(interleave(
            &cx,
            "smtp-relay-1k",
            "SMTP → relay to smtp-sink, 1 KiB",
            &peers,
            |k| cx.messages(k),
            |cx, k| smtp_run(cx, k, 1024, true),
        ));
    }
    if want("inject-maildir-1k") {
        let kinds: Vec<Kind> = plan
            .kinds
            .iter()
            .copied()
            .filter(|k| matches!(k, Kind::Reference | Kind::Postfix))
            .collect();
        out.push(interleave(
            &cx,
            "inject-maildir-1k",
            "qmail-queue / Postfix sendmail → local Maildir, 1 KiB",
            &kinds,
            |_| plan.inject_messages,
            inject_run,
        ));
    }
    if want("idle-conns") {
        out.push(interleave(
            &cx,
            "idle-conns",
            &format!("memory with {} idle SMTP connections", plan.conns),
            &peers,
            |_| plan.conns,
            idle_run,
        ));
    }
    if want("aliases-100k") {
        out.push(crate::aliases::run(env, plan.runs));
    }
    out
}

/// The scratch directory for the disk measurement.
pub fn disk_dir(env: &Env) -> PathBuf {
    env.work.join("disk")
}

/// fsync/fdatasync calls per message the reference MTA makes for SMTP →
/// Maildir, counted by strace over `n` messages (its durable operations).
pub fn reference_fsyncs_per_msg(env: &Env, plan: &Plan, n: usize) -> anyhow::Result<f64> {
    let cx = Ctx { env, plan };
    let setup = Setup {
        port: free_port()?,
        sink: None,
        conns: 40,
    };
    let inst = mtas::start(Kind::Reference, env, &setup, &cx.dir(Kind::Reference))?;
    let out = env.work.join("strace.out");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-c", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&out);
    for p in procs::tree(inst.pid()) {
        cmd.arg("-p").arg(p.to_string());
    }
    let mut st = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // strace attaches before it starts tracing; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    let sent = load::smtp_source(env, setup.port, 5, n, 1024, "user@localhost");
    let dir = inst.maildir_new.clone();
    let done = load::wait_for(
        || load::count_files(&dir),
        n as u64,
        Duration::from_secs(30),
    );
    let _ = settled_cpu_ms(inst.pid());
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(st.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = st.wait();
    inst.stop();
    sent?;
    done?;
    let text = std::fs::read_to_string(&out)?;
    let _ = std::fs::remove_file(&out);
    Ok(parse_strace_calls(&text) as f64 / n as f64)
}

/// The total of the `calls` column of `strace -c` output.
pub fn parse_strace_calls(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.ends_with("fsync") || l.ends_with("fdatasync"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors], syscall
            f.get(3).and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_the_size_asked_and_ends_in_a_newline() {
        for size in [1024, 10240] {
            let m = message(size);
            assert_eq!(m.len(), size);
            assert_eq!(m.last(), Some(&b'\n'));
            assert!(m.split(|&b| b == b'\n').all(|l| l.len() < 80));
        }
    }

    #[test]
    fn strace_summary_calls_are_added() {
        let t = "% time     seconds  usecs/call     calls    errors syscall\n------ ----------- ----------- --------- --------- ----------------\n 60.00    0.006000          12       500           fsync\n 40.00    0.004000          20       200         3 fdatasync\n------ ----------- ----------- --------- --------- ----------------\n100.00    0.010000          14       700         3 total\n";
        assert_eq!(parse_strace_calls(t), 700);
    }

    #[test]
    fn free_ports_are_bindable() {
        let p = free_port().unwrap();
        assert!(TcpListener::bind(("127.0.0.1", p)).is_ok());
    }
}
