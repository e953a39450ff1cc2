//! qmail-clean: removes queue files on qmail-send's request (spec §1.6).
fn main() {
    std::process::exit(mta::queue::clean::main())
}
