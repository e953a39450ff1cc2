//! qmail-local end to end (spec §5.2–5.8): the real binary, a tempdir
//! home, MTA_MODE=unprivileged.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    qmailhome: PathBuf,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let home = root.join("u");
    let qmailhome = root.join("q");
    fs::create_dir(&home).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir(&qmailhome).unwrap();
    Site {
        _dir: dir,
        root,
        home,
        qmailhome,
    }
}

impl Site {
    fn write(&self, name: &str, text: &str, mode: u32) {
        let p = self.home.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn maildir(&self) -> PathBuf {
        let m = self.home.join("Maildir");
        for s in ["tmp", "new", "cur"] {
            fs::create_dir_all(m.join(s)).unwrap();
        }
        m
    }

    /// Installs a fake qmail-queue that saves fd 0 to `msg` and fd 1 to
    /// `env` in QMAILHOME.
    fn fake_queue(&self) -> PathBuf {
        let s = self.qmailhome.join("fakeqq");
        fs::write(
            &s,
            "#!/bin/sh\ncat > msg\ncat <&1 > env\necho $$ > pid\nexit 0\n",
        )
        .unwrap();
        fs::set_permissions(&s, fs::Permissions::from_mode(0o755)).unwrap();
        s
    }

    /// Runs qmail-local with `args` = [local, dash, ext, domain, sender,
    /// defaultdelivery] (plus leading options) and `message` on stdin.
    fn run_with(
        &self,
        opts: &[&str],
        args: [&str; 6],
        message: &[u8],
        env: &[(&str, &Path)],
    ) -> Run {
        let m = self.root.join("message");
        fs::write(&m, message).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_qmail-local"));
        c.args(opts)
            .arg("--")
            .arg("u")
            .arg(&self.home)
            .args(args)
            .env("QMAILHOME", &self.qmailhome)
            .env("MTA_MODE", "unprivileged")
            .env_remove("QMAILQUEUE")
            .env_remove("MTA_CRASHPOINT")
            .stdin(fs::File::open(&m).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, args: [&str; 6], message: &[u8]) -> Run {
        self.run_with(&[], args, message, &[])
    }

    fn new_files(&self) -> Vec<PathBuf> {
        fs::read_dir(self.home.join("Maildir/new"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

const MSG: &[u8] = b"Subject: hi\n\nhello\nFrom here\n";

#[test]
fn maildir_delivery_prepends_return_path_and_delivered_to() {
    let s = site();
    s.maildir();
    s.write(".qmail", "./Maildir/\n", 0o644);
    let r = s.run(
        ["u", "", "", "example.com", "alice@example.org", "./Mailbox"],
        MSG,
    );
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "did 1+0+0\n", "")
    );
    let files = s.new_files();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    let parts: Vec<&str> = name.splitn(3, '.').collect();
    assert!(
        parts[0].parse::<u64>().is_ok() && parts[1].parse::<u32>().is_ok(),
        "{name}"
    );
    let mut want = b"Return-Path: <alice@example.org>\nDelivered-To: u@example.com\n".to_vec();
    want.extend_from_slice(MSG);
    assert_eq!(fs::read(&files[0]).unwrap(), want);
    assert_eq!(fs::read_dir(s.home.join("Maildir/tmp")).unwrap().count(), 0);
}

#[test]
fn mbox_default_delivery_with_from_line_and_quoting() {
    let s = site();
    // No ~/.qmail: the default delivery is used.
    let r = s.run(
        ["u", "", "", "example.com", "a b@x", "./Mailbox"],
        b"Subject: t\n\nFrom me\n>From you\nend",
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, "did 1+0+0\n"));
    let got = String::from_utf8(fs::read(s.home.join("Mailbox")).unwrap()).unwrap();
    let (first, rest) = got.split_once('\n').unwrap();
    assert!(first.starts_with("From a-b@x "), "{first}");
    // "Www Mmm DD HH:MM:SS YYYY"
    assert_eq!(first.len(), "From a-b@x ".len() + 24, "{first}");
    assert_eq!(
        rest,
        "Return-Path: <\"a b\"@x>\nDelivered-To: u@example.com\nSubject: t\n\n>From me\n>>From you\nend\n\n"
    );
    let mode = fs::metadata(s.home.join("Mailbox"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn mbox_empty_sender_is_mailer_daemon() {
    let s = site();
    s.write(".qmail", "./Mailbox\n", 0o644);
    let r = s.run(["u", "", "", "example.com", "", "./Maildir/"], b"x\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = String::from_utf8(fs::read(s.home.join("Mailbox")).unwrap()).unwrap();
    assert!(got.starts_with("From MAILER-DAEMON "), "{got}");
    assert!(got.contains("\nReturn-Path: <>\n"));
    assert!(got.ends_with("x\n\n"));
}

#[test]
fn default_file_sets_ext_default_local() {
    let s = site();
    s.write(
        ".qmail-default",
        "|echo \"$EXT $DEFAULT $LOCAL $RECIPIENT $HOST2 $SENDER $NEWSENDER\" > seen\n",
        0o644,
    );
    let r = s.run(
        ["u-foo", "-", "foo", "mail.example.com", "s@x", "./Mailbox"],
        MSG,
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "did 0+0+1\n"),
        "{}",
        r.stderr
    );
    assert_eq!(
        fs::read_to_string(s.home.join("seen")).unwrap(),
        "foo foo u-foo u-foo@mail.example.com mail.example s@x s@x\n"
    );
}

#[test]
fn no_matching_file_bounces() {
    let s = site();
    let r = s.run(
        ["u-foo", "-", "foo", "example.com", "s@x", "./Mailbox"],
        MSG,
    );
    assert_eq!(r.code, 100);
    assert_eq!(r.stderr, "Sorry, no mailbox here by that name. (#5.1.1)\n");
}

#[test]
fn looping_delivered_to_bounces_but_other_case_delivers() {
    let s = site();
    s.write(".qmail", "./Mailbox\n", 0o644);
    let looping = b"Received: x\nDelivered-To: u@example.com\n\nbody\n";
    let r = s.run(["u", "", "", "example.com", "s@x", "./Mailbox"], looping);
    assert_eq!(r.code, 100);
    assert_eq!(
        r.stderr,
        "This message is looping: it already has my Delivered-To line. (#5.4.6)\n"
    );
    assert!(!s.home.join("Mailbox").exists());
    let other = b"Delivered-To: U@example.com\n\nDelivered-To: u@example.com\n";
    let r = s.run(["u", "", "", "example.com", "s@x", "./Mailbox"], other);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn writable_or_sticky_home_defers() {
    let s = site();
    s.write(".qmail", "./Mailbox\n", 0o644);
    fs::set_permissions(&s.home, fs::Permissions::from_mode(0o757)).unwrap();
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (111, "Uh-oh: home directory is writable. (#4.7.0)\n")
    );
    fs::set_permissions(&s.home, fs::Permissions::from_mode(0o1755)).unwrap();
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            111,
            "Home directory is sticky: user is editing his .qmail file. (#4.2.1)\n"
        )
    );
    // -n only warns.
    let r = s.run_with(&["-n"], ["u", "", "", "d", "s@x", "./Mailbox"], MSG, &[]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "Warning: home directory is sticky.\nmbox ./Mailbox\ndid 1+0+0\n"
    );
    assert!(!s.home.join("Mailbox").exists());
}

#[test]
fn writable_dot_qmail_defers() {
    let s = site();
    s.write(".qmail", "./Mailbox\n", 0o646);
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (111, "Uh-oh: .qmail file is writable. (#4.7.0)\n")
    );
}

#[test]
fn program_exit_codes() {
    let s = site();
    let cases: &[(&str, i32, &str)] = &[
        ("|exit 100", 100, ""),
        ("|exit 111", 111, ""),
        ("|exit 65", 100, ""),
        ("|exit 1", 111, ""),
        ("|echo oops; exit 100", 100, "oops\n"),
        ("|kill -9 $$", 111, "Aack, child crashed. (#4.3.0)\n"),
    ];
    for (line, code, text) in cases {
        s.write(".qmail", &format!("{line}\n./Mailbox\n"), 0o644);
        let r = s.run(["u", "", "", "d", "s@x", "./Maildir/"], MSG);
        assert_eq!(r.code, *code, "{line}");
        assert_eq!(format!("{}{}", r.stdout, r.stderr), *text, "{line}");
        assert!(!s.home.join("Mailbox").exists(), "{line}");
    }
}

#[test]
fn program_output_precedes_did_line() {
    let s = site();
    s.write(".qmail", "|echo hi\n", 0o644);
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!((r.code, r.stdout.as_str()), (0, "hi\ndid 0+0+1\n"));
}

#[test]
fn program_sees_message_without_added_lines() {
    let s = site();
    s.write(
        ".qmail",
        "|cat > got; printf %s \"$DTLINE$RPLINE\" > lines\n",
        0o644,
    );
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fs::read(s.home.join("got")).unwrap(), MSG);
    assert_eq!(
        fs::read_to_string(s.home.join("lines")).unwrap(),
        "Delivered-To: u@d\nReturn-Path: <s@x>\n"
    );
}

#[test]
fn exit_99_skips_later_lines_but_forwards_collected_ones() {
    let s = site();
    let qq = s.fake_queue();
    s.write(".qmail", "&f@x\n|exit 99\n./Mailbox\nlate@x\n", 0o644);
    let r = s.run_with(
        &[],
        ["u", "", "", "d", "s@x", "./Maildir/"],
        MSG,
        &[("QMAILQUEUE", &qq)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pid = fs::read_to_string(s.qmailhome.join("pid")).unwrap();
    assert_eq!(r.stdout, format!("did 0+1+1\nqp {}", pid));
    assert!(!s.home.join("Mailbox").exists());
    assert_eq!(
        fs::read(s.qmailhome.join("env")).unwrap(),
        b"Fs@x\0Tf@x\0\0"
    );
}

#[test]
fn x_bit_allows_only_forwards() {
    let s = site();
    s.write(".qmail", "./Mailbox\n", 0o744);
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            111,
            "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)\n"
        )
    );
    s.write(".qmail", "|true\n", 0o744);
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            111,
            "Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)\n"
        )
    );
    // +list turns the same mode on mid-file.
    s.write(".qmail", "|true\n+list\n./Mailbox\n", 0o644);
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(r.code, 111);
    assert!(r.stderr.contains("has file delivery but has x bit set"));
}

