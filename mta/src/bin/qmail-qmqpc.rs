//! qmail-qmqpc: a qmail-queue that sends the message to the QMQP servers
//! in `control/qmqpservers` (spec §10.3). Message on fd 0, envelope on
//! fd 1 (read from, as qmail-queue does), answer in the exit code
//! (spec §2.2). Use it as `QMAILQUEUE` for a host without a local queue.

use std::os::fd::AsFd;

fn main() -> std::process::ExitCode {
    let home = mta::home::Home::from_env();
    let code = match std::io::stdout().as_fd().try_clone_to_owned() {
        // fd 1 is the read end of the envelope pipe.
        Ok(fd1) => {
            let mut envelope = std::fs::File::from(fd1);
            match mta::qmtp::qmqpc::run(&home, &mut std::io::stdin().lock(), &mut envelope) {
                Ok(()) => 0,
                Err(e) => e.exit_code(),
            }
        }
        Err(_) => 54,
    };
    std::process::ExitCode::from(code as u8)
}
