//! The black-box conformance suite runner (conformance spec §8).
//!
//! ## Tour
//! - [`scenario`]: the YAML schema, loading with file/line/field errors
//!   (`scenario::doors`: the QMTP, QMQP and POP3 parts).
//! - [`escape`]: byte escapes in scenarios, visible CR/LF in reports.
//! - [`normalize`]: named rules masking volatile text before comparison.
//! - [`smtp`]: a raw, byte-exact SMTP client (reply parsing, pipelining,
//!   STARTTLS through rustls).
//! - [`qmtp`], [`pop3`]: the client side of the other doors (netstring
//!   packages and responses; POP3 responses over the same connection).
//! - [`sink`]: the harness' SMTP server that every target relays to.
//! - [`network`]: a scenario's own DNS server and SMTP hosts on other
//!   loopback addresses (qmail-remote's MX handling).
//! - [`target`]: the [`target::Target`] trait; `reference` (our own MTA in a
//!   temporary root) and `remote` (any host:port, protocol checks only).
//! - [`crash`]: crash tiers A (named points, strace sweeps) and B
//!   (power-cut states), and the history invariant (conformance spec §4.4).
//! - [`exec`]: runs one scenario's steps and assertions into an outcome.
//! - [`outcome`]: PASS/FAIL/SKIP/DEVIATION and per-target deviation lists.
//! - [`runner`]: parallel runs, filters, shards.
//! - [`record`]: `conformance record`, a new scenario from a live session.
//! - [`report`]: diffs, the summary screen, JUnit XML and JSON.
//!
//! ## Invariants
//! - A scenario never passes by accident: every expectation is checked
//!   against bytes actually received, and a requirement the target does
//!   not meet gives SKIP with the reason, never PASS.
//! - Every process and server a run starts, the run stops.

pub mod cli;
pub mod crash;
pub mod escape;
pub mod exec;
pub mod network;
pub mod normalize;
pub mod outcome;
pub mod pop3;
pub mod qmtp;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod sink;
pub mod smtp;
pub mod target;
