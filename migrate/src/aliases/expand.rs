//! The alias table as a whole: where sendmail's expansion (spec §1.4) and
//! qmail's routing (spec §3.1) part ways.
//!
//! * names a real account takes first under qmail (F28), `name-ext` whose
//!   prefix is an account (F29), `+detail` (F31, §4.7);
//! * loops sendmail broke with a bounce (F25) and chains deeper than
//!   `MaxAliasRecursion` (10) that sendmail bounced (§5 #29);
//! * local targets that are neither aliases nor accounts (User unknown).
//!
//! Loops are found with an iterative Tarjan SCC and depths with one
//! memoised pass, so 100,000 aliases stay linear; the per-alias pass runs
//! in two halves at once for a large table.

use rustc_hash::FxHashMap as HashMap;

use super::index::NameIndex;
use super::Alias;
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::Target;

/// sendmail's default `MaxAliasRecursion`.
pub const MAX_ALIAS_RECURSION: usize = 10;

/// Adds the table-wide findings for `aliases` to `report`.
pub fn analyse(site: &Site, file: &str, aliases: &[Alias], report: &mut Report) {
    let parallel = aliases.len() >= PAR_ALIASES;
    analyse_indexed(
        site,
        file,
        aliases,
        &NameIndex::new(aliases),
        parallel,
        report,
    );
}

/// From this many aliases on, [`analyse`] looks at each alias's names in
/// two halves at once.
const PAR_ALIASES: usize = 8192;

/// [`analyse`] with the [`NameIndex`] of `aliases` already built;
/// `parallel` splits the per-alias pass in two (same findings).
pub fn analyse_indexed(
    site: &Site,
    file: &str,
    aliases: &[Alias],
    index: &NameIndex<'_>,
    parallel: bool,
    report: &mut Report,
) {
    let Some(first) = aliases.iter().map(|a| a.line).min() else {
        return;
    };
    report.push(
        file,
        first,
        "`+detail` addressing",
        Action::NotConverted,
        "sendmail delivered NAME+detail to alias NAME when no NAME+detail alias existed; \
         qmail 1.03 has no equivalent (its extension separator is `-`)",
        false,
    );
    let n = aliases.len();
    // Room for a finding per alias: a list that grows by doubling copies
    // itself, and memory is most of the time of a large conversion (room
    // never written to costs nothing).
    report.findings.reserve(n);
    let graph = if parallel && n >= 2 {
        // The first half on this thread, straight into `report`.
        let ((b, rb), a) = crate::par::join(
            || {
                let mut later = Report::default();
                let g = names(site, file, aliases, n / 2..n, index, &mut later);
                (g, later)
            },
            || names(site, file, aliases, 0..n / 2, index, report),
        );
        report.findings.extend(rb.findings);
        a.then(b)
    } else {
        names(site, file, aliases, 0..n, index, report)
    };
    let comp = tarjan(&graph);
    loops(site, file, aliases, &comp, report);
    depths(file, aliases, &graph, &comp, report);
    duplicates(file, aliases, index, &graph, &comp, report);
}

/// The findings about the names of `aliases[range]` and what they point
/// to (routing, local targets), and their part of the alias graph. One
/// lookup per local target serves both.
fn names(
    site: &Site,
    file: &str,
    aliases: &[Alias],
    range: std::ops::Range<usize>,
    index: &NameIndex<'_>,
    report: &mut Report,
) -> Graph {
    let mut graph = Graph {
        // The first part gets room for the later one it is joined with.
        start: Vec::with_capacity(aliases.len() - range.start + 1),
        to: Vec::new(),
    };
    graph.start.push(0);
    for i in range {
        let a = &aliases[i];
        routing(site, file, a, report);
        for t in &a.targets {
            if let Target::Local { user, backslash } = t {
                let j = index.get(user);
                local_target(site, file, a, user, *backslash, j.is_some(), report);
                if let Some(j) = j.filter(|&j| !backslash && j != i) {
                    graph.to.push(j);
                }
            }
        }
        graph.start.push(graph.to.len());
    }
    graph
}

/// The alias graph: the aliases alias `v` names, in target order, are
/// `to[start[v]..start[v + 1]]` (one array for all edges).
struct Graph {
    start: Vec<usize>,
    to: Vec<usize>,
}

impl Graph {
    /// This graph's nodes followed by `later`'s.
    fn then(mut self, later: Graph) -> Graph {
        let base = self.to.len();
        self.start
            .extend(later.start.iter().skip(1).map(|&e| base + e));
        self.to.extend(later.to);
        self
    }

    fn len(&self) -> usize {
        self.start.len() - 1
    }

    fn out(&self, v: usize) -> &[usize] {
        &self.to[self.start[v]..self.start[v + 1]]
    }
}

