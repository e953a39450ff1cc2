//! Test helpers shared by the integration tests: servers on loopback that
//! the MTA under test talks to.
//!
//! - [`dns::DnsServer`]: a tiny authoritative DNS server on UDP
//!   `127.0.0.1:<ephemeral>` answering MX and A from a fixed zone (point
//!   `control/dnsserver` at [`dns::DnsServer::addr`]).
//! - [`smtp_sink::SmtpSink`]: a scripted SMTP server that records every
//!   byte it receives.
//! - [`remote_home::RemoteHome`]: a QMAILHOME for running qmail-remote
//!   alone.
//!
//! Both stop (and join their thread) when dropped or finished, so a test
//! leaves nothing running. Use from a test file with `mod support;`.

#![allow(dead_code)]

pub mod dns;
pub mod remote_home;
pub mod smtp_sink;
