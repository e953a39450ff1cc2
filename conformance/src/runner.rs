//! Running many scenarios: selection (`--filter`, `--shard i/n`), then
//! `--jobs N` workers, each with its own sink, taking the next scenario
//! until none is left. Results come back in scenario-id order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use regex::Regex;

use crate::exec;
use crate::outcome::{Deviations, ScenarioResult};
use crate::scenario::{Profile, Scenario};
use crate::sink::Sink;
use crate::target::Target;

/// `i/n`: this run takes every scenario whose position (in id order)
/// modulo n is i-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("shard {s:?} must be i/n with 1 <= i <= n");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The scenarios a run takes: those whose id, title or a tag matches
/// `filter`, then this shard's share.
pub fn select<'a>(
    all: &'a [Scenario],
    filter: Option<&Regex>,
    shard: Option<Shard>,
) -> Vec<&'a Scenario> {
    let mut v: Vec<&Scenario> = all
        .iter()
        .filter(|s| {
            filter.is_none_or(|f| {
                f.is_match(&s.id) || f.is_match(&s.title) || s.tags.iter().any(|t| f.is_match(t))
            })
        })
        .collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(sh) = shard {
        v = v
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % sh.count == sh.index - 1)
            .map(|(_, s)| s)
            .collect();
    }
    v
}

/// Runs `scenarios` on `target` with `jobs` workers; `done` is called as
/// each finishes (for the progress bar).
pub fn run(
    scenarios: &[&Scenario],
    target: &dyn Target,
    deviations: &Deviations,
    profile: Profile,
    jobs: usize,
    done: &(dyn Fn(&ScenarioResult) + Sync),
) -> std::io::Result<Vec<ScenarioResult>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(scenarios.len()));
    let jobs = jobs.clamp(1, scenarios.len().max(1));
    let sinks: Vec<Sink> = (0..jobs).map(|_| Sink::start()).collect::<Result<_, _>>()?;
    std::thread::scope(|scope| {
        for sink in &sinks {
            let (next, results) = (&next, &results);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(s) = scenarios.get(i) else { return };
                // A sweep expands into one case per N: `id#N3`.
                for (case, outcome) in exec::run_cases(s, target, sink, profile) {
                    let outcome = deviations.apply(&s.id, profile, outcome);
                    let id = if case.is_empty() {
                        s.id.clone()
                    } else {
                        format!("{}#{case}", s.id)
                    };
                    let r = ScenarioResult {
                        id,
                        title: s.title.clone(),
                        file: s.file.clone(),
                        target: target.name().to_string(),
                        profile,
                        outcome,
                    };
                    done(&r);
                    results.lock().unwrap_or_else(|p| p.into_inner()).push(r);
                }
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_else(|p| p.into_inner());
    v.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scen(id: &str, tags: &[&str]) -> Scenario {
        let mut s = crate::scenario::load::parse(
            std::path::Path::new("x.yaml"),
            &format!("id: {id}\ntitle: t {id}\nsteps: [{{send: x}}]\n"),
        )
        .unwrap();
        s.tags = tags.iter().map(|t| t.to_string()).collect();
        s
    }

    #[test]
    fn filters_and_shards() {
        let all = vec![
            scen("c", &[]),
            scen("a", &["smuggling"]),
            scen("b", &[]),
            scen("d", &[]),
        ];
        let ids = |v: Vec<&Scenario>| v.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(select(&all, None, None)), ["a", "b", "c", "d"]);
        let f = Regex::new("smug").unwrap();
        assert_eq!(ids(select(&all, Some(&f), None)), ["a"]);
        let s1: Shard = "1/2".parse().unwrap();
        let s2: Shard = "2/2".parse().unwrap();
        assert_eq!(ids(select(&all, None, Some(s1))), ["a", "c"]);
        assert_eq!(ids(select(&all, None, Some(s2))), ["b", "d"]);
        assert!("0/2".parse::<Shard>().is_err() && "3/2".parse::<Shard>().is_err());
    }
}
