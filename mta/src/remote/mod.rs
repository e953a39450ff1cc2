//! Remote delivery: `qmail-rspawn`, `qmail-remote`, and the TCP timeout
//! table (spec §1.5, §6, Appendix A, Appendix C).
//!
//! ## Tour
//! - [`rspawn`]: the [`Spawner`](crate::spawn::Spawner) that runs one
//!   qmail-remote per delivery and collapses its reports into one K/Z/D
//!   report for qmail-send.
//! - [`deliver`]: qmail-remote's `main()`: arguments, controls, route, DNS,
//!   best-MX rule, timeout table, connect loop.
//! - [`controls`] and [`routes`]: the control files it reads, validated;
//!   `smtproutes` lookup.
//! - [`dns`], [`mx`], [`ipme`]: MX and A lookups (hickory-resolver), the
//!   MX ordering with qmail's shuffle of equal preferences, literals, and
//!   "which addresses are mine".
//! - [`tcpto`]: `queue/lock/tcpto`, plus what `qmail-tcpto` and
//!   `qmail-tcpok` do with it.
//! - [`smtp`]: the dialogue once connected (HELO, never EHLO), byte exact.
//! - [`starttls`]: EHLO and STARTTLS (rustls) before the same dialogue,
//!   only with `control/remotetls`; certificate policy and TLS reports.
//! - [`report`]: qmail-remote's NUL-terminated output and its fixed texts.
//!
//! ## Invariants
//! - qmail-remote always exits 0 and always ends its output with exactly
//!   one message report (`K`, `Z` or `D`).
//! - Once a TCP connection is established no other address is tried;
//!   anything that goes wrong later ends the attempt.
//! - Every report text is netqmail's, byte for byte.
//!
//! ## Deliberate choices and extensions
//! - **No CNAME canonicalisation** (notqmail): recipient domains go into
//!   `RCPT TO` unchanged and no `ANY` queries are made, so the netqmail
//!   `CNAME lookup failed temporarily. (#4.4.3)` deferral cannot happen and
//!   the "all recipients are aliases → prefme 500000" rule never applies.
//!   RFC 5321 forbids the rewriting, and the `ANY` query is what breaks
//!   on large DNSSEC answers (spec §12.3).
//! - **Body CR bytes are passed through** (netqmail): CRLF in the queue file
//!   becomes CR CR LF on the wire, as spec §6.6 describes for netqmail.
//! - **`control/dnsserver`** (ours): one `ip` or `ip:port` per line, the DNS
//!   servers to ask (UDP, TCP for truncated answers). Without it the system
//!   configuration (`/etc/resolv.conf`) is used. Tests point it at a DNS
//!   server on loopback.
//! - **`control/remoteport`** (ours, mainly for tests): the SMTP port for
//!   unrouted deliveries and for routes without `:port`; default 25 as
//!   qmail's compiled-in `PORT_SMTP`. It lets a test reach a sink on an
//!   unprivileged port through real MX routing.
//! - **`control/remotetls`** (ours): STARTTLS when the peer offers it;
//!   opportunistic unless `control/remotetlsverify` (see [`starttls`]).
//! - An IP literal given as an MX target gets preference 0, not the MX's
//!   preference: that is what netqmail's `dns.c` does, although spec §6.3
//!   reads as if it inherited the preference.

pub mod controls;
pub mod deliver;
pub mod dns;
pub mod ipme;
pub mod mx;
pub mod report;
pub mod routes;
pub mod rspawn;
pub mod smtp;
pub mod starttls;
pub mod tcpto;
