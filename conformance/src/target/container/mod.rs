//! The `container` targets (conformance spec §5, §8.1 `Container`): an
//! MTA in a Docker image built offline by `ci/images/`, one fresh
//! container per scenario, started with testcontainers.
//!
//! | target | image | capabilities |
//! |---|---|---|
//! | `reference-container` | `mta-reference:local` | controls, filesystem, queue, inject, restart, sink, log, qmtp, qmqp, qmqpc |
//! | `postfix` | `mta-peer-postfix:local` | filesystem (local users' Maildirs), queue, restart, sink |
//! | `opensmtpd` | `mta-peer-opensmtpd:local` | as postfix |
//!
//! ## testcontainers and this Docker engine
//! The engine here is Docker 20.10, API 1.41 at most, and it refuses a
//! newer client (`client version 1.44 is too new. Maximum supported API
//! version is 1.41`). testcontainers 0.16 to 0.28 all talk to Docker
//! through bollard with bollard's fixed `API_DEFAULT_VERSION` and no
//! version negotiation: 0.16-0.20 use bollard 0.16 (API 1.44), 0.22
//! bollard 0.17 (1.45), 0.23-0.24 bollard 0.18 (1.47), 0.25-0.26 bollard
//! 0.19 (1.48/1.49), 0.27 bollard 0.20 (1.52), 0.28 bollard 0.21 (1.53).
//! 0.15.0 is the newest release that works: its `clients::Cli` drives
//! the `docker` CLI (which negotiates), so we use it to run, stop, start
//! and remove containers. It cannot set labels, users or wait for a TCP
//! port, and it panics on docker errors, hence [`docker`] for the rest
//! and a `catch_unwind` around `run`.
//!
//! ## Networking
//! Containers run with host networking: the MTA listens on 127.0.0.1 at
//! a port the harness picks, and relays to the worker's sink on
//! 127.0.0.1, so everything stays on loopback and the runner's sink needs
//! no change. The harness connects from 127.0.0.1; the peer images are
//! configured not to trust that address for relaying.
//!
//! ## Cleanup
//! Every container carries the label `org.mta.conformance=1` (from its
//! image) and a name with the run's pid. A target removes orphans (owner
//! gone) when created and its own containers when dropped; testcontainers
//! removes each container when its instance is dropped; `ci/test`
//! removes everything labelled after the run.

pub mod docker;
pub mod peer;
pub mod qmail_root;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use testcontainers::clients::Cli;
use testcontainers::{Container, GenericImage, RunnableImage};

use super::listeners::Listeners;
use super::{free_port, wait_until, Instance, Target, TargetError, Vars};
use crate::scenario::step::{Inject, Via};
use crate::scenario::{Capability, Protocol, Setup};

/// How long an MTA may take to answer its first greeting.
const READY_WAIT: Duration = Duration::from_secs(60);
/// The readiness line qmail-send logs once it is running.
const READY: &str = "status: local 0/";

/// The images the suite builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Reference,
    Postfix,
    Opensmtpd,
}

impl Flavour {
    /// `reference`, `postfix` or `opensmtpd`.
    pub fn parse(s: &str) -> Option<Flavour> {
        match s {
            "reference" => Some(Flavour::Reference),
            "postfix" => Some(Flavour::Postfix),
            "opensmtpd" => Some(Flavour::Opensmtpd),
            _ => None,
        }
    }

    /// The target's name, which names its deviation list.
    pub fn target_name(self) -> &'static str {
        match self {
            Flavour::Reference => "reference-container",
            Flavour::Postfix => "postfix",
            Flavour::Opensmtpd => "opensmtpd",
        }
    }

    pub fn default_image(self) -> &'static str {
        match self {
            Flavour::Reference => "mta-reference:local",
            Flavour::Postfix => "mta-peer-postfix:local",
            Flavour::Opensmtpd => "mta-peer-opensmtpd:local",
        }
    }

    fn build_script(self) -> &'static str {
        match self {
            Flavour::Reference => "ci/images/reference/build",
            Flavour::Postfix => "ci/images/postfix/build",
            Flavour::Opensmtpd => "ci/images/opensmtpd/build",
        }
    }

    fn capabilities(self) -> Vec<Capability> {
        use Capability::*;
        match self {
            // The MTA's root is bind-mounted from the host, so its activity
            // log (ROOT/log/current) can be read there. Its QMTP and QMQP
            // listeners run in the container on host networking; POP3
            // would need a tcpserver in the image, so it SKIPs.
            Flavour::Reference => vec![
                Controls, Filesystem, Queue, Inject, Restart, Sink, Log, Qmtp, Qmqp, Qmqpc,
            ],
            Flavour::Postfix | Flavour::Opensmtpd => vec![Filesystem, Queue, Restart, Sink],
        }
    }
}

