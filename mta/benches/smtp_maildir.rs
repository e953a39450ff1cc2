//! SMTP → Maildir without the peers: what `ci/bench`'s `smtp-maildir-1k`
//! measures, driven by an smtp-source-like client of our own. The
//! supervisor runs the built-in listener (`control/smtplisten`); M
//! sessions at once each send one message per connection (EHLO, MAIL,
//! RCPT, DATA, QUIT, as smtp-source does by default) until N messages
//! have had their 250.
//!
//! Reports accepted and end-to-end messages per second, CPU per message
//! of the MTA's processes, and where the time goes: the activity log is
//! followed while the run lasts, and each line (`new msg`, `starting
//! delivery`, `delivery N: success`, `end msg`) is stamped as it appears,
//! so the report shows how far each stage trails the 250s.
//!
//! Run: `cargo bench -p mta --bench smtp_maildir` (BENCH_N, BENCH_M,
//! BENCH_SIZE in bytes, BENCH_DIR; BENCH_TRACE=1 prints a time series,
//! BENCH_KEEP=1 keeps the MTA's directory, BENCH_MTA runs another
//! build's `mta` (with its programs beside it), BENCH_CONCURRENCYLOCAL sets
//! control/concurrencylocal).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The message smtp-source sends: a few headers, then lines of `X` up to
/// `size` bytes.
fn message(size: usize) -> Vec<u8> {
    let mut m =
        b"From: <bench@example.org>\r\nTo: <user@localhost>\r\nSubject: bench\r\n\r\n".to_vec();
    while m.len() + 2 < size {
        let n = (size - m.len() - 2).min(78);
        m.extend(std::iter::repeat_n(b'X', n));
        m.extend_from_slice(b"\r\n");
    }
    m
}

fn reply(r: &mut BufReader<TcpStream>) -> std::io::Result<u32> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0));
        }
    }
}

/// One message on one connection; true on 250 after the dot.
fn send_one(port: u16, msg: &[u8]) -> std::io::Result<bool> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let mut step = |cmd: &[u8], want: u32, r: &mut BufReader<TcpStream>| -> std::io::Result<bool> {
        if !cmd.is_empty() {
            w.write_all(cmd)?;
        }
        Ok(reply(r)? == want)
    };
    let ok = step(b"", 220, &mut r)?
        && step(b"EHLO bench.example\r\n", 250, &mut r)?
        && step(b"MAIL FROM:<bench@example.org>\r\n", 250, &mut r)?
        && step(b"RCPT TO:<user@localhost>\r\n", 250, &mut r)?
        && step(b"DATA\r\n", 354, &mut r)?;
    if !ok {
        return Ok(false);
    }
    let mut body = msg.to_vec();
    body.extend_from_slice(b".\r\n");
    let ok = step(&body, 250, &mut r)?;
    let _ = step(b"QUIT\r\n", 221, &mut r);
    Ok(ok)
}

/// Activity log events, stamped when seen.
#[derive(Default)]
struct Stamps {
    new_msg: Vec<Duration>,
    starting: Vec<Duration>,
    success: Vec<Duration>,
    end_msg: Vec<Duration>,
    /// Per message id: when `new msg` was seen.
    new_at: std::collections::HashMap<u64, Duration>,
    /// Per delivery number: when it started.
    start_at: std::collections::HashMap<u64, Duration>,
    /// `new msg` → its `starting delivery`.
    waited: Vec<Duration>,
    /// `starting delivery` → its result.
    took: Vec<Duration>,
}

