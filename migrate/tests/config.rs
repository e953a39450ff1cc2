//! `migrate config` and `migrate site` over the fixtures in
//! `tests/fixtures/config/`: a realistic `sendmail.mc`, the matching `.cf`
//! excerpt written by hand, and the maps in makemap text form. One test
//! per mapping row of spec §4.2/§4.4-§4.6 with the exact control files
//! and report lines, both targets, refusal of non-sendmail input, the
//! `.db`-only explanation, and a whole fake host for `site`.

use std::collections::BTreeMap;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migrate::config::{self, Source, Target};
use migrate::report::{Action, Finding, Report};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

/// A copy of `fixtures/config/mail` (maps + sendmail.mc) in a tempdir;
/// `cf` swaps the .mc for the hand-written .cf.
fn etc_mail(cf: bool) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixtures().join("mail")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), d.path().join(e.file_name())).unwrap();
    }
    if cf {
        std::fs::remove_file(d.path().join("sendmail.mc")).unwrap();
        std::fs::copy(
            fixtures().join("cf/sendmail.cf"),
            d.path().join("sendmail.cf"),
        )
        .unwrap();
    }
    d
}

/// Converted files (path relative to the output dir → text) and report.
fn run(dir: &Path, target: Target) -> (BTreeMap<String, String>, Report) {
    let to = Path::new("/out");
    let c = config::convert(&Source::etc_mail(dir), to, target, None).unwrap();
    let files = c
        .files
        .into_iter()
        .map(|f| {
            (
                f.path.strip_prefix(to).unwrap().display().to_string(),
                String::from_utf8(f.contents).unwrap(),
            )
        })
        .collect();
    (files, c.report)
}

fn find<'a>(r: &'a Report, file_end: &str, line: usize) -> Vec<&'a Finding> {
    r.findings
        .iter()
        .filter(|f| f.file.ends_with(file_end) && f.line == line)
        .collect()
}

fn one<'a>(r: &'a Report, file_end: &str, line: usize) -> &'a Finding {
    let v = find(r, file_end, line);
    assert_eq!(v.len(), 1, "{file_end}:{line}: {v:#?}");
    v[0]
}

#[test]
fn mc_and_hand_written_cf_give_the_same_files() {
    let (mc, _) = run(etc_mail(false).path(), Target::Netqmail);
    let (cf, _) = run(etc_mail(true).path(), Target::Netqmail);
    assert_eq!(mc, cf);
}

#[test]
fn official_name_class_w_and_local_host_names() {
    let d = etc_mail(false);
    let (f, r) = run(d.path(), Target::Netqmail);
    assert_eq!(f["control/me"], "mail.example.org\n");
    // Cw/LOCAL_DOMAIN/LOCAL_CONFIG Cw + local-host-names, minus the
    // virtusertable domain; mailertable `local:` adds intranet.example.
    assert_eq!(
        f["control/locals"],
        "mail.example.org\nlocalhost\nexample.org\nlists.example.org\nintranet.example\n"
    );
    let l = one(&r, "sendmail.mc", 12);
    assert_eq!(l.reason, "official host name → control/me");
    let w = one(&r, "sendmail.mc", 30);
    assert!(w.reason.starts_with("2 word(s) read from"), "{w:?}");
    assert!(w.construct.contains("local-host-names"));
}

#[test]
fn rcpthosts_from_class_w_relay_domains_access_to_and_virtual_domains() {
    let (f, r) = run(etc_mail(false).path(), Target::Netqmail);
    assert_eq!(
        f["control/rcpthosts"],
        "mail.example.org\nlocalhost\nexample.org\nlists.example.org\nshop.example.net\n\
         partner.example\n.partner.example\nfriend.example\n.friend.example\n"
    );
    let rd = one(&r, "relay-domains", 2);
    assert_eq!(rd.action, Action::ConvertedWithChange);
    assert!(rd.reason.contains("`-h`") && rd.needs_decision);
}

