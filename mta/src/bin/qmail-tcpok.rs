//! `qmail-tcpok`: clear the TCP timeout table (spec §6.5, Appendix A).
//! Errors go to fd 2 as `qmail-tcpok: fatal: ...`, exit 111.

fn main() {
    let home = mta::home::Home::from_env();
    if let Err(text) = mta::remote::tcpto::tcpok_main(&home.root) {
        eprint!("{text}");
        std::process::exit(111);
    }
}
