//! Results (conformance spec §8.1): PASS, FAIL, SKIP (a requirement is
//! not met, with the reason) and DEVIATION (a failure the target's
//! deviation list allows, with the list's reason), and the per-target
//! deviation lists in `scenarios/targets/<target>.yaml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Deviation,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Deviation => "DEVIATION",
        })
    }
}

/// How one scenario ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: Status,
    /// Why it failed, was skipped, or deviates; empty for PASS.
    pub reason: String,
    /// For a failure: the unified diff of expected and actual (transcript
    /// or file), CR and LF made visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The session transcript, rendered.
    pub transcript: String,
    /// Target diagnostics for failures (the MTA's log tail).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diagnostics: String,
    /// For crash cases: the history's outcome counts, duplicates and the
    /// ids of lost messages (shown even when the case passes).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Outcome {
    pub fn skip(reason: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Skip,
            reason: reason.into(),
            diff: None,
            transcript: String::new(),
            diagnostics: String::new(),
            note: String::new(),
            duration: Duration::ZERO,
        }
    }
}

/// One scenario's result on one target under one profile.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub file: PathBuf,
    pub target: String,
    pub profile: Profile,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A target's allowed deviations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviations {
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub deviations: Vec<Deviation>,
}

/// One allowed deviation: scenario `id` may fail under `profile` (all
/// profiles if absent) because of `reason`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    pub id: String,
    #[serde(default)]
    pub profile: Option<Profile>,
    pub reason: String,
}

impl Deviations {
    /// Reads a deviation list; schema errors name file, line and field.
    pub fn load(file: &Path) -> Result<Deviations, crate::scenario::load::SchemaError> {
        let text =
            std::fs::read_to_string(file).map_err(|e| crate::scenario::load::SchemaError {
                file: file.to_path_buf(),
                line: 0,
                column: 0,
                field: ".".into(),
                message: e.to_string(),
            })?;
        let de = serde_yaml::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = inner.location().map_or((0, 0), |l| (l.line(), l.column()));
            crate::scenario::load::SchemaError {
                file: file.to_path_buf(),
                line,
                column,
                field,
                message: inner.to_string(),
            }
        })
    }

    /// The reason scenario `id` may fail under `profile`, if listed.
    pub fn allowed(&self, id: &str, profile: Profile) -> Option<&str> {
        self.deviations
            .iter()
            .find(|d| d.id == id && d.profile.is_none_or(|p| p == profile))
            .map(|d| d.reason.as_str())
    }

    /// Turns a FAIL into a DEVIATION when the list allows it.
    pub fn apply(&self, id: &str, profile: Profile, mut o: Outcome) -> Outcome {
        if o.status == Status::Fail {
            if let Some(reason) = self.allowed(id, profile) {
                o.reason = format!("{reason} (observed: {})", o.reason);
                o.status = Status::Deviation;
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_failures_become_deviations_for_their_profile_only() {
        let d: Deviations = serde_yaml::from_str(
            "deviations:\n  - {id: a, profile: rfc, reason: qmail says 502}\n",
        )
        .unwrap();
        let mut fail = Outcome::skip("got 502");
        fail.status = Status::Fail;
        let o = d.apply("a", Profile::Rfc, fail.clone());
        assert_eq!(o.status, Status::Deviation);
        assert!(o.reason.starts_with("qmail says 502"));
        assert_eq!(
            d.apply("a", Profile::Qmail, fail.clone()).status,
            Status::Fail
        );
        assert_eq!(d.apply("b", Profile::Rfc, fail).status, Status::Fail);
    }
}
