//! preline: a qmail helper for .qmail lines (see mta::helpers).
fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(mta::helpers::preline::main(&args));
}
