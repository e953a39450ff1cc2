//! qmail-newu, qmail-getpw and the users/cdb lookup (spec §5.1), through
//! the real binaries where there is one.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use mta::home::{Home, Mode};
use mta::local::lspawn::find_user;

fn newu(qmailhome: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qmail-newu"))
        .env("QMAILHOME", qmailhome)
        .env("MTA_MODE", "unprivileged")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup(assign: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("users")).unwrap();
    fs::write(d.path().join("users/assign"), assign).unwrap();
    d
}

#[test]
fn newu_writes_qmails_exact_cdb_encoding() {
    let d = setup("=Joe:joe:507:100:/home/joe:::\n+Bob-:bob:508:100:/home/bob:-:x:\n.\n");
    assert_eq!(newu(d.path()), (0, String::new()));
    assert!(!d.path().join("users/cdb.tmp").exists());
    let db = cdb::CDB::open(d.path().join("users/cdb")).unwrap();
    let get = |k: &[u8]| db.get(k).map(|r| r.unwrap());
    assert_eq!(
        get(b"!joe\0").unwrap(),
        b"joe\x00507\x00100\x00/home/joe\x00\x00"
    );
    assert_eq!(
        get(b"!bob-").unwrap(),
        b"bob\x00508\x00100\x00/home/bob\x00-\x00x"
    );
    assert_eq!(get(b"").unwrap(), b"-");
    assert_eq!(get(b"!Joe\0"), None);
}

#[test]
fn manual_example_precedence_after_newu() {
    let d = setup(
        "+:alias:7790:2108:/var/qmail/alias:-::\n\
         +joe-:joe:507:100:/home/joe:-::\n\
         =joe:joe:507:100:/home/joe:::\n.\n",
    );
    assert_eq!(newu(d.path()).0, 0);
    let home = Home::new(d.path(), Mode::Unprivileged);
    let joe = find_user(&home, b"joe").unwrap();
    assert_eq!(
        (joe.user, joe.dash, joe.ext),
        (b"joe".to_vec(), vec![], vec![])
    );
    let direct = find_user(&home, b"joe-direct").unwrap();
    assert_eq!(
        (direct.user, direct.dash, direct.ext),
        (b"joe".to_vec(), b"-".to_vec(), b"direct".to_vec())
    );
    let bill = find_user(&home, b"bill").unwrap();
    assert_eq!(
        (bill.user, bill.home, bill.dash, bill.ext),
        (
            b"alias".to_vec(),
            b"/var/qmail/alias".to_vec(),
            b"-".to_vec(),
            b"bill".to_vec()
        )
    );
}

#[test]
fn assign_takes_effect_only_after_newu() {
    let d = setup("=joe.shmoe:joe:507:100:/home/joe:::\n.\n");
    let home = Home::new(d.path(), Mode::Unprivileged);
    // Before qmail-newu there is no users/cdb: qmail-getpw decides (alias).
    assert_eq!(find_user(&home, b"joe.shmoe").unwrap().user, b"alias");
    assert_eq!(newu(d.path()).0, 0);
    let e = find_user(&home, b"Joe.Shmoe").unwrap();
    assert_eq!((e.user, e.uid), (b"joe".to_vec(), 507));
}

#[test]
fn bad_format_is_fatal_and_names_the_line() {
    let d = setup("=ok:u:1:1:/h:::\n=broken:u:1:1\n.\n");
    fs::write(d.path().join("users/cdb"), b"previous").unwrap();
    let (code, err) = newu(d.path());
    assert_eq!(code, 111);
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some("qmail-newu: fatal: bad format in users/assign")
    );
    assert!(lines.next().unwrap().contains("users/assign:2:"), "{err}");
    assert_eq!(fs::read(d.path().join("users/cdb")).unwrap(), b"previous");

    let d = setup("=ok:u:1:1:/h:::\n");
    let (code, err) = newu(d.path());
    assert_eq!(code, 111);
    assert!(err.starts_with("qmail-newu: fatal: bad format in users/assign\n"));
}

#[test]
fn missing_assign_file() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("users")).unwrap();
    let (code, err) = newu(d.path());
    assert_eq!(code, 111);
    assert!(err.starts_with("qmail-newu: fatal: unable to open users/assign\n"));
}

#[test]
fn getpw_falls_back_to_alias_with_six_fields() {
    let d = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_qmail-getpw"))
        .arg("No-Such-User-Q1")
        .env("QMAILHOME", d.path())
        .env("MTA_MODE", "unprivileged")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let mut want = format!("alias\0{uid}\0{gid}\0").into_bytes();
    want.extend_from_slice(d.path().join("alias").as_os_str().as_bytes());
    want.extend_from_slice(b"\0-\0No-Such-User-Q1\0");
    assert_eq!(out.stdout, want);

    let out = Command::new(env!("CARGO_BIN_EXE_qmail-getpw"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
}
