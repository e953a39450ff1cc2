//! `qmail-rspawn`: the remote spawn (spec §1.3, §1.5). Zeroes the TCP
//! timeout table, then serves qmail-send's delivery commands on fd 0 with
//! one `qmail-remote` (or `$QMAILREMOTE`) per command, reports on fd 1.

fn main() {
    let home = mta::home::Home::from_env();
    let queue = home.queue();
    mta::remote::rspawn::RSpawn::start(&queue);
    let spawner = mta::remote::rspawn::RSpawn::from_env(&home);
    let slots = mta::home::SPAWN_LIMIT.min(255) as u8;
    if let Err(e) = mta::spawn::server::run(spawner, &queue, slots) {
        eprintln!("qmail-rspawn: fatal: {e}");
        std::process::exit(111);
    }
}