#[test]
fn smart_host_with_relay_port_and_mailertable_become_smtproutes() {
    let (f, r) = run(etc_mail(false).path(), Target::Netqmail);
    assert_eq!(
        f["control/smtproutes"],
        "partner.example:mx.partner.example\n.partner.example:gw.partner.example\n\
         :relay.isp.example:587\n"
    );
    assert_eq!(
        one(&r, "sendmail.mc", 14).reason,
        "smart host → control/smtproutes `:relay.isp.example:587`"
    );
    let mx = one(&r, "mailertable", 3);
    assert_eq!(mx.action, Action::ConvertedWithChange);
    assert!(mx.reason.contains("MX"));
    let uucp = one(&r, "mailertable", 7);
    assert_eq!(
        uucp.text(),
        format!(
            "{}:7: `uucp.example uucp-dom:uuhost`: sendmail delivered with the `uucp-dom` \
             mailer; qmail 1.03 has no equivalent (qmail-remote speaks plain SMTP only); not \
             converted.",
            uucp.file
        )
    );
}

#[test]
fn mailertable_local_and_error_entries() {
    let (f, r) = run(etc_mail(false).path(), Target::Netqmail);
    assert_eq!(
        f["control/virtualdomains"],
        "legacy.example:alias-legacy.example\ngone.example:alias-gone.example\n\
         shop.example.net:alias-shop.example.net\n"
    );
    assert_eq!(
        f["alias/.qmail-legacy:example-default"],
        "&dave@mail.example.org\n"
    );
    assert_eq!(
        f["alias/.qmail-gone:example-default"],
        "|bouncesaying 'Host unknown'\n"
    );
    assert!(one(&r, "mailertable", 6).needs_decision);
    assert_eq!(one(&r, "mailertable", 4).action, Action::Converted);
}

#[test]
fn a_smart_host_loses_to_mailertable_dot() {
    let d = etc_mail(false);
    let mt = d.path().join("mailertable");
    let mut t = std::fs::read_to_string(&mt).unwrap();
    t.push_str(".\t\trelay:[other.relay.example]\n");
    std::fs::write(&mt, t).unwrap();
    let (f, r) = run(d.path(), Target::Netqmail);
    assert!(f["control/smtproutes"].ends_with("\n:other.relay.example:587\n"));
    let s = one(&r, "sendmail.mc", 14);
    assert_eq!(s.action, Action::NotConverted);
    assert!(s.reason.contains("smart host was never used"));
}

#[test]
fn virtusertable_rows() {
    let (f, r) = run(etc_mail(false).path(), Target::Netqmail);
    assert_eq!(
        f["alias/.qmail-shop:example:net-info"],
        "&alice@mail.example.org\n"
    );
    assert_eq!(
        f["alias/.qmail-shop:example:net-sales"],
        "&bob@partner.example\n"
    );
    assert_eq!(
        f["alias/.qmail-shop:example:net-old"],
        "|bouncesaying 'This address is no longer in use'\n"
    );
    assert_eq!(
        f["alias/.qmail-shop:example:net-default"],
        "|forward \"$DEFAULT@shop-archive.example\"\n"
    );
    let plus = one(&r, "virtusertable", 6);
    assert!(
        plus.reason.contains("`+detail`") && plus.reason.contains("qmail 1.03 has no equivalent")
    );
    assert_eq!(one(&r, "virtusertable", 7).action, Action::NotConverted);
    let dom = find(&r, "virtusertable", 2);
    assert!(dom
        .iter()
        .any(|f| f.construct == "domain `shop.example.net`"
            && f.reason.contains("moved out of control/locals")));
}

#[test]
fn virtual_domain_without_catch_all_keeps_local_users() {
    let d = etc_mail(false);
    std::fs::write(
        d.path().join("virtusertable"),
        "info@shop.example.net\talice\nx@elsewhere.example\tbob\n",
    )
    .unwrap();
    let (f, r) = run(d.path(), Target::Netqmail);
    assert_eq!(
        f["alias/.qmail-shop:example:net-default"],
        "|forward \"$DEFAULT@mail.example.org\"\n"
    );
    let dead = one(&r, "virtusertable", 2);
    assert!(dead.reason.contains("neither class w nor {VirtHost}"));
    assert!(!f["control/virtualdomains"].contains("elsewhere"));
}

