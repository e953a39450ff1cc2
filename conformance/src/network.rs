//! A scenario's own small network (the `network` step): a DNS server on
//! 127.0.0.1 answering from the scenario's records, and SMTP hosts on
//! other loopback addresses, all listening on one port, so qmail-remote's
//! MX ordering, best-MX rule, greeting handling and timeout table
//! (qmail-behaviour §6.3, §6.5) can be watched without leaving loopback.
//!
//! A host is a [`Sink`] (`accept`), a listener whose accept queue is full
//! so that connections time out (`blackhole`: Linux drops SYNs on a full
//! queue), or nothing (`refuse`). Everything stops when the network is
//! dropped.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::scenario::ops::{DnsRecords, HostMode, NetworkSpec};
use crate::scenario::SinkSetup;
use crate::sink::Sink;

/// Why the network could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetworkError {
    let what = what.into();
    move |source| NetworkError::Io { what, source }
}

/// The answers the DNS server gives.
#[derive(Debug, Clone, Default)]
struct Zone {
    records: HashMap<(String, RecordType), Vec<RData>>,
    servfail: Vec<String>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn fqdn(s: &str) -> Result<Name, NetworkError> {
    let mut n = Name::from_ascii(s).map_err(|e| NetworkError::Other(format!("{s:?}: {e}")))?;
    n.set_fqdn(true);
    Ok(n)
}

impl Zone {
    fn new(spec: &BTreeMap<String, DnsRecords>) -> Result<Zone, NetworkError> {
        let mut z = Zone::default();
        for (owner, r) in spec {
            let k = key(owner);
            if r.servfail {
                z.servfail.push(k.clone());
            }
            for mx in &r.mx {
                z.records
                    .entry((k.clone(), RecordType::MX))
                    .or_default()
                    .push(RData::MX(MX::new(mx.pref, fqdn(&mx.host)?)));
            }
            for ip in &r.a {
                z.records
                    .entry((k.clone(), RecordType::A))
                    .or_default()
                    .push(RData::A(A(*ip)));
            }
        }
        Ok(z)
    }

