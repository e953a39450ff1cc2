//! Differential tests of `migrate verify` against the real sendmail 8.17
//! (Debian's sendmail-bin, unpacked by `ci/setup`, run offline and
//! isolated as spec §6.2 says): for aliases files and `.mc` configurations
//! written here, everything the converter converted shows no difference,
//! and everything it did not is flagged. Without the binary (or m4 and
//! the sendmail-cf macros) the tests say so and skip.

use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const ORACLE: &str = "/opt/sendmail-oracle";

fn oracle_root() -> PathBuf {
    PathBuf::from(std::env::var_os("SENDMAIL_ORACLE").unwrap_or_else(|| ORACLE.into()))
}

fn sendmail() -> Option<PathBuf> {
    let bin = oracle_root().join("usr/libexec/sendmail/sendmail");
    let m4 = Command::new("m4").arg("--version").output().is_ok();
    let cf = oracle_root()
        .join("usr/share/sendmail/cf/m4/cf.m4")
        .exists();
    if bin.is_file() && m4 && cf {
        Some(bin)
    } else {
        eprintln!(
            "SKIP: no sendmail oracle in {} (run ci/setup)",
            oracle_root().display()
        );
        None
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    qmail: PathBuf,
    passwd: PathBuf,
    shells: PathBuf,
    cf: PathBuf,
    aliases: PathBuf,
}

const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// The site of spec §6.3 under a directory sendmail accepts (not below
/// a world-writable one, so not /tmp), with the accounts' homes real so
/// qmail-getpw would accept them too.
fn fixture(aliases: &str, forwards: &[(&str, &str)], mc_extra: &str) -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("verify.")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut passwd = String::from(
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    );
    let mut assign = String::new();
    for (i, u) in USERS.iter().enumerate() {
        let uid = 2001 + i as u32;
        let home = d.join("home").join(u);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        chown(&home, Some(uid), Some(uid)).unwrap();
        passwd.push_str(&format!("{u}:x:{uid}:{uid}::{}:/bin/sh\n", home.display()));
        assign.push_str(&format!("={u}:{u}:{uid}:{uid}:{}:::\n", home.display()));
        assign.push_str(&format!("+{u}-:{u}:{uid}:{uid}:{}:-::\n", home.display()));
    }
    for (u, text) in forwards {
        std::fs::write(d.join("home").join(u).join(".forward"), text).unwrap();
    }
    let pw = d.join("passwd");
    std::fs::write(&pw, &passwd).unwrap();
    let shells = d.join("shells");
    std::fs::write(&shells, "/bin/sh\n/bin/bash\n").unwrap();
    std::fs::write(d.join("list"), "bob\ncarol, dave\n").unwrap();
    let aliases_path = d.join("aliases");
    std::fs::write(
        &aliases_path,
        aliases.replace("$D", &d.display().to_string()),
    )
    .unwrap();
    std::fs::write(
        d.join("local-host-names"),
        "mail.example.org\nexample.org\n",
    )
    .unwrap();
    let cfdir = oracle_root().join("usr/share/sendmail/cf");
    let o = d.display();
    let mc = format!(
        "divert(0)dnl\n\
         include(`{cf}/m4/cf.m4')dnl\n\
         OSTYPE(`linux')dnl\n\
         define(`confDOMAIN_NAME', `mail.example.org')dnl\n\
         define(`ALIAS_FILE', `{o}/aliases')dnl\n\
         define(`confDONT_PROBE_INTERFACES', `True')dnl\n\
         define(`confCW_FILE', `{o}/local-host-names')dnl\n\
         define(`QUEUE_DIR', `{o}/mqueue')dnl\n\
         FEATURE(`use_cw_file')dnl\n\
         FEATURE(`nocanonify')dnl\n\
         FEATURE(`accept_unresolvable_domains')dnl\n\
         {mc_extra}\
         MAILER(`local')dnl\n\
         MAILER(`smtp')dnl\n",
        cf = cfdir.display()
    );
    std::fs::write(d.join("site.mc"), mc).unwrap();
    let cf = d.join("site.cf");
    // Without m4 (model-only runs) there is no cf.
    if let Ok(out) = Command::new("m4").arg(d.join("site.mc")).output() {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&cf, out.stdout).unwrap();
    }
    std::fs::create_dir(d.join("mqueue")).unwrap();

    // The new side: an unprivileged MTA root with users/cdb for the
    // accounts, the alias user's home holding the converted aliases.
    let q = d.join("qmail");
    for sub in ["control", "users", "alias"] {
        std::fs::create_dir_all(q.join(sub)).unwrap();
    }
    std::fs::write(q.join("unprivileged"), "").unwrap();
    std::fs::write(q.join("control/me"), "mail.example.org\n").unwrap();
    std::fs::write(
        q.join("control/locals"),
        "mail.example.org\nexample.org\nlocalhost\n",
    )
    .unwrap();
    assign.push_str(".\n");
    let a = mta::local::assign::parse("assign", assign.as_bytes()).unwrap();
    mta::local::newu::write_cdb(&q.join("users/cdb"), &a).unwrap();
    Fixture {
        dir,
        qmail: q,
        passwd: pw,
        shells,
        cf,
        aliases: aliases_path,
    }
}

