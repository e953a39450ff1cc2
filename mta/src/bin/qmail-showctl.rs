//! qmail-showctl (see `mta::admin::showctl`).
fn main() {
    std::process::exit(mta::admin::showctl::main())
}
