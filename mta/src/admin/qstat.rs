//! `qmail-qstat`: counts the queue (spec Appendix A). qmail's is a shell
//! script counting the files under `mess/*/` and in `todo/`; the output is
//! two lines:
//!
//! ```text
//! messages in queue: 3
//! messages in queue but not yet preprocessed: 1
//! ```

use std::io;
use std::path::Path;

use crate::queue::layout::Layout;

/// The two counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    /// Files under `mess/<split>/`.
    pub messages: u64,
    /// Files in `todo/`.
    pub unpreprocessed: u64,
}

impl QueueCounts {
    /// The two lines qmail-qstat prints.
    pub fn render(&self) -> String {
        format!(
            "messages in queue: {}\nmessages in queue but not yet preprocessed: {}\n",
            self.messages, self.unpreprocessed
        )
    }
}

fn count(dir: &Path) -> io::Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        e?;
        n += 1;
    }
    Ok(n)
}

/// Counts the queue at `queue`.
pub fn qstat(queue: &Path) -> io::Result<QueueCounts> {
    let layout = Layout::new(queue);
    let mut messages = 0;
    for sub in 0..layout.split {
        messages += count(&layout.dir("mess").join(sub.to_string()))?;
    }
    Ok(QueueCounts {
        messages,
        unpreprocessed: count(&layout.dir("todo"))?,
    })
}

/// qmail-qstat's main: 0, or 111 (with a message on stderr) if the queue
/// cannot be read.
pub fn main() -> i32 {
    let home = crate::home::Home::from_env();
    match qstat(&home.queue()) {
        Ok(c) => {
            use std::io::Write;
            let mut out = io::stdout().lock();
            match out
                .write_all(c.render().as_bytes())
                .and_then(|()| out.flush())
            {
                Ok(()) => 0,
                Err(_) => 111,
            }
        }
        Err(e) => {
            eprintln!(
                "qmail-qstat: fatal: unable to read {}: {}",
                home.queue().display(),
                super::error_str(&e)
            );
            111
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_two_lines() {
        let c = QueueCounts {
            messages: 3,
            unpreprocessed: 1,
        };
        assert_eq!(
            c.render(),
            "messages in queue: 3\nmessages in queue but not yet preprocessed: 1\n"
        );
    }
}
