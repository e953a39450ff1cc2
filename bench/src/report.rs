//! The results: a table on the terminal, JSON, and an SVG bar chart of
//! the reference MTA's ratios to each peer, plus the issue's bars checked
//! against the medians. Output is deterministic for given figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::stats::{ratio, summarize_all, Summary};
use crate::workloads::{Plan, WorkloadResult};

/// Where and when the figures were taken.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub date: String,
    pub cores: usize,
    pub mem_gib: f64,
    pub disk: String,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
    pub command: String,
}

/// The disk's limit and the reference MTA's share of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiskLimit {
    pub ops_per_s_1: f64,
    pub ops_per_s_8: f64,
    /// fsyncs the reference MTA makes per SMTP → Maildir message.
    pub reference_fsyncs_per_msg: f64,
    /// reference e2e msgs/s × fsyncs per message / ops_per_s_8.
    pub reference_fraction_of_8: Option<f64>,
}

/// One of the issue's bars.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Bar {
    pub what: String,
    pub value: Option<f64>,
    pub target: String,
    pub pass: Option<bool>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkloadSummary {
    pub name: String,
    pub title: String,
    /// MTA → metric → summary.
    pub summaries: BTreeMap<String, BTreeMap<String, Summary>>,
    /// peer → metric → reference median / peer median.
    pub ratios: BTreeMap<String, BTreeMap<String, f64>>,
    pub messages: BTreeMap<String, usize>,
    pub errors: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub machine: Machine,
    pub plan: Plan,
    pub disk: DiskLimit,
    pub workloads: Vec<WorkloadSummary>,
    pub bars: Vec<Bar>,
    pub raw: Vec<WorkloadResult>,
}

fn reference_name(w: &WorkloadResult) -> &'static str {
    if w.cells.contains_key("migrate") {
        "migrate"
    } else {
        "reference"
    }
}

pub fn summarize(w: &WorkloadResult) -> WorkloadSummary {
    let summaries: BTreeMap<String, BTreeMap<String, Summary>> = w
        .cells
        .iter()
        .map(|(k, c)| (k.clone(), summarize_all(&c.samples)))
        .collect();
    let me = reference_name(w);
    let mut ratios = BTreeMap::new();
    if let Some(r) = summaries.get(me) {
        for (peer, s) in &summaries {
            if peer == me {
                continue;
            }
            let m: BTreeMap<String, f64> = r
                .keys()
                .filter_map(|k| ratio(r.get(k), s.get(k)).map(|v| (k.clone(), v)))
                .collect();
            ratios.insert(peer.clone(), m);
        }
    }
    WorkloadSummary {
        name: w.name.clone(),
        title: w.title.clone(),
        summaries,
        ratios,
        messages: w
            .cells
            .iter()
            .map(|(k, c)| (k.clone(), c.messages))
            .collect(),
        errors: w
            .cells
            .iter()
            .filter(|(_, c)| !c.errors.is_empty())
            .map(|(k, c)| (k.clone(), c.errors.clone()))
            .collect(),
    }
}

fn get_ratio(ws: &[WorkloadSummary], w: &str, peer: &str, metric: &str) -> Option<f64> {
    ws.iter()
        .find(|s| s.name == w)?
        .ratios
        .get(peer)?
        .get(metric)
        .copied()
}

