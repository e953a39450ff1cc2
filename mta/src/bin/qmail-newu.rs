//! qmail-newu: compile QMAILHOME/users/assign into users/cdb (spec §5.1).

fn main() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o033));
    let home = mta::home::Home::from_env();
    if let Err(e) = mta::local::newu::compile(&home.root) {
        // qmail's exact line first, then where exactly it went wrong.
        eprintln!("{e}");
        if let Some(d) = e.detail() {
            eprintln!("{d}");
        }
        std::process::exit(e.exit_code());
    }
}
