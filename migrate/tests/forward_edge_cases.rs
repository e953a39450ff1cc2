//! `.forward` edge cases of spec §5 (#61–#74) and the dot-forward traps of
//! spec §3.3 (D1–D14): the `.qmail` written and the report line.

mod common;
use common::{env, has, Env};
use migrate::report::Report;
use std::os::unix::fs::{chown, PermissionsExt};

const ME: &str = "mail.example.org";

/// Writes `text` as `user`'s `.forward` (owned by `uid`, `mode`) and
/// converts it.
fn convert(e: &Env, user: &str, uid: u32, mode: u32, text: &str) -> (Option<String>, Report) {
    let home = e.dir.path().join("home").join(user);
    let p = home.join(".forward");
    std::fs::write(&p, text).unwrap();
    chown(&p, Some(uid), None).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    let mut r = Report::default();
    let out = migrate::forward::convert(&e.site, &p, None, "./Maildir/", &mut r).unwrap();
    if let Some(f) = &out {
        assert_eq!(f.path, home.join(".qmail"));
    }
    (out.map(|f| String::from_utf8(f.contents).unwrap()), r)
}

fn alice(e: &Env, text: &str) -> (Option<String>, Report) {
    convert(e, "alice", 2001, 0o644, text)
}

#[test]
fn e61_d14_addresses_replace_the_mailbox() {
    let e = env();
    let want = format!("&bob@{ME}\n&carol@{ME}\n");
    assert_eq!(alice(&e, "bob, carol\n").0.as_deref(), Some(want.as_str()));
    assert_eq!(alice(&e, "bob\ncarol\n").0.as_deref(), Some(want.as_str()));
}

#[test]
fn e62_e63_d04_d05_self_reference_keeps_the_mailbox() {
    let e = env();
    let want = format!("./Maildir/\n&bob@{ME}\n");
    assert_eq!(
        alice(&e, "\\alice, bob\n").0.as_deref(),
        Some(want.as_str())
    );
    assert_eq!(
        alice(&e, "alice@example.org, bob\n").0.as_deref(),
        Some(want.as_str())
    );
}

#[test]
fn e64_d11_empty_file_means_normal_delivery() {
    let e = env();
    let (out, r) = alice(&e, "# nothing\n\n");
    assert!(out.is_none());
    assert!(has(&r, 0, ".forward", false)
        .reason
        .contains("delivered normally"));
}

#[test]
fn e65_d07_blank_makes_one_bogus_address() {
    let e = env();
    let (out, r) = alice(&e, "bob fred\n");
    assert!(out.is_none());
    has(&r, 1, "`bob fred`", true);
}

#[test]
fn e66_e67_d01_d02_files_and_includes_convert() {
    let e = env();
    let list = e.dir.path().join("list");
    std::fs::write(&list, "carol\n").unwrap();
    let (out, r) = alice(
        &e,
        &format!("/home/alice/Mailbox\n:include:{}\n", list.display()),
    );
    assert_eq!(out.unwrap(), format!("/home/alice/Mailbox\n&carol@{ME}\n"));
    has(&r, 2, ":include:", false);
}

#[test]
fn e68_e69_d08_unsafe_files_were_ignored() {
    let e = env();
    let (out, r) = convert(&e, "alice", 2001, 0o664, "bob\n");
    assert!(out.is_none());
    assert!(has(&r, 0, ".forward", false).reason.contains("writable"));
    let (out, r) = convert(&e, "alice", 2002, 0o644, "bob\n");
    assert!(out.is_none());
    assert!(has(&r, 0, ".forward", false)
        .reason
        .contains("owned by bob"));
}

#[test]
fn e70_d09_no_valid_shell_keeps_only_addresses() {
    let mut e = env();
    let home = e.dir.path().join("home").join("nolog");
    std::fs::create_dir_all(&home).unwrap();
    let p = home.join(".forward");
    std::fs::write(&p, "\"|vacation\", /tmp/x, bob\n").unwrap();
    e.site.shells = ["/bin/sh".to_string()].into_iter().collect();
    let mut r = Report::default();
    let out = migrate::forward::convert(&e.site, &p, Some("nolog"), "./Maildir/", &mut r).unwrap();
    assert_eq!(
        String::from_utf8(out.unwrap().contents).unwrap(),
        format!("&bob@{ME}\n")
    );
    assert_eq!(r.about("`\"|vacation\"`").count(), 1);
    assert!(has(&r, 1, "`/tmp/x`", false).reason.contains("/etc/shells"));
}

#[test]
fn e71_e74_d03_d10_programs() {
    let e = env();
    let (out, _) = alice(
        &e,
        "\"|IFS=' ' && exec /usr/bin/procmail -f- || exit 75 #alice\"\n",
    );
    assert_eq!(
        out.unwrap(),
        "|IFS=' ' && exec /usr/bin/procmail -f- || exit 75 #alice\n"
    );
    let (out, _) = alice(&e, "| /usr/local/bin/deliver\n");
    assert_eq!(out.unwrap(), "|/usr/local/bin/deliver\n");
}

#[test]
fn e72_d06_localhost_is_local() {
    let e = env();
    assert_eq!(
        alice(&e, "dave@localhost\n").0.unwrap(),
        format!("&dave@{ME}\n")
    );
}

#[test]
fn e73_d13_exim_filter_is_refused() {
    let e = env();
    let p = e.dir.path().join("home/alice/.forward");
    std::fs::write(
        &p,
        "# Exim filter\nif $h_subject: contains \"x\" then save x endif\n",
    )
    .unwrap();
    chown(&p, Some(2001), None).unwrap();
    let err = migrate::forward::convert(&e.site, &p, None, "./Maildir/", &mut Report::default())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}:1: refused:", p.display())),
        "{msg}"
    );
    assert!(msg.contains("Exim filter"));
}

#[test]
fn home_dirs_converts_every_account() {
    let e = env();
    for (u, uid) in [("bob", 2002), ("carol", 2003)] {
        let p = e.dir.path().join("home").join(u).join(".forward");
        std::fs::write(&p, "dave\n").unwrap();
        chown(&p, Some(uid), None).unwrap();
    }
    let mut r = Report::default();
    let files = migrate::forward::home_dirs(&e.site, "./Maildir/", &mut r).unwrap();
    let paths: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            e.dir.path().join("home/bob/.qmail"),
            e.dir.path().join("home/carol/.qmail")
        ]
    );
}