/// The issue's bars, from the median ratios.
pub fn bars(ws: &[WorkloadSummary]) -> Vec<Bar> {
    let mut out = Vec::new();
    let mut at_least = |what: String, v: Option<f64>, min: f64, target: &str, strict: bool| {
        let pass = v.map(|v| if strict { v > min } else { v >= min });
        out.push(Bar {
            what,
            value: v,
            target: target.into(),
            pass,
        });
    };
    for w in ["smtp-maildir-1k", "smtp-maildir-10k", "smtp-relay-1k"] {
        at_least(
            format!("{w} end to end / postfix"),
            get_ratio(ws, w, "postfix", "e2e_per_s"),
            3.0,
            "≥ 3",
            false,
        );
        for p in ["exim", "opensmtpd"] {
            at_least(
                format!("{w} end to end / {p}"),
                get_ratio(ws, w, p, "e2e_per_s"),
                1.0,
                "> 1",
                true,
            );
        }
    }
    at_least(
        "smtp-maildir-1k accepted / postfix".into(),
        get_ratio(ws, "smtp-maildir-1k", "postfix", "accepted_per_s"),
        3.0,
        "≥ 3",
        false,
    );
    // Lower is better: the ratio must be at most the bound.
    let mut at_most = |what: String, v: Option<f64>, max: f64, target: &str, strict: bool| {
        let pass = v.map(|v| if strict { v < max } else { v <= max });
        out.push(Bar {
            what,
            value: v,
            target: target.into(),
            pass,
        });
    };
    at_most(
        "smtp-maildir-1k CPU per message / postfix".into(),
        get_ratio(ws, "smtp-maildir-1k", "postfix", "cpu_ms_per_msg"),
        0.2,
        "≤ 0.2",
        false,
    );
    at_most(
        "idle-conns memory / postfix".into(),
        get_ratio(ws, "idle-conns", "postfix", "conns_pss_kib"),
        1.0,
        "< 1",
        true,
    );
    at_most(
        "aliases-100k time migrate / newaliases".into(),
        get_ratio(ws, "aliases-100k", "fastforward", "ms"),
        1.0,
        "< 1",
        true,
    );
    out
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_summary(s: Option<&Summary>) -> String {
    match s {
        Some(s) => format!(
            "{}/{}/{}",
            fmt_num(s.min),
            fmt_num(s.median),
            fmt_num(s.max)
        ),
        None => "-".into(),
    }
}

/// The metrics shown per workload, in order.
fn columns(name: &str) -> &'static [&'static str] {
    match name {
        "aliases-100k" => &["ms"],
        "idle-conns" => &[
            "conns_open",
            "conns_greeted",
            "idle_pss_kib",
            "conns_pss_kib",
        ],
        "inject-maildir-1k" => &[
            "accepted_per_s",
            "e2e_per_s",
            "daemon_cpu_ms_per_msg",
            "idle_pss_kib",
            "peak_pss_kib",
        ],
        _ => &[
            "accepted_per_s",
            "e2e_per_s",
            "cpu_ms_per_msg",
            "idle_pss_kib",
            "peak_pss_kib",
        ],
    }
}