/// One testcontainers client for the process: containers borrow it.
fn cli() -> &'static Cli {
    static CLI: OnceLock<Cli> = OnceLock::new();
    CLI.get_or_init(Cli::default)
}

/// A container target.
pub struct ContainerTarget {
    flavour: Flavour,
    image: String,
    caps: Vec<Capability>,
    next: AtomicUsize,
}

impl ContainerTarget {
    /// The target for `flavour`, running `image` (default: the image
    /// `ci/images/` builds). Fails clearly when no Docker engine answers
    /// or the image is missing; removes containers earlier runs left.
    pub fn new(flavour: Flavour, image: Option<String>) -> Result<ContainerTarget, TargetError> {
        let image = image.unwrap_or_else(|| flavour.default_image().to_string());
        if !image.contains(':') {
            return Err(TargetError::Failed(format!(
                "image {image:?} must be NAME:TAG"
            )));
        }
        docker::server_version()?;
        docker::require_image(&image, flavour.build_script())?;
        docker::remove_labelled(None)?;
        Ok(ContainerTarget {
            flavour,
            image,
            caps: flavour.capabilities(),
            next: AtomicUsize::new(0),
        })
    }
}

impl Drop for ContainerTarget {
    fn drop(&mut self) {
        // Instances remove their own containers; this catches any that a
        // panic or a failed start left behind.
        let _ = docker::remove_labelled(Some(std::process::id()));
    }
}

/// True once a `220` greeting arrives on `addr` (then QUIT is sent).
fn greets(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    let Ok(r) = s.try_clone() else { return false };
    let mut r = BufReader::new(r);
    // A multi-line greeting ends with `220 `.
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(n) if n > 0 && line.starts_with("220-") => continue,
            Ok(n) if n > 0 && line.starts_with("220 ") => {
                let _ = s.write_all(b"QUIT\r\n");
                return true;
            }
            _ => return false,
        }
    }
}

impl Target for ContainerTarget {
    fn name(&self) -> &str {
        self.flavour.target_name()
    }

    fn capabilities(&self) -> &[Capability] {
        &self.caps
    }

    fn start(&self, setup: &Setup, sink: SocketAddr) -> Result<Box<dyn Instance>, TargetError> {
        // The container listens on a port picked free on the host network
        // a moment earlier; another scenario's connection can take it as
        // its source port in between. Such a start is retried on a fresh
        // port (the failed container is already gone).
        let mut tries = 0;
        loop {
            match self.start_once(setup, sink) {
                Err(TargetError::Failed(why))
                    if tries < START_TRIES && why.contains("Address already in use") =>
                {
                    tries += 1;
                }
                r => return r,
            }
        }
    }
}

/// Starts after a port collision (see [`Target::start`] above).
const START_TRIES: usize = 3;

