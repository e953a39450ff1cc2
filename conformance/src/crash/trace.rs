//! Parsing `strace -f -y -xx -ttt` output into file-system operations
//! (conformance spec §4.4 tier B). strace's own output format has no
//! crate, so this reads just what the power-cut model needs: opens that
//! create or truncate, writes with their bytes, fsyncs, links, renames,
//! unlinks, directory creation, and each process's working directory.
//!
//! With `-y` every fd argument carries its path (`3</abs/path>`, `-xx`
//! hex-escaped), `AT_FDCWD` carries the working directory, and the result
//! of an open names the file; relative paths of the non-`at` calls are
//! resolved against a per-process working directory followed through
//! `chdir` and inherited through `clone`/`fork`. Interrupted calls
//! (`<unfinished ...>` / `<... resumed>`) are joined and placed where they
//! completed. Failed calls are dropped.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The strace flags of a recording run.
pub const RECORD_FLAGS: &[&str] = &[
    "-f",
    "-qq",
    "-y",
    "-xx",
    "-ttt",
    "-s",
    "1048576",
    "-e",
    "trace=open,openat,creat,write,pwrite64,writev,lseek,fsync,fdatasync,rename,renameat,\
     renameat2,link,linkat,unlink,unlinkat,mkdir,mkdirat,ftruncate,chdir,clone,clone3,fork,vfork",
];

/// One file-system operation, at wall-clock `time` (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: f64,
    pub pid: u32,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// An open (of anything) that may create (`O_CREAT`) or truncate
    /// (`O_TRUNC`) `path`; writes and fsyncs through (pid, fd) go to it.
    Open {
        path: PathBuf,
        fd: i32,
        create: bool,
        trunc: bool,
        append: bool,
    },
    Write {
        path: PathBuf,
        fd: i32,
        data: Vec<u8>,
        /// pwrite's offset.
        offset: Option<u64>,
    },
    /// lseek's resulting position.
    Seek {
        fd: i32,
        pos: u64,
    },
    Truncate {
        path: PathBuf,
        len: u64,
    },
    /// fsync or fdatasync of (pid, fd), whose path is `path`.
    Fsync {
        path: PathBuf,
        fd: i32,
    },
    Link {
        from: PathBuf,
        to: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
    Unlink {
        path: PathBuf,
    },
    Mkdir {
        path: PathBuf,
    },
}

/// Decodes a C-style escaped string body (`\xHH`, `\n`, octal, ...).
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        match c {
            b'x' => {
                let h = std::str::from_utf8(&b[i..(i + 2).min(b.len())]).unwrap_or("");
                out.push(u8::from_str_radix(h, 16).unwrap_or(b'?'));
                i += 2;
            }
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    out
}

