//! The QMTP and QMQP doors of a qmail-style root (qmail-behaviour §10),
//! shared by the `reference` target and the reference image's container
//! target: the MTA's own listeners on loopback ports the harness picks,
//! written before the MTA starts. Only scenarios that use a door get it
//! (`Setup::needs`).
//!
//! - `control/qmtplisten`, `control/qmqplisten`: the picked addresses;
//!   `mta start`'s supervisor runs `mta-listen qmtp|qmqp` there with the
//!   rules `control/tcp.qmtp.cdb` (missing: allow all) and
//!   `control/tcp.qmqp.cdb` (missing: refuse all).
//! - A scenario's `tcp.qmtp` / `tcp.qmqp` controls are tcprules text the
//!   harness compiles to those cdbs (as `mta-tcprules` does); without its
//!   own `tcp.qmtp`, `setup.env` becomes the one rule
//!   `:allow,VAR="value",...`, so QMTP sees the same environment as the
//!   SMTP server.
//! - `starttls` scenarios (reference target only): `control/smtplisten`
//!   with a picked address, a fresh self-signed `control/servercert.pem`
//!   (rcgen) and `control/tcp.smtp` from `setup.env` as for QMTP; that
//!   listener is then the target's SMTP door.
//! - `control/qmqpservers` names the QMQP door unless the scenario sets
//!   it, so `inject: {via: qmqpc}` reaches the target's own QMQP server.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use super::container::qmail_root::tcp_rules;
use super::{free_port, wait_until, TargetError};
use crate::scenario::{Capability, Protocol, Setup};

/// The addresses of the listeners a scenario gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listeners {
    /// `mta-listen smtp` with `control/servercert.pem`, for scenarios
    /// that use `starttls` (qmail-smtpd on fds never offers STARTTLS).
    pub smtp: Option<SocketAddr>,
    pub qmtp: Option<SocketAddr>,
    pub qmqp: Option<SocketAddr>,
}

fn write(p: &Path, bytes: &[u8]) -> Result<(), TargetError> {
    std::fs::write(p, bytes).map_err(TargetError::io(format!("writing {}", p.display())))
}

impl Listeners {
    /// Writes the listeners' controls into `control` (after the
    /// scenario's own controls are there) and compiles the rules.
    pub fn configure(control: &Path, setup: &Setup) -> Result<Listeners, TargetError> {
        let given = |name: &str| setup.controls.contains_key(name);
        let mut l = Listeners::default();
        if setup.needs.contains(&Capability::Starttls) {
            let addr = free_port()?;
            write(&control.join("smtplisten"), format!("{addr}\n").as_bytes())?;
            if !given("servercert.pem") {
                write(&control.join("servercert.pem"), self_signed()?.as_bytes())?;
            }
            if !given("tcp.smtp") && !setup.env.is_empty() {
                write(&control.join("tcp.smtp"), tcp_rules(&setup.env)?.as_bytes())?;
            }
            l.smtp = Some(addr);
        }
        if setup.needs.contains(&Capability::Qmtp) {
            let addr = free_port()?;
            write(&control.join("qmtplisten"), format!("{addr}\n").as_bytes())?;
            if !given("tcp.qmtp") && !setup.env.is_empty() {
                write(&control.join("tcp.qmtp"), tcp_rules(&setup.env)?.as_bytes())?;
            }
            l.qmtp = Some(addr);
        }
        if setup.needs.contains(&Capability::Qmqp) {
            let addr = free_port()?;
            write(&control.join("qmqplisten"), format!("{addr}\n").as_bytes())?;
            if !given("qmqpservers") {
                write(&control.join("qmqpservers"), format!("{addr}\n").as_bytes())?;
            }
            l.qmqp = Some(addr);
        }
        for name in ["tcp.smtp", "tcp.qmtp", "tcp.qmqp"] {
            compile_rules(control, name)?;
        }
        Ok(l)
    }

    /// The address of `door` if this scenario has it.
    pub fn addr(&self, door: Protocol) -> Option<SocketAddr> {
        match door {
            Protocol::Qmtp => self.qmtp,
            Protocol::Qmqp => self.qmqp,
            Protocol::Smtp => self.smtp,
            Protocol::Pop3 => None,
        }
    }

    /// After each start of the MTA: waits up to `wait` until the
    /// listeners accept connections.
    pub fn wait_ready(&self, wait: Duration) -> Result<(), TargetError> {
        for addr in [self.smtp, self.qmtp, self.qmqp].into_iter().flatten() {
            let up = || TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok();
            if !wait_until(wait, up) {
                return Err(TargetError::Failed(format!(
                    "the MTA's listener on {addr} did not come up in {wait:?}"
                )));
            }
        }
        Ok(())
    }
}