/// What a target finally delivers to, as a comparable key.
fn leaf_key(t: &Target) -> String {
    match t {
        Target::Local { user, .. } => user.clone(),
        Target::Remote(a) => a.to_ascii_lowercase(),
        Target::Program(c) => format!("|{c}"),
        Target::File(p) => p.clone(),
        Target::Include(p) => format!(":include:{p}"),
    }
}

/// The alias (other than `i`) that target `t` of alias `i` is aliased to.
fn other_alias(t: &Target, i: usize, index: &NameIndex<'_>) -> Option<usize> {
    match t {
        Target::Local {
            user,
            backslash: false,
        } => index.get(user).filter(|&j| j != i),
        _ => None,
    }
}

/// The final targets alias `i` expands to (sorted, deduplicated), or
/// `None` inside a loop or beyond sendmail's recursion limit.
fn leaves(
    i: usize,
    aliases: &[Alias],
    index: &NameIndex<'_>,
    comp: &Components,
    memo: &mut Vec<Option<Option<std::rc::Rc<Vec<String>>>>>,
    depth: usize,
) -> Option<std::rc::Rc<Vec<String>>> {
    if let Some(m) = &memo[i] {
        return m.clone();
    }
    if depth > MAX_ALIAS_RECURSION || comp.cyclic[i] {
        return None;
    }
    let mut out = Vec::new();
    for t in &aliases[i].targets {
        match other_alias(t, i, index) {
            Some(j) => out.extend(
                leaves(j, aliases, index, comp, memo, depth + 1)?
                    .iter()
                    .cloned(),
            ),
            None => out.push(leaf_key(t)),
        }
    }
    out.sort();
    out.dedup();
    let r = Some(std::rc::Rc::new(out));
    memo[i] = Some(r.clone());
    r
}

/// F24: a member reached through two lists (or a list and directly).
/// sendmail expands the whole tree and delivers one copy; under qmail each
/// list is its own `.qmail` forward, so the member gets one copy per path.
fn duplicates(
    file: &str,
    aliases: &[Alias],
    index: &NameIndex<'_>,
    graph: &Graph,
    comp: &Components,
    report: &mut Report,
) {
    // Only aliases that name other aliases need it.
    let mut memo = Vec::new();
    for (i, a) in aliases.iter().enumerate() {
        // The graph's edges of `i` are its targets that are other aliases.
        let lists = graph.out(i).len();
        if a.targets.len() < 2 || lists == 0 || comp.cyclic[i] {
            continue;
        }
        if memo.is_empty() {
            memo = vec![None; aliases.len()];
        }
        let mut seen: HashMap<String, String> = HashMap::default();
        'targets: for t in &a.targets {
            let (keys, via) = match (other_alias(t, i, index), t) {
                (Some(j), Target::Local { user, .. }) => {
                    match leaves(j, aliases, index, comp, &mut memo, 1) {
                        Some(l) => (l.to_vec(), format!("through `{user}`")),
                        None => continue,
                    }
                }
                _ => (vec![leaf_key(t)], "directly".to_string()),
            };
            for k in keys {
                match seen.get(&k) {
                    Some(prev) if *prev != via => {
                        report.push(
                            file,
                            a.line,
                            format!("alias `{}`", a.name),
                            Action::ConvertedWithChange,
                            format!(
                                "`{k}` is reached both {prev} and {via}: sendmail delivered \
                                 one copy; qmail delivers one copy per list"
                            ),
                            false,
                        );
                        break 'targets;
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(k, via.clone());
                    }
                }
            }
        }
    }
}

fn routing(site: &Site, file: &str, a: &Alias, report: &mut Report) {
    match site.accounts.qmail_owner(&a.name) {
        Some((acct, None)) => report.push(
            file,
            a.line,
            format!("alias `{}`", a.name),
            Action::ConvertedWithChange,
            format!(
                "sendmail's alias overrode the account; under qmail the account `{}` takes \
                 the mail first and the alias is never consulted (put the targets in ~{}/.qmail)",
                acct.name, acct.name
            ),
            true,
        ),
        Some((acct, Some(ext))) => report.push(
            file,
            a.line,
            format!("alias `{}`", a.name),
            Action::ConvertedWithChange,
            format!(
                "qmail-getpw gives it to the account `{}` (extension `{ext}`): ~{}/.qmail-{ext} \
                 or .qmail-default decides, not this alias",
                acct.name, acct.home
            ),
            true,
        ),
        None => {}
    }
}

fn local_target(
    site: &Site,
    file: &str,
    a: &Alias,
    user: &str,
    backslash: bool,
    is_alias: bool,
    report: &mut Report,
) {
    let qmail_account = site
        .accounts
        .qmail_owner(user)
        .is_some_and(|(_, e)| e.is_none());
    if backslash {
        if !qmail_account {
            report.push(
                file,
                a.line,
                format!("`\\{user}`"),
                Action::ConvertedWithChange,
                "sendmail delivered to the mailbox of this user without aliasing; qmail has no \
                 account it accepts by that name, so the address goes through the aliases again",
                true,
            );
        }
        return;
    }
    if !is_alias && !site.accounts.sendmail_user(user) && user != a.name {
        report.push(
            file,
            a.line,
            ["`", user, "` in alias `", &a.name, "`"].concat(),
            Action::Converted,
            "neither an alias nor an account: sendmail bounced it (550 5.1.1 User unknown), \
             qmail bounces it too",
            false,
        );
    }
}

