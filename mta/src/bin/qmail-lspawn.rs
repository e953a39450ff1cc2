//! qmail-lspawn: the local-delivery spawn (spec §1.4). Usage:
//! `qmail-lspawn <defaultdelivery>`; commands on fd 0, reports on fd 1.

use mta::home::{Home, SPAWN_LIMIT};
use mta::local::lspawn::LocalSpawner;

fn main() {
    let home = Home::from_env();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let spawner = match LocalSpawner::from_args(home.clone(), &args) {
        Ok(s) => s,
        Err(code) => std::process::exit(code),
    };
    let slots = u8::try_from(SPAWN_LIMIT).unwrap_or(u8::MAX);
    if mta::spawn::server::run(spawner, &home.queue(), slots).is_err() {
        std::process::exit(111);
    }
}
