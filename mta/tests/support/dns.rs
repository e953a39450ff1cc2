//! A tiny authoritative DNS server for tests (UDP on 127.0.0.1, ephemeral
//! port). Queries are decoded and answers encoded with `hickory-proto`.
//!
//! Answers: SERVFAIL for names marked [`Zone::servfail`]; the records of
//! the asked type if the zone has any; NOERROR with no answer (NODATA) if
//! the name has records of other types; NXDOMAIN otherwise. Negative
//! answers carry an SOA so resolvers trust them.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The records the server knows.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    records: HashMap<(String, RecordType), Vec<RData>>,
    servfail: Vec<String>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn name(s: &str) -> Name {
    let mut n = Name::from_ascii(s).expect("test zone name");
    n.set_fqdn(true);
    n
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    /// Adds `MX pref exchange` for `owner`; records are answered in the
    /// order they were added.
    pub fn mx(mut self, owner: &str, pref: u16, exchange: &str) -> Zone {
        self.records
            .entry((key(owner), RecordType::MX))
            .or_default()
            .push(RData::MX(MX::new(pref, name(exchange))));
        self
    }

    /// Adds `A ip` for `owner`.
    pub fn a(mut self, owner: &str, ip: Ipv4Addr) -> Zone {
        self.records
            .entry((key(owner), RecordType::A))
            .or_default()
            .push(RData::A(A(ip)));
        self
    }

    /// Every query for `owner` gets SERVFAIL.
    pub fn servfail(mut self, owner: &str) -> Zone {
        self.servfail.push(key(owner));
        self
    }

    fn answer(&self, query: &Message) -> Message {
        let mut resp = Message::new();
        resp.set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(query.op_code())
            .set_recursion_desired(query.recursion_desired())
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
        let soa = SOA::new(name("ns.test"), name("hostmaster.test"), 1, 60, 60, 60, 60);
        resp.add_name_server(Record::from_rdata(name("test"), 60, RData::SOA(soa)));
        resp
    }
}

/// A running DNS server; stops when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zone: Zone) -> DnsServer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind test DNS server");
        // A backstop only: stopping normally wakes the loop with a packet.
        sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let (st, qs) = (stop.clone(), queries.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st.load(Ordering::SeqCst) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(msg) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Some(q) = msg.queries().first() {
                    qs.lock().unwrap().push(format!(
                        "{} {}",
                        q.query_type(),
                        key(&q.name().to_ascii())
                    ));
                }
                if let Ok(bytes) = zone.answer(&msg).to_vec() {
                    let _ = sock.send_to(&bytes, peer);
                }
            }
        });
        DnsServer {
            addr,
            stop,
            queries,
            thread: Some(thread),
        }
    }

    /// The address to put in `control/dnsserver`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every question asked so far, as `"<TYPE> <name>"` (e.g. `MX x.test`).
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
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
