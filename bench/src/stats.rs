//! Summaries of repeated runs: minimum, median and maximum of each metric
//! for each MTA, and the reference MTA's median over each peer's.

use std::collections::BTreeMap;

/// One run's figures, by metric name (see [`crate::workloads`] for names).
pub type Sample = BTreeMap<String, f64>;

/// min, median, max.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub n: usize,
}

/// The summary of `values` (None when empty). The median of an even count
/// is the mean of the middle two.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        min: v[0],
        median,
        max: v[n - 1],
        n,
    })
}

/// Summaries of every metric present in `samples`.
pub fn summarize_all(samples: &[Sample]) -> BTreeMap<String, Summary> {
    let mut keys: Vec<&String> = samples.iter().flat_map(|s| s.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let v: Vec<f64> = samples.iter().filter_map(|s| s.get(k).copied()).collect();
            summarize(&v).map(|s| (k.clone(), s))
        })
        .collect()
}

/// reference / peer, when both are present and the peer's is not zero.
pub fn ratio(reference: Option<&Summary>, peer: Option<&Summary>) -> Option<f64> {
    match (reference, peer) {
        (Some(r), Some(p)) if p.median != 0.0 => Some(r.median / p.median),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_and_even_medians() {
        let s = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.n), (1.0, 2.0, 3.0, 3));
        assert_eq!(summarize(&[4.0, 1.0]).unwrap().median, 2.5);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn summaries_skip_missing_metrics_and_ratios_need_both() {
        let a: Sample = [("x".to_string(), 2.0)].into();
        let b: Sample = [("x".to_string(), 4.0), ("y".to_string(), 1.0)].into();
        let s = summarize_all(&[a, b]);
        assert_eq!(s["x"].median, 3.0);
        assert_eq!(s["y"].n, 1);
        assert_eq!(ratio(s.get("x"), s.get("y")), Some(3.0));
        assert_eq!(ratio(s.get("x"), None), None);
    }
}
