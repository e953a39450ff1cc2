//! Exim 4.96 (exim4-daemon-light) from Debian's package.
//!
//! `exim4 -C DIR/exim.conf -bdf -oX PORT` (foreground daemon) with the
//! spool in DIR. Exim re-executes itself from its compiled-in path
//! (`/usr/sbin/exim4`) to deliver each message, and finds `libidn.so.12`
//! (not in a stock Debian 12) only in the system library directory; so it
//! runs in a private mount namespace (`unshare -m`) where overlays put the
//! unpacked binary on /usr/sbin and the unpacked library on the library
//! path. Nothing outside the namespace changes.
//!
//! A configuration given with `-C` that is not listed in
//! `/etc/exim4/trusted_configs` makes Exim give up root, so it runs as
//! `Debian-exim` and delivers as `Debian-exim` to DIR/mail/Maildir (an
//! `appendfile` maildir transport, which fsyncs). Relay: a `manualroute`
//! router to 127.0.0.1 with the smtp transport's port set to the sink's.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{
    chown_to, io_err, log_file, write, Env, Instance, Kind, Setup, StartError, RELAY_DOMAIN,
};

fn config(setup: &Setup, dir: &Path) -> String {
    let d = dir.display();
    let mut s = format!(
        "primary_hostname = exim.bench.invalid
spool_directory = {d}/spool
log_file_path = {d}/spool/log/%slog
keep_environment =
never_users = root
domainlist local_domains = localhost
domainlist relay_to_domains = {RELAY_DOMAIN}
hostlist relay_from_hosts = 127.0.0.0/8
acl_smtp_rcpt = acl_check_rcpt
local_interfaces = 127.0.0.1
host_lookup =
rfc1413_hosts =
smtp_accept_max = {max}
smtp_accept_max_per_host =
begin acl
acl_check_rcpt:
  accept domains = +local_domains
  accept domains = +relay_to_domains
  deny
begin routers
",
        max = (setup.conns + 50).max(20),
    );
    if let Some(sink) = setup.sink {
        s.push_str(
            "sink:
  driver = manualroute
  domains = +relay_to_domains
  route_list = * 127.0.0.1
  self = send
  transport = to_sink
  no_more
",
        );
        s.push_str(&format!(
            "local_user:
  driver = accept
  domains = +local_domains
  local_parts = user
  transport = maildir_delivery
begin transports
to_sink:
  driver = smtp
  port = {sink}
  allow_localhost
  hosts_avoid_tls = *
"
        ));
    } else {
        s.push_str(
            "local_user:
  driver = accept
  domains = +local_domains
  local_parts = user
  transport = maildir_delivery
begin transports
",
        );
    }
    s.push_str(&format!(
        "maildir_delivery:
  driver = appendfile
  directory = {d}/mail/Maildir
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  user = Debian-exim
  group = Debian-exim
  create_directory
"
    ));
    s
}

pub fn start(env: &Env, setup: &Setup, dir: &Path) -> Result<Instance, StartError> {
    let exim = env.peer("usr/sbin/exim4");
    if !exim.exists() {
        return Err(StartError::Unavailable(
            "exim",
            format!("{} missing (run ci/bench)", exim.display()),
        ));
    }
    for sub in ["spool", "mail", "sbin"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io_err(format!("mkdir {sub}")))?;
    }
    chown_to(&dir.join("spool"), "Debian-exim")?;
    chown_to(&dir.join("mail"), "Debian-exim")?;
    std::fs::copy(&exim, dir.join("sbin/exim4")).map_err(io_err("copy exim4"))?;
    let conf = dir.join("exim.conf");
    write(&conf, &config(setup, dir))?;
    let libdir = env.peer("usr/lib/x86_64-linux-gnu");
    let script = format!(
        "set -e
mount -t overlay overlay -o lowerdir={d}/sbin:/usr/sbin /usr/sbin
mount -t overlay overlay -o lowerdir={lib}:/usr/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu
exec /usr/sbin/exim4 -C {conf} -bdf -oX {port}",
        d = dir.display(),
        lib = libdir.display(),
        conf = conf.display(),
        port = setup.port,
    );
    let log = log_file(dir)?;
    let child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io_err("log"))?)
        .stderr(log)
        .spawn()
        .map_err(io_err("run unshare (exim)"))?;
    Ok(Instance {
        kind: Kind::Exim,
        child,
        port: setup.port,
        maildir_new: dir.join("mail/Maildir/new"),
        dir: dir.to_path_buf(),
        injector: None,
    })
}
