//! The `remote` target: any SMTP server at host:port (conformance spec
//! §8.1 `Remote`). It can only be talked to, so scenarios needing
//! controls, files, the queue, injection or the sink SKIP (`starttls`
//! runs against any server that offers STARTTLS). `${me}` is the
//! first word of the server's greeting unless given.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::{Instance, Target, TargetError, Vars};
use crate::scenario::step::Inject;
use crate::scenario::{Capability, Setup};
use crate::smtp::client::{Conn, Transcript};

pub struct Remote {
    addr: SocketAddr,
    vars: Vars,
}

impl Remote {
    /// `host:port`; `me` defaults to the greeting's host name, `domain`
    /// to `me`.
    pub fn new(
        hostport: &str,
        me: Option<String>,
        domain: Option<String>,
    ) -> Result<Remote, TargetError> {
        let addr = hostport
            .to_socket_addrs()
            .map_err(TargetError::io(format!("resolving {hostport}")))?
            .next()
            .ok_or_else(|| TargetError::Failed(format!("{hostport}: no address")))?;
        let me = match me {
            Some(m) => m,
            None => greeting_host(addr)?,
        };
        Ok(Remote {
            addr,
            vars: Vars {
                domain: domain.unwrap_or_else(|| me.clone()),
                me,
                remote: "remote.test".into(),
            },
        })
    }
}

/// The host name in the server's 220 greeting.
fn greeting_host(addr: SocketAddr) -> Result<String, TargetError> {
    let mut c = Conn::connect(addr, Duration::from_secs(10))
        .map_err(TargetError::io(format!("connecting to {addr}")))?;
    let mut t = Transcript::default();
    let r = c
        .reply(Duration::from_secs(10), &mut t)
        .map_err(|e| TargetError::Failed(format!("{addr}: no greeting: {e}")))?;
    let _ = c.send(b"QUIT\r\n", &mut t);
    let text = r.texts().into_iter().next().unwrap_or_default();
    let host = String::from_utf8_lossy(&text)
        .split(' ')
        .next()
        .unwrap_or("")
        .to_string();
    if host.is_empty() {
        return Err(TargetError::Failed(format!(
            "{addr}: greeting names no host; pass --me"
        )));
    }
    Ok(host)
}

impl Target for Remote {
    fn name(&self) -> &str {
        "remote"
    }

    fn capabilities(&self) -> &[Capability] {
        // STARTTLS is protocol only: `requires: [ext:STARTTLS]` then
        // checks that the server offers it.
        &[Capability::Starttls]
    }

    fn start(&self, _setup: &Setup, _sink: SocketAddr) -> Result<Box<dyn Instance>, TargetError> {
        Ok(Box::new(RemoteInstance {
            addr: self.addr,
            vars: self.vars.clone(),
        }))
    }
}

struct RemoteInstance {
    addr: SocketAddr,
    vars: Vars,
}

impl RemoteInstance {
    fn unsupported(&self, what: &str) -> TargetError {
        TargetError::Unsupported {
            target: "remote".into(),
            what: what.into(),
        }
    }
}

impl Instance for RemoteInstance {
    fn smtp_addr(&self) -> SocketAddr {
        self.addr
    }
    fn vars(&self) -> &Vars {
        &self.vars
    }
    fn inject(&mut self, _: &Inject) -> Result<i32, TargetError> {
        Err(self.unsupported("injection"))
    }
    fn restart(&mut self) -> Result<(), TargetError> {
        Err(self.unsupported("restarts"))
    }
    fn queue_empty(&self) -> Result<bool, TargetError> {
        Err(self.unsupported("watching the queue"))
    }
    fn home(&self, _: &str) -> Result<PathBuf, TargetError> {
        Err(self.unsupported("reading mailboxes"))
    }
    fn diagnostics(&self) -> String {
        String::new()
    }
}
