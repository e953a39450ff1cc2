//! The sendmail wrapper (spec §8.6), so that cron, PHP's `mail()`, mutt
//! and friends work unchanged: `sendmail -t -i`, `sendmail -oi -f x user`,
//! `sendmail -bs` (SMTP on stdio), `sendmail -bp` and `mailq`.
//!
//! qmail's wrapper execs `bin/qmail-inject`, `bin/qmail-smtpd` or
//! `bin/qmail-qread`; ours runs the same library code in this process,
//! handing qmail-inject an adjusted copy of the environment instead of
//! changing its own.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use super::env::Vars;
use super::options::{self, SendmailAction, SENDMAIL_USAGE};
use crate::home::Home;
use crate::smtpd::controls::Peer;
use crate::smtpd::io::{run_stdio_with, QmailQueue};

/// What netqmail's sendmail does to the environment for `-f sender`: the
/// default From becomes the sender (user and host split at the last `@`),
/// without a personal name.
pub fn apply_sender(vars: &mut Vars, sender: &[u8]) {
    for v in ["QMAILNAME", "MAILNAME", "NAME", "QMAILHOST", "MAILHOST"] {
        vars.unset(v);
    }
    match sender.iter().rposition(|&c| c == b'@') {
        Some(at) => {
            vars.set("QMAILHOST", &sender[at + 1..]);
            vars.set("QMAILUSER", &sender[..at]);
        }
        None => vars.set("QMAILUSER", sender),
    }
}

/// qmail-inject's arguments for a sendmail command line.
pub fn inject_args(headers: bool, sender: Option<&[u8]>, args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut v = vec![if headers {
        b"-H".to_vec()
    } else {
        b"-a".to_vec()
    }];
    if let Some(s) = sender {
        v.push(b"-f".to_vec());
        v.push(s.to_vec());
    }
    v.push(b"--".to_vec());
    v.extend(args.iter().cloned());
    v
}

/// The connection facts `sendmail -bs` gives qmail-smtpd (spec §7.8):
/// the environment's if `PROTO` is set, else a trusted local client.
pub fn bs_peer(vars: &Vars) -> Peer {
    if vars.get("PROTO").is_some() {
        return Peer::from_vars(|k| vars.get(k).map(<[u8]>::to_vec));
    }
    let preset = Vars::from_pairs([
        ("RELAYCLIENT", ""),
        ("DATABYTES", "0"),
        ("PROTO", "TCP"),
        ("TCPLOCALIP", "127.0.0.1"),
        ("TCPLOCALHOST", "localhost"),
        ("TCPREMOTEIP", "127.0.0.1"),
        ("TCPREMOTEHOST", "localhost"),
        ("TCPREMOTEINFO", "sendmail-bs"),
    ]);
    Peer::from_vars(|k| preset.get(k).map(<[u8]>::to_vec))
}

/// `mailq`, `sendmail -bp`: qmail-qread's listing of `home`'s queue.
pub fn mailq(home: &Home) -> i32 {
    let mut out = Vec::new();
    let code = match crate::admin::qread::qread(&home.queue(), &mut out) {
        Ok(()) => 0,
        Err(e) => {
            out.extend_from_slice(format!("{e}\n").as_bytes());
            111
        }
    };
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return 111;
    }
    code
}

fn fatal(msg: &str, code: i32) -> i32 {
    let _ = writeln!(std::io::stderr(), "sendmail: fatal: {msg}");
    code
}

/// The wrapper's process: `argv0` decides between sendmail and mailq.
/// Returns the exit code.
pub fn main(argv0: &std::ffi::OsStr, args: &[Vec<u8>], mut vars: Vars, home: &Home) -> i32 {
    // Like qmail's, everything runs in the home; make the root absolute
    // first so that a relative QMAILHOME still names it afterwards.
    let home = Home::new(
        std::path::absolute(&home.root).unwrap_or_else(|_| home.root.clone()),
        home.mode,
    );
    if std::env::set_current_dir(&home.root).is_err() {
        return fatal("unable to switch to qmail home directory", 111);
    }
    let prog = std::path::Path::new(argv0)
        .file_name()
        .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned())
        .unwrap_or_default();
    match options::sendmail(&prog, args) {
        SendmailAction::Usage(m) => {
            let mut e = std::io::stderr();
            if let Some(m) = m {
                let _ = writeln!(e, "{m}");
            }
            let _ = writeln!(e, "{SENDMAIL_USAGE}");
            100
        }
        SendmailAction::Mailq => mailq(&home),
        SendmailAction::NewAliases => fatal("please use fastforward/newaliases instead", 100),
        SendmailAction::Smtpd { .. } => run_stdio_with(
            &home,
            bs_peer(&vars),
            &mut QmailQueue::with_role(home.root.clone(), None),
        ),
        SendmailAction::Inject {
            headers,
            sender,
            name,
            args,
        } => {
            if let Some(n) = name {
                vars.set("MAILNAME", &n);
            }
            if let Some(s) = &sender {
                apply_sender(&mut vars, s);
            }
            let qargs = inject_args(headers, sender.as_deref(), &args);
            super::run::main(&qargs, &vars, &home)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_sets_default_from() {
        let mut v = Vars::from_pairs([("NAME", "N"), ("MAILHOST", "m"), ("USER", "u")]);
        apply_sender(&mut v, b"a@b@c.example");
        assert_eq!(v.get("QMAILUSER"), Some(&b"a@b"[..]));
        assert_eq!(v.get("QMAILHOST"), Some(&b"c.example"[..]));
        assert_eq!(v.get("NAME"), None);
        assert_eq!(v.get("MAILHOST"), None);
        let mut v = Vars::default();
        apply_sender(&mut v, b"local");
        assert_eq!(v.get("QMAILUSER"), Some(&b"local"[..]));
        assert_eq!(v.get("QMAILHOST"), None);
    }

    #[test]
    fn inject_argv() {
        let a = inject_args(true, Some(b"s@x"), &[b"-r".to_vec()]);
        assert_eq!(
            a,
            vec![
                b"-H".to_vec(),
                b"-f".to_vec(),
                b"s@x".to_vec(),
                b"--".to_vec(),
                b"-r".to_vec()
            ]
        );
        assert_eq!(
            inject_args(false, None, &[]),
            vec![b"-a".to_vec(), b"--".to_vec()]
        );
    }

    #[test]
    fn bs_presets_unless_proto() {
        let p = bs_peer(&Vars::from_pairs([
            ("RELAYCLIENT", "x"),
            ("TCPREMOTEIP", "10.0.0.1"),
        ]));
        assert_eq!(p.relay_client.as_deref(), Some(&b""[..]));
        assert_eq!(p.databytes, Some(0));
        assert_eq!(p.remote_ip, b"127.0.0.1");
        assert_eq!(p.remote_info.as_deref(), Some(&b"sendmail-bs"[..]));
        assert_eq!(p.local, b"localhost");
        let p = bs_peer(&Vars::from_pairs([
            ("PROTO", "TCP"),
            ("TCPREMOTEIP", "10.0.0.1"),
        ]));
        assert_eq!(p.remote_ip, b"10.0.0.1");
        assert_eq!(p.relay_client, None);
    }
}
