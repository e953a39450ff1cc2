//! The whole POP3 chain over a loopback socket:
//! `qmail-popup pop.example.com mta-checkpassword qmail-pop3d Maildir`
//! (spec §11.3 and its black-box list), and qmail-pop3d under a shell
//! checkpassword to show the interface is the standard one.

mod pop3_harness;

use std::ffi::OsString;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pop3_harness::{Pop3, Server, POP3D};

/// Three messages, oldest first: new/1000.1.host (31 bytes, with a dot
/// line), cur/123.456.host:2,S (21 bytes), new/3000.3.host (25 bytes).
///
/// qmail-popup always exits 1 (spec §11.1), also after a session that
/// qmail-pop3d ended with 0; qmail-pop3d's own exit codes are tested by
/// running it directly at the end of this file.
fn three_messages(s: &Server) {
    s.deliver(
        "new/1000.1.host",
        "Subject: one\n\nbody 1\n.dot\nlast\n",
        30,
    );
    s.deliver("cur/123.456.host:2,S", "Subject: two\n\nbody 2\n", 20);
    s.deliver("new/3000.3.host", "Subject: three\n\n3a\n3b\n3c\n", 10);
}

#[test]
fn stat_list_uidl_and_last() {
    let s = Server::new();
    three_messages(&s);
    let mut c = s.login();
    c.send("STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 2\r\nLAST\r\n");
    c.expect(
        "+OK 3 77\r\n\
         +OK \r\n1 31\r\n2 21\r\n3 25\r\n.\r\n\
         +OK 2 21\r\n\
         +OK \r\n1 1000.1.host\r\n2 123.456.host\r\n3 3000.3.host\r\n.\r\n\
         +OK 2 123.456.host\r\n\
         +OK 0\r\n",
    );
    c.send("QUIT\r\n");
    assert_eq!(c.rest(), ("+OK \r\n".to_string(), 1));
}

#[test]
fn retr_ends_with_an_empty_line_before_the_dot() {
    let s = Server::new();
    three_messages(&s);
    let mut c = s.login();
    c.send("RETR 1\r\n");
    c.expect("+OK \r\nSubject: one\r\n\r\nbody 1\r\n..dot\r\nlast\r\n\r\n.\r\n");
    c.send("TOP 3 1\r\nTOP 3 0\r\nTOP 3\r\n");
    c.expect("+OK \r\nSubject: three\r\n\r\n3a\r\n\r\n.\r\n");
    c.expect("+OK \r\nSubject: three\r\n\r\n\r\n.\r\n");
    c.expect("+OK \r\nSubject: three\r\n\r\n3a\r\n3b\r\n3c\r\n\r\n.\r\n");
    c.send("LAST\r\nRETR 4\r\nRETR 0\r\nRETR x\r\n");
    c.expect(
        "+OK 0\r\n-ERR not that many messages\r\n\
         -ERR messages are counted from 1\r\n-ERR syntax error\r\n",
    );
}

#[test]
fn dele_then_stat_counts_the_message_but_not_its_size() {
    let s = Server::new();
    three_messages(&s);
    let mut c = s.login();
    c.send("DELE 1\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nLAST\r\n");
    c.expect(
        "+OK \r\n+OK 3 46\r\n+OK \r\n2 21\r\n3 25\r\n.\r\n\
         -ERR already deleted\r\n-ERR already deleted\r\n+OK 1\r\n",
    );
    // Nothing changes on disk before QUIT.
    assert_eq!(s.names("new"), ["1000.1.host", "3000.3.host"]);
    c.send("RSET\r\nSTAT\r\nLAST\r\n");
    c.expect("+OK \r\n+OK 3 77\r\n+OK 0\r\n");
}

#[test]
fn quit_removes_deleted_messages_and_moves_new_to_cur() {
    let s = Server::new();
    three_messages(&s);
    let mut c = s.login();
    c.send("DELE 3\r\nRETR 1\r\n");
    c.expect("+OK \r\n+OK \r\n");
    c.send("QUIT\r\n");
    let (rest, code) = c.rest();
    assert!(rest.ends_with("\r\n.\r\n+OK \r\n"), "{rest:?}");
    assert_eq!(code, 1);
    assert!(s.names("new").is_empty());
    assert_eq!(s.names("cur"), ["1000.1.host:2,", "123.456.host:2,S"]);
}

