//! An unreadable `.qmail` file (spec §5.4: an open error that is
//! temporary, EPERM or EACCES → `Unable to open <file>: <error>. (#4.3.0)`,
//! exit 111): the delivery is deferred, named in the log, the rest of the
//! queue keeps moving, and once the file is readable again the message is
//! delivered.
//!
//! Root reads any file whatever its mode, so when the tests run as root the
//! whole MTA runs as `nobody` (unprivileged mode as another user) and the
//! `.qmail` file belongs to root with mode 0.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::Mta;

const MSG: &str = "Subject: x\n\nhello\n";

/// A root whose MTA runs as someone who cannot read a mode-0 file we own.
fn mta_for_permission_errors() -> Mta {
    if nix::unistd::geteuid().is_root() {
        let nobody = nix::unistd::User::from_name("nobody")
            .unwrap()
            .expect("no user nobody");
        Mta::init_as(nobody.uid.as_raw(), nobody.gid.as_raw())
    } else {
        Mta::init()
    }
}

fn inject(m: &Mta, to: &str) {
    let st = m.inject_with_env("user@localhost", &[to], MSG, &[]);
    assert!(st.success(), "qmail-queue: {st}");
}

#[test]
fn unreadable_dot_qmail_defers_and_is_retried() {
    let mut m = mta_for_permission_errors();
    let box_ = m.user_home().join("box");
    for d in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(box_.join(d)).unwrap();
    }
    if let Some((uid, gid)) = m.run_as {
        for p in [
            &box_,
            &box_.join("tmp"),
            &box_.join("new"),
            &box_.join("cur"),
        ] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
        }
    }
    m.dot_qmail(".qmail-x", "./box/\n");
    let dq = m.user_home().join(".qmail-x");
    std::fs::set_permissions(&dq, std::fs::Permissions::from_mode(0o000)).unwrap();
    m.start();
    inject(&m, "user-x@localhost");
    m.wait_log(
        "delivery 1: deferral: Unable_to_open_.qmail-x:_access_denied._(#4.3.0)/\n",
        Duration::from_secs(20),
    );
    // The rest of the queue keeps moving.
    inject(&m, "user@localhost");
    m.wait_maildir(&m.user_home().join("Maildir"), 1);
    assert!(m.maildir_new(&box_).is_empty());
    assert!(!m.queue_empty(), "the deferred message is still queued");
    // Readable again: the retry delivers it.
    std::fs::set_permissions(&dq, std::fs::Permissions::from_mode(0o644)).unwrap();
    m.alarm();
    m.wait_maildir(&box_, 1);
    m.wait_queue_empty(Duration::from_secs(10));
    assert_eq!(m.stop(), Some(0));
}
