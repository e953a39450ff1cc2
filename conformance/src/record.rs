//! `conformance record`: write a new scenario from a live session, so a
//! scenario is a transcript away (conformance spec §8.2).
//!
//! Client lines come from a reader (stdin: typed, or a script): each is
//! sent with CRLF and the server's reply becomes an `expect` with its code
//! and exact lines (normalised: dates, pids, ... masked; the target's
//! name written `${me}`). After a 354 the lines up to a lone `.` are the
//! message and get no reply of their own; the `.` gets one. A reply that
//! never comes (the server closed) becomes `expect_close`.

use std::io::BufRead;
use std::net::SocketAddr;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::escape;
use crate::normalize;
use crate::smtp::client::{Conn, Transcript};

const WAIT: Duration = Duration::from_secs(10);

/// One recorded step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Send(Vec<u8>),
    /// Reply code and lines (normalised, without CRLF).
    Expect(u16, Vec<String>),
    ExpectClose,
}

/// Runs the session against `addr`: the greeting, then every line of
/// `input`. `me` is the server's name (replaced by `${me}`).
pub fn session(
    addr: SocketAddr,
    input: &mut dyn BufRead,
    me: &str,
) -> std::io::Result<Vec<Recorded>> {
    let mut c = Conn::connect(addr, WAIT)?;
    let mut t = Transcript::default();
    let mut out = Vec::new();
    let mut in_data = false;
    let reply = |c: &mut Conn, t: &mut Transcript, out: &mut Vec<Recorded>| -> Option<u16> {
        match c.reply(WAIT, t) {
            Ok(r) => {
                let code = r.code().unwrap_or(0);
                let lines = r
                    .lines()
                    .iter()
                    .map(|l| {
                        let n = normalize::apply(normalize::ALL, l);
                        let v = String::from_utf8_lossy(&n).into_owned();
                        if me.is_empty() {
                            v
                        } else {
                            v.replace(me, "${me}")
                        }
                    })
                    .collect();
                out.push(Recorded::Expect(code, lines));
                Some(code)
            }
            Err(_) => {
                out.push(Recorded::ExpectClose);
                None
            }
        }
    };
    if reply(&mut c, &mut t, &mut out).is_none() {
        return Ok(out);
    }
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let l = line.trim_end_matches(['\r', '\n']).to_string();
        let bytes = escape::decode(&l).unwrap_or_else(|_| l.clone().into_bytes());
        let mut wire = bytes.clone();
        wire.extend_from_slice(b"\r\n");
        c.send(&wire, &mut t)?;
        out.push(Recorded::Send(bytes));
        if in_data && l != "." {
            continue;
        }
        in_data = false;
        match reply(&mut c, &mut t, &mut out) {
            Some(354) => in_data = true,
            Some(_) => {}
            None => break,
        }
    }
    c.shutdown();
    Ok(out)
}

/// The scenario YAML for a recorded session.
pub fn to_yaml(id: &str, target: &str, steps: &[Recorded]) -> Result<String, serde_yaml::Error> {
    let s = |v: &str| Value::String(v.to_string());
    let mut doc = Mapping::new();
    doc.insert(s("id"), s(id));
    doc.insert(
        s("title"),
        s(&format!("(recorded from `{target}`; say what it shows)")),
    );
    doc.insert(s("refs"), Value::Sequence(Vec::new()));
    let mut seq = Vec::new();
    for st in steps {
        let mut m = Mapping::new();
        match st {
            Recorded::Send(b) => {
                m.insert(s("send"), s(&escape::visible(b)));
            }
            Recorded::Expect(code, lines) => {
                let mut e = Mapping::new();
                e.insert(s("code"), Value::Number((*code).into()));
                let mut q = Mapping::new();
                q.insert(
                    s("reply"),
                    // Reply lines are compared as written (no escapes).
                    Value::Sequence(lines.iter().map(|l| s(l)).collect()),
                );
                e.insert(s("qmail"), Value::Mapping(q));
                m.insert(s("expect"), Value::Mapping(e));
            }
            Recorded::ExpectClose => {
                m.insert(s("expect_close"), Value::Bool(true));
            }
        }
        seq.push(Value::Mapping(m));
    }
    doc.insert(s("steps"), Value::Sequence(seq));
    serde_yaml::to_string(&Value::Mapping(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_round_trips_through_the_loader() {
        let steps = vec![
            Recorded::Expect(220, vec!["220 ${me} ESMTP".into()]),
            Recorded::Send(b"HELO x\\y".to_vec()),
            Recorded::Expect(250, vec!["250 ${me}".into()]),
            Recorded::Send(b"QUIT".to_vec()),
            Recorded::ExpectClose,
        ];
        let y = to_yaml("rec-test", "reference", &steps).unwrap();
        let sc = crate::scenario::load::parse(std::path::Path::new("r.yaml"), &y).unwrap();
        assert_eq!(sc.id, "rec-test");
        assert_eq!(sc.steps.len(), 5);
        assert!(y.contains("HELO x\\\\y"), "{y}");
    }
}
