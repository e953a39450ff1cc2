//! Helpers shared by the engine benchmarks.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub const MTA: &str = env!("CARGO_BIN_EXE_mta");

pub fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn cpu_children() -> f64 {
    let r = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
    t(r.user_time()) + t(r.system_time())
}

pub fn max_rss_children_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|r| r.max_rss())
        .unwrap_or(0)
}

/// Sum of VmRSS (KiB) of `root` and all its descendants.
pub fn tree_rss_kib(root: u32) -> u64 {
    let mut parent = std::collections::HashMap::new();
    let mut rss = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        for l in status.lines() {
            if let Some(v) = l.strip_prefix("PPid:") {
                parent.insert(pid, v.trim().parse::<u32>().unwrap_or(0));
            }
            if let Some(v) = l.strip_prefix("VmRSS:") {
                let kib = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                rss.insert(pid, kib);
            }
        }
    }
    let mut total = 0;
    for (&pid, &kib) in &rss {
        let mut p = pid;
        for _ in 0..64 {
            if p == root {
                total += kib;
                break;
            }
            match parent.get(&p) {
                Some(&q) if q != 0 => p = q,
                _ => break,
            }
        }
    }
    total
}

pub fn count_new(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

pub fn inject(root: &Path, msg: &[u8]) -> bool {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let mut c = match Command::new(root.join("bin/qmail-queue"))
        .stdin(Stdio::piped())
        .stdout(Stdio::from(r))
        .spawn()
    {
        Ok(c) => c,
        Err(_) => return false,
    };
    if let Some(mut s) = c.stdin.take() {
        let _ = s.write_all(msg);
    }
    let mut envf = std::fs::File::from(w);
    let _ = envf.write_all(b"Fbench@example.org\0Tuser@localhost\0\0");
    drop(envf);
    c.wait().map(|s| s.success()).unwrap_or(false)
}

/// Waits (up to 10 minutes) until `n` messages are in `newdir`; returns
/// the time since `t0` and how many arrived.
pub fn wait_delivered(
    newdir: &Path,
    n: usize,
    t0: std::time::Instant,
) -> (std::time::Duration, usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while count_new(newdir) < n && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    (t0.elapsed(), count_new(newdir))
}

/// `MTA init --unprivileged --root ROOT`.
pub fn init_root(mta: &std::ffi::OsStr, root: &Path) {
    let st = Command::new(mta)
        .args(["init", "--unprivileged", "--root"])
        .arg(root)
        .stdout(Stdio::null())
        .status()
        .expect("mta init");
    assert!(st.success());
}
