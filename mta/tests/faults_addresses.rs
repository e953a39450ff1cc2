//! An address never becomes a program or a file except through a `.qmail`
//! line owned by the right user (the issue's last rule; spec §5.1, §5.4).
//!
//! Hostile local parts reach qmail-local only as an extension: the `+:`
//! catch-all gives the whole local part to the alias user, `user-...` gives
//! the rest to `user`. The extension only names a `.qmail-<ext>` file in
//! that user's home (dots become `:`, so `..` cannot climb out); nothing
//! in it is run or written to.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Mta;

const MSG: &str = "Subject: x\n\nhello\n";

/// Every file under `dir` (recursively), relative.
fn files(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                v.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    v.sort();
    v
}

/// Hostile recipients aimed at paths under `target`.
fn hostile(target: &Path) -> Vec<String> {
    let t = target.display();
    vec![
        format!("|touch {t}/ran@localhost"),
        format!("{t}/file@localhost"),
        "../../etc@localhost".to_string(),
        format!(
            "user-../../../{}/x@localhost",
            t.to_string().trim_start_matches('/')
        ),
        format!("user-|touch {t}/ran2@localhost"),
        format!("./{t}/mbox@localhost"),
    ]
}

#[test]
fn hostile_local_parts_bounce_and_touch_nothing() {
    let mut m = Mta::init();
    let target = m.dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    m.start();
    let rcpts = hostile(&target);
    let before = files(&m.root.join("home"));
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    m.inject("user@localhost", &refs, MSG);
    // One bounce listing every recipient, each "no mailbox".
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let b = String::from_utf8_lossy(&got[0]).into_owned();
    for r in &rcpts {
        assert!(
            b.contains(&format!(
                "<{r}>:\nSorry, no mailbox here by that name. (#5.1.1)\n"
            )),
            "{r}: {b}"
        );
    }
    m.wait_queue_empty(Duration::from_secs(10));
    assert_eq!(m.stop(), Some(0));
    assert_eq!(files(&target), Vec::<String>::new());
    assert!(!Path::new("/etc/Maildir").exists());
    // Nothing new in any home but the bounce itself.
    let after: Vec<String> = files(&m.root.join("home"))
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].starts_with("user/Maildir/new/"), "{after:?}");
    assert_eq!(
        m.log().matches(": failure: Sorry,_no_mailbox_here").count(),
        rcpts.len(),
        "{}",
        m.log()
    );
}

#[test]
fn alias_default_sees_hostile_parts_only_as_ext() {
    // The alias user's .qmail-default decides; the local part is just
    // data in $EXT, never a command or a path.
    let mut m = Mta::init();
    let target = m.dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let alias = m.root.join("alias");
    let dq = alias.join(".qmail-default");
    std::fs::write(&dq, "|printf '%s\\n' \"$EXT\" >> exts\n").unwrap();
    m.start();
    let rcpts: Vec<String> = hostile(&target)
        .into_iter()
        .filter(|r| !r.starts_with("user-"))
        .collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    m.inject("user@localhost", &refs, MSG);
    m.wait_queue_empty(Duration::from_secs(20));
    assert_eq!(m.stop(), Some(0));
    assert_eq!(files(&target), Vec::<String>::new());
    let mut exts: Vec<String> = std::fs::read_to_string(alias.join("exts"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    exts.sort();
    let mut want: Vec<String> = rcpts
        .iter()
        .map(|r| r.trim_end_matches("@localhost").to_string())
        .collect();
    want.sort();
    assert_eq!(exts, want);
}

#[test]
fn program_line_runs_only_for_its_owners_address() {
    let mut m = Mta::init();
    m.dot_qmail(".qmail-prog", "|touch ran-\"$USER\"-\"$EXT\"\n");
    m.start();
    // Only user-prog is user's; prog and alias-user-prog belong to the
    // alias user, who has no such file.
    m.inject(
        "user@localhost",
        &[
            "prog@localhost",
            "alias-user-prog@localhost",
            "user-prog@localhost",
        ],
        MSG,
    );
    m.wait_queue_empty(Duration::from_secs(20));
    assert_eq!(m.stop(), Some(0));
    let h = m.user_home();
    let ran: Vec<String> = files(&m.root.join("home"))
        .into_iter()
        .chain(files(&m.root.join("alias")))
        .filter(|f| f.contains("ran-"))
        .collect();
    assert_eq!(ran, vec!["user/ran-user-prog".to_string()]);
    assert!(h.join("ran-user-prog").exists());
    let log = m.log();
    assert_eq!(log.matches(": success: did_0+0+1/").count(), 1, "{log}");
    assert_eq!(
        log.matches(": failure: Sorry,_no_mailbox_here").count(),
        2,
        "{log}"
    );
}
