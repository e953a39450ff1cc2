//! qmail-start: wires the daemons together and becomes qmail-send.
fn main() {
    let home = mta::home::Home::from_env();
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(mta::start::qmail_start::main(&home, &args));
}