/// The number after `prefix`, up to the next space or colon.
fn num_after(l: &str, prefix: &str) -> Option<u64> {
    let rest = l.strip_prefix(prefix)?;
    let end = rest.find([' ', ':']).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn follow_log(log: PathBuf, t0: Instant, stop: Arc<AtomicBool>, st: Arc<Mutex<Stamps>>) {
    let mut f = loop {
        match std::fs::File::open(&log) {
            Ok(f) => break f,
            Err(_) if !stop.load(Ordering::Relaxed) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return,
        }
    };
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).unwrap_or(0);
        if n == 0 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let now = t0.elapsed();
        pending.extend_from_slice(&buf[..n]);
        let mut s = st.lock().unwrap();
        while let Some(i) = pending.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let l = String::from_utf8_lossy(&line);
            let l = l.trim_end();
            if l.starts_with("new msg ") {
                s.new_msg.push(now);
                if let Some(id) = num_after(l, "new msg ") {
                    s.new_at.insert(id, now);
                }
            } else if l.starts_with("starting delivery ") {
                s.starting.push(now);
                // starting delivery D: msg ID to ...
                if let Some(d) = num_after(l, "starting delivery ") {
                    s.start_at.insert(d, now);
                }
                let id = l.find(": msg ").and_then(|i| num_after(&l[i..], ": msg "));
                if let Some(t) = id.and_then(|id| s.new_at.remove(&id)) {
                    s.waited.push(now - t);
                }
            } else if l.starts_with("delivery ") {
                if l.contains(": success:") {
                    s.success.push(now);
                }
                if let Some(t) = num_after(l, "delivery ").and_then(|d| s.start_at.remove(&d)) {
                    s.took.push(now - t);
                }
            } else if l.starts_with("end msg ") {
                s.end_msg.push(now);
            }
        }
    }
}

fn at(v: &[Duration], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i].as_secs_f64()
}

