//! `mta-bench`: see `bench::cli` and README "Benchmarks". Run it through
//! `ci/bench`, which builds and unpacks what it needs.

fn main() -> std::process::ExitCode {
    bench::cli::main()
}