fn migrate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .env("QMAILHOME", "/nonexistent")
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Fixture {
    fn site_args(&self) -> Vec<&str> {
        vec![
            "--me",
            "mail.example.org",
            "--local-domain",
            "example.org",
            "--passwd",
            s(&self.passwd),
            "--shells",
            s(&self.shells),
        ]
    }

    /// Converts the aliases and every .forward, as a site would.
    fn convert(&self) {
        let alias_dir = self.qmail.join("alias");
        let mut a = vec!["aliases", s(&self.aliases), "--qmail", s(&alias_dir)];
        a.extend(self.site_args());
        let out = migrate(&a);
        assert!(out.status.code().unwrap() <= 1, "{out:?}");
        let mut f = vec!["forward", "--home-dirs"];
        f.extend(self.site_args());
        let out = migrate(&f);
        assert!(out.status.code().unwrap() <= 1, "{out:?}");
    }

    fn verify(&self, sendmail: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut v = vec!["--cf", s(&self.cf), "--sendmail", s(sendmail)];
        v.extend(extra);
        let (code, json) = self.run_verify(&v);
        assert_eq!(json["old_side"]["kind"], "sendmail", "{json:#}");
        (code, json)
    }

    fn run_verify(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut v = vec![
            "verify",
            s(&self.aliases),
            "--qmail-home",
            s(&self.qmail),
            "--json",
        ];
        v.extend(self.site_args());
        v.extend(extra);
        let out = migrate(&v);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap(), json)
    }
}

fn verdicts(json: &serde_json::Value) -> Vec<(String, String)> {
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn verdict(json: &serde_json::Value, addr: &str) -> String {
    verdicts(json)
        .into_iter()
        .find(|(a, _)| a == addr)
        .unwrap_or_else(|| panic!("{addr} not replayed: {json:#}"))
        .1
}

const CONVERTIBLE: &str = "\
postmaster: alice
a1: bob, carol
a2: \"|/usr/bin/prog x y\"
a3: /dev/null
a4: \\alice
a6: Bob@Example.NET
a7: nosuchuser
a8: carol@localhost
a9: :include:$D/list
a10: error:5.1.1:550 No such user
a11: error:alice
a12: Dave
a13: |/usr/bin/prog x
list: bob, carol
owner-list: dave
";

#[test]
fn converted_aliases_and_forwards_show_no_difference() {
    let Some(sm) = sendmail() else { return };
    let f = fixture(
        CONVERTIBLE,
        &[
            ("bob", "\\bob, carol@example.net\n"),
            ("carol", "# only a comment\n"),
        ],
        "",
    );
    f.convert();
    let (code, json) = f.verify(&sm, &[]);
    if std::env::var_os("VERIFY_SHOW").is_some() {
        eprintln!("{json:#}");
    }
    for (addr, v) in verdicts(&json) {
        // qmail never delivers to root (uid 0): flagged, not unexplained.
        let want = if addr == "root" { "flagged" } else { "same" };
        assert_eq!(v, want, "{addr}: {json:#}");
    }
    assert_eq!(code, 1, "root's difference is flagged: {json:#}");
    // The comparison is not vacuous: the real sendmail saw the deliveries.
    let a1 = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "bob")
        .unwrap();
    assert_eq!(a1["old"].as_array().unwrap().len(), 2, "{a1:#}");
    let _keep = &f.dir;
}

