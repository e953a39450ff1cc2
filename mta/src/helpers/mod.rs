//! The small programs qmail ships for `.qmail` lines (spec §5.9):
//! `preline`, `bouncesaying`, `condredirect`, `except`, `forward`, and
//! `maildirmake`. Each follows qmail's exit-code contract for delivery
//! programs: 0 success, 99 success and stop, 100 permanent, 111 temporary.
//!
//! - [`child`]: running the wrapped program and mapping its exit.
//! - [`reinject`]: `forward` and `condredirect`'s injection of the message.
//! - [`preline`], [`maildirmake`].

pub mod child;
pub mod maildirmake;
pub mod preline;
pub mod reinject;

/// Prints `<prog>: fatal: <text>` on stderr and returns `code`, as qmail's
/// `strerr_die2x`.
pub fn die(prog: &str, code: i32, text: &str) -> i32 {
    eprintln!("{prog}: fatal: {text}");
    code
}
