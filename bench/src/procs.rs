//! What a running MTA costs: its process tree, read from /proc.
//!
//! CPU is `utime + stime + cutime + cstime` summed over the live tree: a
//! process that exits hands its time (and its reaped children's) to its
//! parent's `cutime`/`cstime` when reaped, so the sum only grows while the
//! tree's root lives and a difference of two samples is the tree's CPU in
//! between. Memory is PSS (`/proc/PID/smaps_rollup`), so pages shared by
//! many processes of one MTA (Postfix's and Exim's per-connection
//! processes) are counted once in total, not once per process.

use std::collections::HashMap;

/// Every pid whose ancestry reaches `root` (including `root`).
pub fn tree(root: u32) -> Vec<u32> {
    let mut parent = HashMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some(st) = stat(pid) {
            parent.insert(pid, st.ppid);
        }
    }
    let mut out = Vec::new();
    for &pid in parent.keys() {
        let mut p = pid;
        for _ in 0..128 {
            if p == root {
                out.push(pid);
                break;
            }
            match parent.get(&p) {
                Some(&q) if q != 0 => p = q,
                _ => break,
            }
        }
    }
    out.sort_unstable();
    out
}

/// The fields of /proc/PID/stat the harness uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    pub ticks: u64,
}

/// Parses the text of /proc/PID/stat. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); ppid is field 4; utime..cstime 14..17.
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    let ppid = num(4)? as u32;
    let ticks = num(14)? + num(15)? + num(16)? + num(17)?;
    Some(Stat { ppid, ticks })
}

pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// CPU milliseconds used so far by the live tree under `root`.
pub fn tree_cpu_ms(root: u32) -> f64 {
    let ticks: u64 = tree(root)
        .iter()
        .filter_map(|&p| stat(p))
        .map(|s| s.ticks)
        .sum();
    ticks as f64 * 1000.0 / ticks_per_second() as f64
}

/// The `Pss:` line of smaps_rollup text, in KiB.
pub fn parse_pss_kib(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// PSS of the tree under `root`, in KiB.
pub fn tree_pss_kib(root: u32) -> u64 {
    tree(root)
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .filter_map(|t| parse_pss_kib(&t))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parentheses_in_the_name() {
        let t = "42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 11 22 33 44 20 0 1 0 5 0 0";
        assert_eq!(
            parse_stat(t),
            Some(Stat {
                ppid: 7,
                ticks: 110
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn pss_line() {
        let t = "55d0-7ff [rollup]\nRss:                3924 kB\nPss:                1170 kB\n";
        assert_eq!(parse_pss_kib(t), Some(1170));
    }

    #[test]
    fn tree_of_this_process_holds_a_child_and_its_cpu_grows() {
        let mut c = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id();
        assert!(tree(me).contains(&c.id()));
        assert!(tree(me).contains(&me));
        assert!(tree_pss_kib(me) > 0);
        let t0 = tree_cpu_ms(me);
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(300) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(tree_cpu_ms(me) > t0);
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
