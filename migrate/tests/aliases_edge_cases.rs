//! Every aliases edge case of spec §5 (#1–#60, #75, #76) and every trap of
//! spec §3.2 (F1–F38): the conversion sendmail's observed behaviour asks
//! for, and the report line the user sees.

mod common;
use common::{env, has, qmail, specific};

const ME: &str = "mail.example.org";

fn fwd(u: &str) -> String {
    format!("&{u}@{ME}\n")
}

/// Converts `text`, checks `.qmail-<file>` (None = not written) and the
/// findings `(line, construct part, needs_decision)`; with no findings
/// listed, none but the table-wide `+detail` note may appear.
fn check(text: &str, file: &str, want: Option<&str>, findings: &[(usize, &str, bool)]) {
    let e = env();
    let (files, r) = qmail(&e, text);
    assert_eq!(
        files.get(&format!(".qmail-{file}")).map(String::as_str),
        want,
        "input {text:?}: {files:#?}"
    );
    for &(line, c, d) in findings {
        has(&r, line, c, d);
    }
    if findings.is_empty() {
        assert!(
            specific(&r).is_empty(),
            "input {text:?}: {:#?}",
            specific(&r)
        );
    }
}

#[test]
fn e01_to_e05_plain_entries() {
    let b = fwd("bob");
    for t in ["a: bob\n", "a:bob\n", "a : bob\n", "A: bob\n"] {
        check(t, "a", Some(&b), &[]);
    }
    check(
        "a: bob, carol\n",
        "a",
        Some(&(fwd("bob") + &fwd("carol"))),
        &[],
    );
}

#[test]
fn e06_f07_blank_inside_an_address_is_one_bogus_address() {
    check("a: bob carol\n", "a", None, &[(1, "`bob carol`", true)]);
}

#[test]
fn e07_e08_e09_f05_continuations() {
    let bc = fwd("bob") + &fwd("carol");
    check("a: bob,\n\tcarol\n", "a", Some(&bc), &[]);
    check("a: bob,\n carol\n", "a", Some(&bc), &[]);
    check("a: bob, \\\ncarol\n", "a", Some(&bc), &[]);
}

#[test]
fn e10_f06_indent_after_empty_line_is_skipped() {
    check(
        "a: bob,\n\n\tcarol\n",
        "a",
        Some(&fwd("bob")),
        &[(3, "`carol`", false)],
    );
}

#[test]
fn e11_f35_indent_after_comment_belongs_to_comment() {
    check(
        "a: bob,\n# c\n\tcarol\n",
        "a",
        Some(&fwd("bob")),
        &[(3, "indented line after a `#` comment", false)],
    );
}

#[test]
fn e12_e13_f08_comments_inside_entries_are_addresses() {
    check(
        "a: bob,\n\t# c\n\tcarol\n",
        "a",
        Some(&fwd("bob")),
        &[(1, "`# c", true)],
    );
    check(
        "a: bob # comment\n",
        "a",
        None,
        &[(1, "`bob # comment`", true)],
    );
}

#[test]
fn e14_to_e17_f09_programs() {
    check(
        "a: \"|/usr/bin/prog x y\"\n",
        "a",
        Some("|/usr/bin/prog x y\n"),
        &[],
    );
    check(
        "a: |/usr/bin/prog x\n",
        "a",
        Some("|/usr/bin/prog.x\n"),
        &[(1, "`|/usr/bin/prog x`", true)],
    );
    check(
        "a: \"|/usr/bin/prog a,b\"\n",
        "a",
        Some("|/usr/bin/prog a,b\n"),
        &[],
    );
    check(
        "a: |/usr/bin/prog a,b\n",
        "a",
        Some(&("|/usr/bin/prog.a\n".to_string() + &fwd("b"))),
        &[(1, "`|/usr/bin/prog a`", true), (1, "`b` in alias", false)],
    );
}

#[test]
fn e18_f34_exit_67_is_soft_under_qmail() {
    check(
        "a: \"|exit 67\"\n",
        "a",
        Some("|exit 67\n"),
        &[(1, "exit 67", true)],
    );
}