#[test]
fn access_rows_become_tcprules_and_badmailfrom() {
    let (f, r) = run(etc_mail(false).path(), Target::Netqmail);
    let rules = &f["tcp.smtp"];
    // The tcprules text is what mta-tcprules accepts.
    let parsed = mta::listener::rules::parse("tcp.smtp", rules.as_bytes()).unwrap();
    assert!(parsed.len() >= 10);
    for line in [
        "127.0.0.1:allow,RELAYCLIENT=\"\"\n",
        "192.168.1.:allow,RELAYCLIENT=\"\"\n",
        "192.168.7.:allow,RELAYCLIENT=\"\"\n",
        "10.9.8.7:deny\n",
        "198.51.100.:deny\n",
        "=localhost:allow,RELAYCLIENT=\"\"\n",
    ] {
        assert!(rules.contains(line), "{line} in {rules}");
    }
    assert!(rules.ends_with(":allow\n"));
    assert!(!rules.contains("203.0.113.9"), "DISCARD has no equivalent");
    assert_eq!(
        f["control/badmailfrom"],
        "spammer@bad.example\n@junk.example\n"
    );
    assert_eq!(one(&r, "access", 6).action, Action::Converted);
    for (line, what) in [
        (8, "DISCARD"),
        (10, "IPv6"),
        (15, "From:user@"),
        (16, "DISCARD"),
        (17, "To:"),
        (18, "`greetpause:`"),
    ] {
        let x = one(&r, "access", line);
        assert_eq!(x.action, Action::NotConverted, "{x:?}");
        assert!(
            x.reason.contains(what) && x.reason.ends_with("qmail 1.03 has no equivalent"),
            "{x:?}"
        );
        assert!(x.needs_decision);
    }
}

#[test]
fn size_queue_lifetime_and_masquerade() {
    let (f, r) = run(etc_mail(false).path(), Target::Netqmail);
    assert_eq!(f["control/databytes"], "10485760\n");
    assert_eq!(f["control/queuelifetime"], "432000\n");
    assert_eq!(f["control/defaulthost"], "example.org\n");
    assert!(one(&r, "sendmail.mc", 19)
        .reason
        .contains("qmail sends no delay warnings"));
    assert!(one(&r, "sendmail.mc", 17)
        .reason
        .contains("limit not carried over"));
}

#[test]
fn genericstable_and_other_4_7_items_use_the_wording() {
    let (_, r) = run(etc_mail(false).path(), Target::Netqmail);
    let g = one(&r, "sendmail.mc", 34);
    assert!(g.reason.starts_with(
        "genericstable rewrites outgoing sender addresses; qmail-remote does not rewrite."
    ));
    assert!(one(&r, "genericstable", 1)
        .reason
        .contains("QMAILUSER=bob.smith QMAILHOST=example.org"));
    for line in [38, 39, 40] {
        let x = one(&r, "sendmail.mc", line);
        assert!(
            x.text()
                .ends_with("qmail 1.03 has no equivalent; not converted."),
            "{}",
            x.text()
        );
    }
}

#[test]
fn netqmail_reports_tls_and_auth_reference_suggests_controls() {
    let (fq, rq) = run(etc_mail(false).path(), Target::Netqmail);
    let (fr, rr) = run(etc_mail(false).path(), Target::Reference);
    assert!(one(&rq, "sendmail.mc", 23).reason.contains("speaks no TLS"));
    let cert = one(&rr, "sendmail.mc", 23);
    assert!(cert.reason.contains("control/servercert.pem") && cert.needs_decision);
    let key = one(&rr, "sendmail.mc", 24);
    assert!(key.reason.contains("Keys are not copied silently"));
    assert!(one(&rr, "sendmail.mc", 25)
        .reason
        .contains("control/smtpauth"));
    assert!(one(&rq, "sendmail.mc", 25)
        .reason
        .contains("qmail 1.03 has no equivalent"));
    assert!(one(&rr, "sendmail.mc", 16)
        .reason
        .contains("control/smtpsize makes the reference MTA announce it as SIZE"));
    // The reference target switches SIZE on; netqmail has no such file.
    assert!(fr.contains_key("control/smtpsize"), "{:?}", fr.keys());
    // No key, no certificate, no smtpauth is ever written.
    assert!(fr
        .keys()
        .all(|k| !k.contains("servercert") && !k.contains("smtpauth")));
    // Bounces need no bouncesaying on the reference MTA.
    assert_eq!(
        fr["alias/.qmail-shop:example:net-old"],
        "|echo 'This address is no longer in use'; exit 100\n"
    );
    assert_eq!(fq["control/rcpthosts"], fr["control/rcpthosts"]);
}