impl ContainerTarget {
    fn start_once(
        &self,
        setup: &Setup,
        sink: SocketAddr,
    ) -> Result<Box<dyn Instance>, TargetError> {
        let dir = tempfile::Builder::new()
            .prefix("conformance-container-")
            .tempdir()
            .map_err(TargetError::io("creating a temporary directory"))?;
        let addr = free_port()?;
        let me = qmail_root::ME;
        let (name, tag) = self
            .image
            .rsplit_once(':')
            .unwrap_or((&self.image, "latest"));
        let mut image = GenericImage::new(name.to_string(), tag.to_string());
        let mut removed = Vec::new();
        let mut listeners = Listeners::default();
        let mount = match self.flavour {
            Flavour::Reference => {
                let root = dir.path().join("mta");
                removed = qmail_root::prepare(&root, setup, addr, sink)?;
                listeners = Listeners::configure(&root.join("control"), setup)?;
                image = image.with_volume(root.display().to_string(), qmail_root::IN_CONTAINER);
                root
            }
            Flavour::Postfix | Flavour::Opensmtpd => {
                if let Some(why) = peer::unsupported(setup) {
                    return Err(TargetError::Unsupported {
                        target: self.name().into(),
                        what: why,
                    });
                }
                let homes = dir.path().join("homes");
                std::fs::create_dir_all(&homes)
                    .map_err(TargetError::io(format!("creating {}", homes.display())))?;
                for (k, v) in peer::env(addr, sink, me, setup) {
                    image = image.with_env_var(k, v);
                }
                image = image.with_volume(homes.display().to_string(), peer::HOMES_IN_CONTAINER);
                homes
            }
        };
        let cname = format!(
            "{}{}-{}",
            docker::NAME_PREFIX,
            std::process::id(),
            self.next.fetch_add(1, Ordering::SeqCst)
        );
        let runnable = RunnableImage::from(image)
            .with_container_name(&cname)
            .with_network("host");
        // testcontainers 0.15 panics when `docker run` fails; its message
        // is on stderr, the container (if any) is removed by name below.
        let container =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cli().run(runnable)))
                .map_err(|_| {
                    let _ = docker::remove_labelled(Some(std::process::id()));
                    TargetError::Failed(format!("docker run of {} failed (see stderr)", self.image))
                })?;
        let mut inst = ContainerInstance {
            container: Some(container),
            _dir: dir,
            mount,
            flavour: self.flavour,
            addr,
            vars: Vars {
                me: me.into(),
                domain: me.into(),
                remote: "remote.test".into(),
            },
            starts: 0,
            removed,
            listeners,
        };
        inst.wait_ready()?;
        Ok(Box::new(inst))
    }
}

/// One running container and the host directory bind-mounted into it.
struct ContainerInstance {
    /// Dropped first: testcontainers removes the container.
    container: Option<Container<'static, GenericImage>>,
    _dir: tempfile::TempDir,
    /// Host side of the mount: the MTA's root (reference) or the
    /// directory of the local users' homes (peers).
    mount: PathBuf,
    flavour: Flavour,
    addr: SocketAddr,
    vars: Vars,
    starts: usize,
    /// Controls the scenario removes (reference image).
    removed: Vec<PathBuf>,
    /// The QMTP and QMQP doors (reference image).
    listeners: Listeners,
}

impl ContainerInstance {
    fn id(&self) -> &str {
        self.container.as_ref().map_or("", |c| c.id())
    }

    fn unsupported(&self, what: &str) -> TargetError {
        TargetError::Unsupported {
            target: self.flavour.target_name().into(),
            what: what.into(),
        }
    }

    /// Waits for the greeting (and, for the reference image, for
    /// qmail-send's status line of this start) after each start.
    fn wait_ready(&mut self) -> Result<(), TargetError> {
        self.starts += 1;
        let want = self.starts;
        let log = self.mount.join("log/current");
        let sent_ready = || {
            self.flavour != Flavour::Reference
                || std::fs::read_to_string(&log)
                    .map(|l| l.matches(READY).count() >= want)
                    .unwrap_or(false)
        };
        let addr = self.addr;
        if !wait_until(READY_WAIT, || sent_ready() && greets(addr)) {
            return Err(TargetError::Failed(format!(
                "{} did not greet on {addr} within {READY_WAIT:?}; {}",
                self.flavour.target_name(),
                self.diagnostics()
            )));
        }
        for p in &self.removed {
            let _ = std::fs::remove_file(p);
        }
        self.listeners.wait_ready(READY_WAIT)
    }
}

impl Drop for ContainerInstance {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            // testcontainers' `rm` asserts; a daemon error must not abort
            // the run (the target's label cleanup covers it).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(c)));
        }
    }
}