/// The table, as Markdown (it reads on a terminal and pastes into README).
pub fn table(r: &Report) -> String {
    let m = &r.machine;
    let mut s = String::new();
    let _ = writeln!(s, "Date: {}  ", m.date);
    let _ = writeln!(
        s,
        "Machine: {} cores, {:.1} GiB memory, disk {}, {}  ",
        m.cores, m.mem_gib, m.disk, m.kernel
    );
    let _ = writeln!(
        s,
        "Load average before/after: {} / {}  ",
        m.load_before, m.load_after
    );
    let _ = writeln!(s, "Command: `{}`  ", m.command);
    let _ = writeln!(
        s,
        "Runs per MTA: {}; figures are min/median/max; ratios are reference median / peer median.\n",
        r.plan.runs
    );
    let d = &r.disk;
    let _ = writeln!(
        s,
        "Disk limit (create + 1 KiB write + fsync + rename + directory fsync): {} ops/s with 1 writer, {} ops/s with 8.  ",
        fmt_num(d.ops_per_s_1),
        fmt_num(d.ops_per_s_8)
    );
    if let Some(f) = d.reference_fraction_of_8 {
        let _ = writeln!(
            s,
            "Reference MTA, SMTP → Maildir 1 KiB: {} durable ops/message, {:.0}% of the 8-writer limit.\n",
            fmt_num(d.reference_fsyncs_per_msg),
            f * 100.0
        );
    }
    for w in &r.workloads {
        let cols = columns(&w.name);
        let _ = writeln!(s, "### {} (`{}`)\n", w.title, w.name);
        let _ = writeln!(s, "| MTA | n | {} |", cols.join(" | "));
        let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(cols.len()));
        for (mta, sums) in &w.summaries {
            let cells: Vec<String> = cols.iter().map(|c| fmt_summary(sums.get(*c))).collect();
            let _ = writeln!(
                s,
                "| {mta} | {} | {} |",
                w.messages.get(mta).copied().unwrap_or(0),
                cells.join(" | ")
            );
        }
        for (peer, rs) in &w.ratios {
            let cells: Vec<String> = cols
                .iter()
                .map(|c| {
                    rs.get(*c)
                        .map(|v| format!("{v:.2}×"))
                        .unwrap_or_else(|| "-".into())
                })
                .collect();
            let _ = writeln!(s, "| ratio vs {peer} | | {} |", cells.join(" | "));
        }
        for (mta, errs) in &w.errors {
            for e in errs {
                let _ = writeln!(s, "\n- {mta}: {}", e.replace('\n', " "));
            }
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "### Bars (median ratios of this run)\n");
    let _ = writeln!(s, "| bar | ratio | target | met |");
    let _ = writeln!(s, "|---|---:|---|---|");
    for b in &r.bars {
        let v = b
            .value
            .map(|v| format!("{v:.2}"))
            .unwrap_or_else(|| "-".into());
        let p = match b.pass {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "not measured",
        };
        let _ = writeln!(s, "| {} | {v} | {} | {p} |", b.what, b.target);
    }
    s
}