    /// The records asked for; NODATA when the name has other records,
    /// NXDOMAIN when it has none (both with an SOA, so they are trusted).
    fn answer(&self, query: &Message) -> Message {
        let mut resp = Message::new();
        resp.set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(query.op_code())
            .set_recursion_desired(query.recursion_desired())
            .set_recursion_available(true)
            .set_authoritative(true);
        let Some(q) = query.queries().first() else {
            resp.set_response_code(ResponseCode::FormErr);
            return resp;
        };
        resp.add_query(q.clone());
        let owner = key(&q.name().to_ascii());
        if self.servfail.contains(&owner) {
            resp.set_response_code(ResponseCode::ServFail);
            return resp;
        }
        if let Some(rdatas) = self.records.get(&(owner.clone(), q.query_type())) {
            for rd in rdatas {
                resp.add_answer(Record::from_rdata(q.name().clone(), 60, rd.clone()));
            }
            return resp;
        }
        let exists = self.records.keys().any(|(n, _)| *n == owner);
        resp.set_response_code(if exists {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        });
        if let (Ok(ns), Ok(hm), Ok(zone)) = (fqdn("ns.test"), fqdn("hostmaster.test"), fqdn("test"))
        {
            let soa = SOA::new(ns, hm, 1, 60, 60, 60, 60);
            resp.add_name_server(Record::from_rdata(zone, 60, RData::SOA(soa)));
        }
        resp
    }
}

/// The DNS server thread.
struct Dns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Dns {
    fn start(zone: Zone) -> Result<Dns, NetworkError> {
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(io("binding the DNS server"))?;
        // A backstop: stopping normally wakes the loop with a packet.
        sock.set_read_timeout(Some(Duration::from_secs(1)))
            .map_err(io("DNS socket"))?;
        let addr = sock.local_addr().map_err(io("DNS socket"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("scenario-dns".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while !st.load(Ordering::SeqCst) {
                    let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let Ok(msg) = Message::from_vec(&buf[..n]) else {
                        continue;
                    };
                    if let Ok(bytes) = zone.answer(&msg).to_vec() {
                        let _ = sock.send_to(&bytes, peer);
                    }
                }
            })
            .map_err(io("starting the DNS thread"))?;
        Ok(Dns {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(s) = UdpSocket::bind("127.0.0.1:0") {
            let _ = s.send_to(b"stop", self.addr);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One host of the network.
enum Host {
    Accept(Sink),
    /// Held only to keep them open: the listener and the connection that
    /// fills its accept queue.
    Blackhole {
        _listener: OwnedFd,
        _filler: TcpStream,
    },
    Refuse,
}

/// A running network.
pub struct Network {
    dns: Dns,
    port: u16,
    hosts: BTreeMap<Ipv4Addr, Host>,
}

impl Network {
    /// Starts the DNS server and the hosts; the hosts share one port.
    pub fn start(spec: &NetworkSpec) -> Result<Network, NetworkError> {
        let dns = Dns::start(Zone::new(&spec.dns)?)?;
        // Binding ip:0 for the first host picks the port; another
        // scenario may hold it on the next address, so try a few.
        let mut last = None;
        for _ in 0..20 {
            match Network::bind_all(spec) {
                Ok((port, hosts)) => return Ok(Network { dns, port, hosts }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| NetworkError::Other("no port for the hosts".into())))
    }

    fn bind_all(spec: &NetworkSpec) -> Result<(u16, BTreeMap<Ipv4Addr, Host>), NetworkError> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")
                .map_err(io("finding a free port for the hosts"))?;
            probe.local_addr().map_err(io("port probe"))?.port()
        };
        let mut hosts = BTreeMap::new();
        for (ip, h) in &spec.hosts {
            hosts.insert(*ip, host(*ip, port, h.mode, &h.sink)?);
        }
        Ok((port, hosts))
    }

    /// The DNS server's address (`control/dnsserver`).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr
    }

    /// The SMTP port every host listens on (`control/remoteport`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Changes one host (adds it if new).
    pub fn set_host(
        &mut self,
        ip: Ipv4Addr,
        mode: HostMode,
        sink: &SinkSetup,
    ) -> Result<(), NetworkError> {
        // The old listener must be closed before the address is bound again.
        self.hosts.remove(&ip);
        let h = host(ip, self.port, mode, sink)?;
        self.hosts.insert(ip, h);
        Ok(())
    }

    /// The sink serving `ip`, if that host accepts connections.
    pub fn sink(&self, ip: Ipv4Addr) -> Option<&Sink> {
        match self.hosts.get(&ip) {
            Some(Host::Accept(s)) => Some(s),
            _ => None,
        }
    }
}

fn host(ip: Ipv4Addr, port: u16, mode: HostMode, setup: &SinkSetup) -> Result<Host, NetworkError> {
    let addr = SocketAddr::from((ip, port));
    match mode {
        HostMode::Refuse => Ok(Host::Refuse),
        HostMode::Accept => {
            let s = Sink::start_at(addr).map_err(io(format!("binding host {addr}")))?;
            s.reset(setup);
            Ok(Host::Accept(s))
        }
        HostMode::Blackhole => blackhole(ip, port),
    }
}

/// A listener with an accept queue of one, filled at once: later SYNs
/// are dropped and connects time out. Checked with a probe, since only
/// Linux is known to behave so.
fn blackhole(ip: Ipv4Addr, port: u16) -> Result<Host, NetworkError> {
    use nix::sys::socket::{
        bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
        SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    let addr = SocketAddr::from((ip, port));
    let sys = |what: &str| {
        let what = format!("blackhole {addr}: {what}");
        move |e: nix::Error| NetworkError::Io {
            what,
            source: e.into(),
        }
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(sys("socket"))?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(sys("SO_REUSEADDR"))?;
    let o = ip.octets();
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::new(o[0], o[1], o[2], o[3], port),
    )
    .map_err(sys("bind"))?;
    let backlog = Backlog::new(0).map_err(sys("backlog"))?;
    listen(&fd, backlog).map_err(sys("listen"))?;
    let filler = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(io(format!("filling the accept queue of {addr}")))?;
    match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(Host::Blackhole {
            _listener: fd,
            _filler: filler,
        }),
        _ => Err(NetworkError::Other(format!(
            "blackhole {addr}: this kernel accepts connections beyond a full accept queue"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ops::{HostSetup, MxRecord};

    fn spec() -> NetworkSpec {
        let mut dns = BTreeMap::new();
        dns.insert(
            "a.test".to_string(),
            DnsRecords {
                mx: vec![MxRecord {
                    pref: 10,
                    host: "mx.a.test".into(),
                }],
                ..Default::default()
            },
        );
        let mut hosts = BTreeMap::new();
        hosts.insert(Ipv4Addr::new(127, 0, 0, 2), HostSetup::default());
        hosts.insert(
            Ipv4Addr::new(127, 0, 0, 3),
            HostSetup {
                mode: HostMode::Refuse,
                ..Default::default()
            },
        );
        NetworkSpec { dns, hosts }
    }

    fn ask(server: SocketAddr, name: &str, t: RecordType) -> Message {
        let mut q = Message::new();
        q.set_id(7)
            .add_query(hickory_proto::op::Query::query(fqdn(name).unwrap(), t));
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send_to(&q.to_vec().unwrap(), server).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.recv(&mut buf).unwrap();
        Message::from_vec(&buf[..n]).unwrap()
    }

    #[test]
    fn answers_mx_nodata_and_nxdomain() {
        let n = Network::start(&spec()).unwrap();
        let r = ask(n.dns_addr(), "A.test", RecordType::MX);
        assert_eq!(r.id(), 7);
        assert_eq!(r.answers().len(), 1);
        let r = ask(n.dns_addr(), "a.test", RecordType::A);
        assert_eq!(
            (r.response_code(), r.answers().len()),
            (ResponseCode::NoError, 0)
        );
        let r = ask(n.dns_addr(), "b.test", RecordType::A);
        assert_eq!(r.response_code(), ResponseCode::NXDomain);
    }

    #[test]
    fn hosts_accept_or_refuse_on_one_port() {
        let mut n = Network::start(&spec()).unwrap();
        let p = n.port();
        assert!(TcpStream::connect(("127.0.0.2", p)).is_ok());
        assert!(n.sink(Ipv4Addr::new(127, 0, 0, 2)).is_some());
        assert!(TcpStream::connect(("127.0.0.3", p)).is_err());
        n.set_host(
            Ipv4Addr::new(127, 0, 0, 3),
            HostMode::Accept,
            &SinkSetup::default(),
        )
        .unwrap();
        assert!(TcpStream::connect(("127.0.0.3", p)).is_ok());
    }
}
