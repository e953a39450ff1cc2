//! Production mode end to end: started as root, each component runs under
//! qmail's own accounts, only qmail-queue is setuid, and a delivery runs as
//! the recipient's uid. Needs root and the accounts `ci/setup` creates; it
//! skips with a message otherwise.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MTA: &str = env!("CARGO_BIN_EXE_mta");

fn uid_of(name: &str) -> Option<(u32, u32)> {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
}

fn ready() -> bool {
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipping: production mode needs root");
        return false;
    }
    for a in [
        "alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails",
    ] {
        if uid_of(a).is_none() {
            eprintln!("skipping: account {a} missing (ci/setup creates qmail's accounts)");
            return false;
        }
    }
    true
}

fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// (pid, ppid, uid, argv0) of every process.
fn processes() -> Vec<(u32, u32, u32, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(st) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            st.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let argv0 =
            String::from_utf8_lossy(cmd.split(|&c| c == 0).next().unwrap_or(&[])).into_owned();
        v.push((pid, field("PPid:"), field("Uid:"), argv0));
    }
    v
}

fn inject_as(
    root: &Path,
    uid: u32,
    gid: u32,
    from: &str,
    to: &str,
    msg: &str,
) -> std::process::ExitStatus {
    use std::io::Write;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut c = Command::new(root.join("bin/qmail-queue"));
    c.stdin(Stdio::piped())
        .stdout(Stdio::from(r))
        .uid(uid)
        .gid(gid)
        .current_dir("/");
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(msg.as_bytes())
        .unwrap();
    let mut envf = std::fs::File::from(w);
    envf.write_all(format!("F{from}\0T{to}\0\0").as_bytes())
        .unwrap();
    drop(envf);
    child.wait().unwrap()
}

#[test]
fn production_mode_runs_under_qmails_accounts() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("qmail");
    let st = Command::new(MTA)
        .args(["init", "--production", "--root"])
        .arg(&root)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let (qq, _) = uid_of("qmailq").unwrap();
    let md = std::fs::metadata(root.join("bin/qmail-queue")).unwrap();
    assert_eq!(md.uid(), qq);
    assert_eq!(md.mode() & 0o7777, 0o4711);
    assert_eq!(
        std::fs::metadata(root.join("bin/qmail-lspawn"))
            .unwrap()
            .mode()
            & 0o7777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(root.join("queue/info")).unwrap().uid(),
        uid_of("qmails").unwrap().0
    );

    // A mailbox owned by the alias account.
    let (alias_uid, alias_gid) = uid_of("alias").unwrap();
    let box_home = dir.path().join("box");
    for d in ["", "Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"] {
        let p = box_home.join(d);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(&p, Some(alias_uid.into()), Some(alias_gid.into())).unwrap();
    }
    let c = root.join("control");
    std::fs::write(c.join("me"), "localhost\n").unwrap();
    std::fs::write(c.join("locals"), "localhost\n").unwrap();
    std::fs::write(
        root.join("users/assign"),
        format!(
            "=box:alias:{alias_uid}:{alias_gid}:{}:::\n.\n",
            box_home.display()
        ),
    )
    .unwrap();
    assert!(Command::new(root.join("bin/qmail-newu"))
        .env("QMAILHOME", &root)
        .status()
        .unwrap()
        .success());

    let mut sup = Command::new(MTA)
        .args(["start", "--production", "--quiet", "--once", "--root"])
        .arg(&root)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = root.join("log/current");
    assert!(
        wait_for(Duration::from_secs(20), || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("status: local 0/")),
        "qmail-send did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // Every daemon under its own account (spec §1.1).
    let send_pid: u32 = std::fs::read_to_string(root.join("run/qmail-send.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let procs = processes();
    let uid = |pid: u32| procs.iter().find(|p| p.0 == pid).map(|p| p.2);
    assert_eq!(uid(send_pid), Some(uid_of("qmails").unwrap().0));
    let child = |name: &str| {
        procs
            .iter()
            .find(|p| p.1 == send_pid && p.3.ends_with(name))
            .map(|p| p.2)
    };
    assert_eq!(child("qmail-lspawn"), Some(0));
    assert_eq!(child("qmail-rspawn"), Some(uid_of("qmailr").unwrap().0));
    assert_eq!(child("qmail-clean"), Some(qq));

    // Injected by an ordinary user through the setuid qmail-queue.
    let st = inject_as(
        &root,
        65534,
        65534,
        "nobody@localhost",
        "box@localhost",
        "Subject: p\n\nprod\n",
    );
    assert!(st.success(), "qmail-queue as uid 65534: {st}");
    let new = box_home.join("Maildir/new");
    assert!(wait_for(Duration::from_secs(20), || std::fs::read_dir(
        &new
    )
    .unwrap()
    .count()
        == 1));
    let f = std::fs::read_dir(&new)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::metadata(&f).unwrap().uid(),
        alias_uid,
        "delivered as the recipient"
    );
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains(" invoked by uid 65534); "), "{text}");

    // A bounce is queued by qmail-send (qmails): "invoked for bounce".
    let st = inject_as(
        &root,
        65534,
        65534,
        "box@localhost",
        "nosuch@localhost",
        "Subject: b\n\nx\n",
    );
    assert!(st.success());
    assert!(wait_for(Duration::from_secs(20), || std::fs::read_dir(
        &new
    )
    .unwrap()
    .count()
        == 2));
    let bounced = std::fs::read_dir(&new)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .find(|t| t.contains("failure notice"))
        .expect("bounce delivered");
    assert!(bounced.contains(" invoked for bounce); "), "{bounced}");

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    assert!(sup.wait().unwrap().success());
}