/// The ratio chart: one group per workload and metric, one bar per peer,
/// with the 1× line. Bars are clipped at 10× (the label keeps the value).
pub fn svg(r: &Report) -> String {
    let metric_for = |w: &str| match w {
        "aliases-100k" => Some(("ms", true)),
        "idle-conns" => Some(("conns_pss_kib", true)),
        "inject-maildir-1k" => Some(("e2e_per_s", false)),
        _ => Some(("e2e_per_s", false)),
    };
    // (label, peer, value as "how many times better")
    let mut bars: Vec<(String, String, f64)> = Vec::new();
    for w in &r.workloads {
        let Some((metric, lower_better)) = metric_for(&w.name) else {
            continue;
        };
        for (peer, rs) in &w.ratios {
            if let Some(&v) = rs.get(metric) {
                let better = if lower_better && v > 0.0 { 1.0 / v } else { v };
                bars.push((
                    format!(
                        "{} {}",
                        w.name,
                        if lower_better { "(inverse)" } else { "e2e" }
                    ),
                    peer.clone(),
                    better,
                ));
            }
        }
        if w.name == "smtp-maildir-1k" {
            for (peer, rs) in &w.ratios {
                if let Some(&v) = rs.get("cpu_ms_per_msg") {
                    if v > 0.0 {
                        bars.push((
                            "smtp-maildir-1k CPU (inverse)".into(),
                            peer.clone(),
                            1.0 / v,
                        ));
                    }
                }
            }
        }
    }
    let (w, bar_h, gap, left) = (900.0, 18.0, 6.0, 330.0);
    let h = 60.0 + bars.len() as f64 * (bar_h + gap) + 30.0;
    let max = 10.0f64;
    let scale = (w - left - 60.0) / max;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14">Reference MTA vs peers: times better (median ratio; {}; {})</text>"#,
        escape(&r.machine.date),
        escape(&format!("{} cores", r.machine.cores))
    );
    for (i, (label, peer, v)) in bars.iter().enumerate() {
        let y = 40.0 + i as f64 * (bar_h + gap);
        let len = v.clamp(0.0, max) * scale;
        let color = match peer.as_str() {
            "postfix" => "#4e79a7",
            "exim" => "#f28e2b",
            "fastforward" => "#59a14f",
            _ => "#e15759",
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{} vs {}</text>"#,
            left - 6.0,
            y + 13.0,
            escape(label),
            escape(peer)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{y}" width="{len:.1}" height="{bar_h}" fill="{color}"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}">{v:.2}×</text>"#,
            left + len + 4.0,
            y + 13.0
        );
    }
    for (x, label) in [(1.0, "1×"), (3.0, "3×")] {
        let px = left + x * scale;
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="30" x2="{px:.1}" y2="{:.1}" stroke="#333" stroke-dasharray="4 3"/>"##,
            h - 25.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            h - 10.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Sample;
    use crate::workloads::Cell;

    fn cell(vals: &[(&str, f64)]) -> Cell {
        let s: Sample = vals.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Cell {
            messages: 10,
            samples: vec![s],
            errors: vec![],
        }
    }

    fn sample_report() -> Report {
        let w = WorkloadResult {
            name: "smtp-maildir-1k".into(),
            title: "t".into(),
            cells: [
                (
                    "reference".to_string(),
                    cell(&[
                        ("e2e_per_s", 900.0),
                        ("accepted_per_s", 1000.0),
                        ("cpu_ms_per_msg", 0.1),
                    ]),
                ),
                (
                    "postfix".to_string(),
                    cell(&[
                        ("e2e_per_s", 300.0),
                        ("accepted_per_s", 500.0),
                        ("cpu_ms_per_msg", 1.0),
                    ]),
                ),
            ]
            .into(),
        };
        let workloads = vec![summarize(&w)];
        Report {
            machine: Machine {
                date: "2026-01-01".into(),
                cores: 2,
                mem_gib: 1.0,
                disk: "d".into(),
                kernel: "k".into(),
                load_before: "0".into(),
                load_after: "0".into(),
                command: "ci/bench".into(),
            },
            plan: Plan {
                runs: 1,
                messages: 10,
                slow_messages: 10,
                exim_messages: 10,
                sessions: 1,
                inject_messages: 1,
                injectors: 1,
                conns: 1,
                kinds: vec![],
                only: vec![],
            },
            disk: DiskLimit {
                ops_per_s_1: 1.0,
                ops_per_s_8: 2.0,
                reference_fsyncs_per_msg: 3.0,
                reference_fraction_of_8: None,
            },
            bars: bars(&workloads),
            workloads,
            raw: vec![w],
        }
    }

    #[test]
    fn ratios_and_bars_follow_the_medians() {
        let r = sample_report();
        assert_eq!(r.workloads[0].ratios["postfix"]["e2e_per_s"], 3.0);
        let e2e = r
            .bars
            .iter()
            .find(|b| b.what == "smtp-maildir-1k end to end / postfix")
            .unwrap();
        assert_eq!(e2e.pass, Some(true));
        let acc = r.bars.iter().find(|b| b.what.contains("accepted")).unwrap();
        assert_eq!(acc.pass, Some(false));
        let cpu = r.bars.iter().find(|b| b.what.contains("CPU")).unwrap();
        assert_eq!(cpu.pass, Some(true));
        let exim = r
            .bars
            .iter()
            .find(|b| b.what == "smtp-maildir-1k end to end / exim")
            .unwrap();
        assert_eq!(exim.pass, None);
    }

    #[test]
    fn table_and_svg_show_the_figures_deterministically() {
        let r = sample_report();
        let t = table(&r);
        assert!(
            t.contains("| reference | 10 | 1000/1000/1000 | 900/900/900 |"),
            "{t}"
        );
        assert!(
            t.contains("| ratio vs postfix | | 2.00× | 3.00× | 0.10× |"),
            "{t}"
        );
        let a = svg(&r);
        assert_eq!(a, svg(&r));
        assert!(a.contains("3.00×") && a.contains("10.00×"), "{a}");
        assert!(a.starts_with("<svg") && a.ends_with("</svg>\n"));
    }
}
