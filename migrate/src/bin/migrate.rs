//! `migrate`: the sendmail → qmail migrator (see `migrate::cli`).

/// See the comment on the dependency in Cargo.toml: page faults, not
/// parsing, were most of a large conversion under glibc's malloc.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    migrate::cli::main()
}