#[test]
fn custom_rulesets_in_a_cf_are_reported_with_their_lines() {
    let (_, r) = run(etc_mail(true).path(), Target::Netqmail);
    let x = one(&r, "sendmail.cf", 62);
    assert_eq!(
        x.reason,
        "sendmail ran the custom rewriting rules of ruleset `Local_check_rcpt` (lines 62-64, 1 \
         rule(s)); qmail 1.03 has no equivalent"
    );
    assert!(
        !one(&r, "sendmail.cf", 58).needs_decision,
        "m4's own ruleset"
    );
}

#[test]
fn the_cf_wins_when_both_exist() {
    let d = etc_mail(true);
    std::fs::copy(
        fixtures().join("mail/sendmail.mc"),
        d.path().join("sendmail.mc"),
    )
    .unwrap();
    let (_, r) = run(d.path(), Target::Netqmail);
    let mc = one(&r, "sendmail.mc", 0);
    assert!(
        mc.reason.contains("sendmail.cf") && mc.needs_decision,
        "mc copied later is newer"
    );
    assert!(r.findings.iter().any(|f| f.file.ends_with("sendmail.cf")));
}

#[test]
fn only_compiled_maps_are_explained() {
    let d = etc_mail(false);
    std::fs::remove_file(d.path().join("virtusertable")).unwrap();
    std::fs::write(d.path().join("virtusertable.db"), b"\0\0binary").unwrap();
    let (f, r) = run(d.path(), Target::Netqmail);
    let x = one(&r, "sendmail.mc", 32);
    assert!(x.needs_decision);
    assert!(
        x.reason.contains(&format!(
            "makemap -u hash {0}/virtusertable > {0}/virtusertable",
            d.path().display()
        )),
        "{x:?}"
    );
    assert!(!f.contains_key("alias/.qmail-shop:example:net-info"));
}

