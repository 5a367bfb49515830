//! The module's task executor on the worker's event loop.
//!
//! `ngx::async_::spawn` (ngx 0.5) runs a woken task at once, inside the call to `wake()`.
//! futures-channel's bounded channel (tokio-postgres's per-query response channel) wakes the
//! sending task while it holds its own lock, so the PostgreSQL connection task then ran
//! inline and waited on that lock: the worker hung for good (seen with a slow reader of a
//! large list). Here a woken task is only queued; the queue runs from a posted nginx event,
//! after the handler that woke it has returned. Running later also batches work: queries
//! issued in one event-loop iteration go out together.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::mem;
use std::ptr;

use async_task::{Runnable, Task};
use nginx_sys::{ngx_delete_posted_event, ngx_event_t, ngx_post_event, ngx_posted_events};

struct RunQueue {
    event: ngx_event_t,
    runnables: VecDeque<Runnable>,
    /// The buffer of the last batch run, emptied: the next batch swaps it in, so the queue
    /// keeps its capacity instead of allocating again for every batch.
    spare: VecDeque<Runnable>,
}

thread_local! {
    static QUEUE: RefCell<Option<Box<RunQueue>>> = const { RefCell::new(None) };
    static SHUT_DOWN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

unsafe extern "C" fn run_queued(_ev: *mut ngx_event_t) {
    // Take what is queued now; tasks woken while these run are queued for the next round
    // (the event is posted again), so a task that keeps waking itself cannot starve nginx.
    let mut batch = QUEUE.with(|q| {
        q.borrow_mut()
            .as_mut()
            .map(|q| {
                let spare = mem::take(&mut q.spare);
                mem::replace(&mut q.runnables, spare)
            })
            .unwrap_or_default()
    });
    while let Some(runnable) = batch.pop_front() {
        runnable.run();
    }
    // (no queue: the worker shut down meanwhile, and the buffer goes)
    QUEUE.with(|q| {
        if let Some(q) = q.borrow_mut().as_mut() {
            if q.spare.capacity() < batch.capacity() {
                q.spare = batch;
            }
        }
    });
}

fn schedule(runnable: Runnable) {
    if SHUT_DOWN.with(|s| s.get()) {
        return; // the worker is exiting: the task is dropped with its runnable
    }
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let q = q.get_or_insert_with(|| {
            Box::new(RunQueue {
                // SAFETY: an all-zero event is the initial state nginx expects.
                event: unsafe { mem::zeroed() },
                runnables: VecDeque::new(),
                spare: VecDeque::new(),
            })
        });
        q.runnables.push_back(runnable);
        let ev = &mut q.event;
        if ev.handler.is_none() {
            ev.handler = Some(run_queued);
            ev.data = ptr::null_mut();
        }
        // SAFETY: the cycle log is valid in a worker; the event lives in a Box that is only
        // freed by `shutdown`, which first removes it from the posted queue.
        unsafe {
            ev.log = super::process::cycle_log();
            if ev.posted() == 0 {
                ngx_post_event(ev, ptr::addr_of_mut!(ngx_posted_events));
            }
        }
    });
}

/// Runs `future` as a task on the event loop (first poll from the posted-events queue).
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    // SAFETY: the worker is single-threaded: the future and its output never leave this
    // thread, and `schedule` only touches this thread's queue.
    let (runnable, task) = unsafe { async_task::spawn_unchecked(future, schedule) };
    runnable.schedule();
    task
}

/// Drops every queued task (worker exit): their futures, and the sockets they own, go now.
pub fn shutdown() {
    SHUT_DOWN.with(|s| s.set(true));
    let queue = QUEUE.with(|q| q.borrow_mut().take());
    if let Some(mut q) = queue {
        if q.event.posted() != 0 {
            // SAFETY: the event is in nginx's posted queue; it is removed before it is freed.
            unsafe { ngx_delete_posted_event(&mut q.event) };
        }
        q.runnables.clear();
    }
}