#[test]
fn e19_e20_files() {
    check("a: /dev/null\n", "a", Some("|cat >/dev/null\n"), &[]);
    check(
        "a: \"/var/tmp/with space\"\n",
        "a",
        Some("/var/tmp/with space\n"),
        &[],
    );
}

#[test]
fn e21_e22_e23_f15_f16_f36_includes_are_inlined() {
    let e = env();
    let list = e.dir.path().join("list");
    std::fs::write(&list, "bob\n# x\ncarol, dave\n\n  alice\n").unwrap();
    let want = fwd("bob") + &fwd("carol") + &fwd("dave") + &fwd("alice");
    for form in [":include:{}", ":include: {}", "\":include:{}\""] {
        let t = format!("a: {}\n", form.replace("{}", &list.display().to_string()));
        let (files, r) = qmail(&e, &t);
        assert_eq!(files[".qmail-a"], want, "{t}");
        let f = has(&r, 1, ":include:", false);
        assert!(f.reason.contains("4 target(s) were copied in now"), "{f:?}");
    }
}

#[test]
fn e24_missing_include_bounced() {
    check(
        "a: :include:/nonexistent/list\n",
        "a",
        None,
        &[(1, "`:include:/nonexistent/list`", true)],
    );
}

#[test]
fn e25_f14_backslash_user() {
    check("a: \\alice\n", "a", Some(&fwd("alice")), &[]);
}

#[test]
fn e26_e45_f26_self_reference_to_a_non_account() {
    check("a: a, bob\n", "a", Some(&fwd("bob")), &[(1, "`a`", true)]);
    check("a: a\n", "a", None, &[(1, "`a`", true)]);
}

#[test]
fn e27_e75_f28_alias_named_like_an_account() {
    check(
        "alice: alice, bob\n",
        "alice",
        Some(&(fwd("alice") + &fwd("bob"))),
        &[(1, "alias `alice`", true)],
    );
    let e = env();
    let (_, r) = qmail(&e, "mail: root\n");
    assert!(has(&r, 1, "alias `mail`", true)
        .reason
        .contains("account `mail` takes the mail first"));
}

#[test]
fn e28_f25_loops() {
    let (files, r) = qmail(&env(), "x: y\ny: x\n");
    assert_eq!(files[".qmail-x"], fwd("y"));
    assert!(has(&r, 1, "alias `x`", true).reason.contains("form a loop"));
    has(&r, 2, "alias `y`", true);
}

#[test]
fn e29_f23_chains_deeper_than_ten() {
    let chain = |n: usize| {
        (1..=n)
            .map(|i| format!("c{i}: c{}\n", i + 1))
            .collect::<String>()
            + &format!("c{}: bob\n", n + 1)
    };
    let (_, r) = qmail(&env(), &chain(10));
    assert!(has(&r, 1, "alias `c1`", true)
        .reason
        .contains("11 aliases deep"));
    let (_, r) = qmail(&env(), &chain(9));
    assert!(
        r.findings.iter().all(|f| !f.reason.contains("deep")),
        "10 levels work"
    );
}

#[test]
fn e30_e42_f11_local_names_are_local() {
    check("a: carol@localhost\n", "a", Some(&fwd("carol")), &[]);
    check("a: bob@example.org\n", "a", Some(&fwd("bob")), &[]);
}

#[test]
fn e31_e43_f22_case_and_quotes() {
    check("a: Bob\n", "a", Some(&fwd("bob")), &[]);
    check("a: \"bob\"\n", "a", Some(&fwd("bob")), &[]);
}

#[test]
fn e32_e33_e35_remote_forms() {
    for t in [
        "<bob@example.net>",
        "Bob Smith <bob@example.net>",
        "bob@example.net (Bob)",
    ] {
        check(&format!("a: {t}\n"), "a", Some("&bob@example.net\n"), &[]);
    }
    check(
        "a: \"bob smith\"@example.net\n",
        "a",
        Some("&\"bob smith\"@example.net\n"),
        &[],
    );
    check("a: bob@[192.0.2.1]\n", "a", Some("&bob@[192.0.2.1]\n"), &[]);
}

