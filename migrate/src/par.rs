//! Two pieces of work at once, for the large-file paths (a 100,000-entry
//! aliases file): [`join`] runs one closure on a scoped thread and the
//! other on the caller's, and [`split_lines`] cuts text where both halves
//! can be read on their own.
//!
//! Results never depend on the split: every caller merges the halves in
//! input order, and the tests compare with the one-piece run.

/// Below this many bytes a file is read in one piece (a thread costs
/// more than it saves).
pub const MIN_SPLIT: usize = 256 * 1024;

/// Runs `a` on a new thread and `b` on this one; both results. A panic
/// in either is carried on to the caller.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB,
    RA: Send,
{
    std::thread::scope(|s| {
        let h = s.spawn(a);
        let rb = b();
        let ra = match h.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        };
        (ra, rb)
    })
}

/// A byte offset near the middle of `text` (if it has at least
/// `min_len` bytes) where a physical line starts that no logical line
/// runs across: the line before does not end in a backslash and this one
/// does not start with a blank, so neither joins the other (spec §1.1).
pub fn split_lines(text: &str, min_len: usize) -> Option<usize> {
    if text.len() < min_len.max(2) {
        return None;
    }
    let b = text.as_bytes();
    let mut from = (b.len() / 2).saturating_sub(1);
    while let Some(nl) = memchr::memchr(b'\n', &b[from..]).map(|i| from + i) {
        let p = nl + 1;
        let next = b.get(p).copied()?;
        let joins = (nl > 0 && b[nl - 1] == b'\\') || next == b' ' || next == b'\t';
        if !joins {
            return Some(p);
        }
        from = p;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_between_logical_lines() {
        assert_eq!(split_lines("a: b\nc: d\n", 0), Some(5));
        // The second half would start with a continuation.
        assert_eq!(split_lines("a: b,\n\tc\nd: e\n", 0), Some(9));
        assert_eq!(split_lines("a: \\\nb\nc: d\n", 0), Some(7));
        // The line before the middle ends in a backslash, and no later one
        // is left to start the second half.
        assert_eq!(split_lines("x\na: \\\nb: c\n", 0), None);
        assert_eq!(split_lines("a: b\nc: d", 100), None);
        assert_eq!(split_lines("a: b, c, d, e\n", 0), None);
    }

    #[test]
    fn join_returns_both_in_order() {
        let v = [1, 2, 3];
        let (a, b) = join(|| v.iter().sum::<i32>(), || v.len());
        assert_eq!((a, b), (6, 3));
    }
}
