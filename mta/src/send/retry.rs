//! The retry schedule and queue lifetime (spec §3.6), and the clock.
//!
//! `n = floor(sqrt(now - birth))` (0 if birth is in the future) and the next
//! attempt is `birth + (n + skip)^2`, with skip 10 for local and 20 for
//! remote. A pass that starts after `birth + queuelifetime` is "dying": its
//! deferrals become failures.

/// Time source, injectable for tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        crate::date::now()
    }
}

/// A test clock whose time is set by hand.
#[derive(Default)]
pub struct ManualClock(pub std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(t: i64) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(t))
    }
    pub fn set(&self, t: i64) {
        self.0.store(t, std::sync::atomic::Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// skip for a channel.
pub fn skip(remote: bool) -> i64 {
    if remote {
        20
    } else {
        10
    }
}

fn isqrt(x: i64) -> i64 {
    if x <= 0 {
        return 0;
    }
    let mut r = (x as f64).sqrt() as i64;
    while r * r > x {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= x {
        r += 1;
    }
    r
}

/// The next attempt time for a pass starting at `now`.
pub fn next_retry(birth: i64, now: i64, remote: bool) -> i64 {
    let n = if birth > now { 0 } else { isqrt(now - birth) };
    let s = n + skip(remote);
    birth + s * s
}

/// Whether a pass starting at `now` is the last one (spec §3.6).
pub fn dying(birth: i64, now: i64, queuelifetime: u64) -> bool {
    now > birth.saturating_add(queuelifetime.min(i64::MAX as u64) as i64)
}

/// The sentence appended to a deferral of a dying job.
pub const TOO_LONG: &str =
    "I'm not going to try again; this message has been in the queue too long.\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates prompt scheduling: each attempt happens exactly at the
    /// retry time computed at the previous attempt.
    fn attempts(remote: bool, k: usize) -> Vec<i64> {
        let birth = 1_000_000;
        let mut t = birth;
        let mut v = vec![0];
        for _ in 0..k {
            t = next_retry(birth, t, remote);
            v.push(t - birth);
        }
        v
    }

    #[test]
    fn local_schedule_is_10k_squared() {
        assert_eq!(attempts(false, 6), vec![0, 100, 400, 900, 1600, 2500, 3600]);
    }

    #[test]
    fn remote_schedule_is_20k_squared() {
        assert_eq!(attempts(true, 5), vec![0, 400, 1600, 3600, 6400, 10000]);
    }

    #[test]
    fn future_birth_counts_as_zero_age() {
        assert_eq!(next_retry(100, 50, true), 500);
    }

    #[test]
    fn gap_grows_like_sqrt() {
        // At one day of age: n = 293, next = (293+20)^2 = 97969.
        assert_eq!(next_retry(0, 86_400, true), 97_969);
        // At an exact square age a the gap is 40*sqrt(a) + 400.
        let a = 300 * 300;
        assert_eq!(next_retry(0, a, true) - a, 40 * 300 + 400);
        assert_eq!(next_retry(0, a, false) - a, 20 * 300 + 100);
    }

    #[test]
    fn queuelifetime_one_last_try() {
        assert!(!dying(0, 604_800, 604_800));
        assert!(dying(0, 604_801, 604_800));
        assert!(dying(0, 11, 10));
    }

    #[test]
    fn isqrt_exact() {
        for x in [0, 1, 3, 4, 99, 100, 101, 1_000_000_007] {
            let r = isqrt(x);
            assert!(r * r <= x && (r + 1) * (r + 1) > x);
        }
    }
}
