//! `scenarios/COVERAGE.md` maps every item of qmail-behaviour.md's
//! black-box lists to scenarios. This test keeps the map honest: every
//! item names at least one scenario, every named scenario exists, and
//! the items of a section are numbered 1, 2, 3, ... without gaps.
//!
//! With `QMAIL_BEHAVIOUR_SPEC=<path to qmail-behaviour.md>` it also checks
//! that each section (§1–§11, and any later one COVERAGE.md lists) has as
//! many rows as the spec's list has bullets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Sections §1 to this one must be in COVERAGE.md.
const MAPPED: u32 = 11;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// (section, item number, scenario ids) per table row.
fn rows(text: &str) -> Vec<(u32, u32, Vec<String>, usize)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("| §") else {
            continue;
        };
        let cells: Vec<&str> = rest.split('|').map(str::trim).collect();
        assert!(
            cells.len() >= 3,
            "COVERAGE.md:{}: a row needs item, what and scenarios: {line}",
            i + 1
        );
        let (sec, item) = cells[0]
            .split_once('.')
            .and_then(|(s, n)| Some((s.parse::<u32>().ok()?, n.parse::<u32>().ok()?)))
            .unwrap_or_else(|| panic!("COVERAGE.md:{}: item {:?} is not §N.k", i + 1, cells[0]));
        let ids: Vec<String> = cells[2]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        out.push((sec, item, ids, i + 1));
    }
    out
}

/// Bullets per "Black-box testable (section N)" list of the spec.
fn spec_counts(spec: &str) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    let mut current: Option<u32> = None;
    for line in spec.lines() {
        if let Some(n) = line
            .strip_prefix("### Black-box testable (section ")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|n| n.parse::<u32>().ok())
        {
            current = Some(n);
            counts.insert(n, 0);
            continue;
        }
        if line.starts_with('#') || line.starts_with("---") {
            current = None;
        }
        if let (Some(n), true) = (current, line.starts_with("* ")) {
            *counts.entry(n).or_default() += 1;
        }
    }
    counts
}

#[test]
fn every_black_box_item_has_existing_scenarios() {
    let text = std::fs::read_to_string(scenarios().join("COVERAGE.md")).unwrap();
    let all = conformance::scenario::load::load_all(&[scenarios()])
        .unwrap_or_else(|e| panic!("the scenario library does not load: {e:?}"));
    let ids: BTreeSet<&str> = all.iter().map(|s| s.id.as_str()).collect();
    let rows = rows(&text);
    assert!(!rows.is_empty(), "COVERAGE.md has no rows");
    let mut problems = Vec::new();
    let mut last: BTreeMap<u32, u32> = BTreeMap::new();
    for (sec, item, named, line) in &rows {
        let prev = last.insert(*sec, *item).unwrap_or(0);
        if *item != prev + 1 {
            problems.push(format!(
                "COVERAGE.md:{line}: §{sec}.{item} follows §{sec}.{prev}"
            ));
        }
        if named.is_empty() {
            problems.push(format!("COVERAGE.md:{line}: §{sec}.{item} has no scenario"));
        }
        for id in named {
            if !ids.contains(id.as_str()) {
                problems.push(format!(
                    "COVERAGE.md:{line}: §{sec}.{item} names {id:?}, which is no scenario id"
                ));
            }
        }
    }
    for sec in 1..=MAPPED {
        if !last.contains_key(&sec) {
            problems.push(format!("COVERAGE.md: section §{sec} has no items"));
        }
    }
    if let Some(spec) = std::env::var_os("QMAIL_BEHAVIOUR_SPEC") {
        let spec = std::fs::read_to_string(&spec).unwrap();
        for (sec, n) in spec_counts(&spec) {
            let have = last.get(&sec).copied().unwrap_or(0) as usize;
            // §1–§11 always; a later section once COVERAGE.md lists it.
            if (sec <= MAPPED || last.contains_key(&sec)) && have != n {
                problems.push(format!(
                    "COVERAGE.md: §{sec} has {have} items, the spec's list has {n}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_notices_gaps_and_unknown_ids() {
    let r = rows("| §1.1 | a | x, y |\n| §1.3 | b |  |\n");
    assert_eq!(r[0].2, ["x", "y"]);
    assert_eq!((r[1].0, r[1].1), (1, 3));
    assert!(r[1].2.is_empty());
    let c = spec_counts(
        "### Black-box testable (section 2)\n\n* one\n  more\n* two\n\n---\n* not counted\n",
    );
    assert_eq!(c.get(&2), Some(&2));
}
