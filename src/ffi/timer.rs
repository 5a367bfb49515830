//! A deadline on nginx's timer tree that, unlike `ngx::async_::sleep`, is NOT cancelable: an
//! exiting worker (reload, `nginx -s quit`) waits for it. Every request that waits on the
//! database holds one, so a graceful reload lets in-flight requests finish (an exiting worker
//! leaves as soon as only cancelable timers remain, which dropped them) while idle pool
//! connections, which hold no timer, do not keep the worker alive.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use nginx_sys::{ngx_add_timer, ngx_del_timer, ngx_event_t, ngx_msec_t};

struct TimerState {
    event: ngx_event_t,
    fired: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// Resolves when `ms` milliseconds have passed; disarms the timer when dropped.
pub struct Deadline {
    /// Taken in `Drop`, to be kept for the next deadline.
    state: ManuallyDrop<Pin<Box<TimerState>>>,
    /// Not `Send`: nginx's timers belong to the worker's one thread (a marker, no allocation).
    _not_send: PhantomData<Rc<()>>,
}

unsafe extern "C" fn on_timer(ev: *mut ngx_event_t) {
    // SAFETY: `ev->data` points at the pinned `TimerState` that owns this event; the timer is
    // removed in `Drop` before that state is freed, so it is alive here.
    unsafe {
        let state = &*((*ev).data as *const TimerState);
        state.fired.set(true);
        if let Some(w) = state.waker.take() {
            w.wake();
        }
    }
}

/// Timer states of dropped deadlines, kept for the next ones: every request that waits on the
/// database arms several, and a reused state saves an allocation and a free each time. At most
/// [`SPARE_STATES`] are kept (the deadlines alive at once are what the worker's requests hold).
const SPARE_STATES: usize = 256;

thread_local! {
    static SPARE: RefCell<Vec<Pin<Box<TimerState>>>> = const { RefCell::new(Vec::new()) };
}

impl Deadline {
    pub fn after(ms: ngx_msec_t) -> Deadline {
        let reused = SPARE.with(|s| s.borrow_mut().pop());
        let mut state = match reused {
            Some(state) => state,
            None => Box::pin(TimerState {
                // SAFETY: an all-zero event is the initial state nginx expects.
                event: unsafe { mem::zeroed() },
                fired: Cell::new(false),
                waker: Cell::new(None),
            }),
        };
        // A reused state is reset to what a new one holds: no timer is set on it (its deadline
        // removed it when dropped), so zeroing the event forgets nothing nginx refers to.
        // SAFETY: the state is pinned for its whole life, so `ev->data` stays valid; the log
        // is the cycle's.
        unsafe {
            let s = state.as_mut().get_unchecked_mut();
            s.event = mem::zeroed();
            s.fired.set(false);
            s.waker.set(None);
            s.event.handler = Some(on_timer);
            s.event.data = s as *mut TimerState as *mut std::ffi::c_void;
            s.event.log = super::process::cycle_log();
            s.event.set_cancelable(0);
            ngx_add_timer(&mut s.event, ms);
        }
        Deadline {
            state: ManuallyDrop::new(state),
            _not_send: PhantomData,
        }
    }
}

impl Future for Deadline {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.fired.get() {
            Poll::Ready(())
        } else {
            self.state.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        // SAFETY: the event is ours; removing a set timer before the state is freed or kept
        // for reuse. `state` is taken once, here, and not used again.
        let state = unsafe {
            let s = self.state.as_mut().get_unchecked_mut();
            if s.event.timer_set() != 0 {
                ngx_del_timer(&mut s.event);
            }
            ManuallyDrop::take(&mut self.state)
        };
        // The waker may hold the task that owns this deadline: never keep it alive here.
        state.waker.set(None);
        SPARE.with(|s| {
            let mut spare = s.borrow_mut();
            if spare.len() < SPARE_STATES {
                spare.push(state);
            }
        });
    }
}

/// What [`with_deadline`] returns when the time ran out first.
#[derive(Debug)]
pub struct Elapsed;

/// Runs `fut` until it completes or `ms` pass.
pub async fn with_deadline<F: Future>(ms: ngx_msec_t, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    // Armed when the first poll finds `fut` pending, so a future that is ready at once (a
    // free connection in the pool) sets and removes no timer. The expiry is the same as if
    // armed before that poll: nginx's clock only moves between events, not while a task runs.
    let mut deadline: Option<Deadline> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let deadline = deadline.get_or_insert_with(|| Deadline::after(ms));
        match Pin::new(deadline).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
