//! Postfix 3.7 from Debian's package, unpacked under `Env::peers`.
//!
//! Runs as root as Postfix does, with a private `config_directory`,
//! `queue_directory` and `data_directory` under DIR and the package's
//! programs through `daemon_directory`/`command_directory`/
//! `shlib_directory`. `master -d` stays in the foreground so it roots the
//! tree. Postfix's own libraries come from `LD_LIBRARY_PATH`, which master
//! passes to its children only when `import_environment` names it.
//!
//! Delivery: the `virtual` agent to `DIR/mail/Maildir/` as `mtabench`
//! (Postfix's `local` agent would need a real home directory per user);
//! both fsync the delivered file. Relay: `relayhost = [127.0.0.1]:SINK`.
//! master.cf is Debian's with every service unchrooted (a chroot would
//! need copies of /etc files) and the smtpd port moved. Anvil's
//! per-client connection limit is off: every load comes from 127.0.0.1.

use std::path::Path;
use std::process::Stdio;

use super::{chown_to, io_err, log_file, write, Env, Injector, Instance, Kind, Setup, StartError};

/// master.cf: Debian's services (master.cf.dist), unchrooted; no tlsmgr,
/// no pipe(8) transports.
const SERVICES: &str = "\
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
";

fn main_cf(env: &Env, setup: &Setup, dir: &Path) -> Result<String, StartError> {
    let u = nix::unistd::User::from_name("mtabench")
        .ok()
        .flatten()
        .ok_or_else(|| {
            StartError::Unavailable(
                "postfix",
                "no account mtabench (ci/bench creates it)".into(),
            )
        })?;
    let p = |rel: &str| env.peer(rel).display().to_string();
    let d = dir.display();
    let mut s = format!(
        "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
daemon_directory = {daemon}
command_directory = {command}
shlib_directory = {shlib}
meta_directory = {meta}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.invalid
mydomain = bench.invalid
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH={lib}
export_environment = TZ MAIL_CONFIG LANG LD_LIBRARY_PATH
maillog_file_prefixes = {d}
maillog_file = {d}/data/maillog
alias_maps =
alias_database =
biff = no
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_client_connection_count_limit = 0
default_process_limit = {procs}
virtual_mailbox_domains = localhost
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
",
        daemon = p("usr/lib/postfix/sbin"),
        command = p("usr/sbin"),
        shlib = p("usr/lib/postfix"),
        meta = p("etc/postfix"),
        lib = env.lib_path,
        procs = (setup.conns + 50).max(100),
        uid = u.uid,
        gid = u.gid,
    );
    if let Some(sink) = setup.sink {
        s.push_str(&format!("relayhost = [127.0.0.1]:{sink}\n"));
    }
    Ok(s)
}

pub fn start(env: &Env, setup: &Setup, dir: &Path) -> Result<Instance, StartError> {
    let master = env.peer("usr/lib/postfix/sbin/master");
    if !master.exists() {
        return Err(StartError::Unavailable(
            "postfix",
            format!("{} missing (run ci/bench)", master.display()),
        ));
    }
    let conf = dir.join("conf");
    for sub in ["conf", "queue", "data", "mail"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io_err(format!("mkdir {sub}")))?;
    }
    chown_to(&dir.join("data"), "postfix")?;
    chown_to(&dir.join("mail"), "mtabench")?;
    write(&conf.join("main.cf"), &main_cf(env, setup, dir)?)?;
    write(
        &conf.join("master.cf"),
        &format!("127.0.0.1:{} inet n - n - - smtpd\n{SERVICES}", setup.port),
    )?;
    // `postfix check` creates the queue's directories with their owners.
    let out = env
        .peer_cmd("usr/sbin/postfix")
        .arg("-c")
        .arg(&conf)
        .arg("check")
        .stdin(Stdio::null())
        .output()
        .map_err(io_err("run postfix check"))?;
    if !dir.join("queue/maildrop").exists() {
        return Err(StartError::Unavailable(
            "postfix",
            format!(
                "postfix check made no queue ({}; see {}/data/maillog)",
                out.status,
                dir.display()
            ),
        ));
    }
    let log = log_file(dir)?;
    let child = env
        .peer_cmd("usr/lib/postfix/sbin/master")
        .arg("-c")
        .arg(&conf)
        .arg("-d")
        .env("MAIL_CONFIG", &conf)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io_err("log"))?)
        .stderr(log)
        .spawn()
        .map_err(io_err("run postfix master"))?;
    Ok(Instance {
        kind: Kind::Postfix,
        child,
        port: setup.port,
        maildir_new: dir.join("mail/Maildir/new"),
        dir: dir.to_path_buf(),
        injector: Some(Injector {
            qmail_queue: false,
            program: env.peer("usr/sbin/sendmail"),
            env: vec![
                ("MAIL_CONFIG".into(), conf.display().to_string()),
                ("LD_LIBRARY_PATH".into(), env.lib_path.clone()),
            ],
        }),
    })
}
