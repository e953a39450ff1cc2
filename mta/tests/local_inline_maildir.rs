//! Inline local delivery (unprivileged mode: qmail-local's work on a
//! thread of qmail-lspawn) names maildir files as qmail does,
//! `<time>.<number>.<host>` (spec §5.6, §5 black-box), and the names stay
//! unique when one process delivers many copies into one maildir within
//! a second: no name collides, so no delivery waits out qmail's 2-second
//! retry.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use mta::home::{Home, Mode};

#[test]
fn inline_maildir_names_are_time_number_host_and_unique() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let home = root.join("home/bob");
    for d in ["tmp", "new", "cur"] {
        fs::create_dir_all(home.join("Maildir").join(d)).unwrap();
    }
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    // Two lines for the same maildir: qmail forks a child for each.
    fs::write(home.join(".qmail"), "./Maildir/\n./Maildir/\n").unwrap();
    fs::write(root.join("message"), b"Subject: x\n\nbody\n").unwrap();
    let h = Home::new(root, Mode::Unprivileged);
    let started = Instant::now();
    for _ in 0..3 {
        let args: Vec<Vec<u8>> = [
            "--",
            "bob",
            home.to_str().unwrap(),
            "bob",
            "",
            "",
            "example.test",
            "s@x.test",
            "./Mailbox",
        ]
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect();
        let msg = fs::File::open(root.join("message")).unwrap();
        let r = mta::local::inline::deliver(&h, args, &msg);
        assert_eq!(
            r.encode(0)[1],
            b'K',
            "{:?}",
            String::from_utf8_lossy(&r.encode(0))
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a name collided: {:?}",
        started.elapsed()
    );
    let host = String::from_utf8(mta::local::maildir::hostname()).unwrap();
    let mut names: Vec<String> = fs::read_dir(home.join("Maildir/new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    for n in &names {
        let parts: Vec<&str> = n.splitn(3, '.').collect();
        assert_eq!(parts.len(), 3, "{n}");
        assert!(
            parts[0].bytes().all(|b| b.is_ascii_digit()) && parts[0].len() >= 9,
            "{n}"
        );
        assert!(
            !parts[1].is_empty() && parts[1].bytes().all(|b| b.is_ascii_digit()),
            "{n}"
        );
        assert_eq!(parts[2], host, "{n}");
    }
    names.dedup();
    assert_eq!(names.len(), 6);
    assert_eq!(fs::read_dir(home.join("Maildir/tmp")).unwrap().count(), 0);
}
