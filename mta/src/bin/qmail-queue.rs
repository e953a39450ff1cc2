//! qmail-queue: message on fd 0, envelope on fd 1, answer in the exit
//! code (spec §2). All the work is in `mta::queue::qq_process`.
fn main() {
    std::process::exit(mta::queue::qq_process::main())
}
