//! qmail-pw2u run as a program (spec §5.1): options, the users/ files,
//! exit codes and messages.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("users")).unwrap();
        Env { home }
    }
    fn users(&self, name: &str, content: &str) {
        std::fs::write(self.home.path().join("users").join(name), content).unwrap();
    }
    fn run(&self, args: &[&str], passwd: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qmail-pw2u"))
            .args(args)
            .env("QMAILHOME", self.home.path())
            .env("MTA_MODE", "unprivileged")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The program may exit before reading (fatal errors): ignore EPIPE.
        let _ = child.stdin.take().unwrap().write_all(passwd.as_bytes());
        child.wait_with_output().unwrap()
    }
    /// A directory owned by some non-root uid, and that uid: a fixed test
    /// uid when we are root (CI), else our own.
    fn owned_dir(&self, name: &str) -> (PathBuf, u32) {
        let p = self.home.path().join(name);
        std::fs::create_dir(&p).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let uid = if me == 0 {
            std::os::unix::fs::chown(&p, Some(4242), None).unwrap();
            4242
        } else {
            me
        };
        (p, uid)
    }
}

fn ok_stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

const PW: &str = "root:x:0:0:root:/root:/bin/sh\nalias:*:7790:2108::/var/qmail/alias:/bin/true\njoe:x:507:100:Joe:/home/joe:/bin/sh\nBig:x:508:100::/home/big:/bin/sh\n";

#[test]
fn minus_h_big_ignores_homes_and_skips_root_and_uppercase() {
    let e = Env::new();
    let out = ok_stdout(&e.run(&["-H"], PW));
    assert_eq!(
        out,
        "+:alias:7790:2108:/var/qmail/alias:-::\n=alias:alias:7790:2108:/var/qmail/alias:::\n+alias-:alias:7790:2108:/var/qmail/alias:-::\n=joe:joe:507:100:/home/joe:::\n+joe-:joe:507:100:/home/joe:-::\n.\n"
    );
    let out = ok_stdout(&e.run(&["-H", "-u"], PW));
    assert!(out.contains("=Big:Big:508:100:/home/big:::\n+Big-:Big:508:100:/home/big:-::\n"));
    // -U after -u wins again.
    assert!(!ok_stdout(&e.run(&["-Hu", "-U"], PW)).contains("Big"));
}

#[test]
fn break_options() {
    let e = Env::new();
    let pw = "alias:*:1:1::/a:/s\n";
    assert!(ok_stdout(&e.run(&["-H", "-c+"], pw)).contains("+alias+:alias:1:1:/a:-::\n"));
    assert!(ok_stdout(&e.run(&["-H", "-c", "."], pw)).contains("+alias.:alias:1:1:/a:-::\n"));
    assert_eq!(
        ok_stdout(&e.run(&["-H", "-C"], pw)),
        "+:alias:1:1:/a:-::\n=alias:alias:1:1:/a:::\n.\n"
    );
    assert!(ok_stdout(&e.run(&["-H", "-/"], pw)).contains("+:alias:1:1:/a:-/::\n"));
}

#[test]
fn home_checks_o_h_and_big_h() {
    let e = Env::new();
    let (alias_home, alias_uid) = e.owned_dir("alias");
    let (joe_home, joe_uid) = e.owned_dir("joe");
    let missing = e.home.path().join("missing");
    let pw = format!(
        "alias:*:{alias_uid}:1::{a}:/s\njoe:x:{joe_uid}:1::{j}:/s\nnothere:x:600:1::{m}:/s\nnotmine:x:{other}:1::{j}:/s\n",
        a = alias_home.display(),
        j = joe_home.display(),
        m = missing.display(),
        other = joe_uid + 1,
    );
    // -o (default): missing and not-owned homes are skipped.
    let out = ok_stdout(&e.run(&[], &pw));
    assert!(out.contains(&format!("=joe:joe:{joe_uid}:1:{}:::\n", joe_home.display())));
    assert!(
        !out.contains("nothere") && !out.contains("notmine"),
        "{out}"
    );
    assert_eq!(ok_stdout(&e.run(&["-o"], &pw)), out);
    // -h: a missing home is fatal.
    let o = e.run(&["-h"], &pw);
    assert_eq!(o.status.code(), Some(111));
    assert!(o.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("qmail-pw2u: fatal: unable to stat {}\n", missing.display())
    );
    // -H: everything goes in.
    let out = ok_stdout(&e.run(&["-H"], &pw));
    assert!(out.contains("=nothere:") && out.contains("=notmine:"));
}

#[test]
fn include_exclude_mailnames_subusers_append() {
    let e = Env::new();
    let pw = "alias:*:1:1::/a:/s\njoe:x:507:100::/home/joe:/s\nsue:x:509:100::/home/sue:/s\nbob:x:510:100::/home/bob:/s\n";
    e.users("include", "# who may get mail\nalias\nJOE\nsue\n");
    e.users("exclude", "sue\n");
    e.users("mailnames", "joe:joe.smith:js\n");
    e.users("subusers", "info:joe:help:\nbroken line\n");
    e.users("append", "=extra:x:1:1:/x:::\n");
    let out = ok_stdout(&e.run(&["-H"], pw));
    assert_eq!(
        out,
        "+:alias:1:1:/a:-::\n\
         =alias:alias:1:1:/a:::\n\
         +alias-:alias:1:1:/a:-::\n\
         =joe.smith:joe:507:100:/home/joe:::\n\
         +joe.smith-:joe:507:100:/home/joe:-::\n\
         =js:joe:507:100:/home/joe:::\n\
         +js-:joe:507:100:/home/joe:-::\n\
         =info:joe:507:100:/home/joe:-:help:\n\
         +info-:joe:507:100:/home/joe:-:help-:\n\
         =extra:x:1:1:/x:::\n\
         .\n"
    );
}

#[test]
fn subuser_of_unknown_user_is_fatal() {
    let e = Env::new();
    e.users("subusers", "info:nobody:help:\n");
    let o = e.run(&["-H"], "alias:*:1:1::/a:/s\n");
    assert_eq!(o.status.code(), Some(111));
    assert!(o.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "qmail-pw2u: fatal: unable to find nobody user for subuser\n"
    );
}

#[test]
fn missing_alias_is_fatal() {
    let e = Env::new();
    let o = e.run(&["-H"], "joe:x:5:5::/h:/s\n");
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "qmail-pw2u: fatal: unable to find alias user\n"
    );
}

#[test]
fn malformed_lines_are_skipped_with_a_warning_naming_the_line() {
    let e = Env::new();
    let o = e.run(
        &["-H"],
        "alias:*:1:1::/a:/s\nthis is not passwd\njoe:x:5:5:/home/joe\n",
    );
    let out = ok_stdout(&o);
    assert!(!out.contains("joe"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("qmail-pw2u: warning: line 2: "), "{err}");
    assert!(err.contains("qmail-pw2u: warning: line 3: "), "{err}");
}

#[test]
fn bad_option_exits_100() {
    let e = Env::new();
    assert_eq!(e.run(&["-x"], "").status.code(), Some(100));
}

#[test]
fn unreadable_users_file_is_fatal() {
    let e = Env::new();
    // A directory where a file is expected cannot be read.
    std::fs::create_dir(e.home.path().join("users/append")).unwrap();
    let o = e.run(&["-H"], "alias:*:1:1::/a:/s\n");
    assert_eq!(o.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&o.stderr)
        .starts_with("qmail-pw2u: fatal: unable to read controls"));
}