#[test]
fn e34_duplicates_within_an_entry_collapse() {
    check(
        "a: bob, bob, bob@mail.example.org\n",
        "a",
        Some(&fwd("bob")),
        &[],
    );
}

#[test]
fn e36_f02_bar_before_quote_is_a_program() {
    check(
        "a: |\"/usr/bin/prog x\"\n",
        "a",
        Some("|/usr/bin/prog x\n"),
        &[],
    );
}

#[test]
fn e37_e38_e39_f04_f12_f19_rejected_entries() {
    check("a:\nb: bob\n", "a", None, &[(1, "entry `a`", false)]);
    let e = env();
    let (files, r) = qmail(&e, "a bob\nb: bob\nc: bob\n");
    assert!(!files.contains_key(".qmail-a"));
    assert!(has(&r, 1, "entry `a bob`", false)
        .reason
        .contains("missing colon"));
    check("a: bob@\n", "a", None, &[(1, "`bob@`", true)]);
}

#[test]
fn e40_f13_backslash_does_not_protect_a_comma() {
    check(
        "a: bob\\,carol\n",
        "a",
        Some(&(fwd("bob") + &fwd("carol"))),
        &[],
    );
}

#[test]
fn e41_unknown_user_bounces_both_ways() {
    check(
        "a: nosuchuser\n",
        "a",
        Some(&fwd("nosuchuser")),
        &[(1, "`nosuchuser` in alias `a`", false)],
    );
}

#[test]
fn e44_plus_detail_target_goes_to_the_account() {
    check(
        "a: alice+ext\n",
        "a",
        Some(&fwd("alice")),
        &[(1, "`alice+ext`", false)],
    );
}

#[test]
fn e46_f38_last_duplicate_wins() {
    check(
        "dup: bob\ndup: carol\n",
        "dup",
        Some(&fwd("carol")),
        &[(1, "duplicate alias `dup`", false)],
    );
}

#[test]
fn e47_e48_e49_e50_e51_names() {
    check(
        "PostMaster: carol\n",
        "postmaster",
        Some(&fwd("carol")),
        &[],
    );
    check(
        "a@mail.example.org: bob\n",
        "a",
        Some(&fwd("bob")),
        &[(1, "`a@mail.example.org`", false)],
    );
    check(
        "a@other.example: bob\nb: c\n",
        "a",
        None,
        &[(1, "entry `a@other.example`", false)],
    );
    check("\"a b\": bob\n", "a b", Some(&fwd("bob")), &[]);
    check("a+tag: bob\n", "a+tag", Some(&fwd("bob")), &[]);
    check("x.y: bob\n", "x:y", Some(&fwd("bob")), &[]);
}

#[test]
fn e52_f31_plus_detail_is_reported_once() {
    let (_, r) = qmail(&env(), "list: bob\nother: carol\n");
    let f: Vec<_> = r.about("`+detail` addressing").collect();
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].text(),
        "aliases:1: `+detail` addressing: sendmail delivered NAME+detail to alias NAME when no \
         NAME+detail alias existed; qmail 1.03 has no equivalent (its extension separator is `-`); \
         not converted."
    );
}

#[test]
fn e53_e54_f27_owner_lists() {
    let e = env();
    let (files, r) = qmail(&e, "list: bob, carol\nowner-list: dave\n");
    assert_eq!(files[".qmail-list-owner"], fwd("dave"));
    assert_eq!(files[".qmail-owner-list"], fwd("dave"));
    assert!(has(&r, 2, "`owner-list`", false)
        .reason
        .contains("envelope sender `dave`"));
    let (_, r) = qmail(&e, "list2: bob\nowner-list2: alice, bob\n");
    assert!(has(&r, 2, "`owner-list2`", false)
        .reason
        .contains("envelope sender `owner-list2`"));
    let (files, r) = common::qmail_form(
        &e,
        "list: bob\nowner-list: dave\n",
        migrate::qmail_out::OwnerForm::Prefix,
    );
    assert!(!files.contains_key(".qmail-list-owner"));
    assert!(has(&r, 2, "`owner-list`", false)
        .reason
        .contains("prefix form"));
}

