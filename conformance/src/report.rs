//! Reports: the failure details (reason, unified diff with visible CR/LF,
//! target diagnostics), the one-screen summary, JUnit XML (quick-junit)
//! and JSON.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::{ScenarioResult, Status};

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub deviation: usize,
}

pub fn counts(results: &[ScenarioResult]) -> Counts {
    let mut c = Counts::default();
    for r in results {
        match r.outcome.status {
            Status::Pass => c.pass += 1,
            Status::Fail => c.fail += 1,
            Status::Skip => c.skip += 1,
            Status::Deviation => c.deviation += 1,
        }
    }
    c
}

/// Every failure with its reason, diff and diagnostics.
pub fn failures(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    for r in results.iter().filter(|r| r.outcome.status == Status::Fail) {
        let _ = writeln!(
            out,
            "FAIL {} ({})\n  {}",
            r.id,
            r.file.display(),
            r.outcome.reason
        );
        if let Some(d) = &r.outcome.diff {
            out.push_str(d);
            if !d.ends_with('\n') {
                out.push('\n');
            }
        }
        if !r.outcome.diagnostics.is_empty() {
            let _ = writeln!(out, "{}", r.outcome.diagnostics);
        }
        out.push('\n');
    }
    out
}

/// The one-screen summary: skips and deviations with their reasons (one
/// line each), failures by id, then the totals.
pub fn summary(results: &[ScenarioResult], elapsed: Duration) -> String {
    let mut out = String::new();
    for r in results {
        match r.outcome.status {
            Status::Skip | Status::Deviation => {
                let _ = writeln!(
                    out,
                    "{:<9} {}: {}",
                    r.outcome.status.to_string(),
                    r.id,
                    first_line(&r.outcome.reason)
                );
            }
            Status::Fail => {
                let _ = writeln!(out, "FAIL      {}: {}", r.id, first_line(&r.outcome.reason));
            }
            Status::Pass => {}
        }
    }
    let crash: Vec<&ScenarioResult> = results
        .iter()
        .filter(|r| !r.outcome.note.is_empty())
        .collect();
    if !crash.is_empty() {
        let lost = crash
            .iter()
            .filter(|r| r.outcome.note.contains("LOST") || r.outcome.reason.contains("LOST"))
            .count();
        let _ = writeln!(
            out,
            "crash: {} cases (named points, strace sweeps, kills, power-cut states); {} with a lost message{}; per case: crash.txt",
            crash.len(),
            lost,
            if lost > 0 { " (tier B self-tests expect some)" } else { "" }
        );
    }
    let c = counts(results);
    let (target, profile) = results.first().map_or((String::new(), String::new()), |r| {
        (r.target.clone(), r.profile.to_string())
    });
    // A scenario may expand to several cases (`ID#case`); results are per case.
    let files: std::collections::BTreeSet<&std::path::Path> =
        results.iter().map(|r| r.file.as_path()).collect();
    let _ = writeln!(
        out,
        "{} scenarios ({} cases) on `{target}` (profile {profile}) in {:.1}s: {} passed, {} failed, {} skipped, {} deviations",
        files.len(),
        results.len(),
        elapsed.as_secs_f64(),
        c.pass,
        c.fail,
        c.skip,
        c.deviation
    );
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The crash report: for each crash case (named point, syscall N, kill,
/// power-cut state) its status, the history's outcome counts and the ids
/// of any lost messages (conformance spec §4.4).
pub fn crash(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    for r in results.iter().filter(|r| !r.outcome.note.is_empty()) {
        let _ = writeln!(
            out,
            "{:<9} {}: {}",
            r.outcome.status.to_string(),
            r.id,
            r.outcome.note.trim_end()
        );
        if r.outcome.status == Status::Fail {
            let _ = writeln!(out, "          {}", r.outcome.reason.trim_end());
        }
    }
    out
}

/// JUnit XML: one suite per target and profile; DEVIATION counts as a
/// pass with its reason in system-out, SKIP as skipped.
pub fn junit(
    results: &[ScenarioResult],
    elapsed: Duration,
) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("conformance");
    let name = results.first().map_or("conformance".to_string(), |r| {
        format!("{}/{}", r.target, r.profile)
    });
    let mut suite = TestSuite::new(name.as_str());
    suite.set_time(elapsed);
    for r in results {
        let status = match r.outcome.status {
            Status::Pass | Status::Deviation => TestCaseStatus::success(),
            Status::Skip => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(r.outcome.reason.as_str());
                s
            }
            Status::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(r.outcome.reason.as_str());
                let mut d = r.outcome.diff.clone().unwrap_or_default();
                if !r.outcome.diagnostics.is_empty() {
                    d.push('\n');
                    d.push_str(&r.outcome.diagnostics);
                }
                s.set_description(d);
                s
            }
        };
        let mut tc = TestCase::new(r.id.as_str(), status);
        tc.set_classname(r.file.display().to_string());
        tc.set_time(r.outcome.duration);
        if r.outcome.status == Status::Deviation {
            tc.set_system_out(format!("DEVIATION: {}", r.outcome.reason));
        } else if r.outcome.status == Status::Fail {
            tc.set_system_out(r.outcome.transcript.as_str());
        }
        suite.add_test_case(tc);
    }
    report.add_test_suite(suite);
    report.to_string()
}

/// The JSON report: every result with its transcript.
pub fn json(results: &[ScenarioResult], elapsed: Duration) -> serde_json::Result<String> {
    let c = counts(results);
    serde_json::to_string_pretty(&serde_json::json!({
        "elapsed_seconds": elapsed.as_secs_f64(),
        "counts": {"pass": c.pass, "fail": c.fail, "skip": c.skip, "deviation": c.deviation},
        "results": results,
    }))
}
