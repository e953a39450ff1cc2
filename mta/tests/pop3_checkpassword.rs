//! mta-checkpassword and mta-passwd as programs: the checkpassword
//! interface (spec §11.2) driven from sh (`3<&0` puts the login on fd 3),
//! exit codes, the environment and directory given to the next program,
//! and the password file that mta-passwd writes.

mod pop3_harness;

use std::io::Write;
use std::process::{Output, Stdio};

use pop3_harness::{Server, CHECKPASSWORD, PASSWD, PASSWORD};

/// Runs `mta-checkpassword ARGS...` with `fd3` on descriptor 3.
fn checkpassword(s: &Server, fd3: &[u8], args: &[&str]) -> Output {
    let mut c = s
        .command("/bin/sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 3<&0")
        .arg(CHECKPASSWORD)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It may exit before reading fd 3 (usage errors).
    let _ = c.stdin.take().unwrap().write_all(fd3);
    c.wait_with_output().unwrap()
}

fn login(user: &str, pass: &str) -> Vec<u8> {
    format!("{user}\0{pass}\0<1.2@pop.example.com>\0").into_bytes()
}

#[test]
fn success_execs_the_program_as_the_user_in_their_home() {
    let s = Server::new();
    let out = checkpassword(
        &s,
        &login("joe", PASSWORD),
        &[
            "/bin/sh",
            "-c",
            "pwd; echo \"$USER $HOME $SHELL\"; echo \"$@\"",
            "sh",
            "Maildir",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let home = s.home("joe");
    let home = home.canonicalize().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "{}\njoe {} /bin/sh\nMaildir\n",
            home.display(),
            s.home("joe").display()
        )
    );
}

#[test]
fn refusals_exit_1() {
    let s = Server::new();
    for fd3 in [
        login("joe", "wrong"),
        login("ann", PASSWORD),
        login("joe", ""),
    ] {
        let out = checkpassword(&s, &fd3, &["/bin/true"]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(out.stdout.is_empty());
    }
    // More than 512 bytes on fd 3, as djb's checkpassword.
    let long = login("joe", &"x".repeat(600));
    assert_eq!(
        checkpassword(&s, &long, &["/bin/true"]).status.code(),
        Some(1)
    );
}

#[test]
fn misuse_exits_2() {
    let s = Server::new();
    let out = checkpassword(&s, &login("joe", PASSWORD), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    let out = checkpassword(&s, b"joe\0secret", &["/bin/true"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // No fd 3 at all.
    let out = s.command(CHECKPASSWORD).arg("/bin/true").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fd 3"));
}

#[test]
fn trouble_exits_111_and_says_why_on_stderr() {
    let mut s = Server::new();
    // A home that is gone.
    std::fs::remove_dir_all(s.home("joe")).unwrap();
    let out = checkpassword(&s, &login("joe", PASSWORD), &["/bin/true"]);
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unable to chdir"));
    // A program that cannot run.
    s.add_user("ann", "pw");
    let out = checkpassword(&s, &login("ann", "pw"), &["/no/such/program"]);
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    // A malformed password file: the error names file and line.
    let pw = s.root.join("users/pop3passwd");
    std::fs::write(&pw, "joe:x:1\n").unwrap();
    let out = checkpassword(&s, &login("joe", PASSWORD), &["/bin/true"]);
    assert_eq!(out.status.code(), Some(111));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pop3passwd:1: expected user:hash:uid:gid:home"),
        "{err}"
    );
    // MTA_POP3_PASSWD points elsewhere: missing file.
    s.set("MTA_POP3_PASSWD", "/nonexistent/pop3passwd");
    let out = checkpassword(&s, &login("joe", PASSWORD), &["/bin/true"]);
    assert_eq!(out.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/pop3passwd"));
}

#[test]
fn mta_passwd_set_change_and_del() {
    let s = Server::new();
    let pw = s.root.join("users/pop3passwd");
    let text = String::from_utf8(std::fs::read(&pw).unwrap()).unwrap();
    let fields: Vec<&str> = text.trim_end().splitn(5, ':').collect();
    assert_eq!(fields[0], "joe");
    assert!(fields[1].starts_with("$6$"), "{text}");
    assert_eq!(fields[4], s.home("joe").display().to_string());
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(s.home("joe")).unwrap();
    assert_eq!(fields[2..4], [md.uid().to_string(), md.gid().to_string()]);
    assert_eq!(std::fs::metadata(&pw).unwrap().mode() & 0o777, 0o600);

    // A new password replaces the old one.
    s.add_user("joe", "new one");
    let new = checkpassword(&s, &login("joe", "new one"), &["/bin/true"]);
    assert_eq!(new.status.code(), Some(0));
    let old = checkpassword(&s, &login("joe", PASSWORD), &["/bin/true"]);
    assert_eq!(old.status.code(), Some(1));

    let del = |user: &str| s.command(PASSWD).args(["del", user]).output().unwrap();
    assert!(del("joe").status.success());
    let out = del("joe");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user joe"));
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), "");
}

#[test]
fn mta_passwd_rejects_bad_input() {
    let s = Server::new();
    let set = |args: &[&str], stdin: &str| {
        let mut c = s
            .command(PASSWD)
            .arg("set")
            .args(args)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // It may fail before reading its input.
        let _ = c.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = c.wait_with_output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(set(&["a:b", "--home", "/tmp"], "pw\n").contains("contains ':'"));
    assert!(set(&["ann", "--home", "rel"], "pw\n").contains("not an absolute path"));
    assert!(set(&["ann", "--home", "/nonexistent"], "pw\n").contains("--uid and --gid"));
    assert!(set(&["ann", "--home", "/tmp"], "\n").contains("empty password"));
}
