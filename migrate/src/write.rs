//! Writing the converted files safely: all-or-nothing checks first, then
//! one atomic rename per file; an existing file that differs is never
//! replaced without `--force`; `--dry-run` shows unified diffs (similar)
//! instead. A second run over the same input changes nothing.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One file the conversion wants to exist with these bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
}

/// What applying a file did (or would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Replace,
    Unchanged,
}

/// Why the output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Permanent: the user must decide (use `--force`).
    #[error("{0}: exists and differs from the conversion; not overwritten (use --force)")]
    Exists(PathBuf),
    /// Usually temporary (disk full, permissions).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl WriteError {
    /// True when retrying later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, WriteError::Io { .. })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn current(path: &Path) -> Result<Option<Vec<u8>>, WriteError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// What [`apply`] would do to each file, without writing.
pub fn plan(files: &[OutFile]) -> Result<Vec<Change>, WriteError> {
    files
        .iter()
        .map(|f| {
            Ok(match current(&f.path)? {
                None => Change::Create,
                Some(old) if old == f.contents => Change::Unchanged,
                Some(_) => Change::Replace,
            })
        })
        .collect()
}

/// Unified diffs of every file that would change (`/dev/null` for new
/// files); binary files get one line.
pub fn dry_run(files: &[OutFile]) -> Result<String, WriteError> {
    let mut out = String::new();
    for f in files {
        let old = current(&f.path)?;
        if old.as_deref() == Some(&f.contents[..]) {
            continue;
        }
        let name = f.path.display().to_string();
        let old_name = if old.is_some() {
            name.as_str()
        } else {
            "/dev/null"
        };
        let (Ok(o), Ok(n)) = (
            std::str::from_utf8(old.as_deref().unwrap_or(b"")),
            std::str::from_utf8(&f.contents),
        ) else {
            out.push_str(&format!("Binary files {old_name} and {name} differ\n"));
            continue;
        };
        let diff = similar::TextDiff::from_lines(o, n);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(old_name, &name)
                .to_string(),
        );
    }
    Ok(out)
}

/// Writes every file atomically (temporary file in the same directory,
/// fsync, rename). Nothing is written unless every file may be. The
/// files are written in two halves at once, so one file's fsync does not
/// wait for the other's.
pub fn apply(files: &[OutFile], force: bool) -> Result<Vec<Change>, WriteError> {
    let changes = plan(files)?;
    if !force {
        if let Some((f, _)) = files
            .iter()
            .zip(&changes)
            .find(|(_, c)| **c == Change::Replace)
        {
            return Err(WriteError::Exists(f.path.clone()));
        }
    }
    let todo: Vec<&OutFile> = files
        .iter()
        .zip(&changes)
        .filter(|(_, c)| **c != Change::Unchanged)
        .map(|(f, _)| f)
        .collect();
    if todo.len() >= 2 {
        let (a, b) = todo.split_at(todo.len() / 2);
        let (ra, rb) = crate::par::join(|| write_each(a), || write_each(b));
        ra.and(rb)?;
    } else {
        write_each(&todo)?;
    }
    Ok(changes)
}

fn write_each(files: &[&OutFile]) -> Result<(), WriteError> {
    for f in files {
        let dir = f
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
        tmp.write_all(&f.contents).map_err(io(&f.path))?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(f.mode))
            .map_err(io(&f.path))?;
        tmp.as_file().sync_all().map_err(io(&f.path))?;
        tmp.persist(&f.path).map_err(|e| io(&f.path)(e.error))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &Path, s: &str) -> OutFile {
        OutFile {
            path: p.to_path_buf(),
            contents: s.as_bytes().to_vec(),
            mode: 0o644,
        }
    }

    #[test]
    fn second_run_changes_nothing_and_force_is_needed_to_replace() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/.qmail-a");
        assert_eq!(
            apply(&[file(&p, "&b\n")], false).unwrap(),
            vec![Change::Create]
        );
        assert_eq!(
            apply(&[file(&p, "&b\n")], false).unwrap(),
            vec![Change::Unchanged]
        );
        let e = apply(&[file(&p, "&c\n")], false).unwrap_err();
        assert!(matches!(e, WriteError::Exists(_)) && !e.is_temporary());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "&b\n");
        assert_eq!(
            apply(&[file(&p, "&c\n")], true).unwrap(),
            vec![Change::Replace]
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "&c\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn refusal_writes_nothing_at_all() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&b, "old").unwrap();
        assert!(apply(&[file(&a, "x"), file(&b, "new")], false).is_err());
        assert!(!a.exists());
    }

    #[test]
    fn dry_run_is_a_unified_diff_and_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "&a\n&b\n").unwrap();
        let q = d.path().join("new");
        let diff = dry_run(&[file(&p, "&a\n&c\n"), file(&q, "x\n")]).unwrap();
        assert!(diff.contains("-&b\n+&c\n"), "{diff}");
        assert!(diff.contains("--- /dev/null"), "{diff}");
        assert!(!q.exists());
    }
}
