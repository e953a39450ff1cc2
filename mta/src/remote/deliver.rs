//! qmail-remote from arguments to reports (spec §6.1–§6.5): controls,
//! smtproutes, DNS, the best-MX rule, the timeout table, the connect loop,
//! then the SMTP dialogue of [`super::smtp`].
//!
//! The steps run in the order of netqmail's `main()`, because the order
//! decides which failure wins when several apply (for example a missing
//! `control/me` is reported before an unknown host).

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};

use super::controls::RemoteControls;
use super::dns::{DnsError, LazyDns};
use super::ipme::Ipme;
use super::mx;
use super::report::{Fatal, Output};
use super::smtp::{self, Envelope};
use super::starttls;
use super::tcpto::Table;
use crate::control::ControlDir;
use crate::home::Home;

/// Runs qmail-remote for `args` = `host sender recip...` with the message
/// on `message`; returns everything it writes on fd 1. Never fails: every
/// problem is a report. Like qmail it `chdir`s to `QMAILHOME`, so it is
/// meant to be the whole of a qmail-remote process.
pub fn qmail_remote(home: &Home, args: &[Vec<u8>], message: &mut dyn Read) -> Vec<u8> {
    let mut out = Output::new();
    if let Err(f) = run(home, args, message, &mut out) {
        out.fatal(&f);
    }
    out.into_bytes()
}

/// `addrmangle` without the CNAME step: an address without `@` is sent as
/// is; otherwise its local part is quoted if RFC 821 needs it.
pub fn mangle(addr: &[u8]) -> Vec<u8> {
    if !addr.contains(&b'@') {
        return addr.to_vec();
    }
    crate::quote::quote(addr)
}

fn now() -> u64 {
    crate::date::now().max(0) as u64
}

fn run(
    home: &Home,
    args: &[Vec<u8>],
    message: &mut dyn Read,
    out: &mut Output,
) -> Result<(), Fatal> {
    if args.len() < 3 {
        return Err(Fatal::Usage);
    }
    std::env::set_current_dir(&home.root).map_err(|_| Fatal::NoHome)?;
    let controls =
        RemoteControls::load(&ControlDir::new(home.control())).map_err(|_| Fatal::Control)?;

    let route = controls.routes.lookup(&args[0]);
    let (host, port) = match &route {
        Some(r) => (r.relay.clone(), r.port.unwrap_or(controls.port)),
        None => (args[0].clone(), controls.port),
    };
    let sender = mangle(&args[1]);
    // A routed delivery ignores which addresses are ours (see
    // `mx::usable`), so only an MX delivery reads the interfaces.
    let ipme = match route {
        Some(_) => Ipme::from_addrs(&[]),
        None => Ipme::from_system().map_err(|_| Fatal::OsError)?,
    };
    let recipients: Vec<Vec<u8>> = args[2..].iter().map(|r| mangle(r)).collect();

    let mut dns = LazyDns::new(controls.dns_servers.as_deref());
    let pid = std::process::id();
    let found = if route.is_some() {
        mx::dns_ip(&mut dns, &host)
    } else {
        match mx::dns_mxip(&mut dns, &host, mx::seed(now(), pid)) {
            Ok(m) if m.soft && m.targets.is_empty() => Err(DnsError::Soft),
            Ok(m) => Ok(m.targets),
            Err(e) => Err(e),
        }
    };
    if dns.failed {
        return Err(Fatal::OsError);
    }
    let targets = match found {
        Ok(t) => t,
        Err(DnsError::Soft) => return Err(Fatal::DnsTemporary),
        Err(DnsError::Hard) => return Err(Fatal::DnsPermanent(host)),
    };
    if targets.is_empty() {
        return Err(Fatal::NoMx);
    }
    let targets =
        mx::usable(&targets, |ip| ipme.contains(ip), route.is_some()).ok_or(Fatal::AmbiguousMx)?;

    let mut table = Table::new(&home.queue());
    for t in targets {
        if table.skip(t.ip, now(), pid) {
            continue;
        }
        match TcpStream::connect_timeout(&SocketAddr::from((t.ip, port)), controls.timeout_connect)
        {
            Ok(stream) => {
                table.record(t.ip, false, now());
                // No Nagle: the message goes out in several writes before
                // the server answers, and Nagle holding back the last one
                // until the server's (delayed, up to 40 ms) ACK made every
                // delivery wait that long.
                let _ = stream.set_nodelay(true);
                stream
                    .set_read_timeout(Some(controls.timeout))
                    .and_then(|()| stream.set_write_timeout(Some(controls.timeout)))
                    .map_err(|_| Fatal::OsError)?;
                let env = Envelope {
                    helohost: &controls.helohost,
                    sender: &sender,
                    recipients: &recipients,
                };
                // Once connected, no other address is tried (spec §6.5).
                match &controls.tls {
                    None => smtp::session(&stream, &stream, t.ip, &env, message, out),
                    Some(tls) => starttls::session(&stream, t.ip, &env, &host, tls, message, out),
                }
                return Ok(());
            }
            // No socket at all is `temp_oserr`, as when qmail's socket() fails.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                return Err(Fatal::OsError)
            }
            Err(e) => table.record(t.ip, e.kind() == ErrorKind::TimedOut, now()),
        }
    }
    Err(Fatal::NoConnection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mangle_quotes_only_addresses_with_an_at() {
        assert_eq!(mangle(b""), b"");
        assert_eq!(mangle(b"#@[]"), b"#@[]");
        assert_eq!(mangle(b"a b@x.org"), b"\"a b\"@x.org");
        assert_eq!(mangle(b"@x.org"), b"\"\"@x.org");
        assert_eq!(mangle(b"no at sign"), b"no at sign");
    }

    #[test]
    fn too_few_arguments_is_a_usage_error() {
        let home = Home::new("/nonexistent", crate::home::Mode::Unprivileged);
        let out = qmail_remote(&home, &[b"h".to_vec(), b"s".to_vec()], &mut &b""[..]);
        assert_eq!(
            out,
            b"DI (qmail-remote) was invoked improperly. (#5.3.5)\n\0"
        );
    }

    #[test]
    fn missing_home_is_temporary() {
        let home = Home::new("/nonexistent/qmail", crate::home::Mode::Unprivileged);
        let args = [b"h".to_vec(), b"s".to_vec(), b"r@h".to_vec()];
        let out = qmail_remote(&home, &args, &mut &b""[..]);
        assert_eq!(out, b"ZUnable to switch to home directory. (#4.3.0)\n\0");
    }
}
