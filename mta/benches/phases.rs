//! Where the engine's CPU goes: the same workload as `inject_maildir`, in
//! two phases. First N messages are injected through qmail-queue (M
//! concurrent injectors) while the MTA is stopped: that is qmail-queue's
//! cost alone. Then the MTA starts and drains the queue into one Maildir:
//! that is qmail-send + qmail-lspawn + qmail-clean's cost alone.
//!
//! Run: `cargo bench -p mta --bench phases` (BENCH_N, BENCH_M, BENCH_DIR).

mod common;
use common::*;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let n = env_num("BENCH_N", 2000);
    let m = env_num("BENCH_M", 20).max(1);
    let base = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let root = dir.path().join("mta");
    init_root(MTA.as_ref(), &root);
    let _ = std::fs::remove_file(root.join("control/smtplisten"));
    let newdir = root.join("home/user/Maildir/new");
    let mut msg = b"From: bench@example.org\nTo: user@localhost\nSubject: bench\n\n".to_vec();
    msg.resize(1023, b'x');
    msg.push(b'\n');
    let msg = Arc::new(msg);

    // Phase 1: qmail-queue alone.
    let cpu0 = cpu_children();
    let t0 = Instant::now();
    let workers: Vec<_> = (0..m)
        .map(|i| {
            let (root, msg) = (root.clone(), msg.clone());
            let count = n / m + usize::from(i < n % m);
            std::thread::spawn(move || {
                for _ in 0..count {
                    assert!(inject(&root, &msg), "qmail-queue failed");
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let t_qq = t0.elapsed();
    let cpu_qq = cpu_children() - cpu0;

    // Phase 2: the daemons alone.
    let cpu1 = cpu_children();
    let t1 = Instant::now();
    let mut sup = Command::new(MTA)
        .args(["start", "--unprivileged", "--quiet", "--root"])
        .arg(&root)
        .stdout(Stdio::null())
        .spawn()
        .expect("mta start");
    let (t_drain, delivered) = wait_delivered(&newdir, n, t1);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = sup.wait();
    let cpu_d = cpu_children() - cpu1;
    let per = |c: f64| c * 1000.0 / n as f64;
    println!("phases: {n} x 1 KiB messages, {m} injectors, one Maildir user");
    println!(
        "  qmail-queue alone    {:.0} msg/s, {:.2} ms CPU per message",
        n as f64 / t_qq.as_secs_f64(),
        per(cpu_qq)
    );
    println!(
        "  daemons alone        {:.0} msg/s, {:.2} ms CPU per message ({delivered} delivered)",
        delivered as f64 / t_drain.as_secs_f64(),
        per(cpu_d)
    );
    if delivered < n {
        std::process::exit(1);
    }
}
