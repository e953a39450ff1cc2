//! What a reply must look like (conformance spec §8.2 `expect`), per
//! expectation profile.
//!
//! The fields of an [`Expect`] apply to every profile; its `qmail` and
//! `rfc` sub-expectations add constraints that hold only under that
//! profile. So "5xx for an unknown verb" is written once, and the profile
//! `qmail` adds the byte-exact netqmail reply `502 unimplemented (#5.5.1)`
//! while `rfc` adds code 500 (RFC 5321 §4.2.4 SHOULD).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// An expectation profile (conformance spec §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Byte-exact netqmail 1.06.
    Qmail,
    /// What RFC 5321 and its extensions allow.
    Rfc,
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Qmail => "qmail",
            Profile::Rfc => "rfc",
        })
    }
}

/// Expectations about one reply.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The reply code, or a set of allowed codes.
    #[serde(default)]
    pub code: Option<Codes>,
    /// The reply class: `2xx`, `3xx`, `4xx` or `5xx`.
    #[serde(default)]
    pub class: Option<Class>,
    /// The enhanced status code (RFC 3463), found at the start of the text
    /// (RFC 2034 style) or as qmail's `(#c.s.d)`.
    #[serde(default)]
    pub enhanced: Option<String>,
    /// A regex that must match the reply text (lines joined with `\n`,
    /// codes and separators removed).
    #[serde(default)]
    pub text: Option<Pattern>,
    /// The exact reply lines after normalisation, without CRLF.
    #[serde(default)]
    pub reply: Option<Lines>,
    /// The number of lines of a multi-line reply.
    #[serde(default)]
    pub lines: Option<usize>,
    /// Seconds to wait for the reply (default 10).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// POP3: `ok` (`+OK`) or `err` (`-ERR`).
    #[serde(default)]
    pub status: Option<Pop3Status>,
    /// POP3: the response goes on after a `+OK` line up to the line `.`
    /// (implied by `reply` or `lines` of more than one line).
    #[serde(default)]
    pub multiline: bool,
    #[serde(default)]
    pub qmail: Option<Box<Expect>>,
    #[serde(default)]
    pub rfc: Option<Box<Expect>>,
}

impl Expect {
    /// The sub-expectation for `profile`, if any.
    pub fn for_profile(&self, profile: Profile) -> Option<&Expect> {
        match profile {
            Profile::Qmail => self.qmail.as_deref(),
            Profile::Rfc => self.rfc.as_deref(),
        }
    }
}

/// A POP3 response's status (RFC 1939 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pop3Status {
    Ok,
    Err,
}

impl Pop3Status {
    /// The status indicator the response starts with.
    pub fn indicator(self) -> &'static [u8] {
        match self {
            Pop3Status::Ok => b"+OK",
            Pop3Status::Err => b"-ERR",
        }
    }
}

/// One code or a set of codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codes(pub Vec<u16>);

impl<'de> Deserialize<'de> for Codes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Codes, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(u16),
            Many(Vec<u16>),
        }
        let v = match Raw::deserialize(d)? {
            Raw::One(c) => vec![c],
            Raw::Many(v) => v,
        };
        if v.is_empty() || v.iter().any(|c| !(200..=599).contains(c)) {
            return Err(serde::de::Error::custom(format!(
                "reply codes must be 200..599, got {v:?}"
            )));
        }
        Ok(Codes(v))
    }
}

/// A reply class: the first digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class(pub u8);

impl<'de> Deserialize<'de> for Class {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Class, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_bytes() {
            [c @ b'2'..=b'5', b'x', b'x'] => Ok(Class(c - b'0')),
            _ => Err(serde::de::Error::custom(format!(
                "class {s:?} must be one of 2xx, 3xx, 4xx, 5xx"
            ))),
        }
    }
}

/// A regex, checked when the scenario is loaded. `${name}` variables are
/// substituted (escaped) before the match.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: regex::bytes::Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, regex::Error> {
        // Variables are replaced by a plain word for the load-time check.
        let probe = crate::escape::substitute(source.as_bytes(), &|_| Some("x".into()));
        let regex = regex::bytes::Regex::new(&String::from_utf8_lossy(&probe))?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The regex with `${name}` variables replaced by their escaped values.
    pub fn resolve(&self, lookup: &dyn Fn(&str) -> Option<String>) -> regex::bytes::Regex {
        if !self.source.contains("${") {
            return self.regex.clone();
        }
        let esc = |n: &str| lookup(n).map(|v| regex::escape(&v));
        let s = crate::escape::substitute(self.source.as_bytes(), &esc);
        regex::bytes::Regex::new(&String::from_utf8_lossy(&s))
            .unwrap_or_else(|_| self.regex.clone())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let s = String::deserialize(d)?;
        Pattern::new(&s).map_err(|e| serde::de::Error::custom(format!("bad regex: {e}")))
    }
}

/// Exact lines: one string or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines(pub Vec<String>);

impl<'de> Deserialize<'de> for Lines {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Lines, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        Ok(Lines(match Raw::deserialize(d)? {
            Raw::One(s) => vec![s],
            Raw::Many(v) => v,
        }))
    }
}
