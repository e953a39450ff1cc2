//! qmail-send: the queue manager. Started by qmail-start with fds 0-6.
fn main() {
    let home = mta::home::Home::from_env();
    let root = home.root.clone();
    let code = mta::send::daemon::main(&home, |layout, controls| {
        Box::new(mta::send::bouncer::QueueBouncer::new(
            root,
            layout.clone(),
            controls,
        ))
    });
    std::process::exit(code);
}