/// Qmail's queue under `root` holds no message.
fn qmail_queue_empty(root: &Path) -> Result<bool, TargetError> {
    for d in ["mess", "todo", "info"] {
        let rd = std::fs::read_dir(root.join("queue").join(d))
            .map_err(TargetError::io(format!("reading queue/{d}")))?;
        for e in rd.flatten() {
            let nonempty = if e.path().is_dir() {
                std::fs::read_dir(e.path()).is_ok_and(|mut r| r.next().is_some())
            } else {
                true
            };
            if nonempty {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

impl Instance for ContainerInstance {
    fn smtp_addr(&self) -> SocketAddr {
        self.addr
    }

    fn log_text(&self) -> Option<String> {
        match self.flavour {
            Flavour::Reference => std::fs::read_to_string(self.mount.join("log/current")).ok(),
            Flavour::Postfix | Flavour::Opensmtpd => None,
        }
    }

    fn vars(&self) -> &Vars {
        &self.vars
    }

    fn door_addr(&mut self, door: Protocol) -> Result<SocketAddr, TargetError> {
        match door {
            Protocol::Smtp => Ok(self.addr),
            _ => self
                .listeners
                .addr(door)
                .ok_or_else(|| self.unsupported(&format!("the {door} door"))),
        }
    }

    fn inject(&mut self, inj: &Inject) -> Result<i32, TargetError> {
        if self.flavour != Flavour::Reference {
            return Err(self.unsupported("injection"));
        }
        let program = match inj.via {
            Via::QmailQueue => "qmail-queue",
            Via::Qmqpc => "qmail-qmqpc",
            Via::Sendmail => return Err(self.unsupported("injection through sendmail")),
        };
        // qmail-queue reads the envelope on fd 1: a file in the mounted
        // root, opened for reading as fd 1 by the shell.
        let rcpts: Vec<Vec<u8>> = inj.to.iter().map(|t| t.as_bytes().to_vec()).collect();
        let env = self.mount.join("run/inject.envelope");
        std::fs::write(
            &env,
            mta::queue::client::envelope(inj.from.as_bytes(), &rcpts),
        )
        .map_err(TargetError::io(format!("writing {}", env.display())))?;
        let (code, out) = docker::exec(
            self.id(),
            &format!(
                "QMAILHOME=/mta MTA_MODE=unprivileged exec /mta/bin/{program} 1</mta/run/inject.envelope"
            ),
            &inj.message.0,
        )?;
        let _ = std::fs::remove_file(&env);
        // docker's own failures (125-127) are not qmail-queue's answers.
        if (125..=127).contains(&code) {
            return Err(TargetError::Failed(format!(
                "docker exec qmail-queue failed ({code}): {out}"
            )));
        }
        Ok(code)
    }

    fn restart(&mut self) -> Result<(), TargetError> {
        let c = self
            .container
            .as_ref()
            .ok_or_else(|| TargetError::Failed("no container".into()))?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            c.stop();
            c.start();
        }))
        .map_err(|_| TargetError::Failed("docker stop/start failed (see stderr)".into()))?;
        self.wait_ready()
    }

    fn queue_empty(&self) -> Result<bool, TargetError> {
        match self.flavour {
            Flavour::Reference => qmail_queue_empty(&self.mount),
            Flavour::Postfix | Flavour::Opensmtpd => {
                let (code, out) = docker::exec(self.id(), "exec /conformance/queue-empty", b"")?;
                match code {
                    0 => Ok(true),
                    1 => Ok(false),
                    _ => Err(TargetError::Failed(format!(
                        "queue-empty exited {code}: {out}"
                    ))),
                }
            }
        }
    }

    fn home(&self, user: &str) -> Result<PathBuf, TargetError> {
        match self.flavour {
            Flavour::Reference if user == "alias" => Ok(self.mount.join("alias")),
            Flavour::Reference => Ok(self.mount.join("home").join(user)),
            _ if user == "alias" => Err(self.unsupported("the alias user")),
            _ => Ok(self.mount.join(user)),
        }
    }

    fn diagnostics(&self) -> String {
        format!(
            "last lines of `docker logs` ({}):\n{}",
            self.id(),
            docker::logs(self.id(), 40)
        )
    }
}
