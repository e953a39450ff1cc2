//! A cache of worker threads: a job runs on an idle thread if there is
//! one, else on a new thread; a thread that finishes waits for the next
//! job instead of ending.
//!
//! Why: qmail-lspawn delivers, and the listener's in-process qmail-queue
//! queues, each message on a thread of its own. Starting and ending a
//! thread costs about fifteen system calls and two scheduler round trips,
//! per message; a kept thread costs one wake-up. There are never more
//! threads than jobs that ran at the same time, so nothing waits for a
//! thread, exactly as with a thread per job.

use std::io;
use std::sync::{mpsc, Arc, Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct Counts {
    /// Threads waiting for a job (each one is owed to the next job sent).
    idle: usize,
    /// Jobs sent and not yet finished.
    busy: usize,
}

struct Shared {
    jobs: Mutex<mpsc::Receiver<Job>>,
    counts: Mutex<Counts>,
    finished: Condvar,
}

/// The cache; dropping it lets its idle threads end.
pub struct Workers {
    send: Mutex<mpsc::Sender<Job>>,
    shared: Arc<Shared>,
    name: String,
    stack: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Workers {
    /// Threads named `name` with `stack` bytes of stack.
    pub fn new(name: &str, stack: usize) -> Workers {
        let (send, jobs) = mpsc::channel();
        Workers {
            send: Mutex::new(send),
            shared: Arc::new(Shared {
                jobs: Mutex::new(jobs),
                counts: Mutex::new(Counts::default()),
                finished: Condvar::new(),
            }),
            name: name.to_string(),
            stack,
        }
    }

    /// Runs `job` on an idle thread, or on a new one. Fails only when a
    /// new thread was needed and could not be started (the job is then
    /// dropped unrun).
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let job: Job = Box::new(job);
        let mut c = lock(&self.shared.counts);
        if c.idle > 0 {
            c.idle -= 1;
            c.busy += 1;
            drop(c);
            return match lock(&self.send).send(job) {
                Ok(()) => Ok(()),
                // Unreachable while `self` holds the receiver's other end.
                Err(mpsc::SendError(job)) => self.start(job),
            };
        }
        c.busy += 1;
        drop(c);
        self.start(job)
    }

    /// A new thread that runs `first`, then waits for more.
    fn start(&self, first: Job) -> io::Result<()> {
        let shared = Arc::clone(&self.shared);
        let r = std::thread::Builder::new()
            .name(self.name.clone())
            .stack_size(self.stack)
            .spawn(move || {
                let mut job = first;
                loop {
                    // A panicking job must not lose the thread's count.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    {
                        let mut c = lock(&shared.counts);
                        c.busy -= 1;
                        c.idle += 1;
                        shared.finished.notify_all();
                    }
                    let next = lock(&shared.jobs).recv();
                    match next {
                        Ok(j) => job = j,
                        Err(_) => return,
                    }
                }
            });
        if r.is_err() {
            let mut c = lock(&self.shared.counts);
            c.busy -= 1;
        }
        r.map(|_| ())
    }

    /// Waits until every job sent so far has finished.
    pub fn wait(&self) {
        let mut c = lock(&self.shared.counts);
        while c.busy > 0 {
            c = self
                .shared
                .finished
                .wait(c)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn threads_are_reused_and_never_fewer_than_jobs_at_once() {
        let w = Workers::new("test", 64 * 1024);
        let ids = Arc::new(Mutex::new(std::collections::HashSet::new()));
        for _ in 0..20 {
            let ids = Arc::clone(&ids);
            w.run(move || {
                lock(&ids).insert(std::thread::current().id());
            })
            .unwrap();
            w.wait();
        }
        // One job at a time: one thread did them all.
        assert_eq!(lock(&ids).len(), 1);

        // Five jobs that wait for each other need five threads at once.
        let barrier = Arc::new(std::sync::Barrier::new(5));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let (b, d) = (Arc::clone(&barrier), Arc::clone(&done));
            w.run(move || {
                b.wait();
                d.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        w.wait();
        assert_eq!(done.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_panicking_job_keeps_the_counts() {
        let w = Workers::new("test", 64 * 1024);
        w.run(|| panic!("job panics")).unwrap();
        w.wait();
        let (tx, rx) = mpsc::channel();
        w.run(move || tx.send(7).unwrap()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), 7);
        w.wait();
    }
}
