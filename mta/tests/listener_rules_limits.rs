//! The built-in listener over real loopback sockets: tcpserver's
//! environment, rules (deny, RELAYCLIENT, reload without restart), the
//! connection limits, and many idle connections in little memory.

mod listener_harness;

use std::net::TcpStream;
use std::time::Duration;

use listener_harness::common::{wait_for, Mta};
use listener_harness::{control, queued, rules_path, tcprules, Client, Listener};

const GREETING: &str = "220 localhost ESMTP\r\n";

#[test]
fn environment_reaches_the_received_line_and_stock_ehlo_is_unchanged() {
    let m = Mta::init();
    let rules = rules_path(&m.root);
    tcprules(
        &rules,
        "127.0.0.1:allow,TCPREMOTEINFO=\"joe\",TCPREMOTEHOST=\"client.example\"\n:deny\n",
    );
    let l = Listener::start(
        &m.root,
        &["-x", rules.to_str().unwrap(), "-l", "mx.example"],
    );
    let mut c = l.connect();
    assert_eq!(c.reply(), GREETING);
    // Byte-exact: netqmail's three lines, nothing more.
    assert_eq!(
        c.cmd("EHLO helo.example\r\n"),
        "250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("RCPT TO:<user@localhost>\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("DATA\r\n"), "354 go ahead\r\n");
    let r = c.cmd("Subject: hi\r\n\r\nhello\r\n.\r\n");
    assert!(r.starts_with("250 ok ") && r.contains(" qp "), "{r}");
    assert_eq!(c.cmd("QUIT\r\n"), "221 localhost\r\n");
    let msgs = queued(&m.root);
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].contains(
            "\nReceived: from client.example (HELO helo.example) (joe@127.0.0.1)\n  \
             by mx.example with SMTP; "
        ),
        "{}",
        msgs[0]
    );
    assert!(msgs[0].starts_with("Received: (qmail "));
    assert!(msgs[0].contains(" invoked from network); "));
    assert!(msgs[0].ends_with("Subject: hi\n\nhello\n"));
}

#[test]
fn rules_deny_relay_and_reload_without_restart() {
    let m = Mta::init();
    let rules = rules_path(&m.root);
    tcprules(&rules, ":allow\n");
    let l = Listener::start(&m.root, &["-x", rules.to_str().unwrap()]);
    let relay = |l: &Listener| {
        let mut c = l.connect();
        assert_eq!(c.reply(), GREETING);
        c.cmd("MAIL FROM:<a@b>\r\n");
        c.cmd("RCPT TO:<x@elsewhere.example>\r\n")
    };
    assert_eq!(
        relay(&l),
        "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"
    );
    // A new rules file takes effect at the next connection.
    tcprules(&rules, "127.:allow,RELAYCLIENT=\"\"\n");
    assert_eq!(relay(&l), "250 ok\r\n");
    tcprules(&rules, "127.0.0.1:deny\n:allow\n");
    assert!(l.connect().closed_silently());
    // A missing rules file without -X drops connections (tcpserver).
    std::fs::remove_file(&rules).unwrap();
    assert!(l.connect().closed_silently());
}

#[test]
fn total_limit_waits_and_per_ip_limit_refuses() {
    let m = Mta::init();
    let l = Listener::start(&m.root, &["-c", "2"]);
    let mut a = l.connect();
    let mut b = l.connect();
    assert_eq!(a.reply(), GREETING);
    assert_eq!(b.reply(), GREETING);
    // The third waits unaccepted (tcpserver -c) ...
    let s = TcpStream::connect(l.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut third = Client::new(s.try_clone().unwrap());
    third
        .r
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(std::io::Read::read(&mut third.r, &mut byte).is_err());
    // ... until a slot frees.
    assert_eq!(a.cmd("QUIT\r\n"), "221 localhost\r\n");
    third
        .r
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(third.reply(), GREETING);
    drop((b, third));

    let l = Listener::start(&m.root, &["-c", "10", "-i", "2"]);
    let mut a = l.connect();
    let mut b = l.connect();
    assert_eq!(a.reply(), GREETING);
    assert_eq!(b.reply(), GREETING);
    assert!(l.connect().closed_silently());
    assert_eq!(a.cmd("QUIT\r\n"), "221 localhost\r\n");
    // The slot is given back when the session ends.
    let ok = wait_for(Duration::from_secs(5), || {
        let mut c = l.connect();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut c.r, &mut line).is_ok() && line == GREETING
    });
    assert!(ok);
}

#[test]
fn a_thousand_idle_connections_in_little_memory() {
    let m = Mta::init();
    let l = Listener::start(&m.root, &["-c", "2000"]);
    // Warm up: runtime, threads, first allocations.
    let mut warm: Vec<Client> = (0..20).map(|_| l.connect()).collect();
    for c in &mut warm {
        assert_eq!(c.reply(), GREETING);
    }
    let before = l.rss_kib();
    let mut conns: Vec<Client> = Vec::with_capacity(1000);
    for _ in 0..1000 {
        conns.push(l.connect());
    }
    for c in &mut conns {
        assert_eq!(c.reply(), GREETING);
    }
    let after = l.rss_kib();
    let per_conn = (after.saturating_sub(before)) * 1024 / 1000;
    eprintln!("RSS {before} KiB -> {after} KiB: {per_conn} bytes per idle connection");
    assert!(per_conn < 32 * 1024, "{per_conn} bytes per idle connection");
    // Every one of them still works.
    assert_eq!(conns[999].cmd("NOOP\r\n"), "250 ok\r\n");
    assert_eq!(conns[0].cmd("QUIT\r\n"), "221 localhost\r\n");
}

#[test]
fn unreadable_controls_answer_421() {
    let m = Mta::init();
    std::fs::remove_file(m.root.join("control/me")).unwrap();
    let l = Listener::start(&m.root, &[]);
    let mut c = l.connect();
    assert_eq!(c.reply(), "421 unable to read controls (#4.3.0)\r\n");
    control(&m.root, "me", "back.example\n");
    let mut c = l.connect();
    assert_eq!(c.reply(), "220 back.example ESMTP\r\n");
}

#[test]
fn a_control_rewritten_in_place_applies_to_the_next_connection() {
    // The listener keeps the controls it read until control/ changes.
    let m = Mta::init();
    let l = Listener::start(&m.root, &[]);
    let greet = |l: &Listener| l.connect().reply();
    assert_eq!(greet(&l), GREETING);
    assert_eq!(greet(&l), GREETING);
    control(&m.root, "smtpgreeting", "first.example\n");
    assert_eq!(greet(&l), "220 first.example ESMTP\r\n");
    // Rewritten in place (no new directory entry).
    let p = m.root.join("control/smtpgreeting");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    std::io::Write::write_all(&mut f, b"second.example\n").unwrap();
    drop(f);
    assert_eq!(greet(&l), "220 second.example ESMTP\r\n");
    std::fs::remove_file(&p).unwrap();
    assert_eq!(greet(&l), GREETING);
}