#[test]
fn blank_first_line_defers_and_later_blank_lines_are_ignored() {
    let s = site();
    s.write(".qmail", "\n./Mailbox\n", 0o644);
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (111, "Uh-oh: first line of .qmail file is blank. (#4.2.1)\n")
    );
    s.write(".qmail", "./Mailbox\n\n\n", 0o644);
    let r = s.run(["u", "", "", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!((r.code, r.stdout.as_str()), (0, "did 1+0+0\n"));
}

#[test]
fn dots_in_extension_map_to_colons() {
    let s = site();
    s.write(".qmail-p:d:q", "./pdq\n", 0o644);
    let r = s.run(["u-P.D.Q", "-", "P.D.Q", "d", "s@x", "./Mailbox"], MSG);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(s.home.join("pdq").exists());
}

#[test]
fn empty_dot_qmail_uses_default_delivery() {
    let s = site();
    s.maildir();
    s.write(".qmail", "", 0o644);
    let r = s.run(["u", "", "", "d", "s@x", "./Maildir/"], MSG);
    assert_eq!((r.code, r.stdout.as_str()), (0, "did 1+0+0\n"));
    assert_eq!(s.new_files().len(), 1);
}

fn forward_case(owner: bool, owner_default: bool, sender: &str) -> (Vec<u8>, Vec<u8>) {
    let s = site();
    let qq = s.fake_queue();
    s.write(".qmail-list", "a@x\n&b@y\n", 0o644);
    if owner {
        s.write(".qmail-list-owner", "me@x\n", 0o644);
    }
    if owner_default {
        s.write(".qmail-list-owner-default", "me@x\n", 0o644);
    }
    let r = s.run_with(
        &[],
        ["u-list", "-", "list", "example.com", sender, "./Mailbox"],
        MSG,
        &[("QMAILQUEUE", &qq)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("did 0+2+0\nqp "), "{}", r.stdout);
    (
        fs::read(s.qmailhome.join("msg")).unwrap(),
        fs::read(s.qmailhome.join("env")).unwrap(),
    )
}

#[test]
fn forward_message_starts_with_delivered_to() {
    let (msg, env) = forward_case(false, false, "s@x");
    let mut want = b"Delivered-To: u-list@example.com\n".to_vec();
    want.extend_from_slice(MSG);
    assert_eq!(msg, want);
    assert_eq!(env, b"Fs@x\0Ta@x\0Tb@y\0\0");
}

#[test]
fn forward_with_owner_uses_owner_sender() {
    let (_, env) = forward_case(true, false, "s@x");
    assert_eq!(env, b"Fu-list-owner@example.com\0Ta@x\0Tb@y\0\0");
}

#[test]
fn forward_with_owner_default_requests_verp() {
    let (_, env) = forward_case(true, true, "s@x");
    assert_eq!(env, b"Fu-list-owner-@example.com-@[]\0Ta@x\0Tb@y\0\0");
}

#[test]
fn bounces_keep_their_empty_sender_when_forwarded() {
    let (_, env) = forward_case(true, true, "");
    assert_eq!(env, b"F\0Ta@x\0Tb@y\0\0");
}

#[test]
fn forward_failure_reports_qq_text() {
    let s = site();
    let qq = s.qmailhome.join("badqq");
    fs::write(&qq, "#!/bin/sh\ncat >/dev/null\nexit 31\n").unwrap();
    fs::set_permissions(&qq, fs::Permissions::from_mode(0o755)).unwrap();
    s.write(".qmail", "a@x\n", 0o644);
    let r = s.run_with(
        &[],
        ["u", "", "", "d", "s@x", "./Mailbox"],
        MSG,
        &[("QMAILQUEUE", &qq)],
    );
    assert_eq!(r.code, 100);
    assert_eq!(
        r.stderr,
        "Unable to forward message: mail server permanently rejected message (#5.3.0).\n"
    );
}

#[test]
fn plan_mode_prints_each_instruction() {
    let s = site();
    s.write(
        ".qmail",
        "# c\n|prog arg\n./Maildir/\n/var/mail/u\n&a@b\nc@d\n",
        0o644,
    );
    let r = s.run_with(&["-n"], ["u", "", "", "d", "s@x", "./Mailbox"], MSG, &[]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "program prog arg\nmaildir ./Maildir/\nmbox /var/mail/u\nforward a@b\nforward c@d\ndid 2+2+1\n"
    );
}

#[test]
fn usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_qmail-local"))
        .args(["u", "relative", "l", "", "", "d", "s", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty\n"
    );
}

#[test]
fn crash_before_link_leaves_nothing_in_new() {
    let s = site();
    s.maildir();
    s.write(".qmail", "./Maildir/\n", 0o644);
    let cp = PathBuf::from("local.maildir.tmp.synced");
    let r = s.run_with(
        &[],
        ["u", "", "", "d", "s@x", "./Mailbox"],
        MSG,
        &[("MTA_CRASHPOINT", &cp)],
    );
    assert_ne!(r.code, 0);
    assert_eq!(s.new_files().len(), 0);
    let cp = PathBuf::from("local.maildir.new.linked");
    let r = s.run_with(
        &[],
        ["u", "", "", "d", "s@x", "./Mailbox"],
        MSG,
        &[("MTA_CRASHPOINT", &cp)],
    );
    assert_ne!(r.code, 0);
    let files = s.new_files();
    assert_eq!(files.len(), 1);
    assert!(fs::read(&files[0]).unwrap().ends_with(MSG));
}

#[test]
fn crash_after_mbox_fsync_keeps_the_whole_message() {
    let s = site();
    s.write(".qmail", "./Mailbox\n", 0o644);
    let cp = PathBuf::from("local.mbox.synced");
    let r = s.run_with(
        &[],
        ["u", "", "", "d", "s@x", "./Mailbox"],
        MSG,
        &[("MTA_CRASHPOINT", &cp)],
    );
    assert_ne!(r.code, 0);
    let got = fs::read(s.home.join("Mailbox")).unwrap();
    assert!(got.ends_with(b"hello\n>From here\n\n"));
}
