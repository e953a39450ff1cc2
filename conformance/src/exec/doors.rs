//! Steps on the doors besides SMTP: POP3 responses for `expect`, and the
//! `qmtp` and `qmqp` steps (packages out, netstring responses in).

use super::{netmatch, Failure, Session};
use crate::escape;
use crate::scenario::doors::{NetExpect, Package, PackageBytes, Qmqp, Qmtp};
use crate::scenario::{Expect, Protocol};

impl Session<'_> {
    /// One POP3 response against `e` (qmail-behaviour §11).
    pub(super) fn expect_pop3(&mut self, e: &Expect) -> Result<(), Failure> {
        let multi = netmatch::pop3_multi(e, self.profile);
        self.read_and_check(
            e.timeout,
            |c, wait, t| crate::pop3::response(c, wait, multi, t),
            |cx| netmatch::render_pop3(e, cx),
            |r, cx| netmatch::check_pop3(e, r, cx),
            "no response",
        )
    }

    /// Keeps the connection if it goes to `door`, else opens one there.
    fn use_door(&mut self, door: Protocol) -> Result<(), Failure> {
        if self.door != door || self.conn.is_none() {
            self.door = door;
            self.connect()?;
        }
        Ok(())
    }

    /// The bytes of `p` with `${var}`s substituted.
    fn package_bytes(&self, p: &PackageBytes, door: Protocol) -> Vec<u8> {
        match p {
            PackageBytes::Raw(t) => self.subst(&t.0),
            PackageBytes::Built {
                from,
                to,
                message,
                encoding,
            } => {
                let from = self.subst(&from.0);
                let to: Vec<Vec<u8>> = to.iter().map(|r| self.subst(&r.0)).collect();
                let message = self.subst(&message.0);
                if door == Protocol::Qmqp {
                    crate::qmtp::qmqp_package(&from, &to, &message)
                } else {
                    crate::qmtp::qmtp_package(&from, &to, &message, *encoding)
                }
            }
        }
    }

    /// The `qmtp` step: every package in one write, then each one's
    /// responses in order (qmail-behaviour §10.2: the client may
    /// pipeline packages).
    pub(super) fn qmtp(&mut self, q: &Qmtp) -> Result<(), Failure> {
        self.packages(&q.packages, Protocol::Qmtp)
    }

    /// The `qmqp` step (qmail-behaviour §10.3).
    pub(super) fn qmqp(&mut self, q: &Qmqp) -> Result<(), Failure> {
        self.packages(std::slice::from_ref(&q.package), Protocol::Qmqp)
    }

    fn packages(&mut self, packages: &[Package], door: Protocol) -> Result<(), Failure> {
        self.use_door(door)?;
        let mut all = Vec::new();
        for p in packages {
            all.extend(self.package_bytes(&p.bytes, door));
        }
        self.send(all)?;
        for (i, p) in packages.iter().enumerate() {
            if packages.len() > 1 {
                self.t.note(format!("responses to package {}", i + 1));
            }
            for e in &p.expect {
                self.net_response(e)?;
            }
        }
        Ok(())
    }

    /// Reads one netstring response and checks it against `e`.
    fn net_response(&mut self, e: &NetExpect) -> Result<(), Failure> {
        self.read_and_check(
            e.timeout,
            |c, wait, t| c.unit(wait, t, &crate::qmtp::split),
            |cx| netmatch::render_net(e, cx),
            |unit, cx| {
                netmatch::check_net(e, unit, cx).map_err(|why| {
                    format!(
                        "response {}: {why}",
                        escape::visible(unit).chars().take(80).collect::<String>()
                    )
                })
            },
            "no response",
        )
    }
}
