//! Reading scenario files. A schema error names the file, the line and
//! column, and the field path (`steps[3].expect.code`): serde_yaml knows
//! the location, serde_path_to_error the path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::Scenario;

/// Why scenarios could not be loaded. Permanent: the files are at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Schema(SchemaError),
    #[error("{file}: duplicate scenario id {id:?} (also in {other})")]
    Duplicate {
        file: PathBuf,
        id: String,
        other: PathBuf,
    },
}

/// A scenario file that does not fit the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub file: PathBuf,
    /// 1-based; 0 when serde_yaml gave no location.
    pub line: usize,
    pub column: usize,
    /// The field path, e.g. `steps[2].expect.code` (`.` for the top).
    pub field: String,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: field `{}`: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            self.message
        )
    }
}

/// Parses one scenario from `text` (read from `file`).
pub fn parse(file: &Path, text: &str) -> Result<Scenario, SchemaError> {
    let de = serde_yaml::Deserializer::from_str(text);
    // Steps check their expectations against the door they go to while
    // they are read (scenario::doors::Tracker).
    super::doors::Tracker::start();
    let parsed = serde_path_to_error::deserialize::<_, Scenario>(de);
    super::doors::Tracker::start();
    match parsed {
        Ok(mut s) => {
            s.file = file.to_path_buf();
            s.setup.needs = s
                .requirements()
                .into_iter()
                .filter_map(|r| match r {
                    super::Requirement::Capability(c) => Some(c),
                    super::Requirement::Extension(_) => None,
                })
                .collect();
            validate(&s).map_err(|(field, message)| SchemaError {
                file: file.to_path_buf(),
                line: line_of_key(text, &field),
                column: 1,
                field,
                message,
            })?;
            Ok(s)
        }
        Err(e) => {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = inner.location().map_or((0, 0), |l| (l.line(), l.column()));
            // serde_yaml's message ends with its own " at line L column C";
            // the location is reported in front already.
            let mut message = inner.to_string();
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            // ... and may start with its own (shorter) path.
            if let Some((p, rest)) = message.split_once(": ") {
                if !p.contains(' ') && field.starts_with(p) {
                    message = rest.to_string();
                }
            }
            Err(SchemaError {
                file: file.to_path_buf(),
                line,
                column,
                field,
                message,
            })
        }
    }
}

/// Checks serde cannot express; returns (field path, message).
fn validate(s: &Scenario) -> Result<(), (String, String)> {
    let id_ok = !s.id.is_empty()
        && s.id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !id_ok {
        return Err((
            "id".into(),
            format!(
                "id {:?} must be non-empty letters, digits, `-`, `_`, `.`",
                s.id
            ),
        ));
    }
    if s.steps.is_empty() && s.assert.is_empty() {
        return Err((
            "steps".into(),
            "a scenario needs steps or assertions".into(),
        ));
    }
    for (i, u) in s.setup.users.iter().enumerate() {
        for (f, m) in &u.modes {
            if u32::from_str_radix(m, 8).is_err() {
                return Err((
                    format!("setup.users[{i}].modes.{f}"),
                    format!("mode {m:?} is not octal"),
                ));
            }
        }
    }
    Ok(())
}

/// The line of the first `key:` of a dotted field path's last element
/// (best effort, for errors found after parsing).
fn line_of_key(text: &str, field: &str) -> usize {
    let key = field.rsplit('.').next().unwrap_or(field);
    let key = key.split('[').next().unwrap_or(key);
    text.lines()
        .position(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .starts_with(&format!("{key}:"))
        })
        .map_or(0, |i| i + 1)
}

/// Reads one file.
pub fn load_file(file: &Path) -> Result<Scenario, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|source| LoadError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &text).map_err(LoadError::Schema)
}

/// Every `*.yaml`/`*.yml` file under `paths` (files or directories),
/// except the per-target deviation lists in `targets/` directories.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out)?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let meta = std::fs::metadata(p).map_err(|source| LoadError::Io {
        file: p.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let rd = std::fs::read_dir(p).map_err(|source| LoadError::Io {
        file: p.to_path_buf(),
        source,
    })?;
    for e in rd.flatten() {
        let path = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name != "targets" && !name.starts_with('.') {
                collect(&path, out)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads every scenario under `paths`, sorted by id. All schema errors
/// are collected, not only the first.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, Vec<LoadError>> {
    let files = files(paths).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut by_id: BTreeMap<String, Scenario> = BTreeMap::new();
    for f in files {
        match load_file(&f) {
            Ok(s) => {
                if let Some(other) = by_id.get(&s.id) {
                    errors.push(LoadError::Duplicate {
                        file: f.clone(),
                        id: s.id.clone(),
                        other: other.file.clone(),
                    });
                } else {
                    by_id.insert(s.id.clone(), s);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(by_id.into_values().collect())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> SchemaError {
        parse(Path::new("t.yaml"), text).unwrap_err()
    }

    #[test]
    fn parses_a_scenario() {
        let s = parse(
            Path::new("t.yaml"),
            "id: a\ntitle: t\nsteps:\n  - expect: {code: 220}\n  - send: 'EHLO x'\n  - expect_close: true\n  - wait_queue_empty: {timeout: 3}\n",
        )
        .unwrap();
        assert_eq!(s.steps.len(), 4);
    }

    #[test]
    fn unknown_field_names_line_and_path() {
        let e = err("id: a\ntitle: t\nsteps:\n  - expect:\n      code: 250\n      cod: 1\n");
        assert_eq!(e.line, 6, "{e}");
        assert_eq!(e.field, "steps[0].expect.cod", "{e}");
        assert!(e.message.contains("unknown field `cod`"), "{e}");
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = err("id: a\ntitle: t\nsteps:\n  - send: 'x'\n  - expect: {class: 6xx}\n");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.field.starts_with("steps[1].expect"), "{e}");
        let e = err("id: a\ntitle: t\nrequires: [warp]\nsteps: []\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("unknown requirement"), "{e}");
        let e = err("id: a\ntitle: t\nsteps:\n  - send: '\\q'\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("unknown escape"), "{e}");
    }

    #[test]
    fn a_step_needs_exactly_one_kind() {
        let e = err("id: a\ntitle: t\nsteps:\n  - send: x\n  - {send: x, sleep: 1}\n");
        assert!(e.message.contains("exactly one kind"), "{e}");
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn null_controls_mean_remove() {
        let s = parse(
            Path::new("t"),
            "id: a\ntitle: t\nsetup:\n  controls: {rcpthosts: null, me: x}\nsteps: [{send: x}]\n",
        )
        .unwrap();
        assert_eq!(s.setup.controls.get("rcpthosts"), Some(&None));
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let e = err("id: 'bad id'\ntitle: t\nsteps: []\n");
        assert_eq!((e.field.as_str(), e.line), ("id", 1), "{e}");
    }
}
