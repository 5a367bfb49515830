//! Running CPU-heavy work (PBKDF2) on an nginx thread pool, awaited from a task on the event
//! loop. The task memory belongs to nginx's side until its completion event has run, so a
//! request that goes away meanwhile leaves nothing dangling: the result is just dropped.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::mem;
use std::rc::Rc;
use std::task::{Poll, Waker};

use nginx_sys::{ngx_event_t, ngx_log_t, ngx_thread_task_post, ngx_thread_task_t, NGX_OK};

/// A thread pool of the configuration (lives as long as the cycle).
#[derive(Clone, Copy, Debug)]
pub struct ThreadPoolRef(pub *mut nginx_sys::ngx_thread_pool_t);

type Work = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

#[derive(Default)]
struct Waiter {
    result: RefCell<Option<Box<dyn Any + Send>>>,
    waker: Cell<Option<Waker>>,
}

/// `task` must stay the first field: nginx sees a pointer to it, and the completion handler
/// casts back to the whole box.
#[repr(C)]
struct TaskBox {
    task: ngx_thread_task_t,
    /// Touched by the pool thread only between post and completion.
    work: Option<Work>,
    output: Option<Box<dyn Any + Send>>,
    /// Touched on the event loop only.
    waiter: Rc<Waiter>,
}

unsafe extern "C" fn run_in_thread(data: *mut c_void, _log: *mut ngx_log_t) {
    // SAFETY: `data` is the TaskBox posted below; between post and completion only this
    // thread touches `work` and `output`.
    unsafe {
        let tb = &mut *(data as *mut TaskBox);
        if let Some(work) = tb.work.take() {
            tb.output = Some(work());
        }
    }
}

unsafe extern "C" fn completed(ev: *mut ngx_event_t) {
    // SAFETY: `ev->data` is the TaskBox leaked in `run`; nginx calls this once, on the event
    // loop, after the thread finished, so the box is ours again and is freed here.
    unsafe {
        let tb = Box::from_raw((*ev).data as *mut TaskBox);
        let TaskBox { output, waiter, .. } = *tb;
        *waiter.result.borrow_mut() = output;
        if let Some(w) = waiter.waker.take() {
            w.wake();
        }
    }
}

/// Runs `work` on `pool` and returns its result; `None` if the task could not be posted
/// (queue full) or produced nothing.
pub async fn run<T: Send + 'static>(
    pool: ThreadPoolRef,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let waiter = Rc::new(Waiter::default());
    let tb = Box::new(TaskBox {
        // SAFETY: an all-zero task is what `ngx_thread_task_alloc` would hand out.
        task: unsafe { mem::zeroed() },
        work: Some(Box::new(move || Box::new(work()) as Box<dyn Any + Send>)),
        output: None,
        waiter: waiter.clone(),
    });
    let raw = Box::into_raw(tb);
    // SAFETY: `raw` is a valid, leaked TaskBox; the pool pointer comes from the cycle's
    // configuration. On failure the box is reclaimed at once.
    unsafe {
        (*raw).task.ctx = raw as *mut c_void;
        (*raw).task.handler = Some(run_in_thread);
        (*raw).task.event.data = raw as *mut c_void;
        (*raw).task.event.handler = Some(completed);
        (*raw).task.event.log = super::process::cycle_log();
        if ngx_thread_task_post(pool.0, &mut (*raw).task) != NGX_OK as isize {
            drop(Box::from_raw(raw));
            return None;
        }
    }
    std::future::poll_fn(|cx| {
        if let Some(out) = waiter.result.borrow_mut().take() {
            return Poll::Ready(out.downcast::<T>().ok().map(|b| *b));
        }
        waiter.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    })
    .await
}
