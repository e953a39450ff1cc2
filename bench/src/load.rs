//! Load and counting: Postfix's `smtp-source` sends, Postfix's
//! `smtp-sink` receives relayed mail, deliveries are counted in
//! `Maildir/new`, and a pool of idle SMTP connections is held open.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mtas::Env;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("smtp-source failed ({status}): {stderr}")]
    Source { status: String, stderr: String },
    #[error("{got} of {want} messages arrived within {secs} s")]
    Incomplete { got: u64, want: u64, secs: u64 },
}

/// One smtp-source run: `sessions` at once, `messages` in all, each
/// `size` bytes, one recipient. Returns the wall time until smtp-source
/// exits (every message has had its 250).
pub fn smtp_source(
    env: &Env,
    port: u16,
    sessions: usize,
    messages: usize,
    size: usize,
    rcpt: &str,
) -> Result<Duration, LoadError> {
    let t = Instant::now();
    let out = env
        .peer_cmd("usr/sbin/smtp-source")
        .args(["-s", &sessions.to_string(), "-m", &messages.to_string()])
        .args([
            "-l",
            &size.to_string(),
            "-f",
            "bench@example.org",
            "-t",
            rcpt,
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(|source| LoadError::Io {
            what: "run smtp-source".into(),
            source,
        })?;
    let d = t.elapsed();
    if !out.status.success() {
        return Err(LoadError::Source {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(400)
                .collect(),
        });
    }
    Ok(d)
}

/// Entries in a directory (0 if it does not exist yet).
pub fn count_files(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|r| r.count() as u64)
        .unwrap_or(0)
}

/// Polls `count` every 20 ms until it reaches `want`; gives up when it has
/// not moved for `stall`. Returns when the last one arrived.
pub fn wait_for(count: impl Fn() -> u64, want: u64, stall: Duration) -> Result<Instant, LoadError> {
    let start = Instant::now();
    let (mut last, mut moved) = (count(), Instant::now());
    while last < want {
        std::thread::sleep(Duration::from_millis(20));
        let n = count();
        if n != last {
            (last, moved) = (n, Instant::now());
        } else if moved.elapsed() > stall {
            return Err(LoadError::Incomplete {
                got: n,
                want,
                secs: start.elapsed().as_secs(),
            });
        }
    }
    Ok(Instant::now())
}

/// Postfix's smtp-sink on a loopback port, counting what it receives.
pub struct Sink {
    child: Child,
    count: Arc<AtomicU64>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub port: u16,
}

/// The last `mesg=N` of smtp-sink's `-c` counter output (records end in \r).
pub fn parse_sink_count(text: &str) -> Option<u64> {
    text.rsplit('\r')
        .filter_map(|rec| rec.split_whitespace().find_map(|f| f.strip_prefix("mesg=")))
        .find_map(|n| n.parse().ok())
}

impl Sink {
    pub fn start(env: &Env, port: u16) -> Result<Sink, LoadError> {
        let mut child = env
            .peer_cmd("usr/sbin/smtp-sink")
            // -u: smtp-sink refuses to run as root without an account.
            .args(["-u", "mtabench", "-c", "-h", "sink.example"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("1024")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| LoadError::Io {
                what: "run smtp-sink".into(),
                source,
            })?;
        let count = Arc::new(AtomicU64::new(0));
        let mut out = child.stdout.take().ok_or_else(|| LoadError::Io {
            what: "smtp-sink stdout".into(),
            source: std::io::Error::other("no pipe"),
        })?;
        let c = count.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut tail = String::new();
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                if let Some(cut) = tail.rfind('\r') {
                    if let Some(v) = parse_sink_count(&tail[..cut + 1]) {
                        c.store(v, Ordering::Relaxed);
                    }
                    tail.drain(..cut + 1);
                }
            }
        });
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t.elapsed() > Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The probe connection counts as a session, not a message.
        Ok(Sink {
            child,
            count,
            reader: Some(reader),
            port,
        })
    }

    pub fn received(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// A counter that can be polled from another thread.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.count.clone()
    }

    pub fn stop(mut self) {
        crate::mtas::stop_tree(&mut self.child);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Raises this process's open-file limit to its hard limit.
pub fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// MemAvailable from /proc/meminfo, in KiB.
pub fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Idle connections held open: how many were opened and how many of them
/// got their 220 greeting.
pub struct IdlePool {
    pub conns: Vec<TcpStream>,
    pub greeted: usize,
}

/// Opens up to `n` connections to `port` and waits (up to `wait`) for
/// their greetings. Stops opening early when the machine's available
/// memory falls under `min_avail_kib` (the machine is shared).
pub fn open_idle(port: u16, n: usize, wait: Duration, min_avail_kib: u64) -> IdlePool {
    let conns: Vec<TcpStream> = (0..n)
        .map_while(|i| {
            if i % 100 == 0 && mem_available_kib() < min_avail_kib {
                return None;
            }
            TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .collect();
    let greeted = Arc::new(Mutex::new(0usize));
    let deadline = Instant::now() + wait;
    // Read greetings on a few threads; each socket gets a read timeout
    // bounded by the deadline.
    let chunks: Vec<Vec<TcpStream>> = conns
        .iter()
        .filter_map(|c| c.try_clone().ok())
        .collect::<Vec<_>>()
        .chunks(conns.len().div_ceil(16).max(1))
        .map(|c| c.iter().filter_map(|s| s.try_clone().ok()).collect())
        .collect();
    let threads: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let greeted = greeted.clone();
            std::thread::spawn(move || {
                for s in chunk {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    let _ = s.set_read_timeout(Some(left));
                    let mut line = String::new();
                    if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("220") {
                        if let Ok(mut g) = greeted.lock() {
                            *g += 1;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let greeted = greeted.lock().map(|g| *g).unwrap_or(0);
    IdlePool { conns, greeted }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_counter_takes_the_last_complete_record() {
        let t = "sess=0 quit=0 mesg=1\rsess=0 quit=0 mesg=2\rsess=1 quit=1 mesg=2\r";
        assert_eq!(parse_sink_count(t), Some(2));
        assert_eq!(parse_sink_count("sess=0 quit=0\r"), None);
    }

    #[test]
    fn wait_for_returns_when_the_count_is_reached_and_fails_when_it_stalls() {
        let n = Arc::new(AtomicU64::new(0));
        let m = n.clone();
        let h = std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(10));
                m.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert!(wait_for(|| n.load(Ordering::Relaxed), 5, Duration::from_secs(5)).is_ok());
        h.join().unwrap();
        let e = wait_for(|| 1, 3, Duration::from_millis(100)).unwrap_err();
        assert!(
            matches!(
                e,
                LoadError::Incomplete {
                    got: 1,
                    want: 3,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn idle_pool_counts_greetings() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut held = Vec::new();
            for (i, s) in l.incoming().take(3).enumerate() {
                let mut s = s.unwrap();
                if i < 2 {
                    std::io::Write::write_all(&mut s, b"220 hi\r\n").unwrap();
                }
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(500));
        });
        let pool = open_idle(port, 3, Duration::from_millis(300), 0);
        assert_eq!(pool.conns.len(), 3);
        assert_eq!(pool.greeted, 2);
        server.join().unwrap();
    }

    #[test]
    fn count_files_of_a_missing_directory_is_zero() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(count_files(&d.path().join("nope")), 0);
        std::fs::write(d.path().join("a"), "").unwrap();
        assert_eq!(count_files(d.path()), 1);
    }
}
