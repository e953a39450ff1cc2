//! `conformance`: run, list and show conformance scenarios (see the
//! library's `cli` module).
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(conformance::cli::main())
}
