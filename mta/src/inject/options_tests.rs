//! Command-line parsing (spec §8.1, §8.6).

use super::*;

fn v(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

#[test]
fn getopt_clusters_attached_and_separate_arguments() {
    let a = v(&["-ti", "-fa@b", "-F", "Name", "-oi", "--", "-x", "r"]);
    let mut g = Getopt::new("p", &a, b"tif:F:o:");
    let got: Vec<Opt> = g.by_ref().collect();
    assert_eq!(
        got,
        vec![
            Opt::Flag(b't', None),
            Opt::Flag(b'i', None),
            Opt::Flag(b'f', Some(b"a@b".to_vec())),
            Opt::Flag(b'F', Some(b"Name".to_vec())),
            Opt::Flag(b'o', Some(b"i".to_vec())),
        ]
    );
    assert_eq!(g.rest(), &v(&["-x", "r"])[..]);
}

#[test]
fn getopt_stops_at_first_word_and_lone_dash() {
    let a = v(&["r", "-t"]);
    let mut g = Getopt::new("p", &a, b"t");
    assert_eq!(g.next(), None);
    assert_eq!(g.rest(), &a[..]);
    let a = v(&["-", "x"]);
    let mut g = Getopt::new("p", &a, b"t");
    assert_eq!(g.next(), None);
    assert_eq!(g.rest().len(), 2);
}

#[test]
fn getopt_errors() {
    let a = v(&["-z"]);
    assert_eq!(
        Getopt::new("sendmail", &a, b"t").next(),
        Some(Opt::Bad("sendmail: illegal option -- z".into()))
    );
    let a = v(&["-f"]);
    assert_eq!(
        Getopt::new("qmail-inject", &a, b"f:").next(),
        Some(Opt::Bad(
            "qmail-inject: option requires an argument -- f".into()
        ))
    );
}

#[test]
fn inject_recipient_strategies() {
    let o = inject(&v(&["joe"])).unwrap();
    assert_eq!(o.recipients, Recipients::Args);
    let o = inject(&v(&[])).unwrap();
    assert_eq!(o.recipients, Recipients::Header);
    assert_eq!(
        inject(&v(&["-h", "joe"])).unwrap().recipients,
        Recipients::Header
    );
    assert_eq!(inject(&v(&["-H"])).unwrap().recipients, Recipients::Both);
    assert_eq!(inject(&v(&["-a"])).unwrap().recipients, Recipients::Args);
    assert_eq!(
        inject(&v(&["-a", "-A", "x"])).unwrap().recipients,
        Recipients::Args
    );
    let o = inject(&v(&["-n", "-f", "s@x", "-fother", "--", "-r"])).unwrap();
    assert!(!o.queue);
    assert_eq!(o.senders, v(&["s@x", "other"]));
    assert_eq!(o.args, v(&["-r"]));
    assert!(inject(&v(&["-n", "-N"])).unwrap().queue);
    assert!(matches!(
        inject(&v(&["-q"])),
        Err(crate::inject::InjectError::Usage(_))
    ));
}

#[test]
fn sendmail_shapes() {
    assert_eq!(
        sendmail("sendmail", &v(&["-t", "-i"])),
        SendmailAction::Inject {
            headers: true,
            sender: None,
            name: None,
            args: vec![]
        }
    );
    assert_eq!(
        sendmail(
            "sendmail",
            &v(&["-oi", "-oem", "-f", "x@y", "-FName", "user"])
        ),
        SendmailAction::Inject {
            headers: false,
            sender: Some(b"x@y".to_vec()),
            name: Some(b"Name".to_vec()),
            args: v(&["user"])
        }
    );
    let ignored = v(&[
        "-v",
        "-x",
        "-m",
        "-e",
        "x",
        "-B8BITMIME",
        "-p",
        "smtp:h",
        "-Efoo",
        "-Jbar",
        "-bm",
        "r",
    ]);
    assert!(matches!(
        sendmail("sendmail", &ignored),
        SendmailAction::Inject { ref args, .. } if *args == v(&["r"])
    ));
    assert_eq!(sendmail("sendmail", &v(&["-bp"])), SendmailAction::Mailq);
    assert_eq!(
        sendmail("sendmail", &v(&["-bs"])),
        SendmailAction::Smtpd { name: None }
    );
    assert_eq!(
        sendmail("sendmail", &v(&["-bx"])),
        SendmailAction::Usage(None)
    );
    assert_eq!(
        sendmail("sendmail", &v(&["-q"])),
        SendmailAction::Usage(Some("sendmail: illegal option -- q".into()))
    );
    assert_eq!(sendmail("mailq", &v(&[])), SendmailAction::Mailq);
    assert_eq!(sendmail("newaliases", &v(&[])), SendmailAction::NewAliases);
}
