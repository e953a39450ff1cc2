//! What a target offers beyond SMTP, the queue and its users' homes, for
//! the steps of [`crate::scenario::ops`]: signals to qmail-send, a clean
//! stop and start, running the programs of the qmail home, listing the
//! MTA's processes and pointing qmail-remote at the scenario's network.
//! The qmail home itself, and `${root}`/`${uid}`/`${gid}`, come from
//! [`super::Instance::qmail_home`] and [`super::Instance::var`].

use std::net::SocketAddr;
use std::time::Duration;

use super::TargetError;
use crate::scenario::ops::SendSignal;

/// A program run in the qmail home.
#[derive(Debug, Clone, Default)]
pub struct Program<'a> {
    pub name: &'a str,
    pub args: &'a [String],
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
    /// Given as fd 1 through a pipe instead of capturing stdout.
    pub fd1: Option<Vec<u8>>,
    pub timeout: Duration,
}

/// How it ended.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    /// `None`: killed by a signal (or by the timeout).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
}

/// One process of the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    /// The program name (`qmail-send`, `qmail-lspawn`, ...).
    pub name: String,
    pub uid: u32,
}

pub trait Admin {
    /// Sends `sig` to qmail-send; returns once it has been delivered
    /// (no longer pending).
    fn signal(&mut self, sig: SendSignal) -> Result<(), TargetError>;
    /// Stops the MTA cleanly (qmail-send gets TERM and saves its
    /// schedule); nothing runs afterwards.
    fn stop(&mut self) -> Result<(), TargetError>;
    /// Starts the MTA again on the same state; returns once it is ready.
    fn start(&mut self) -> Result<(), TargetError>;
    fn run(&mut self, p: &Program<'_>) -> Result<Ran, TargetError>;
    fn processes(&self) -> Result<Vec<Proc>, TargetError>;
    /// The uid an account of qmail-behaviour §1.1 (`qmails`, `qmailr`,
    /// `root`, ...) runs as on this target.
    fn account_uid(&self, account: &str) -> Option<u32>;
    /// Unrouted deliveries use the DNS server at `dns` and SMTP port
    /// `port`; mail for `${remote}` still goes to the harness sink.
    fn use_network(&mut self, dns: SocketAddr, port: u16) -> Result<(), TargetError>;
}
