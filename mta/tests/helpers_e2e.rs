//! qmail's helper programs for `.qmail` lines (spec §5.9), through the
//! whole MTA: the supervisor puts `ROOT/bin` on PATH, so `.qmail` lines can
//! call `preline`, `forward`, `condredirect`, `bouncesaying` and `except`.

mod common;

use common::Mta;
use std::time::Duration;

const MSG: &str = "Subject: h\n\nhelpers\n";

#[test]
fn preline_forward_condredirect() {
    let mut m = Mta::init();
    let h = m.user_home();
    m.dot_qmail(".qmail-pre", "|preline cat > preline-out\n");
    m.dot_qmail(".qmail-fwd", "|forward user-box\n");
    m.dot_qmail(".qmail-cond", "|condredirect user-box true\n./never/\n");
    m.dot_qmail(".qmail-box", "./Mailbox\n");
    m.start();
    m.inject("s@x.example", &["user-pre@localhost"], MSG);
    assert!(common::wait_for(Duration::from_secs(20), || h
        .join("preline-out")
        .exists()
        && m.log().contains("did_0+0+1/")));
    let out = std::fs::read_to_string(h.join("preline-out")).unwrap();
    assert!(out.starts_with("From s@x.example "), "{out}");
    assert!(
        out.contains(
            "\nReturn-Path: <s@x.example>\nDelivered-To: user-pre@localhost\nReceived: (qmail "
        ),
        "{out}"
    );
    m.inject("s@x.example", &["user-fwd@localhost"], MSG);
    m.wait_log("forward:_qp_", Duration::from_secs(20));
    m.inject("s@x.example", &["user-cond@localhost"], MSG);
    m.wait_log("condredirect:_qp_", Duration::from_secs(20));
    m.wait_queue_empty(Duration::from_secs(20));
    let mbox = std::fs::read_to_string(h.join("Mailbox")).unwrap();
    // Both copies went through the helpers' reinjection: DTLINE in front.
    assert!(
        mbox.contains("Delivered-To: user-fwd@localhost\n"),
        "{mbox}"
    );
    assert!(
        mbox.contains("Delivered-To: user-cond@localhost\n"),
        "{mbox}"
    );
    assert!(
        !h.join("never").exists(),
        "condredirect's 99 stops later lines"
    );
}

#[test]
fn bouncesaying_and_except() {
    let mut m = Mta::init();
    m.dot_qmail(
        ".qmail-gone",
        "|bouncesaying 'This address is no longer in use. (#5.1.1)'\n",
    );
    m.dot_qmail(".qmail-exc", "|except false\n./Maildir/\n");
    m.dot_qmail(".qmail-exc2", "|except true\n");
    m.start();
    m.inject("user@localhost", &["user-gone@localhost"], MSG);
    m.wait_log(
        "failure: This_address_is_no_longer_in_use._(#5.1.1)/",
        Duration::from_secs(20),
    );
    m.inject("user@localhost", &["user-exc@localhost"], MSG);
    m.inject("user@localhost", &["user-exc2@localhost"], MSG);
    m.wait_queue_empty(Duration::from_secs(30));
    let got = m.maildir_new(&m.user_home().join("Maildir"));
    // user-exc delivered; two bounces (gone, exc2) came back to user.
    let bounces = got
        .iter()
        .filter(|b| String::from_utf8_lossy(b).contains("Subject: failure notice"))
        .count();
    assert_eq!(bounces, 2, "{}", m.log());
    assert_eq!(got.len(), 3, "{}", m.log());
}

#[test]
fn maildirmake_makes_a_maildir() {
    let d = tempfile::tempdir().unwrap();
    let md = d.path().join("M");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_maildirmake"))
        .arg(&md)
        .status()
        .unwrap();
    assert!(st.success());
    for s in ["tmp", "new", "cur"] {
        assert!(md.join(s).is_dir());
    }
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_maildirmake"))
        .arg(&md)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(111), "an existing name is refused");
}
