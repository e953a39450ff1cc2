//! qmail-newmrh: compile control/morercpthosts into
//! control/morercpthosts.cdb (spec §7.5, Appendix A). Takes no arguments.

fn main() -> std::process::ExitCode {
    let home = mta::home::Home::from_env();
    match mta::smtpd::newmrh::rebuild(&home.control()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qmail-newmrh: fatal: {e}");
            std::process::ExitCode::from(111)
        }
    }
}
