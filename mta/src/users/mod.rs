//! qmail-users tooling outside the delivery path (spec §5.1).
//!
//! - [`pw2u`]: `qmail-pw2u`, a passwd file turned into `users/assign`.

pub mod pw2u;
