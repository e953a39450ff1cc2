//! A raw SMTP client for the harness (conformance spec §0.3: not lettre,
//! which cannot pipeline, send raw bytes in DATA, or read 8-bit replies).
//!
//! - [`reply`]: parsing reply lines into [`reply::Reply`] (no I/O).
//! - [`client`]: a blocking connection (plain, or TLS after STARTTLS) that
//!   writes exact bytes and reads replies with deadlines, recording a
//!   transcript.
pub mod client;
pub mod reply;
