//! A disk that fills up: on a small tmpfs, qmail-queue fails with exit 53
//! (`qq write error or disk full`) and leaves nothing behind; a delivery
//! into a full Maildir is deferred (`Temporary error on maildir delivery`),
//! never bounced or lost, and after space is freed and SIGALRM the message
//! is delivered.
//!
//! Needs root and a working `mount -t tmpfs`; otherwise the test prints a
//! skip message and passes. Filesystems are unmounted (lazily, so a busy
//! one cannot keep the test from finishing) when their guard is dropped,
//! also when an assertion fails.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Mta;

const MSG: &str = "Subject: x\n\nhello\n";

/// A mounted tmpfs, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        std::fs::create_dir_all(path).ok()?;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes `dir/fill` until the filesystem is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let p = dir.join("fill");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![b'x'; 16 * 1024];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            break;
        }
    }
    // Whatever is left is less than a page: fill that too.
    while f.write_all(b"x").is_ok() {}
    p
}

fn mess_count(root: &Path) -> usize {
    (0..23)
        .map(|s| {
            std::fs::read_dir(root.join(format!("queue/mess/{s}")))
                .unwrap()
                .count()
        })
        .sum()
}

#[test]
fn full_disk_fails_qmail_queue_and_defers_maildir_delivery() {
    let outer = tempfile::tempdir().unwrap();
    let Some(_queue_fs) = Tmpfs::mount(&outer.path().join("fs"), "4m") else {
        eprintln!("faults_disk: skipped (needs root and mount -t tmpfs)");
        return;
    };
    let root = outer.path().join("fs/mta");
    let m = Mta::init_at(root.clone());
    // The Maildir for user-full on its own, tiny filesystem.
    let full = m.user_home().join("full");
    let Some(_maildir_fs) = Tmpfs::mount(&full, "256k") else {
        panic!("second tmpfs mount failed");
    };
    for d in ["tmp", "new", "cur"] {
        std::fs::create_dir(full.join(d)).unwrap();
    }
    m.dot_qmail(".qmail-full", "./full/\n");
    // The MTA is declared last so it stops before the unmounts.
    let mut m = m;
    m.start();

    // 1. A full Maildir: deferred, while other mail still flows.
    let filler = fill(&full);
    m.inject("user@localhost", &["user-full@localhost"], MSG);
    m.wait_log(
        "delivery 1: deferral: Temporary_error_on_maildir_delivery._(#4.3.0)/\n",
        Duration::from_secs(20),
    );
    m.inject("user@localhost", &["user@localhost"], MSG);
    m.wait_maildir(&m.user_home().join("Maildir"), 1);
    assert!(m.maildir_new(&full).is_empty());
    assert!(!m.log().contains("failure:"), "{}", m.log());
    assert!(!m.log().contains("bounce msg"), "{}", m.log());

    // 2. A full queue filesystem: qmail-queue exits 53 and leaves no
    // message behind.
    let before = mess_count(&root);
    let queue_filler = fill(&root);
    let st = m.inject_with_env("user@localhost", &["user@localhost"], MSG, &[]);
    assert_eq!(st.code(), Some(53));
    assert_eq!(
        mta::queue::client::qq_text(st).unwrap_err().text,
        "qq write error or disk full (#4.3.0)"
    );
    // Nothing new in mess/ (the delivered message's mess file may be
    // removed meanwhile, so the count can only go down).
    assert!(mess_count(&root) <= before);
    assert_eq!(m.todo_ids(), Vec::<u64>::new());
    std::fs::remove_file(queue_filler).unwrap();

    // 3. Space again: the retry (SIGALRM) delivers the deferred message.
    std::fs::remove_file(filler).unwrap();
    m.alarm();
    let got = m.wait_maildir(&full, 1);
    assert!(String::from_utf8_lossy(&got[0]).ends_with(MSG));
    m.wait_queue_empty(Duration::from_secs(10));
    // qmail-queue works again too.
    m.inject("user@localhost", &["user@localhost"], MSG);
    m.wait_maildir(&m.user_home().join("Maildir"), 2);
    assert_eq!(m.stop(), Some(0));
}

/// Runs without root too: a file-size limit makes qmail-queue's message
/// write fail (EFBIG, with SIGXFSZ ignored so the write returns an error
/// instead of killing it), which it reports like a full disk.
#[test]
fn file_size_limit_fails_qmail_queue_with_53() {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let m = Mta::init();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut c = Command::new(m.root.join("bin/qmail-queue"));
    c.stdin(Stdio::piped()).stdout(Stdio::from(r));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 4096,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let big = format!("Subject: big\n\n{}\n", "x".repeat(64 * 1024));
    let _ = stdin.write_all(big.as_bytes());
    drop(stdin);
    let mut envf = std::fs::File::from(w);
    let _ = envf.write_all(&mta::queue::client::envelope(
        b"user@localhost",
        &[b"user@localhost".to_vec()],
    ));
    drop(envf);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(53));
    assert_eq!(mess_count(&m.root), 0, "no partial message left behind");
    assert_eq!(m.todo_ids(), Vec::<u64>::new());
}
