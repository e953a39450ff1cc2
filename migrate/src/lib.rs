//! The sendmail → qmail migrator.
//!
//! A tour:
//! * [`aliases`] reads a sendmail aliases file into the aliases sendmail
//!   actually had (spec §1), with [`target`] parsing right-hand sides,
//!   [`include`] inlining `:include:` lists, and [`detect`] refusing input
//!   that is not sendmail syntax.
//! * [`forward`] converts `~/.forward` files (spec §2, §3.3).
//! * [`qmail_out`] writes `.qmail-NAME` files for the alias user,
//!   [`fastforward_out`] a fastforward source and its `aliases.cdb`
//!   (built in memory by [`cdbmake`], byte for byte as newaliases does).
//! * [`report`] is the one model of what the user is told; [`write`]
//!   writes atomically, refuses to overwrite, and shows dry-run diffs.
//! * [`site`] holds what the conversion knows about the host; [`par`]
//!   runs the halves of a large aliases file at once.
//! * [`verify`] replays every address through the old sendmail (real or
//!   modelled) and the new qmail configuration and compares deliveries;
//!   [`queue`] imports an undrained sendmail queue into the MTA's queue.
//! * [`config`] converts `sendmail.cf` / `sendmail.mc` and the maps
//!   (access, virtusertable, mailertable, genericstable) into qmail's
//!   control files (spec §4); [`host`] runs every converter over a whole
//!   host (`migrate site`).
//!
//! Invariants: the converter never switches on a mail flow sendmail did
//! not have (spec §3.4), every difference is a [`report::Finding`] with a
//! file and line, and output is a pure function of input (running twice
//! changes nothing).
#![forbid(unsafe_code)]

pub mod aliases;
pub mod cdbmake;
pub mod cli;
pub mod config;
pub mod detect;
pub mod fastforward_out;
pub mod forward;
pub mod host;
pub mod include;
pub mod par;
pub mod qmail_out;
pub mod queue;
pub mod report;
pub mod site;
pub mod target;
pub mod verify;
pub mod write;
