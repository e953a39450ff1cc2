//! The disk's own limit for durable writes, measured in the same run: each
//! operation creates a file, writes 1 KiB, fsyncs it, renames it into
//! place and fsyncs the directory, which is what a durable queue or
//! Maildir step costs at least. Run with 1 writer and with 8 (each in its
//! own directory, as concurrent deliveries are).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Durable operations per second with `writers` threads doing `per_writer`
/// operations each in subdirectories of `dir`.
pub fn durable_ops_per_s(dir: &Path, writers: usize, per_writer: usize) -> std::io::Result<f64> {
    let data = [b'x'; 1024];
    let t = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let d = dir.join(format!("w{w}"));
            std::thread::spawn(move || -> std::io::Result<()> {
                std::fs::create_dir_all(d.join("tmp"))?;
                std::fs::create_dir_all(d.join("new"))?;
                let newdir = File::open(d.join("new"))?;
                for i in 0..per_writer {
                    let tmp = d.join("tmp").join(i.to_string());
                    let mut f = File::create(&tmp)?;
                    f.write_all(&data)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, d.join("new").join(i.to_string()))?;
                    newdir.sync_all()?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| std::io::Error::other("writer panicked"))??;
    }
    let secs = t.elapsed().max(Duration::from_micros(1)).as_secs_f64();
    crate::scratch::discard(dir);
    Ok((writers * per_writer) as f64 / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_cleans_up() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("disk");
        let r = durable_ops_per_s(&sub, 2, 5).unwrap();
        assert!(r > 0.0);
        assert!(!sub.exists());
    }
}
