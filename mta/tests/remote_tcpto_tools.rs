//! Black-box tests of `qmail-tcpto` and `qmail-tcpok` (spec §6.5,
//! Appendix A).

use std::process::{Command, Output};

fn run(bin: &str, home: &std::path::Path) -> Output {
    Command::new(bin)
        .env("QMAILHOME", home)
        .env("MTA_MODE", "unprivileged")
        .output()
        .unwrap()
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

fn record(t: &mut [u8], i: usize, ip: [u8; 4], count: u8, when: u32) {
    let r = &mut t[i * 16..(i + 1) * 16];
    r[..4].copy_from_slice(&ip);
    r[4] = count;
    r[8..12].copy_from_slice(&when.to_le_bytes());
}

#[test]
fn tcpto_lists_counted_entries_and_tcpok_clears_them() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("queue/lock")).unwrap();
    let mut t = vec![0u8; 1024];
    let when = now() - 100;
    record(&mut t, 0, [192, 0, 2, 7], 2, when);
    record(&mut t, 3, [10, 0, 0, 1], 0, when); // reset: not listed
    std::fs::write(d.path().join("queue/lock/tcpto"), &t).unwrap();

    let out = run(env!("CARGO_BIN_EXE_qmail-tcpto"), d.path());
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let secs: u32 = text
        .strip_prefix("192.0.2.7 timed out ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!((100..110).contains(&secs), "{text:?}");
    assert!(
        text.ends_with(" seconds ago; # recent timeouts: 2\n"),
        "{text:?}"
    );
    assert_eq!(text.lines().count(), 1);

    let out = run(env!("CARGO_BIN_EXE_qmail-tcpok"), d.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read(d.path().join("queue/lock/tcpto")).unwrap(),
        vec![0u8; 1024]
    );
    let out = run(env!("CARGO_BIN_EXE_qmail-tcpto"), d.path());
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));
}

#[test]
fn missing_queue_is_fatal_with_qmail_texts() {
    let d = tempfile::tempdir().unwrap();
    let out = run(env!("CARGO_BIN_EXE_qmail-tcpto"), d.path());
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fatal: unable to chdir: file does not exist\n"
    );
    let out = run(env!("CARGO_BIN_EXE_qmail-tcpok"), d.path());
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "qmail-tcpok: fatal: unable to chdir to {}/queue/lock: file does not exist\n",
            d.path().display()
        )
    );
    std::fs::create_dir_all(d.path().join("queue/lock")).unwrap();
    let out = run(env!("CARGO_BIN_EXE_qmail-tcpto"), d.path());
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (
            Some(111),
            "fatal: unable to open tcpto: file does not exist\n"
        )
    );
}