#[test]
fn e55_e56_f10_error_is_a_group_label() {
    check(
        "a: error:5.1.1:550 No such user\n",
        "a",
        Some("|bouncesaying 'Sorry, no mailbox here by that name. (#5.1.1)'\n"),
        &[(1, "`error:5.1.1:550 No such user`", false)],
    );
    check(
        "a: error:alice\n",
        "a",
        Some(&fwd("alice")),
        &[(1, "`error:alice`", false)],
    );
}

#[test]
fn e57_crlf_with_continuation() {
    check(
        "a: bob,\r\n\tcarol\r\n",
        "a",
        Some(&(fwd("bob") + &fwd("carol"))),
        &[],
    );
}

#[test]
fn e58_f32_too_long_entry_stays_dropped() {
    let t = format!("big: {}\n", vec!["bob"; 3000].join(", "));
    check(&t, "big", None, &[(1, "entry `big`", false)]);
}

#[test]
fn e59_e60_f03_space_after_the_bar() {
    check(
        "a: \"| /usr/bin/msgs -s\"\n",
        "a",
        Some("|/usr/bin/msgs -s\n"),
        &[],
    );
    check("a: | /usr/bin/foo\n", "a", Some("|/usr/bin/foo\n"), &[]);
}

#[test]
fn e76_f29_name_ext_of_an_account() {
    check(
        "bob-request: fred\n",
        "bob-request",
        Some(&fwd("fred")),
        &[(1, "alias `bob-request`", true)],
    );
}

#[test]
fn f30_root_never_reaches_an_account() {
    check("root: bob\n", "root", Some(&fwd("bob")), &[]);
}

#[test]
fn f37_virtusertable_and_shell_aliases_are_refused() {
    let e = env();
    let err =
        migrate::aliases::convert(&e.site, "/etc/aliases", b"@example.com user@example.com\n")
            .unwrap_err();
    assert_eq!((err.file.as_str(), err.line), ("/etc/aliases", 1));
    let err = migrate::aliases::convert(&e.site, "a", b"ll='ls -l'\n").unwrap_err();
    assert!(err.to_string().contains("shell alias"));
}

#[test]
fn f01_f33_fastforward_output_leaves_files_to_qmail() {
    let e = env();
    let conv = migrate::aliases::convert(
        &e.site,
        "aliases",
        b"a: /var/log/a.mbox, bob\nb: \"|prog\"\n",
    )
    .unwrap();
    let mut r = conv.report.clone();
    let out = migrate::fastforward_out::build(&e.site, &conv, false, &mut r).unwrap();
    assert!(!out.source.contains("a:"), "{}", out.source);
    assert!(has(&r, 1, "alias `a`", true)
        .reason
        .contains("cannot deliver to files"));
    assert!(has(&r, 2, "programs of alias `b`", false)
        .reason
        .contains("From_"));
    let mut r = conv.report.clone();
    migrate::fastforward_out::build(&e.site, &conv, true, &mut r).unwrap();
    has(&r, 1, "alias `a`", false);
}

/// F24: a member reached through two lists gets one copy from sendmail and
/// one per list from qmail: converted, and said in the report.
#[test]
fn f24_member_reached_through_two_lists() {
    let text = "l1: carol, dave\nl2: carol, erin\nall: l1, l2\n";
    let (files, r) = qmail(&env(), text);
    assert!(files.contains_key(".qmail-all"), "{files:#?}");
    let f = has(&r, 3, "alias `all`", false);
    assert!(
        f.reason
            .contains("`carol` is reached both through `l1` and through `l2`"),
        "{}",
        f.reason
    );
    // A list reached once is not reported.
    let (_, r) = qmail(&env(), "l1: carol, dave\nall: l1, erin\n");
    assert!(specific(&r)
        .iter()
        .all(|f| !f.reason.contains("is reached both")));
}
