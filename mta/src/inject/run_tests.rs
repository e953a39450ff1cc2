//! qmail-inject's main in memory (`-n` mode; queueing is tested through
//! the binaries in `tests/inject_*.rs`).

use super::*;
use crate::home::Mode;

fn home() -> (tempfile::TempDir, Home) {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("control")).unwrap();
    std::fs::write(d.path().join("control/me"), "me.example\n").unwrap();
    let h = Home::new(d.path(), Mode::Unprivileged);
    (d, h)
}

fn print(args: &[&str], vars: &[(&str, &str)], input: &str) -> Result<String, InjectError> {
    let (_d, h) = home();
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let vars = Vars::from_pairs(vars.iter().copied());
    let inv = Inject {
        args: &args,
        vars: &vars,
        home: &h,
        now: 1704423845,
        pid: 77,
    };
    let mut out = Vec::new();
    run(&inv, &mut input.as_bytes(), &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn spec_example_with_me_as_every_default() {
    let out = print(&["-n", "joe"], &[("USER", "u")], "Subject: x\n\nbody\n").unwrap();
    assert_eq!(
        out,
        "Return-Path: <u@me.example>\n\
         Date: 5 Jan 2024 03:04:05 -0000\n\
         Message-ID: <20240105030405.77.qmail@me.example>\n\
         From: u@me.example\n\
         Cc: recipient list not shown: ;\n\
         Subject: x\n\
         \n\
         body\n"
    );
}

#[test]
fn missing_final_newline_is_added_and_no_body_stays_none() {
    let out = print(&["-n"], &[], "To: a@b.c\n\nno newline").unwrap();
    assert!(out.ends_with("To: a@b.c\n\nno newline\n"));
    let out = print(&["-n"], &[], "To: a@b.c").unwrap();
    assert!(out.ends_with("To: a@b.c\n"));
}

#[test]
fn mbox_line_and_content_length() {
    let out = print(
        &["-n"],
        &[],
        "From joe Fri\nContent-Length: 3\nTo: a@b.c\n\nx\n",
    )
    .unwrap();
    assert!(out.contains("MBOX-Line: From joe Fri\nTo: a@b.c\n\nx\n"));
    assert!(!out.contains("Content-Length"));
}

#[test]
fn env_overrides_controls() {
    let out = print(
        &["-n"],
        &[
            ("QMAILDEFAULTHOST", "dh"),
            ("QMAILDEFAULTDOMAIN", "dd.example"),
            ("QMAILIDHOST", "ids.example"),
            ("QMAILPLUSDOMAIN", "pd.example"),
            ("QMAILUSER", "u"),
        ],
        "To: joe, x@y+\n\n",
    )
    .unwrap();
    assert!(out.starts_with("Return-Path: <u@dh.dd.example>\n"), "{out}");
    assert!(out.contains("qmail@ids.example>\n"));
    assert!(out.contains("To: joe@dh.dd.example, x@y.pd.example\n"));
}

#[test]
fn fatal_errors() {
    assert!(matches!(
        print(&["-n", "-z"], &[], ""),
        Err(InjectError::Usage(_))
    ));
    assert!(matches!(
        print(&["-n", "a@(b"], &[], ""),
        Err(InjectError::ParseAddress(_))
    ));
    assert!(matches!(
        print(&["-n", "-f", "a@(b"], &[], ""),
        Err(InjectError::ParseLine(_))
    ));
    assert!(matches!(
        print(&["-n"], &[], "To: a>\n\n"),
        Err(InjectError::ParseLine(_))
    ));
}

#[test]
fn quoted_sender_in_return_path_line() {
    let out = print(&["-n", "-f", "a b@x.example", "r@x.example"], &[], "\n").unwrap();
    assert!(
        out.starts_with("Return-Path: <\"a b\"@x.example>\n"),
        "{out}"
    );
}
