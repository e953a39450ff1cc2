//! mailq: lists the queue, as `sendmail -bp` (qmail-qread, spec Appendix A).

fn main() {
    let home = mta::home::Home::from_env();
    std::process::exit(mta::inject::sendmail::mailq(&home))
}
