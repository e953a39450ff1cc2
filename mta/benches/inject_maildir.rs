//! Quick end-to-end benchmark of the delivery engine (issue: "N 1 KiB
//! messages injected through qmail-queue, with M concurrent injectors, to
//! one Maildir user"). Reports end-to-end messages/s, CPU milliseconds per
//! message (every MTA process, including each qmail-queue run) and memory.
//!
//! Run: `cargo bench -p mta --bench inject_maildir` (BENCH_N, BENCH_M and
//! BENCH_DIR change the message count, the injector count and where the
//! MTA root is created).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::*;

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let n = env_num("BENCH_N", 2000);
    let m = env_num("BENCH_M", 20).max(1);
    let base = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let root = dir.path().join("mta");
    init_root(MTA.as_ref(), &root);
    let newdir = root.join("home/user/Maildir/new");

    let cpu0 = cpu_children();
    let mut sup = Command::new(MTA)
        .args(["start", "--unprivileged", "--quiet", "--root"])
        .arg(&root)
        .stdout(Stdio::null())
        .spawn()
        .expect("mta start");
    let log = root.join("log/current");
    let t_ready = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("status: local 0/")
    {
        assert!(
            t_ready.elapsed() < Duration::from_secs(20),
            "MTA did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let idle_rss = tree_rss_kib(sup.id());

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), sup.id());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(tree_rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let mut msg = b"From: bench@example.org\nTo: user@localhost\nSubject: bench\n\n".to_vec();
    while msg.len() < 1023 {
        msg.extend_from_slice(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n");
    }
    msg.truncate(1023);
    msg.push(b'\n');
    let msg = Arc::new(msg);

    let t0 = Instant::now();
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..m)
        .map(|i| {
            let (root, msg, failed) = (root.clone(), msg.clone(), failed.clone());
            let count = n / m + usize::from(i < n % m);
            std::thread::spawn(move || {
                for _ in 0..count {
                    if !inject(&root, &msg) {
                        failed.fetch_add(1, Ordering::Relaxed);
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
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = sup.wait();
    let cpu = cpu_children() - cpu0;

    let e2e = delivered as f64 / t_end.as_secs_f64();
    let acc = n as f64 / t_accept.as_secs_f64();
    let cpu_ms = cpu * 1000.0 / delivered.max(1) as f64;
    println!("inject_maildir: {n} x 1 KiB messages, {m} concurrent qmail-queue injectors, one Maildir user");
    println!(
        "  delivered            {delivered}/{n} (injection failures: {})",
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  accepted             {acc:.0} msg/s ({:.2} s)",
        t_accept.as_secs_f64()
    );
    println!(
        "  end to end           {e2e:.0} msg/s ({:.2} s)",
        t_end.as_secs_f64()
    );
    println!("  MTA CPU per message  {cpu_ms:.2} ms (all MTA processes incl. qmail-queue)");
    println!("  memory               idle {} KiB, peak {} KiB (sum of RSS of the running MTA processes); largest single process {} KiB",
        idle_rss, peak.load(Ordering::Relaxed), max_rss_children_kib());
    println!(
        "{{\"bench\":\"inject_maildir\",\"n\":{n},\"m\":{m},\"delivered\":{delivered},\"accepted_per_s\":{acc:.1},\"e2e_per_s\":{e2e:.1},\"cpu_ms_per_msg\":{cpu_ms:.3},\"idle_rss_kib\":{idle_rss},\"peak_rss_kib\":{}}}",
        peak.load(Ordering::Relaxed)
    );
    if delivered < n {
        std::process::exit(1);
    }
}