fn main() {
    let n = env_num("BENCH_N", 1000);
    let m = env_num("BENCH_M", 20).max(1);
    let size = env_num("BENCH_SIZE", 1024);
    let trace = std::env::var_os("BENCH_TRACE").is_some();
    let base = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mut dir = tempfile::tempdir_in(base).expect("tempdir");
    if std::env::var_os("BENCH_KEEP").is_some() {
        dir.disable_cleanup(true);
        eprintln!("keeping {}", dir.path().display());
    }
    let root = dir.path().join("mta");
    // BENCH_MTA: another build's `mta` (its programs next to it), for
    // comparing builds run after run.
    let mta = std::env::var_os("BENCH_MTA").unwrap_or_else(|| MTA.into());
    init_root(&mta, &root);
    let port = free_port();
    std::fs::write(
        root.join("control/smtplisten"),
        format!("127.0.0.1:{port}\n"),
    )
    .unwrap();
    std::fs::write(root.join("control/concurrencyincoming"), "40\n").unwrap();
    if let Ok(c) = std::env::var("BENCH_CONCURRENCYLOCAL") {
        std::fs::write(root.join("control/concurrencylocal"), format!("{c}\n")).unwrap();
    }
    let newdir = root.join("home/user/Maildir/new");

    let cpu0 = cpu_children();
    let mut sup = Command::new(&mta)
        .args(["start", "--unprivileged", "--quiet", "--root"])
        .arg(&root)
        .stdout(Stdio::null())
        .spawn()
        .expect("mta start");
    wait_ready(&root.join("log/current"), port);

    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let stamps = Arc::new(Mutex::new(Stamps::default()));
    let follower = {
        let (log, stop, st) = (root.join("log/current"), stop.clone(), stamps.clone());
        // Skip what start-up wrote: follow from the current end.
        std::thread::spawn(move || follow_log(log, t0, stop, st))
    };
    let msg = Arc::new(message(size));
    let accepted = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..m)
        .map(|i| {
            let (msg, accepted, failed) = (msg.clone(), accepted.clone(), failed.clone());
            let count = n / m + usize::from(i < n % m);
            std::thread::spawn(move || {
                for _ in 0..count {
                    match send_one(port, &msg) {
                        Ok(true) => accepted.lock().unwrap().push(t0.elapsed()),
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let t_accept = t0.elapsed();
    let (t_end, delivered) = wait_delivered(&newdir, n, t0);
    std::thread::sleep(Duration::from_millis(300));
    let per_process = tree_cpu(sup.id());
    stop.store(true, Ordering::Relaxed);
    let _ = follower.join();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = sup.wait();
    let cpu = cpu_children() - cpu0;

    let mut acc = accepted.lock().unwrap().clone();
    acc.sort();
    let s = stamps.lock().unwrap();
    let e2e = delivered as f64 / t_end.as_secs_f64();
    let accr = n as f64 / t_accept.as_secs_f64();
    let cpu_ms = cpu * 1000.0 / delivered.max(1) as f64;
    println!("smtp_maildir: {n} x {size} B messages, {m} SMTP sessions, one Maildir user");
    println!(
        "  delivered            {delivered}/{n} (SMTP failures: {})",
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  accepted             {accr:.0} msg/s ({:.2} s)",
        t_accept.as_secs_f64()
    );
    println!(
        "  end to end           {e2e:.0} msg/s ({:.2} s)",
        t_end.as_secs_f64()
    );
    println!("  MTA CPU per message  {cpu_ms:.2} ms (every MTA process)");
    let per: Vec<String> = per_process
        .iter()
        .map(|(name, s)| format!("{name} {:.2}", s * 1000.0 / delivered.max(1) as f64))
        .collect();
    println!(
        "    by process (ms/msg, before shutdown): {}",
        per.join(", ")
    );
    println!("  stage             10%     50%     90%    100%  (seconds after the first message was sent)");
    for (name, v) in [
        ("250 sent", &acc[..]),
        ("new msg", &s.new_msg[..]),
        ("starting", &s.starting[..]),
        ("success", &s.success[..]),
        ("end msg", &s.end_msg[..]),
    ] {
        println!(
            "  {name:<12} {:>7.2} {:>7.2} {:>7.2} {:>7.2}  ({} events)",
            at(v, 0.1),
            at(v, 0.5),
            at(v, 0.9),
            at(v, 1.0),
            v.len()
        );
    }
    let mut waited = s.waited.clone();
    waited.sort();
    let mut took = s.took.clone();
    took.sort();
    for (name, v) in [
        ("new msg → starting", &waited[..]),
        ("starting → result", &took[..]),
    ] {
        println!(
            "  {name:<20} p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            at(v, 0.5) * 1000.0,
            at(v, 0.9) * 1000.0,
            at(v, 1.0) * 1000.0
        );
    }
    if trace {
        let end = t_end.as_millis() as u64 + 100;
        let count = |v: &[Duration], t: u64| v.partition_point(|d| d.as_millis() as u64 <= t);
        println!("  t_ms accepted new_msg starting success end_msg");
        let mut t = 0;
        while t <= end {
            println!(
                "  {t:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
                count(&acc, t),
                count(&s.new_msg, t),
                count(&s.starting, t),
                count(&s.success, t),
                count(&s.end_msg, t)
            );
            t += 100;
        }
    }
    println!(
        "{{\"bench\":\"smtp_maildir\",\"n\":{n},\"m\":{m},\"size\":{size},\"delivered\":{delivered},\"accepted_per_s\":{accr:.1},\"e2e_per_s\":{e2e:.1},\"cpu_ms_per_msg\":{cpu_ms:.3}}}"
    );
    if delivered < n {
        std::process::exit(1);
    }
}

/// CPU seconds (user + system, threads included) of `root` and each
/// descendant, summed by command name.
fn tree_cpu(root: u32) -> Vec<(String, f64)> {
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let mut procs = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // state ppid ... utime(11) stime(12)
        procs.push((pid, num(1) as u32, name, (num(11) + num(12)) / tick));
    }
    let parent: std::collections::HashMap<u32, u32> =
        procs.iter().map(|(p, pp, _, _)| (*p, *pp)).collect();
    let mut by: std::collections::BTreeMap<String, f64> = Default::default();
    for (pid, _, name, cpu) in &procs {
        let mut p = *pid;
        for _ in 0..64 {
            if p == root {
                *by.entry(name.clone()).or_default() += cpu;
                break;
            }
            match parent.get(&p) {
                Some(&q) if q != 0 => p = q,
                _ => break,
            }
        }
    }
    by.into_iter().collect()
}

/// Waits until qmail-send has logged its first status line and the
/// listener takes connections.
fn wait_ready(log: &Path, port: u16) {
    let t = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains("status: local 0/")
        || TcpStream::connect(("127.0.0.1", port)).is_err()
    {
        assert!(t.elapsed() < Duration::from_secs(30), "MTA did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}
