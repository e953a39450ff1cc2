//! qmail-qstat (see `mta::admin::qstat`).
fn main() {
    std::process::exit(mta::admin::qstat::main())
}
