//! The schema of the doors besides SMTP (qmail-behaviour §10, §11): which
//! door a connection goes to ([`Protocol`], `connect: pop3`), the QMTP and
//! QMQP steps with their netstring expectations, and the POP3 setup.
//!
//! POP3 reuses `send`, `expect` (with `status` and `multiline`),
//! `pipeline` and `expect_close`; QMTP and QMQP are binary, so they get
//! their own steps: [`Qmtp`] builds packages (or sends raw bytes) and
//! checks each per-recipient response, [`Qmqp`] one package and its one
//! response.
//!
//! Which fields an `expect` may use depends on the door its connection
//! goes to, which only the order of the steps tells. The loader tracks it
//! while it reads the steps ([`Tracker`]), so a misplaced field is a
//! schema error at the step's own line.

use std::cell::Cell;
use std::fmt;

use serde::{Deserialize, Deserializer};

use super::expect::{Expect, Pattern};
use super::Capability;
use crate::escape::Text;

/// The door a connection goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    #[default]
    Smtp,
    Qmtp,
    Qmqp,
    Pop3,
}

impl Protocol {
    pub const ALL: [(&'static str, Protocol); 4] = [
        ("smtp", Protocol::Smtp),
        ("qmtp", Protocol::Qmtp),
        ("qmqp", Protocol::Qmqp),
        ("pop3", Protocol::Pop3),
    ];

    pub fn name(self) -> &'static str {
        Protocol::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(n, _)| n)
    }

    /// The capability a target needs to offer this door (SMTP: none).
    pub fn capability(self) -> Option<Capability> {
        match self {
            Protocol::Smtp => None,
            Protocol::Qmtp => Some(Capability::Qmtp),
            Protocol::Qmqp => Some(Capability::Qmqp),
            Protocol::Pop3 => Some(Capability::Pop3),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `connect: true` (SMTP), or `connect: smtp|qmtp|qmqp|pop3`.
pub(super) struct ConnectArg(pub Protocol);

impl<'de> Deserialize<'de> for ConnectArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ConnectArg, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ConnectArg;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true` or a door: smtp, qmtp, qmqp, pop3")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<ConnectArg, E> {
                if b {
                    Ok(ConnectArg(Protocol::Smtp))
                } else {
                    Err(E::custom("connect takes `true` or a door name, not false"))
                }
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ConnectArg, E> {
                Protocol::ALL
                    .iter()
                    .find(|(n, _)| *n == s)
                    .map(|(_, p)| ConnectArg(*p))
                    .ok_or_else(|| {
                        E::custom(format!(
                            "unknown door {s:?} (one of smtp, qmtp, qmqp, pop3)"
                        ))
                    })
            }
        }
        d.deserialize_any(V)
    }
}

/// A QMTP or QMQP response's first byte (qmail-behaviour §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetStatus {
    /// `K`: accepted.
    K,
    /// `Z`: temporary failure.
    Z,
    /// `D`: permanent failure.
    D,
}

impl NetStatus {
    pub fn byte(self) -> u8 {
        match self {
            NetStatus::K => b'K',
            NetStatus::Z => b'Z',
            NetStatus::D => b'D',
        }
    }
}

impl<'de> Deserialize<'de> for NetStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NetStatus, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "K" => Ok(NetStatus::K),
            "Z" => Ok(NetStatus::Z),
            "D" => Ok(NetStatus::D),
            _ => Err(serde::de::Error::custom(format!(
                "status {s:?} must be K, Z or D"
            ))),
        }
    }
}

/// Expectations about one netstring response. The framing (digits, `:`,
/// exactly that many bytes, `,`) is always checked; with `reply` the
/// whole netstring is thereby byte-exact.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetExpect {
    /// The first byte of the content.
    #[serde(default)]
    pub status: Option<NetStatus>,
    /// A regex on the content after the status byte (normalised).
    #[serde(default)]
    pub text: Option<Pattern>,
    /// The exact content, status byte included, after normalisation
    /// (`${var}`s substituted).
    #[serde(default)]
    pub reply: Option<String>,
    /// Seconds to wait for the response (default 10).
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub qmail: Option<Box<NetExpect>>,
    #[serde(default)]
    pub rfc: Option<Box<NetExpect>>,
}

/// The first byte of a QMTP message netstring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `\n`: the rest is stored as is.
    #[default]
    Lf,
    /// `\r`: the rest has CR LF line ends (the scenario writes them).
    Cr,
    /// No encoding byte: `message` is the whole netstring content.
    None,
}

/// What one package puts on the wire.
#[derive(Debug, Clone)]
pub enum PackageBytes {
    /// Built by the harness with correct netstring lengths.
    Built {
        /// Sender and recipients take the harness' escapes too (a NUL
        /// in an address is a case §10.2 names).
        from: Text,
        to: Vec<Text>,
        message: Text,
        /// QMTP only.
        encoding: Encoding,
    },
    /// Exactly these bytes (`${var}`s substituted).
    Raw(Text),
}

/// One package and the responses it must get.
#[derive(Debug, Clone)]
pub struct Package {
    pub bytes: PackageBytes,
    /// QMTP: one per recipient, in order, or none (nothing is read, e.g.
    /// because the server must close; follow with `expect_close`).
    pub expect: Vec<NetExpect>,
}

/// `qmtp:` packages written in one go (more than one: pipelined), then
/// each one's responses read in order. The connection is the current one
/// if it goes to the QMTP door, else a new one.
#[derive(Debug, Clone)]
pub struct Qmtp {
    pub packages: Vec<Package>,
}

/// `qmqp:` one package and its one response; the connection is the
/// current one if it goes to the QMQP door, else a new one.
#[derive(Debug, Clone)]
pub struct Qmqp {
    pub package: Package,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQmtpPackage {
    #[serde(default)]
    from: Option<Text>,
    #[serde(default)]
    to: Option<Vec<Text>>,
    #[serde(default)]
    message: Option<Text>,
    #[serde(default)]
    encoding: Option<Encoding>,
    #[serde(default)]
    raw: Option<Text>,
    #[serde(default)]
    expect: Vec<NetExpect>,
    /// Top level only: pipelined packages.
    #[serde(default)]
    packages: Option<Vec<RawQmtpPackage>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQmqp {
    #[serde(default)]
    from: Option<Text>,
    #[serde(default)]
    to: Option<Vec<Text>>,
    #[serde(default)]
    message: Option<Text>,
    #[serde(default)]
    raw: Option<Text>,
    #[serde(default)]
    expect: Option<NetExpect>,
}

/// The package from either form; `what` names the step in errors.
fn package(
    what: &str,
    from: Option<Text>,
    to: Option<Vec<Text>>,
    message: Option<Text>,
    encoding: Option<Encoding>,
    raw: Option<Text>,
) -> Result<PackageBytes, String> {
    match (raw, message) {
        (Some(raw), None) => {
            if from.is_some() || to.is_some() || encoding.is_some() {
                return Err(format!(
                    "{what}: `raw` sends the package as given; drop `from`, `to` and `encoding`"
                ));
            }
            Ok(PackageBytes::Raw(raw))
        }
        (None, Some(message)) => Ok(PackageBytes::Built {
            from: from.unwrap_or_default(),
            to: to.ok_or_else(|| format!("{what}: a package needs `to` (a list, may be empty)"))?,
            message,
            encoding: encoding.unwrap_or_default(),
        }),
        (Some(_), Some(_)) => Err(format!("{what}: give `message` or `raw`, not both")),
        (None, None) => Err(format!("{what}: a package needs `message` (or `raw`)")),
    }
}

fn qmtp_package(r: RawQmtpPackage, what: &str) -> Result<Package, String> {
    if r.packages.is_some() {
        return Err(format!("{what}: `packages` cannot be nested"));
    }
    let bytes = package(what, r.from, r.to, r.message, r.encoding, r.raw)?;
    if let PackageBytes::Built { to, .. } = &bytes {
        if !r.expect.is_empty() && r.expect.len() != to.len() {
            return Err(format!(
                "{what}: `expect` needs one response per recipient ({}), or none; found {}",
                to.len(),
                r.expect.len()
            ));
        }
    }
    Ok(Package {
        bytes,
        expect: r.expect,
    })
}

impl<'de> Deserialize<'de> for Qmtp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Qmtp, D::Error> {
        let mut r = RawQmtpPackage::deserialize(d)?;
        let packages = match r.packages.take() {
            Some(list) => {
                let single = r.from.is_some()
                    || r.to.is_some()
                    || r.message.is_some()
                    || r.encoding.is_some()
                    || r.raw.is_some()
                    || !r.expect.is_empty();
                if single {
                    return Err(serde::de::Error::custom(
                        "qmtp: give one package's fields or `packages`, not both",
                    ));
                }
                if list.is_empty() {
                    return Err(serde::de::Error::custom("qmtp: `packages` is empty"));
                }
                list.into_iter()
                    .enumerate()
                    .map(|(i, p)| qmtp_package(p, &format!("qmtp packages[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
            }
            None => qmtp_package(r, "qmtp").map(|p| vec![p]),
        };
        packages
            .map(|packages| Qmtp { packages })
            .map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Qmqp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Qmqp, D::Error> {
        let r = RawQmqp::deserialize(d)?;
        let bytes = package("qmqp", r.from, r.to, r.message, None, r.raw)
            .map_err(serde::de::Error::custom)?;
        Ok(Qmqp {
            package: Package {
                bytes,
                expect: r.expect.into_iter().collect(),
            },
        })
    }
}

/// POP3 settings (qmail-behaviour §11).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3Setup {
    /// A program (its text, e.g. a `#!/bin/sh` script) the POP3 server
    /// runs instead of the target's checkpassword program, with the same
    /// arguments and fd 3 (capability `checkpassword`).
    #[serde(default)]
    pub checkpassword: Option<Text>,
}

thread_local! {
    /// The door of the connection at the step being read (see [`Tracker`]).
    static DOOR: Cell<Protocol> = const { Cell::new(Protocol::Smtp) };
}

/// Tracks, while a scenario's steps are deserialised in document order,
/// which door the connection of each step goes to: `connect: X` and the
/// `qmtp`/`qmqp`/`mail` steps switch it, `close` keeps it (the next step
/// reconnects to the same door). [`Tracker::start`] resets it for a file.
pub struct Tracker;

impl Tracker {
    pub fn start() {
        DOOR.with(|d| d.set(Protocol::Smtp));
    }

    pub fn current() -> Protocol {
        DOOR.with(Cell::get)
    }

    pub fn switch(p: Protocol) {
        DOOR.with(|d| d.set(p));
    }

    /// An error if `e` uses fields that do not apply to the current door.
    pub fn check_expect(e: &Expect) -> Result<(), String> {
        let door = Tracker::current();
        let mut layers = vec![e];
        let mut i = 0;
        while i < layers.len() {
            let l = layers[i];
            layers.extend(l.qmail.as_deref());
            layers.extend(l.rfc.as_deref());
            i += 1;
        }
        for l in layers {
            let smtp_only = [
                (l.code.is_some(), "code"),
                (l.class.is_some(), "class"),
                (l.enhanced.is_some(), "enhanced"),
            ];
            let pop3_only = [(l.status.is_some(), "status"), (l.multiline, "multiline")];
            let wrong = match door {
                Protocol::Smtp => pop3_only.iter().find(|(set, _)| *set),
                Protocol::Pop3 => smtp_only.iter().find(|(set, _)| *set),
                Protocol::Qmtp | Protocol::Qmqp => {
                    return Err(format!(
                        "`expect` reads SMTP or POP3 replies, but this connection goes to the \
                         {door} door; check {door} responses with the `{door}` step's `expect`"
                    ))
                }
            };
            if let Some((_, field)) = wrong {
                return Err(format!(
                    "`{field}` does not apply to a reply on the {door} door \
                     (SMTP: code, class, enhanced; POP3: status, multiline)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::load::{parse, SchemaError};
    use crate::scenario::step::Step;

    fn err(text: &str) -> SchemaError {
        parse(Path::new("t.yaml"), text).unwrap_err()
    }

    #[test]
    fn connect_names_a_door() {
        let s = parse(
            Path::new("t"),
            "id: a\ntitle: t\nsteps:\n  - connect: pop3\n  - connect: true\n  - connect: smtp\n",
        )
        .unwrap();
        let doors: Vec<Protocol> = s
            .steps
            .iter()
            .map(|s| match s {
                Step::Connect(p) => *p,
                _ => panic!("{s:?}"),
            })
            .collect();
        assert_eq!(doors, [Protocol::Pop3, Protocol::Smtp, Protocol::Smtp]);
        assert!(s.setup.needs.contains(&Capability::Pop3));
        let e = err("id: a\ntitle: t\nsteps:\n  - send: x\n  - connect: ftp\n");
        assert_eq!((e.line, e.field.as_str()), (5, "steps[1].connect"), "{e}");
        assert!(e.message.contains("unknown door \"ftp\""), "{e}");
    }

    #[test]
    fn expect_fields_must_fit_the_door() {
        let e = err(
            "id: a\ntitle: t\nsteps:\n  - connect: pop3\n  - expect: {status: ok}\n  - expect: {code: 250}\n",
        );
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("`code` does not apply"), "{e}");
        let e = err("id: a\ntitle: t\nsteps:\n  - expect: {qmail: {status: ok}}\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("`status` does not apply"), "{e}");
        let e = err(
            "id: a\ntitle: t\nsteps:\n  - qmtp: {to: [], message: x}\n  - expect: {code: 250}\n",
        );
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("qmtp"), "{e}");
        // `mail` goes back to SMTP, pipelines are checked too.
        assert!(parse(
            Path::new("t"),
            "id: a\ntitle: t\nsteps:\n  - connect: pop3\n  - mail: {id: m, to: [x@y]}\n  - expect: {code: 220}\n"
        )
        .is_ok());
        let e = err("id: a\ntitle: t\nsteps:\n  - connect: pop3\n  - pipeline: {send: [a], expect: [{class: 2xx}]}\n");
        assert_eq!(e.line, 5, "{e}");
        // A new file starts on the SMTP door again.
        assert!(parse(
            Path::new("t"),
            "id: a\ntitle: t\nsteps:\n  - expect: {code: 220}\n"
        )
        .is_ok());
    }

    #[test]
    fn qmtp_packages_are_checked() {
        let e = err("id: a\ntitle: t\nsteps:\n  - qmtp:\n      to: [a, b]\n      message: m\n      expect: [{status: K}]\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("one response per recipient (2)"), "{e}");
        let e = err("id: a\ntitle: t\nsteps:\n  - qmtp: {raw: x, message: m}\n");
        assert!(e.message.contains("not both"), "{e}");
        let e = err("id: a\ntitle: t\nsteps:\n  - qmtp: {raw: x, to: [a]}\n");
        assert!(e.message.contains("drop `from`, `to`"), "{e}");
        let e = err("id: a\ntitle: t\nsteps:\n  - qmtp: {message: m}\n");
        assert!(e.message.contains("needs `to`"), "{e}");
        let e = err("id: a\ntitle: t\nsteps:\n  - qmtp: {packages: [{packages: []}]}\n");
        assert!(e.message.contains("cannot be nested"), "{e}");
        let e = err(
            "id: a\ntitle: t\nsteps:\n  - qmtp: {to: [a], message: m, expect: [{status: X}]}\n",
        );
        assert_eq!(e.field, "steps[0].qmtp.expect[0].status", "{e}");
        assert!(e.message.contains("K, Z or D"), "{e}");
        let e =
            err("id: a\ntitle: t\nsteps:\n  - qmqp: {to: [a], message: m, expect: {statu: K}}\n");
        assert!(e.message.contains("unknown field `statu`"), "{e}");
        let s = parse(
            Path::new("t"),
            "id: a\ntitle: t\nsteps:\n  - qmtp:\n      packages:\n        - {to: [a], message: m, expect: [{status: K}]}\n        - {raw: '1:x,', expect: [{}, {}]}\n",
        )
        .unwrap();
        let Step::Qmtp(q) = &s.steps[0] else {
            panic!("{:?}", s.steps[0])
        };
        assert_eq!(q.packages.len(), 2);
        assert_eq!(q.packages[1].expect.len(), 2);
        assert_eq!(s.setup.needs, [Capability::Qmtp]);
    }

    #[test]
    fn pop3_and_qmqp_requirements() {
        let s = parse(
            Path::new("t"),
            "id: a\ntitle: t\nsetup:\n  users: [{name: joe, password: pw}]\n  pop3: {checkpassword: x}\nsteps:\n  - inject: {via: qmqpc, to: [a], message: m}\n",
        )
        .unwrap();
        for c in [
            Capability::Pop3,
            Capability::Checkpassword,
            Capability::Qmqp,
            Capability::Qmqpc,
            Capability::Inject,
            Capability::Filesystem,
        ] {
            assert!(s.setup.needs.contains(&c), "{c:?} in {:?}", s.setup.needs);
        }
    }
}
