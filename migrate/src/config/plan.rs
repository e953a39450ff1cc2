//! What the conversion will write, collected while reading the
//! configuration and its maps, then turned into files by
//! [`Plan::files`]. Each list keeps input order and drops repeats, so the
//! output is a pure function of the input.

use std::collections::BTreeMap;
use std::path::Path;

use super::Target;
use crate::write::OutFile;

/// A class word or map entry together with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// The default route (`:relay` in smtproutes) and who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    pub relay: String,
    pub origin: Origin,
    pub construct: String,
}

/// A map named by a `K` line or FEATURE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRef {
    pub name: String,
    pub path: String,
    pub optional: bool,
    pub origin: Origin,
}

/// A class file (`F` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassFile {
    pub class: String,
    pub path: String,
    pub optional: bool,
    pub origin: Origin,
}

/// An ordered list without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines(pub Vec<String>);

impl Lines {
    pub fn add(&mut self, s: impl Into<String>) {
        let s = s.into();
        if !self.0.contains(&s) {
            self.0.push(s);
        }
    }
    pub fn remove(&mut self, s: &str) {
        self.0.retain(|x| x != s);
    }
    pub fn contains(&self, s: &str) -> bool {
        self.0.iter().any(|x| x == s)
    }
    fn text(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.iter().map(|l| format!("{l}\n")).collect())
    }
}

/// Everything the conversion decided.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    /// `control/me` from `Dj` / `confDOMAIN_NAME`.
    pub me: Option<String>,
    /// sendmail's classes: name → words (lower-cased for host classes).
    pub classes: BTreeMap<String, Vec<(String, Origin)>>,
    pub class_files: Vec<ClassFile>,
    pub maps: Vec<MapRef>,
    pub locals: Lines,
    pub rcpthosts: Lines,
    /// `domain:prefix`.
    pub virtualdomains: Lines,
    pub smtproutes: Lines,
    pub default_route: Option<DefaultRoute>,
    /// `SMART_HOST` / `DS`, before mailertable decides whether it is used.
    pub smart_host: Option<(String, Origin, String)>,
    /// Ports from `A=TCP $h PORT` / `*_MAILER_ARGS`, by mailer name.
    pub ports: BTreeMap<String, u16>,
    pub databytes: Option<u64>,
    pub queuelifetime: Option<u64>,
    pub badmailfrom: Lines,
    pub defaulthost: Option<String>,
    pub tcprules: Lines,
    /// `.qmail-NAME` files for the `alias` user: name → lines.
    pub alias_files: BTreeMap<String, Lines>,
    /// `FEATURE(relay_hosts_only)`: class R matches exact names only.
    pub relay_hosts_only: bool,
    /// `O AliasFile=` (for `migrate site`).
    pub alias_file: Option<String>,
}

impl Plan {
    pub fn new(target: Target) -> Plan {
        Plan {
            target,
            me: None,
            classes: BTreeMap::new(),
            class_files: Vec::new(),
            maps: Vec::new(),
            locals: Lines::default(),
            rcpthosts: Lines::default(),
            virtualdomains: Lines::default(),
            smtproutes: Lines::default(),
            default_route: None,
            smart_host: None,
            ports: BTreeMap::new(),
            databytes: None,
            queuelifetime: None,
            badmailfrom: Lines::default(),
            defaulthost: None,
            tcprules: Lines::default(),
            alias_files: BTreeMap::new(),
            relay_hosts_only: false,
            alias_file: None,
        }
    }

    /// Words of class `name`.
    pub fn class(&self, name: &str) -> Vec<&(String, Origin)> {
        self.classes
            .get(name)
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }

    pub fn add_class(&mut self, name: &str, word: &str, origin: Origin) {
        let v = self.classes.entry(name.to_string()).or_default();
        if !v.iter().any(|(w, _)| w == word) {
            v.push((word.to_string(), origin));
        }
    }

    /// The files under `to` (a qmail home: `control/`, `alias/`, and the
    /// tcprules source `tcp.smtp`).
    pub fn files(&self, to: &Path, me: &str) -> Vec<OutFile> {
        let mut out = Vec::new();
        let mut file = |rel: &str, text: String| {
            out.push(OutFile {
                path: to.join(rel),
                contents: text.into_bytes(),
                mode: 0o644,
            })
        };
        file("control/me", format!("{me}\n"));
        let controls: [(&str, &Lines); 5] = [
            ("control/locals", &self.locals),
            ("control/rcpthosts", &self.rcpthosts),
            ("control/virtualdomains", &self.virtualdomains),
            ("control/badmailfrom", &self.badmailfrom),
            ("control/smtproutes", &self.smtproutes),
        ];
        for (name, lines) in controls {
            let mut lines = lines.clone();
            if name == "control/smtproutes" {
                if let Some(d) = &self.default_route {
                    lines.add(format!(":{}", d.relay));
                }
            }
            if let Some(t) = lines.text() {
                file(name, t);
            }
        }
        if let Some(n) = self.databytes {
            file("control/databytes", format!("{n}\n"));
            if self.target == Target::Reference {
                // Our own control: announce SIZE and check SIZE= at MAIL.
                file("control/smtpsize", String::new());
            }
        }
        if let Some(n) = self.queuelifetime {
            file("control/queuelifetime", format!("{n}\n"));
        }
        if let Some(h) = &self.defaulthost {
            file("control/defaulthost", format!("{h}\n"));
        }
        if let Some(t) = self.tcprules.text() {
            file(
                "tcp.smtp",
                format!(
                    "# tcprules source converted from sendmail's access map and relay-domains;\n\
                     # compile with: mta-tcprules tcp.smtp.cdb tcp.smtp.tmp < tcp.smtp\n{t}:allow\n"
                ),
            );
        }
        for (name, lines) in &self.alias_files {
            if let Some(t) = lines.text() {
                file(&format!("alias/{name}"), t);
            }
        }
        out
    }
}
