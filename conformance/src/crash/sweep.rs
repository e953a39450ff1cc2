//! Tier A for any MTA (conformance spec §4.4): a fault at the Nth call of
//! some syscalls, for N over every call of a one-message run.
//!
//! A sweep scenario (`crash: {syscall: [...], where: ..., nth: every}`)
//! is run once with the syscalls only traced, to count them. strace's
//! `when=N` counts each syscall of each process on its own, so the cases
//! are (syscall, N) for N up to the largest count one process reached,
//! each run with `strace -e inject=<syscall>:<fault>:when=N`. A count
//! above the budget is sampled evenly, always keeping the first and the
//! last call, and the report says so; `CONFORMANCE_FULL_SWEEP=1` runs
//! every N.

use std::collections::BTreeMap;

/// The most cases a sweep runs unless `CONFORMANCE_FULL_SWEEP` is set.
pub const DEFAULT_BUDGET: u32 = 32;

/// True when `strace` can be run (the `crash` capability needs it).
pub fn strace_available() -> bool {
    std::process::Command::new("strace")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Per syscall named in `calls`, the largest number of calls one process
/// made, over `strace -f -o` outputs (each line starts with the pid; an
/// interrupted call's `<... resumed>` line is not counted again). Only
/// syscalls that occurred are listed.
pub fn max_calls(texts: &[String], calls: &[String]) -> Vec<(String, u32)> {
    let mut per: BTreeMap<(usize, String, String), u32> = BTreeMap::new();
    for (i, t) in texts.iter().enumerate() {
        for line in t.lines() {
            let (pid, rest) = match line.split_once(' ') {
                Some((p, r)) if p.bytes().all(|b| b.is_ascii_digit()) => (p, r.trim_start()),
                _ => ("0", line),
            };
            let Some(name) = rest.split('(').next() else {
                continue;
            };
            if rest.contains('(') && calls.iter().any(|c| c == name) {
                *per.entry((i, pid.to_string(), name.to_string()))
                    .or_default() += 1;
            }
        }
    }
    let mut max: BTreeMap<String, u32> = BTreeMap::new();
    for ((_, _, name), n) in per {
        let m = max.entry(name).or_default();
        *m = (*m).max(n);
    }
    calls
        .iter()
        .filter_map(|c| max.get(c).map(|n| (c.clone(), *n)))
        .collect()
}

/// The N to run for `count` calls within `budget` cases: all of them, or
/// an even sample including 1 and `count`.
pub fn sample(count: u32, budget: u32) -> Vec<u32> {
    if count <= budget || budget < 2 {
        return (1..=count).collect();
    }
    let mut v: Vec<u32> = (0..budget)
        .map(|i| 1 + ((count - 1) as u64 * i as u64 / (budget - 1) as u64) as u32)
        .collect();
    v.dedup();
    v
}

/// The budget in force: unlimited with `CONFORMANCE_FULL_SWEEP=1`.
pub fn budget() -> u32 {
    match std::env::var("CONFORMANCE_FULL_SWEEP") {
        Ok(v) if v == "1" => u32::MAX,
        _ => DEFAULT_BUDGET,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_process_and_skips_resumed_lines() {
        let t = "10 fsync(3) = 0\n10 fsync(4 <unfinished ...>\n11 fsync(5) = 0\n\
                 10 <... fsync resumed>) = 0\n10 write(1, \"x\", 1) = 1\n10 fsync(6) = 0\n"
            .to_string();
        let calls = vec!["fsync".to_string(), "write".into(), "link".into()];
        assert_eq!(
            max_calls(&[t], &calls),
            vec![("fsync".to_string(), 3), ("write".to_string(), 1)]
        );
    }

    #[test]
    fn samples_keep_both_ends() {
        assert_eq!(sample(3, 8), vec![1, 2, 3]);
        let s = sample(100, 5);
        assert_eq!(s.first(), Some(&1));
        assert_eq!(s.last(), Some(&100));
        assert_eq!(s.len(), 5);
        assert!(sample(0, 8).is_empty());
    }
}