#[test]
fn a_dropped_connection_changes_nothing() {
    let s = Server::new();
    three_messages(&s);
    let mut c = s.login();
    c.send("DELE 1\r\nDELE 2\r\nNOOP\r\n");
    c.expect("+OK \r\n+OK \r\n+OK \r\n");
    assert_eq!(c.hang_up(), 1);
    assert_eq!(s.names("new"), ["1000.1.host", "3000.3.host"]);
    assert_eq!(s.names("cur"), ["123.456.host:2,S"]);
}

#[test]
fn a_timeout_ends_the_session_without_committing() {
    let mut s = Server::new();
    s.set("MTA_POP3_TIMEOUT", "1");
    three_messages(&s);
    let mut c = s.login();
    c.send("DELE 1\r\n");
    c.expect("+OK \r\n");
    let start = Instant::now();
    assert_eq!(c.rest(), (String::new(), 1));
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert_eq!(s.names("new"), ["1000.1.host", "3000.3.host"]);
}

#[test]
fn messages_of_the_current_second_and_dot_files_are_not_listed() {
    let s = Server::new();
    s.deliver("new/old", "x\n", 5);
    // "Not before the current second" (a later mtime is the deterministic
    // way to be there in a test).
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    s.deliver_at("new/fresh", "y\n", later);
    s.deliver("new/.hidden", "z\n", 5);
    s.deliver("tmp/stale", "t\n", 0);
    // tmp/ files whose atime is over 36 hours old are removed at start.
    let stale = s.maildir().join("tmp/stale");
    let f = std::fs::File::options().write(true).open(&stale).unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(37 * 3600);
    f.set_times(std::fs::FileTimes::new().set_accessed(old))
        .unwrap();
    drop(f);
    let mut c = s.login();
    c.send("UIDL\r\n");
    c.expect("+OK \r\n1 old\r\n.\r\n");
    assert!(!stale.exists());
    c.send("QUIT\r\n");
    assert_eq!(c.rest().1, 1);
    assert_eq!(s.names("new"), [".hidden", "fresh"]);
    assert_eq!(s.names("cur"), ["old:2,"]);
}

#[test]
fn other_commands_are_unimplemented_after_login() {
    let s = Server::new();
    let mut c = s.login();
    c.send("USER joe\r\nCAPA\r\nNOOP\r\nSTAT\r\n");
    c.expect("-ERR unimplemented\r\n-ERR unimplemented\r\n+OK \r\n+OK 0 0\r\n");
}

#[test]
fn a_user_without_a_maildir() {
    let s = Server::new();
    std::fs::remove_dir_all(s.maildir()).unwrap();
    let mut c = s.connect();
    c.greeting();
    c.send(format!("USER joe\r\nPASS {}\r\n", pop3_harness::PASSWORD));
    assert_eq!(
        c.rest(),
        (
            "+OK \r\n-ERR this user has no $HOME/Maildir\r\n".to_string(),
            1
        )
    );
}

#[test]
fn an_unscannable_maildir() {
    let s = Server::new();
    std::fs::remove_dir(s.maildir().join("cur")).unwrap();
    let mut c = s.connect();
    c.greeting();
    c.send(format!("USER joe\r\nPASS {}\r\n", pop3_harness::PASSWORD));
    assert_eq!(c.rest().0, "+OK \r\n-ERR unable to scan $HOME/Maildir\r\n");
}

#[test]
fn a_message_that_vanished_cannot_be_opened() {
    let s = Server::new();
    three_messages(&s);
    let mut c = s.login();
    std::fs::remove_file(s.maildir().join("new/1000.1.host")).unwrap();
    c.send("RETR 1\r\nDELE 1\r\nQUIT\r\n");
    c.expect("-ERR unable to open that message\r\n+OK \r\n");
    let (rest, code) = c.rest();
    assert_eq!(
        (rest.as_str(), code),
        ("-ERR unable to unlink all deleted messages\r\n+OK \r\n", 1)
    );
}

