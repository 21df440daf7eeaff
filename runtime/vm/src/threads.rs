//! The threads contract calls run on: each with a [`CALL_STACK`](crate::CALL_STACK)
//! native stack, whatever thread asks for the call. Threads are kept for the next call
//! (starting one costs about as much as a small call) and end after a minute unused,
//! so there are as many as calls have run at once lately.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// Whether this thread's stack is at least `CALL_STACK`.
    static CALL_STACK_HERE: Cell<bool> = const { Cell::new(false) };
}

/// See [`crate::declare_call_stack`].
pub(crate) fn declare_call_stack() {
    CALL_STACK_HERE.set(true);
}

/// Whether calls may run on this thread.
pub(crate) fn has_call_stack() -> bool {
    CALL_STACK_HERE.get()
}

/// How long a thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(60);

/// Threads with large stacks, started on demand.
#[derive(Debug)]
pub(crate) struct Threads {
    jobs: Sender<Job>,
    waiting: Receiver<Job>,
    /// Threads waiting for a job.
    idle: Arc<AtomicUsize>,
    stack: usize,
}

impl Threads {
    /// No threads yet; each started with `stack` bytes of stack.
    pub(crate) fn new(stack: usize) -> Self {
        let (jobs, waiting) = unbounded();
        Threads {
            jobs,
            waiting,
            idle: Arc::new(AtomicUsize::new(0)),
            stack,
        }
    }

    /// Runs `f` on one of the threads and returns what it returns (a panic in `f`
    /// resumes here).
    ///
    /// # Panics
    /// If no thread can be started: a node that cannot start a thread cannot execute
    /// a block, and stops rather than give a call an outcome other nodes would not.
    pub(crate) fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (done, result) = crossbeam_channel::bounded(1);
        // Claim an idle thread, or start one.
        let claimed = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !claimed {
            self.start()
                .unwrap_or_else(|e| panic!("cannot start a thread for a contract call: {e}"));
        }
        let job: Job = Box::new(move || {
            let _ = done.send(catch_unwind(AssertUnwindSafe(f)));
        });
        self.jobs
            .send(job)
            .expect("the pool holds a receiver for as long as it lives");
        match result.recv().expect("a contract thread answers every job") {
            Ok(r) => r,
            Err(panic) => resume_unwind(panic),
        }
    }

    fn start(&self) -> std::io::Result<()> {
        let waiting = self.waiting.clone();
        let idle = self.idle.clone();
        std::thread::Builder::new()
            .name("contract".into())
            .stack_size(self.stack)
            .spawn(move || {
                declare_call_stack();
                // Started for one job; after each job, idle until the next.
                loop {
                    match waiting.recv_timeout(IDLE) {
                        Ok(job) => job(),
                        Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) => {
                            // Leave only if no caller has claimed this thread meanwhile.
                            if idle
                                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok()
                            {
                                return;
                            }
                            continue;
                        }
                    }
                    idle.fetch_add(1, Ordering::AcqRel);
                }
            })
            .map(|_| ())
    }
}
