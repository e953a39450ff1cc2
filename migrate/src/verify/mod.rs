//! `migrate verify`: replay every address the old configuration knows
//! through the old and the new configuration and compare the final
//! deliveries (issue "sendmail → qmail, with proof that nothing changed").
//!
//! * [`delivery`]: the normalised delivery both sides are reduced to;
//! * the old side is the real sendmail 8.17 ([`oracle`], parsing `-bv`
//!   with [`sendmail_bv`]) when a binary is present, else [`model`], our
//!   model of sendmail's semantics (spec §1.4, §2) fed by [`cf`];
//! * the new side is the reference MTA's own routing ([`qmail_side`]);
//! * [`render`] prints both lists side by side (`similar`) and the summary.
//!
//! A difference is *flagged* when the converter's report has a finding
//! that needs a decision (or says "not converted"/"converted with a
//! change") on an alias entry or file the address passed through (the
//! model records the path); otherwise it is *unexplained*, and the run
//! exits 2.

pub mod cf;
pub mod delivery;
pub mod model;
pub mod oracle;
pub mod qmail_side;
pub mod render;
pub mod run;
pub mod sendmail_bv;

use serde::Serialize;

use crate::report::{Action, Finding, Report};
pub use delivery::Delivery;

/// How one address compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Both sides deliver the same.
    Same,
    /// They differ, and the converter's report says why.
    Flagged,
    /// They differ and nothing in the report explains it.
    Unexplained,
}

/// One replayed address.
#[derive(Debug, Clone, Serialize)]
pub struct AddressResult {
    pub address: String,
    /// Where it came from: `alias`, `account`, `virtusertable`, `given`.
    pub origin: String,
    pub old: Vec<Delivery>,
    pub new: Vec<Delivery>,
    pub verdict: Verdict,
    /// The findings that explain a difference.
    pub explained_by: Vec<Finding>,
    /// Lines the old side printed that were not about a recipient.
    pub notes: Vec<String>,
}

/// Which implementation gave the old side.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OldSide {
    /// The real sendmail, run offline and isolated.
    Sendmail { binary: String, version: String },
    /// Our model of sendmail 8.17's semantics.
    Model { why: String },
}

impl OldSide {
    /// The sentence the report starts with.
    pub fn describe(&self) -> String {
        match self {
            OldSide::Sendmail { binary, version } => format!(
                "old side: real sendmail ({version}, {binary}), run offline in private namespaces"
            ),
            OldSide::Model { why } => {
                format!("old side: migrate's model of sendmail 8.17 semantics ({why})")
            }
        }
    }
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub old_side: OldSide,
    pub results: Vec<AddressResult>,
    /// `sendmail -bi`'s messages, when the real sendmail compiled the aliases.
    pub newaliases: Option<String>,
}

impl Verification {
    /// (same, flagged, unexplained) counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |v| self.results.iter().filter(|r| r.verdict == v).count();
        (
            n(Verdict::Same),
            n(Verdict::Flagged),
            n(Verdict::Unexplained),
        )
    }

    /// 0 all the same, 1 differences all flagged, 2 an unexplained one.
    pub fn exit_code(&self) -> u8 {
        match self.counts() {
            (_, _, u) if u > 0 => 2,
            (_, f, _) if f > 0 => 1,
            _ => 0,
        }
    }
}

/// The findings of `report` that explain a difference for an address
/// whose expansion passed through `sources`.
pub fn explaining(report: &Report, address: &str, sources: &[(String, usize)]) -> Vec<Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.needs_decision || f.action != Action::Converted)
        .filter(|f| {
            if f.construct == "`+detail` addressing" {
                return address.contains('+');
            }
            sources.iter().any(|(file, line)| {
                **file == *f.file && (*line == f.line || f.line == 0 || *line == 0)
            })
        })
        .cloned()
        .collect()
}

/// Compares one address's two sides and decides the verdict.
pub fn compare(
    address: &str,
    origin: &str,
    old: Vec<Delivery>,
    new: Vec<Delivery>,
    report: &Report,
    sources: &[(String, usize)],
    notes: Vec<String>,
) -> AddressResult {
    let old = delivery::normalise(old);
    let new = delivery::normalise(new);
    let (verdict, explained_by) = if old == new {
        (Verdict::Same, Vec::new())
    } else {
        let f = explaining(report, address, sources);
        (
            if f.is_empty() {
                Verdict::Unexplained
            } else {
                Verdict::Flagged
            },
            f,
        )
    };
    AddressResult {
        address: address.to_string(),
        origin: origin.to_string(),
        old,
        new,
        verdict,
        explained_by,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_report() {
        let mut r = Report::default();
        r.push(
            "aliases",
            3,
            "alias `x`",
            Action::ConvertedWithChange,
            "why",
            true,
        );
        r.push("aliases", 4, "`y`", Action::Converted, "fine", false);
        let src = vec![("aliases".to_string(), 3)];
        let a = compare(
            "x",
            "alias",
            vec![Delivery::mailbox("bob")],
            vec![Delivery::mailbox("bob")],
            &r,
            &src,
            vec![],
        );
        assert_eq!(a.verdict, Verdict::Same);
        let b = compare(
            "x",
            "alias",
            vec![Delivery::mailbox("bob")],
            vec![Delivery::bounce("5.1.1")],
            &r,
            &src,
            vec![],
        );
        assert_eq!(b.verdict, Verdict::Flagged);
        assert_eq!(b.explained_by.len(), 1);
        let c = compare(
            "y",
            "alias",
            vec![Delivery::mailbox("bob")],
            vec![Delivery::bounce("5.1.1")],
            &r,
            &[("aliases".to_string(), 4)],
            vec![],
        );
        assert_eq!(
            c.verdict,
            Verdict::Unexplained,
            "a plain `converted` explains nothing"
        );
    }
}
