//! OpenSMTPD 6.8.0p2 from Debian's package.
//!
//! `smtpd -d -f DIR/smtpd.conf`. Its spool (/var/spool/smtpd), control
//! socket (/run/smtpd.sock), chroot (/var/lib/opensmtpd/empty) and
//! delivery helpers (/usr/libexec/opensmtpd/mail.maildir) are compiled-in
//! paths, so it runs in a private mount namespace (`unshare -m`): DIR/spool
//! is bound on /var/spool (the spool is on the disk under test), DIR/run on
//! /run, and read-only overlays add the package's /usr/libexec and
//! /var/lib trees. Nothing outside the namespace changes.
//!
//! It delivers to DIR/mail/Maildir as `mtabench` (an alias table maps the
//! recipient `user` to that account) and relays `relay.example` to the
//! sink. Its SMTP listener calls `listen()` with a backlog of 5, which
//! under 20 concurrent senders drops SYNs that the client retransmits a
//! second later; `raised_backlog` preloads ci/bench's shim that raises
//! every listen() backlog to 1024, to show both.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{
    chown_to, io_err, log_file, write, Env, Instance, Kind, Setup, StartError, RELAY_DOMAIN,
};

fn config(setup: &Setup, dir: &Path) -> String {
    let mut s = format!(
        "table aliases {{ \"user\" = \"mtabench\" }}
listen on 127.0.0.1 port {port}
action \"local\" maildir \"{d}/mail/Maildir\" alias <aliases>
match from any for domain \"localhost\" action \"local\"
",
        port = setup.port,
        d = dir.display()
    );
    if let Some(sink) = setup.sink {
        s.push_str(&format!(
            "action \"relay\" relay host smtp://127.0.0.1:{sink}
match from any for domain \"{RELAY_DOMAIN}\" action \"relay\"
"
        ));
    }
    s
}

pub fn start(
    env: &Env,
    setup: &Setup,
    dir: &Path,
    raised_backlog: bool,
) -> Result<Instance, StartError> {
    let smtpd = env.peer("usr/sbin/smtpd");
    if !smtpd.exists() {
        return Err(StartError::Unavailable(
            "opensmtpd",
            format!("{} missing (run ci/bench)", smtpd.display()),
        ));
    }
    let kind = if raised_backlog {
        Kind::OpensmtpdBacklog
    } else {
        Kind::Opensmtpd
    };
    let preload = if raised_backlog {
        match &env.backlog_shim {
            Some(p) if p.exists() => format!("export LD_PRELOAD={}\n", p.display()),
            _ => {
                return Err(StartError::Unavailable(
                    "opensmtpd-backlog1024",
                    "the listen-backlog shim was not built (ci/bench builds it with gcc)".into(),
                ))
            }
        }
    } else {
        String::new()
    };
    for sub in ["spool", "run", "mail"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io_err(format!("mkdir {sub}")))?;
    }
    chown_to(&dir.join("mail"), "mtabench")?;
    let conf = dir.join("smtpd.conf");
    write(&conf, &config(setup, dir))?;
    let script = format!(
        "set -e
mount -t overlay overlay -o lowerdir={root}/usr/libexec:/usr/libexec /usr/libexec
mount -t overlay overlay -o lowerdir={root}/var/lib:/var/lib /var/lib
mount --bind {d}/spool /var/spool
mount --bind {d}/run /run
{preload}exec {smtpd} -d -f {conf}",
        root = env.peers.display(),
        d = dir.display(),
        smtpd = smtpd.display(),
        conf = conf.display(),
    );
    let log = log_file(dir)?;
    let child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io_err("log"))?)
        .stderr(log)
        .spawn()
        .map_err(io_err("run unshare (opensmtpd)"))?;
    Ok(Instance {
        kind,
        child,
        port: setup.port,
        maildir_new: dir.join("mail/Maildir/new"),
        dir: dir.to_path_buf(),
        injector: None,
    })
}
