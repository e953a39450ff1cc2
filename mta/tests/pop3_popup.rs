//! qmail-popup over a loopback socket (spec §11.1, §11.2), with stub
//! checkpassword programs that show what the interface hands them.

mod pop3_harness;

use std::ffi::OsString;
use std::time::{Duration, Instant};

use pop3_harness::{Pop3, Server};

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

#[test]
fn greeting_has_pid_time_and_host() {
    let s = Server::new();
    let mut c = s.connect();
    let ts = c.greeting();
    let pid = c.child.id().to_string();
    assert!(ts.starts_with(&format!("<{pid}.")), "{ts} vs pid {pid}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let time: u64 = ts[pid.len() + 2..ts.find('@').unwrap()].parse().unwrap();
    assert!(time <= now && time + 60 > now, "{ts}");
    c.send("QUIT\r\n");
    assert_eq!(c.rest(), ("+OK \r\n".to_string(), 1));
}

#[test]
fn commands_before_login() {
    let s = Server::new();
    let mut c = s.connect();
    c.greeting();
    c.send("PASS x\r\nSTAT\r\nLIST\r\nCAPA\r\nUSER\r\nNOOP\r\nAPOP joe\r\n");
    c.expect(
        "-ERR USER first\r\n-ERR authorization first\r\n-ERR authorization first\r\n\
         -ERR authorization first\r\n-ERR syntax error\r\n+OK \r\n-ERR syntax error\r\n",
    );
    c.send("user joe\r\npass\r\nquit\r\n");
    c.expect("+OK \r\n-ERR syntax error\r\n+OK \r\n");
    assert_eq!(c.rest(), (String::new(), 1));
}

#[test]
fn usage_error_without_a_subprogram() {
    let s = Server::new();
    let c = s.connect_with(&args(&["pop.example.com"]));
    assert_eq!(
        c.rest(),
        ("-ERR usage: popup hostname subprogram\r\n".to_string(), 1)
    );
    let c = s.connect_with(&[]);
    assert_eq!(c.rest().0, "-ERR usage: popup hostname subprogram\r\n");
}

#[test]
fn a_stub_checkpassword_sees_user_pass_and_timestamp_on_fd3() {
    let s = Server::new();
    let stub = s.script(
        "stub",
        "cat <&3 > fd3\necho \"$@\" > args\necho stub-on-fd2 >&2\nexit 0\n",
    );
    let mut c = s.connect_with(
        &[
            &args(&["pop.example.com"])[..],
            &stub,
            &args(&["next", "Maildir"]),
        ]
        .concat(),
    );
    let ts = c.greeting();
    c.send("USER joe\r\nPASS pass word\r\n");
    c.expect("+OK \r\n");
    // netqmail: fd 2 of the subprogram is the connection; exit 0 adds
    // nothing, and qmail-popup exits 1.
    assert_eq!(c.rest(), ("stub-on-fd2\n".to_string(), 1));
    assert_eq!(
        s.file("fd3"),
        format!("joe\0pass word\0{ts}\0").into_bytes()
    );
    assert_eq!(s.file("args"), b"next Maildir\n");
}

#[test]
fn apop_passes_the_digest_in_place_of_the_password() {
    let s = Server::new();
    let stub = s.script("stub", "cat <&3 > fd3\n");
    let mut c = s.connect_with(&[args(&["pop.example.com"]), stub].concat());
    let ts = c.greeting();
    c.send("APOP ann c4c9334bac560ecc979e58001b3e22fb\r\n");
    assert_eq!(c.rest(), (String::new(), 1));
    assert_eq!(
        s.file("fd3"),
        format!("ann\0c4c9334bac560ecc979e58001b3e22fb\0{ts}\0").into_bytes()
    );
}

#[test]
fn a_nonzero_exit_is_authorization_failed() {
    let s = Server::new();
    for code in [1, 2, 111] {
        let stub = s.script(&format!("stub{code}"), &format!("exit {code}\n"));
        let mut c = s.connect_with(&[args(&["pop.example.com"]), stub].concat());
        c.greeting();
        c.send("USER joe\r\nPASS x\r\n");
        assert_eq!(
            c.rest(),
            ("+OK \r\n-ERR authorization failed\r\n".to_string(), 1),
            "exit {code}"
        );
    }
}

#[test]
fn a_missing_subprogram_is_authorization_failed() {
    let s = Server::new();
    let missing = s.root.join("no-such-program");
    let mut c = s.connect_with(&["pop.example.com".into(), missing.into()]);
    c.greeting();
    c.send("USER joe\r\nPASS x\r\n");
    assert_eq!(
        c.rest(),
        ("+OK \r\n-ERR authorization failed\r\n".to_string(), 1)
    );
}

#[test]
fn a_crashed_subprogram_is_reported() {
    let s = Server::new();
    let stub = s.script("stub", "cat <&3 >/dev/null\nkill -9 $$\n");
    let mut c = s.connect_with(&[args(&["pop.example.com"]), stub].concat());
    c.greeting();
    c.send("USER joe\r\nPASS x\r\n");
    assert_eq!(
        c.rest(),
        ("+OK \r\n-ERR aack, child crashed\r\n".to_string(), 1)
    );
}

#[test]
fn the_wrong_password_is_authorization_failed() {
    let s = Server::new();
    let mut c = s.connect();
    c.greeting();
    c.send("USER joe\r\nPASS wrong\r\n");
    assert_eq!(
        c.rest(),
        ("+OK \r\n-ERR authorization failed\r\n".to_string(), 1)
    );
    let mut c = s.connect();
    c.greeting();
    c.send("USER nobody\r\nPASS x\r\n");
    assert_eq!(c.rest().0, "+OK \r\n-ERR authorization failed\r\n");
}

#[test]
fn commands_pipelined_after_pass_reach_the_subprogram() {
    let s = Server::new();
    let stub = s.script("stub", "cat <&3 >/dev/null\nhead -n 1 > next\n");
    let mut c = s.connect_with(&[args(&["pop.example.com"]), stub].concat());
    c.greeting();
    c.send("USER joe\r\nPASS x\r\nSTAT\r\n");
    assert_eq!(c.rest().1, 1);
    assert_eq!(s.file("next"), b"STAT\r\n");
}

#[test]
fn an_idle_client_is_dropped_after_the_timeout() {
    let mut s = Server::new();
    s.set("MTA_POP3_TIMEOUT", "1");
    let mut c = s.connect();
    c.greeting();
    c.send("USER joe\r\n");
    c.expect("+OK \r\n");
    let start = Instant::now();
    assert_eq!(c.rest(), (String::new(), 1));
    assert!(start.elapsed() >= Duration::from_millis(900));
}

#[test]
fn fd3_is_right_when_qmail_popup_starts_with_fd2_closed() {
    let s = Server::new();
    let stub = s.script("stub", "cat <&3 > fd3\necho on-fd2 >&2\n");
    let args = [
        args(&[
            "-c",
            "exec \"$0\" \"$@\" 2>&-",
            pop3_harness::POPUP,
            "pop.example.com",
        ]),
        stub,
    ]
    .concat();
    let mut c = s.connect_program("/bin/sh".as_ref(), &args);
    let ts = c.greeting();
    c.send("USER joe\r\nPASS pw\r\n");
    c.expect("+OK \r\n");
    assert_eq!(c.rest(), ("on-fd2\n".to_string(), 1));
    assert_eq!(s.file("fd3"), format!("joe\0pw\0{ts}\0").into_bytes());
}
