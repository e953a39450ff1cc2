//! `migrate`: the sendmail → qmail migrator (see `migrate::cli`).
fn main() -> std::process::ExitCode {
    migrate::cli::main()
}