#[test]
fn large_messages_stream_intact() {
    let s = Server::new();
    let line = "x".repeat(999);
    let body: String = (0..200).map(|i| format!(".{i}{line}\n")).collect();
    s.deliver("new/big", &format!("Subject: big\n\n{body}"), 5);
    let mut c = s.login();
    c.send("RETR 1\r\nQUIT\r\n");
    let want: String = (0..200).map(|i| format!("..{i}{line}\r\n")).collect();
    c.expect(&format!(
        "+OK \r\nSubject: big\r\n\r\n{want}\r\n.\r\n+OK \r\n"
    ));
}

/// A checkpassword written in shell, the way any third-party one works:
/// read fd 3, check, set USER and HOME, cd home, exec the rest.
#[test]
fn qmail_pop3d_runs_under_a_shell_checkpassword() {
    let s = Server::new();
    three_messages(&s);
    let body = format!(
        "fd3=$(tr '\\0' '\\n' <&3)\n\
         user=$(printf '%s\\n' \"$fd3\" | sed -n 1p)\n\
         pass=$(printf '%s\\n' \"$fd3\" | sed -n 2p)\n\
         [ \"$user\" = joe ] && [ \"$pass\" = sesame ] || exit 1\n\
         USER=$user HOME='{}'; export USER HOME\n\
         cd \"$HOME\" || exit 111\n\
         exec \"$@\"\n",
        s.home("joe").display()
    );
    let stub = s.script("shellcheck", &body);
    let args: Vec<OsString> = [
        vec!["pop.example.com".into()],
        stub,
        vec![POP3D.into(), "Maildir".into()],
    ]
    .concat();
    let mut c = s.connect_with(&args);
    c.greeting();
    c.send("USER joe\r\nPASS wrong\r\n");
    assert_eq!(c.rest().0, "+OK \r\n-ERR authorization failed\r\n");
    let mut c = s.connect_with(&args);
    c.greeting();
    c.send("USER joe\r\nPASS sesame\r\nSTAT\r\nDELE 2\r\nQUIT\r\n");
    c.expect("+OK \r\n+OK \r\n+OK 3 77\r\n+OK \r\n+OK \r\n");
    assert_eq!(c.rest(), (String::new(), 1));
    assert_eq!(s.names("cur"), ["1000.1.host:2,", "3000.3.host:2,"]);
}

/// qmail-pop3d run directly on pipes: every way out is exit 0.
#[test]
fn qmail_pop3d_exits_0() {
    let s = Server::new();
    three_messages(&s);
    let run = |args: &[&str], input: &str| {
        let mut c = s
            .command(POP3D)
            .args(args)
            .current_dir(s.home("joe"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        (String::from_utf8(out.stdout).unwrap(), out.status.code())
    };
    assert_eq!(
        run(&["Maildir"], "NOOP\r\n"),
        ("+OK \r\n+OK \r\n".into(), Some(0))
    );
    assert_eq!(
        run(&["Maildir"], "QUIT\r\n"),
        ("+OK \r\n+OK \r\n".into(), Some(0))
    );
    let nomaildir = "-ERR this user has no $HOME/Maildir\r\n".to_string();
    assert_eq!(run(&["Nowhere"], ""), (nomaildir.clone(), Some(0)));
    assert_eq!(run(&[], ""), (nomaildir, Some(0)));
}

/// netqmail's qmail-pop3d serves uid 0 like anyone (spec §12.3 item 10;
/// notqmail refuses with `qmail-pop3d invoked as uid 0, terminating`).
#[test]
fn qmail_pop3d_serves_root_like_netqmail() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: nothing to show");
        return;
    }
    let s = Server::new();
    three_messages(&s);
    let out = s
        .command(POP3D)
        .arg("Maildir")
        .current_dir(s.home("joe"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"+OK \r\n");
    assert!(out.stderr.is_empty(), "{out:?}");
}