fn migrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn non_sendmail_input_is_refused_naming_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    std::fs::write(
        d.path().join("sendmail.cf"),
        "# Postfix main.cf\nmyhostname = mail.example.org\n",
    )
    .unwrap();
    let o = migrate(&[
        "config",
        "--from",
        d.path().to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(100));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}/sendmail.cf:2: refused: `myhostname = mail.example.org` is not sendmail.cf syntax",
            d.path().display()
        )),
        "{err}"
    );
    assert!(!out.exists());

    std::fs::remove_file(d.path().join("sendmail.cf")).unwrap();
    std::fs::write(
        d.path().join("sendmail.mc"),
        "divert(0)dnl\nOSTYPE(`linux')dnl\nrelayhost = [smtp.example]\n",
    )
    .unwrap();
    let o = migrate(&[
        "config",
        "--from",
        d.path().to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(100));
    assert!(text(&o.stderr).contains("sendmail.mc:3: refused: `relayhost = [smtp.example]`"));

    // A map that is really an aliases file.
    let m = etc_mail(false);
    std::fs::write(m.path().join("access"), "postmaster: root\nabuse: root\n").unwrap();
    let o = migrate(&[
        "config",
        "--from",
        m.path().to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(100));
    assert!(
        text(&o.stderr).contains("access:1: refused:"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn cli_writes_is_idempotent_diffs_and_reports_json() {
    let m = etc_mail(false);
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("q");
    let base = [
        "config",
        "--from",
        m.path().to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ];
    let o = migrate(&base);
    assert_eq!(
        o.status.code(),
        Some(1),
        "decisions needed: {}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(to.join("control/databytes")).unwrap(),
        "10485760\n"
    );
    assert_eq!(
        migrate(&base).status.code(),
        Some(1),
        "second run changes nothing"
    );
    std::fs::write(
        m.path().join("mailertable"),
        "partner.example\tesmtp:[mx2.partner.example]\n",
    )
    .unwrap();
    let mut dry = base.to_vec();
    dry.push("--dry-run");
    let o = migrate(&dry);
    assert!(
        text(&o.stdout).contains(
            "-.partner.example:gw.partner.example\n+partner.example:mx2.partner.example\n"
        ),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(
        migrate(&base).status.code(),
        Some(100),
        "differs: needs --force"
    );
    let mut json = base.to_vec();
    json.extend(["--json", "--force"]);
    let o = migrate(&json);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["needs_decision"], true);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(
            |f| f["construct"] == "`define(`confMAX_MESSAGE_SIZE', `10485760')`"
                && f["line"] == 16
                && f["action"] == "converted_with_change"
        ));
}

#[test]
fn the_m4_oracle_builds_a_cf_that_converts_the_same() {
    let cfm4 = Path::new("/usr/share/sendmail/cf/m4/cf.m4");
    if !cfm4.exists() || !Path::new("/usr/bin/m4").exists() {
        eprintln!("skipped: m4 and sendmail-cf are not installed (ci/setup installs them)");
        return;
    }
    let m = etc_mail(false);
    let cf = Command::new("m4")
        .arg(fixtures().join("mail/sendmail.mc"))
        .output()
        .unwrap();
    assert!(cf.status.success(), "{}", text(&cf.stderr));
    let g = etc_mail(true);
    std::fs::write(g.path().join("sendmail.cf"), &cf.stdout).unwrap();
    let (from_mc, _) = run(m.path(), Target::Netqmail);
    let (from_cf, r) = run(g.path(), Target::Netqmail);
    assert_eq!(from_mc, from_cf);
    // Every line of the generated cf that is a construct got a finding.
    assert!(
        r.findings
            .iter()
            .filter(|f| f.file.ends_with("sendmail.cf"))
            .count()
            > 100
    );
}

#[test]
fn site_converts_a_whole_fake_host_into_one_report() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc/mail")).unwrap();
    for e in std::fs::read_dir(fixtures().join("mail")).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "aliases" {
            std::fs::copy(e.path(), r.join("etc/mail").join(e.file_name())).unwrap();
        }
    }
    std::fs::write(
        r.join("etc/aliases"),
        "postmaster: root\nroot: alice\nstaff: alice, bob@example.org\n",
    )
    .unwrap();
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    for (i, u) in ["alice", "bob"].iter().enumerate() {
        let uid = 3001 + i as u32;
        let home = r.join("home").join(u);
        std::fs::create_dir_all(&home).unwrap();
        chown(&home, Some(uid), Some(uid)).unwrap();
        passwd.push_str(&format!("{u}:x:{uid}:{uid}::/home/{u}:/bin/sh\n"));
    }
    std::fs::write(r.join("etc/passwd"), passwd).unwrap();
    std::fs::write(r.join("etc/shells"), "/bin/sh\n").unwrap();
    let fwd = r.join("home/alice/.forward");
    std::fs::write(&fwd, "\\alice, carol@example.net\n").unwrap();
    chown(&fwd, Some(3001), Some(3001)).unwrap();
    // The config names /etc/mail/aliases: make it the one at /etc/aliases.
    std::fs::rename(r.join("etc/aliases"), r.join("etc/mail/aliases")).unwrap();

    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("q");
    let o = migrate(&[
        "site",
        "--from",
        r.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let read = |p: &str| std::fs::read_to_string(to.join(p)).unwrap();
    assert_eq!(read("control/me"), "mail.example.org\n");
    assert_eq!(
        read("alias/.qmail-staff"),
        "&alice@mail.example.org\n&bob@mail.example.org\n"
    );
    assert_eq!(
        read("alias/.qmail-shop:example:net-info"),
        "&alice@mail.example.org\n"
    );
    assert_eq!(
        read("home/alice/.qmail"),
        "./Maildir/\n&carol@example.net\n"
    );
    assert!(
        !r.join("home/alice/.qmail").exists(),
        "nothing written under --from"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect();
    for end in [
        "etc/mail/sendmail.mc",
        "etc/mail/access",
        "etc/mail/aliases",
    ] {
        assert!(files.iter().any(|f| f.ends_with(end)), "{end} in {files:?}");
    }
}
