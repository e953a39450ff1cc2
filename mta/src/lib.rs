//! # mta — a reference qmail-compatible MTA
//!
//! Behaviour to match: netqmail 1.06, as written down in
//! `shared/spec/qmail-behaviour.md` (cited below as "spec §N").
//!
//! ## Tour
//! - [`home`]: where the MTA lives (`QMAILHOME`), production vs
//!   unprivileged mode, qmail's accounts.
//! - [`control`]: control files read with qmail's rules into validated
//!   snapshots.
//! - [`durable`] and [`crashpoint`]: every durable filesystem step fsyncs the
//!   file and its directory and is a named crash point.
//! - [`queue`]: the on-disk queue, `qmail-queue`, `qmail-clean`, and the
//!   client side that runs `qmail-queue` (or `QMAILQUEUE`).
//! - [`send`]: `qmail-send`, the scheduler.
//! - [`spawn`]: the send ↔ spawn protocol and the server both spawns share.
//! - [`local`]: `users/assign`, `qmail-getpw`, `qmail-lspawn`, `qmail-local`.
//! - [`remote`]: `qmail-rspawn`, `qmail-remote`, the tcpto table.
//! - [`bounce`]: QSBMF and RFC 3464 DSN bounces.
//! - [`admin`]: `qmail-qread`, `qmail-qstat`, `qmail-showctl`.
//! - [`users`] holds `qmail-pw2u`.
//! - [`pop3`]: `qmail-popup`, `qmail-pop3d`, `mta-checkpassword` and its password file.
//! - [`smtpd`]: `qmail-smtpd` (a protocol core without I/O, and its fd driver), `qmail-newmrh`.
//! - [`qmtp`]: `qmail-qmtpd`, `qmail-qmqpd` and `qmail-qmqpc` (QMTP and QMQP).
//! - [`helpers`]: `preline`, `bouncesaying`, `condredirect`, `except`, `forward`, `maildirmake`.
//! - [`start`]: `qmail-start` and the supervisor.
//! - [`inject`]: `qmail-inject`, the `sendmail` wrapper and `mailq`.
//! - [`listener`]: the built-in tcpserver + qmail-smtpd (`mta-listen`,
//!   `mta-tcprules`), with STARTTLS and AUTH.
//! - [`date`], [`quote`]: qmail's byte-exact date formats and address quoting.
//! - [`commands`]: how the line-based servers cut a command line.
//! - [`workers`]: threads kept for the next job (deliveries, in-process
//!   qmail-queue runs).
//!
//! ## Invariants
//! - Once `qmail-queue` has linked `todo/N` (its commit point) the message
//!   is never lost; at worst it is delivered twice.
//! - An address never becomes a program or a file except through a
//!   `.qmail` line owned by the right user.
//! - Every error knows whether it is permanent or temporary; when in doubt,
//!   temporary (defer, never lose).
//! - Binaries under `src/bin/` only parse arguments and call this library.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod admin;
pub mod bounce;
pub mod commands;
pub mod control;
pub mod crashpoint;
pub mod date;
pub mod durable;
pub mod helpers;
pub mod home;
pub mod inject;
pub mod listener;
pub mod local;
pub mod pop3;
pub mod qmtp;
pub mod queue;
pub mod quote;
pub mod remote;
pub mod send;
pub mod smtpd;
pub mod spawn;
pub mod start;
pub mod users;
pub mod workers;
