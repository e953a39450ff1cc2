//! `migrate queue`: import an undrained sendmail queue (`qf`/`df` pairs)
//! into the reference MTA's queue, so the switch does not wait for the old
//! queue to drain. [`qf`] reads sendmail's control files (no I/O),
//! [`import`] moves messages with their undelivered recipients through the
//! MTA's crash-safe `qmail-queue`, [`run`] is the command.

pub mod import;
pub mod qf;
pub mod run;