/// A fresh self-signed certificate for `127.0.0.1` and `localhost` and
/// its key, in one PEM file as `control/servercert.pem` wants it.
fn self_signed() -> Result<String, TargetError> {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .map_err(|e| TargetError::Failed(format!("generating a TLS certificate: {e}")))?;
    Ok(format!(
        "{}{}",
        ck.cert.pem(),
        ck.signing_key.serialize_pem()
    ))
}

/// Compiles the tcprules text `control/NAME`, if the scenario wrote it,
/// into `control/NAME.cdb`.
fn compile_rules(control: &Path, name: &str) -> Result<(), TargetError> {
    let Ok(text) = std::fs::read(control.join(name)) else {
        return Ok(());
    };
    let rules = mta::listener::rules::parse(name, &text)
        .map_err(|e| TargetError::Failed(format!("control/{name}: {e}")))?;
    let cdb = control.join(format!("{name}.cdb"));
    mta::listener::rulescdb::compile(&rules, &cdb, &control.join(format!("{name}.tmp")))
        .map_err(TargetError::io(format!("compiling control/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_text_is_compiled_next_to_it() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("tcp.qmqp"),
            "127.0.0.1:deny\n:allow,X=\"1\"\n",
        )
        .unwrap();
        compile_rules(d.path(), "tcp.qmqp").unwrap();
        compile_rules(d.path(), "tcp.qmtp").unwrap();
        let db = mta::listener::rulescdb::RulesDb::open(&d.path().join("tcp.qmqp.cdb")).unwrap();
        assert!(db.lookup("127.0.0.1", None, None).deny);
        let other = db.lookup("192.0.2.1", None, None);
        assert!(!other.deny);
        assert_eq!(other.env, vec![("X".to_string(), b"1".to_vec())]);
        assert!(!d.path().join("tcp.qmtp.cdb").exists());
        std::fs::write(d.path().join("tcp.qmtp"), "bad line\n").unwrap();
        let e = compile_rules(d.path(), "tcp.qmtp").unwrap_err();
        assert!(e.to_string().starts_with("control/tcp.qmtp:"), "{e}");
    }

    #[test]
    fn only_needed_listeners_are_written() {
        let d = tempfile::tempdir().unwrap();
        let mut setup: Setup = serde_yaml::from_str("env: {RELAYCLIENT: ''}").unwrap();
        assert_eq!(
            Listeners::configure(d.path(), &setup).unwrap(),
            Listeners::default()
        );
        assert!(!d.path().join("qmtplisten").exists());
        setup.needs = vec![Capability::Qmtp, Capability::Qmqp];
        let l = Listeners::configure(d.path(), &setup).unwrap();
        let read = |n: &str| std::fs::read_to_string(d.path().join(n)).unwrap();
        let (qmtp, qmqp) = (l.qmtp.unwrap(), l.qmqp.unwrap());
        assert_eq!(read("qmtplisten"), format!("{qmtp}\n"));
        assert_eq!(read("qmqplisten"), format!("{qmqp}\n"));
        assert_eq!(read("qmqpservers"), format!("{qmqp}\n"));
        assert_eq!(read("tcp.qmtp"), ":allow,RELAYCLIENT=\"\"\n");
        assert!(d.path().join("tcp.qmtp.cdb").exists());
        assert!(!d.path().join("tcp.qmqp.cdb").exists());
        assert_eq!(l.addr(Protocol::Qmqp), Some(qmqp));
        assert_eq!(l.addr(Protocol::Pop3), None);
    }

    #[test]
    fn starttls_gets_an_smtp_listener_with_a_usable_certificate() {
        let d = tempfile::tempdir().unwrap();
        let mut setup: Setup = serde_yaml::from_str("env: {RELAYCLIENT: ''}").unwrap();
        assert_eq!(Listeners::configure(d.path(), &setup).unwrap().smtp, None);
        assert!(!d.path().join("servercert.pem").exists());
        setup.needs = vec![Capability::Starttls];
        let l = Listeners::configure(d.path(), &setup).unwrap();
        let smtp = l.smtp.unwrap();
        let read = |n: &str| std::fs::read_to_string(d.path().join(n)).unwrap();
        assert_eq!(read("smtplisten"), format!("{smtp}\n"));
        assert_eq!(l.addr(Protocol::Smtp), Some(smtp));
        assert_eq!(read("tcp.smtp"), ":allow,RELAYCLIENT=\"\"\n");
        assert!(d.path().join("tcp.smtp.cdb").exists());
        // The MTA's own loader accepts it (certificate and key in one file).
        mta::listener::session_task::acceptor(&d.path().join("servercert.pem")).unwrap();
    }
}