/// The loops of the graph: which aliases are in one, and each loop's
/// members in ascending order.
struct Components {
    cyclic: Vec<bool>,
    loops: Vec<Vec<usize>>,
}

/// Strongly connected components (iterative Tarjan); only those of more
/// than one alias are kept.
fn tarjan(graph: &Graph) -> Components {
    let n = graph.len();
    const NONE: usize = usize::MAX;
    let (mut idx, mut low) = (vec![NONE; n], vec![0; n]);
    let mut on_stack = vec![false; n];
    let mut cyclic = vec![false; n];
    let (mut stack, mut loops, mut next) = (Vec::new(), Vec::new(), 0);
    let mut call: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if idx[root] != NONE {
            continue;
        }
        call.push((root, 0));
        idx[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            if let Some(&w) = graph.out(v).get(*k) {
                *k += 1;
                if idx[w] == NONE {
                    idx[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(idx[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(u, _)) = call.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == idx[v] && stack.last() == Some(&v) {
                // A component of one alias (there are no self edges).
                stack.pop();
                on_stack[v] = false;
            } else if low[v] == idx[v] {
                let mut members = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    members.push(w);
                    if w == v {
                        break;
                    }
                }
                if members.len() > 1 {
                    members.sort_unstable();
                    for &m in &members {
                        cyclic[m] = true;
                    }
                    loops.push(members);
                }
            }
        }
    }
    loops.sort();
    Components { cyclic, loops }
}

fn loops(site: &Site, file: &str, aliases: &[Alias], comp: &Components, report: &mut Report) {
    for g in &comp.loops {
        // self_reference(): a member that is a real user breaks the loop
        // there and gets the mail (spec §1.4).
        if g.iter()
            .any(|&i| site.accounts.sendmail_user(&aliases[i].name))
        {
            continue;
        }
        let names: Vec<&str> = g.iter().map(|&i| aliases[i].name.as_str()).collect();
        for &i in g {
            report.push(
                file,
                aliases[i].line,
                format!("alias `{}`", aliases[i].name),
                Action::ConvertedWithChange,
                format!(
                    "aliases {} form a loop: sendmail bounced at once (554 5.4.6 \
                     aliasing/forwarding loop broken); qmail sends the message round the loop \
                     until qmail-local bounces it as looping",
                    names.join(", ")
                ),
                true,
            );
        }
    }
}

fn depths(file: &str, aliases: &[Alias], graph: &Graph, comp: &Components, report: &mut Report) {
    // depth[i] = aliases expanded on the longest path starting at i;
    // members of loops are left at 1 (reported as loops).
    let n = aliases.len();
    let mut depth = vec![0usize; n];
    let cyclic = |i: usize| comp.cyclic[i];
    let mut call: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if depth[root] != 0 {
            continue;
        }
        call.push((root, 0));
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            if cyclic(v) {
                depth[v] = 1;
                call.pop();
                continue;
            }
            if let Some(&w) = graph.out(v).get(*k) {
                *k += 1;
                if depth[w] == 0 {
                    call.push((w, 0));
                }
                continue;
            }
            depth[v] = 1 + graph.out(v).iter().map(|&w| depth[w]).max().unwrap_or(0);
            call.pop();
        }
    }
    for (i, a) in aliases.iter().enumerate() {
        if depth[i] > MAX_ALIAS_RECURSION {
            report.push(
                file,
                a.line,
                format!("alias `{}`", a.name),
                Action::ConvertedWithChange,
                format!(
                    "expands {} aliases deep: sendmail bounced it (554 5.4.6 aliasing/forwarding \
                     loop broken ({} aliases deep; {MAX_ALIAS_RECURSION} max)); qmail delivers it",
                    depth[i], depth[i]
                ),
                true,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges_of(v: &[&[usize]]) -> Graph {
        let mut g = Graph {
            start: vec![0],
            to: Vec::new(),
        };
        for e in v {
            g.to.extend_from_slice(e);
            g.start.push(g.to.len());
        }
        g
    }

    #[test]
    fn tarjan_finds_cycles_only() {
        let c = tarjan(&edges_of(&[&[1], &[0], &[3], &[]]));
        assert_eq!(c.cyclic, vec![true, true, false, false]);
        assert_eq!(c.loops, vec![vec![0, 1]]);
        let c = tarjan(&edges_of(&[&[4], &[2], &[3], &[1], &[], &[0]]));
        assert_eq!(c.loops, vec![vec![1, 2, 3]]);
    }
}