/// The top-level arguments of a call, split at commas outside quotes and
/// brackets.
fn split_args(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut esc, mut start) = (0i32, false, false, 0);
    for (i, c) in s.char_indices() {
        if quoted {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

/// `"..."` → bytes (all quoted pieces of an argument, for writev).
fn quoted_bytes(a: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = a;
    while let Some(p) = rest.find('"') {
        let after = &rest[p + 1..];
        let mut end = None;
        let mut esc = false;
        for (i, c) in after.char_indices() {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(e) = end else { break };
        out.extend(unescape(&after[..e]));
        rest = &after[e + 1..];
    }
    out
}

/// The path in an fd's `<...>` decoration (an unlinked file's fd shows
/// `<path>(deleted)`; the path is what it was).
fn decoration(a: &str) -> Option<PathBuf> {
    let open = a.find('<')?;
    let close = a.rfind('>')?;
    (close > open).then(|| bytes_path(&unescape(&a[open + 1..close])))
}

fn fd_number(a: &str) -> i32 {
    a.split('<')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(-1)
}

fn bytes_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

/// `base/rel` with `.` and `..` folded (no symlinks are followed).
fn join(base: &Path, rel: &Path) -> PathBuf {
    let mut out = if rel.is_absolute() {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    };
    for c in rel.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Parses the output of one strace run (`-f -o`) into events.
pub fn parse(text: &str) -> Vec<Event> {
    let mut cwd: BTreeMap<u32, PathBuf> = BTreeMap::new();
    let mut pending: BTreeMap<u32, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        // strace pads the pid: `7034  1795226423.261238 call(...)`.
        let Some((pid, r)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((time, rest)) = r.trim_start().split_once(' ') else {
            continue;
        };
        let (Ok(pid), Ok(time)) = (pid.parse::<u32>(), time.parse::<f64>()) else {
            continue;
        };
        let call = if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, head.to_string());
            continue;
        } else if let Some(r) = rest.strip_prefix("<... ") {
            let Some(p) = r.find(" resumed>") else {
                continue;
            };
            let Some(head) = pending.remove(&pid) else {
                continue;
            };
            format!("{head}{}", &r[p + " resumed>".len()..])
        } else {
            rest.to_string()
        };
        let Some(open) = call.find('(') else { continue };
        let name = &call[..open];
        let Some(eq) = call.rfind(") = ") else {
            continue;
        };
        let args = split_args(&call[open + 1..eq]);
        let ret = call[eq + 4..].trim();
        if ret.starts_with('-') || ret.starts_with('?') {
            continue;
        }
        let here = cwd.get(&pid).cloned().unwrap_or_else(|| PathBuf::from("/"));
        // A path argument, relative to a dirfd argument or the cwd.
        let at = |dirfd: Option<&str>, p: &str| {
            let rel = bytes_path(&quoted_bytes(p));
            let base = dirfd.and_then(decoration).unwrap_or_else(|| here.clone());
            join(&base, &rel)
        };
        let arg = |i: usize| args.get(i).copied().unwrap_or("");
        let mut ev = |op: Op| out.push(Event { time, pid, op });
        match name {
            "clone" | "clone3" | "fork" | "vfork" => {
                if let Ok(child) = ret
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("")
                    .parse()
                {
                    cwd.insert(child, here.clone());
                }
            }
            "chdir" => {
                cwd.insert(pid, at(None, arg(0)));
            }
            "open" | "openat" | "creat" => {
                let (path_arg, flags) = match name {
                    "openat" => (at(Some(arg(0)), arg(1)), arg(2)),
                    "creat" => (at(None, arg(0)), "O_CREAT|O_TRUNC|O_WRONLY"),
                    _ => (at(None, arg(0)), arg(1)),
                };
                let path = decoration(ret).unwrap_or(path_arg);
                // Every open: a reused fd number must not keep pointing at
                // the file it named before.
                {
                    ev(Op::Open {
                        path,
                        fd: fd_number(ret),
                        create: flags.contains("O_CREAT"),
                        trunc: flags.contains("O_TRUNC"),
                        append: flags.contains("O_APPEND"),
                    });
                }
            }
            "write" | "writev" | "pwrite64" => {
                if let Some(path) = decoration(arg(0)) {
                    let offset = (name == "pwrite64").then(|| arg(3).parse().ok()).flatten();
                    ev(Op::Write {
                        path,
                        fd: fd_number(arg(0)),
                        data: quoted_bytes(arg(1)),
                        offset,
                    });
                }
            }
            "lseek" => {
                if let Ok(pos) = ret.parse() {
                    ev(Op::Seek {
                        fd: fd_number(arg(0)),
                        pos,
                    });
                }
            }
            "ftruncate" => {
                if let (Some(path), Ok(len)) = (decoration(arg(0)), arg(1).parse()) {
                    ev(Op::Truncate { path, len });
                }
            }
            "fsync" | "fdatasync" => {
                if let Some(path) = decoration(arg(0)) {
                    ev(Op::Fsync {
                        path,
                        fd: fd_number(arg(0)),
                    });
                }
            }
            "link" => ev(Op::Link {
                from: at(None, arg(0)),
                to: at(None, arg(1)),
            }),
            "linkat" => ev(Op::Link {
                from: at(Some(arg(0)), arg(1)),
                to: at(Some(arg(2)), arg(3)),
            }),
            "rename" => ev(Op::Rename {
                from: at(None, arg(0)),
                to: at(None, arg(1)),
            }),
            "renameat" | "renameat2" => ev(Op::Rename {
                from: at(Some(arg(0)), arg(1)),
                to: at(Some(arg(2)), arg(3)),
            }),
            "unlink" => ev(Op::Unlink {
                path: at(None, arg(0)),
            }),
            "unlinkat" if !arg(2).contains("AT_REMOVEDIR") => ev(Op::Unlink {
                path: at(Some(arg(0)), arg(1)),
            }),
            "mkdir" => ev(Op::Mkdir {
                path: at(None, arg(0)),
            }),
            "mkdirat" => ev(Op::Mkdir {
                path: at(Some(arg(0)), arg(1)),
            }),
            _ => {}
        }
    }
    out
}

/// Several traces merged by time (stable for equal times).
pub fn merge(traces: Vec<Vec<Event>>) -> Vec<Event> {
    let mut all: Vec<Event> = traces.into_iter().flatten().collect();
    all.sort_by(|a, b| a.time.total_cmp(&b.time));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_hex_and_c_escapes() {
        assert_eq!(unescape(r"\x61\x0a\n\\\101"), b"a\n\n\\A");
    }

    #[test]
    fn parses_calls_with_decorations_and_cwd() {
        let t = concat!(
            "10  1.0 chdir(\"\\x2f\\x71\") = 0\n",
            "10 1.1 openat(AT_FDCWD<\\x2f\\x71>, \"\\x61\", O_WRONLY|O_CREAT|O_EXCL, 0644) = 3<\\x2f\\x71\\x2f\\x61>\n",
            "10 1.2 write(3<\\x2f\\x71\\x2f\\x61>, \"\\x68\\x69\", 2) = 2\n",
            "10 1.3 fsync(3<\\x2f\\x71\\x2f\\x61> <unfinished ...>\n",
            "11 1.35 unlink(\"\\x2f\\x7a\") = -1 ENOENT (No such file or directory)\n",
            "10 1.4 <... fsync resumed>) = 0\n",
            "10 1.5 clone(child_stack=NULL, flags=SIGCHLD) = 12\n",
            "12 1.6 link(\"\\x61\", \"\\x62\") = 0\n",
            "12 1.7 rename(\"\\x62\", \"\\x2e\\x2e\\x2f\\x63\") = 0\n",
        );
        let ops: Vec<Op> = parse(t).into_iter().map(|e| e.op).collect();
        assert_eq!(
            ops,
            vec![
                Op::Open {
                    path: "/q/a".into(),
                    fd: 3,
                    create: true,
                    trunc: false,
                    append: false
                },
                Op::Write {
                    path: "/q/a".into(),
                    fd: 3,
                    data: b"hi".to_vec(),
                    offset: None
                },
                Op::Fsync {
                    path: "/q/a".into(),
                    fd: 3
                },
                Op::Link {
                    from: "/q/a".into(),
                    to: "/q/b".into()
                },
                Op::Rename {
                    from: "/q/b".into(),
                    to: "/c".into()
                },
            ]
        );
    }

    #[test]
    fn writev_concatenates_buffers() {
        let t = "5 2.0 writev(4<\\x2f\\x66>, [{iov_base=\"\\x61\", iov_len=1}, {iov_base=\"\\x62\", iov_len=1}], 2) = 2\n";
        match &parse(t)[0].op {
            Op::Write { data, .. } => assert_eq!(data, b"ab"),
            o => panic!("{o:?}"),
        }
    }
}