const UNCONVERTIBLE: &str = "\
b1: bob carol
b2: b2, bob
loop1: loop2
loop2: loop1
dave: carol
bob-request: alice
list: bob, carol
c0: c1
c1: c2
c2: c3
c3: c4
c4: c5
c5: c6
c6: c7
c7: c8
c8: c9
c9: c10
c10: c11
c11: bob
";

#[test]
fn what_was_not_converted_is_flagged() {
    let Some(sm) = sendmail() else { return };
    let f = fixture(UNCONVERTIBLE, &[], "");
    f.convert();
    let (code, json) = f.verify(&sm, &["--address", "list+foo"]);
    // Self reference of a non-account: sendmail bounces it, qmail does not.
    assert_eq!(verdict(&json, "b2"), "flagged", "{json:#}");
    // An alias named like an account, an account-prefix name (F28, F29).
    assert_eq!(verdict(&json, "dave"), "flagged", "{json:#}");
    assert_eq!(verdict(&json, "bob-request"), "flagged", "{json:#}");
    // 11 aliases deep: sendmail bounced, qmail delivers.
    assert_eq!(verdict(&json, "c0"), "flagged", "{json:#}");
    // +detail falls back to the list in sendmail only.
    assert_eq!(verdict(&json, "list+foo"), "flagged", "{json:#}");
    // Same behaviour even though the converter could not convert them.
    assert_eq!(verdict(&json, "b1"), "same", "{json:#}");
    assert_eq!(verdict(&json, "loop1"), "same", "{json:#}");
    assert_eq!(verdict(&json, "c2"), "same", "{json:#}");
    assert!(
        !verdicts(&json).iter().any(|(_, v)| v == "unexplained"),
        "{json:#}"
    );
    assert_eq!(code, 1);
}

#[test]
fn smart_host_needs_smtproutes_or_is_unexplained() {
    let Some(sm) = sendmail() else { return };
    let f = fixture(
        "r1: bob@example.net\n",
        &[],
        "define(`SMART_HOST', `[relay.example.com]')dnl\n",
    );
    f.convert();
    let (code, json) = f.verify(&sm, &[]);
    assert_eq!(verdict(&json, "r1"), "unexplained", "{json:#}");
    assert_eq!(code, 2);
    std::fs::write(f.qmail.join("control/smtproutes"), ":relay.example.com\n").unwrap();
    let (_, json) = f.verify(&sm, &[]);
    assert_eq!(verdict(&json, "r1"), "same", "{json:#}");
    let r1 = &json["results"].as_array().unwrap()[0];
    assert_eq!(r1["old"][0]["relay"], "relay.example.com", "{json:#}");
}

/// Without a sendmail binary the model stands in, and the report says so.
#[test]
fn model_side_agrees_on_converted_aliases() {
    let f = fixture(CONVERTIBLE, &[("bob", "\\bob, carol@example.net\n")], "");
    f.convert();
    let (code, json) = f.run_verify(&["--model"]);
    assert_eq!(json["old_side"]["kind"], "model", "{json:#}");
    assert!(json["old_side"]["why"]
        .as_str()
        .unwrap()
        .contains("--model"));
    for (addr, v) in verdicts(&json) {
        let want = if addr == "root" { "flagged" } else { "same" };
        assert_eq!(v, want, "{addr}: {json:#}");
    }
    assert_eq!(code, 1);
}

/// The text report names the oracle and shows both sides.
#[test]
fn text_report_shows_both_sides() {
    let f = fixture("b2: b2, bob\n", &[], "");
    f.convert();
    let mut a = vec![
        "verify",
        s(&f.aliases),
        "--qmail-home",
        s(&f.qmail),
        "--model",
    ];
    a.extend(f.site_args());
    let out = migrate(&a);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("old side: migrate's model"), "{text}");
    assert!(
        text.contains("! b2 (alias): DIFFERENT, flagged by the converter"),
        "{text}"
    );
    assert!(text.contains("bounce 5.1.1"), "{text}");
    assert!(text.contains("because "), "{text}");
    assert_eq!(out.status.code(), Some(1));
}
