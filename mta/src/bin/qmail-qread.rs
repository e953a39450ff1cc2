//! qmail-qread (see `mta::admin::qread`).
fn main() {
    std::process::exit(mta::admin::qread::main())
}
