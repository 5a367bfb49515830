//! Concurrent requests for the same whole list in one worker share one read. A request that
//! finds no read of its list running reads it itself, at once (nothing added when the worker
//! is not busy). Requests that arrive while one runs wait for it to end and then share the next
//! read, which starts after the last of them arrived: each gets the list as the database had
//! it after its request came in, as it would alone, at the cost of one statement and one
//! rendering for all of them (the idea of nginx's `proxy_cache_lock`, without keeping anything
//! once the answers are out). A request that goes away stops waiting; the read goes on for the
//! others.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_util::future::{FutureExt, LocalBoxFuture};

/// The requests that wait for the next read of one list, and its outcome once read.
struct Round<T> {
    outcome: RefCell<Option<T>>,
    wakers: RefCell<Vec<Waker>>,
    waiting: Cell<usize>,
}

/// One list's reads: whether one is running, and the round waiting for the next.
struct Flight<T> {
    running: Cell<bool>,
    next: RefCell<Option<Rc<Round<T>>>>,
}

/// The reads of lists, by key (the location and the list it reads): a handful per worker.
pub struct Shared<K, T> {
    flights: RefCell<Vec<(K, Rc<Flight<T>>)>>,
}

impl<K, T> Default for Shared<K, T> {
    fn default() -> Self {
        Shared {
            flights: RefCell::new(Vec::new()),
        }
    }
}

impl<K: PartialEq, T: Clone + 'static> Shared<K, T> {
    fn flight(&self, key: K) -> Rc<Flight<T>> {
        let mut flights = self.flights.borrow_mut();
        if let Some((_, f)) = flights.iter().find(|(k, _)| *k == key) {
            return f.clone();
        }
        let f = Rc::new(Flight {
            running: Cell::new(false),
            next: RefCell::new(None),
        });
        flights.push((key, f.clone()));
        f
    }

    /// The outcome of `read` for the list `key`: read now if no read of it runs, or else
    /// shared with the requests that arrive while it runs, read once it has ended. `shared_read`
    /// is how a shared round reads, in a task of its own (`spawn` starts it) that no request's
    /// going away stops.
    pub async fn read<R, S, F>(&self, key: K, read: R, shared_read: S, spawn: Spawn) -> T
    where
        R: Future<Output = T>,
        S: Fn() -> F + 'static,
        F: Future<Output = T> + 'static,
    {
        let flight = self.flight(key);
        if !flight.running.get() {
            flight.running.set(true);
            let _done = ReadDone {
                flight: flight.clone(),
                shared_read: Rc::new(move || shared_read().boxed_local()) as SharedRead<T>,
                spawn,
            };
            return read.await;
        }
        let round = flight
            .next
            .borrow_mut()
            .get_or_insert_with(|| {
                Rc::new(Round {
                    outcome: RefCell::new(None),
                    wakers: RefCell::new(Vec::new()),
                    waiting: Cell::new(0),
                })
            })
            .clone();
        round.waiting.set(round.waiting.get() + 1);
        let _left = Waiting(&round);
        std::future::poll_fn(|cx| match &*round.outcome.borrow() {
            Some(outcome) => Poll::Ready(outcome.clone()),
            None => {
                round.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// A waiting request's place in its round, given up when it is answered or goes away.
struct Waiting<'a, T>(&'a Round<T>);

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        self.0.waiting.set(self.0.waiting.get().saturating_sub(1));
    }
}

/// How a shared round reads.
type SharedRead<T> = Rc<dyn Fn() -> LocalBoxFuture<'static, T>>;

/// Starts a task on the worker's event loop.
pub type Spawn = fn(LocalBoxFuture<'static, ()>);

/// The end of a request's own read (answered, failed or gone): the round that gathered
/// meanwhile is read next, in a task of its own.
struct ReadDone<T: Clone + 'static> {
    flight: Rc<Flight<T>>,
    shared_read: SharedRead<T>,
    spawn: Spawn,
}

impl<T: Clone + 'static> Drop for ReadDone<T> {
    fn drop(&mut self) {
        let flight = self.flight.clone();
        let shared_read = self.shared_read.clone();
        if flight.next.borrow().is_none() {
            flight.running.set(false);
            return;
        }
        (self.spawn)(Box::pin(async move {
            // each round read after the one before: what arrives during a read waits for it
            loop {
                let Some(round) = flight.next.take() else {
                    break;
                };
                if round.waiting.get() == 0 {
                    continue;
                }
                let outcome = shared_read().await;
                *round.outcome.borrow_mut() = Some(outcome);
                for w in round.wakers.take() {
                    w.wake();
                }
            }
            flight.running.set(false);
        }));
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::Context;

    use futures_util::task::noop_waker;

    use super::*;

    thread_local! {
        static TASKS: RefCell<Vec<LocalBoxFuture<'static, ()>>> = const { RefCell::new(Vec::new()) };
    }

    fn test_spawn(task: LocalBoxFuture<'static, ()>) {
        TASKS.with(|t| t.borrow_mut().push(task));
    }

    /// Polls the spawned tasks once each, keeping those not done.
    fn run_tasks() {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let tasks = TASKS.with(|t| t.take());
        for mut task in tasks {
            if task.as_mut().poll(&mut cx).is_pending() {
                TASKS.with(|t| t.borrow_mut().push(task));
            }
        }
    }

    /// Reads that end when the test opens the gate, each answering its own number.
    #[derive(Clone, Default)]
    struct Db {
        started: Rc<Cell<u32>>,
        open: Rc<Cell<bool>>,
    }

    impl Db {
        /// Counts as started when first polled, as an `async fn` read does nothing before.
        fn read(&self) -> impl Future<Output = u32> + 'static {
            let (started, open) = (self.started.clone(), self.open.clone());
            async move {
                let n = started.get() + 1;
                started.set(n);
                std::future::poll_fn(move |_| {
                    if open.get() {
                        Poll::Ready(n)
                    } else {
                        Poll::Pending
                    }
                })
                .await
            }
        }
    }

    type Request = Pin<Box<dyn Future<Output = u32>>>;

    fn request(shared: &Rc<Shared<u8, u32>>, db: &Db) -> Request {
        let (shared, own, db) = (shared.clone(), db.read(), db.clone());
        Box::pin(async move { shared.read(1, own, move || db.read(), test_spawn).await })
    }

    fn poll(r: &mut Request) -> Poll<u32> {
        let waker = noop_waker();
        r.as_mut().poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_request_alone_reads_at_once() {
        let (shared, db) = (Rc::new(Shared::default()), Db::default());
        db.open.set(true);
        let mut a = request(&shared, &db);
        assert_eq!(poll(&mut a), Poll::Ready(1));
        let mut b = request(&shared, &db);
        assert_eq!(
            poll(&mut b),
            Poll::Ready(2),
            "nothing ran: the next reads at once too"
        );
        assert!(TASKS.with(|t| t.borrow().is_empty()));
    }

    #[test]
    fn requests_arriving_during_a_read_share_the_next_one_not_that_one() {
        let (shared, db) = (Rc::new(Shared::default()), Db::default());
        let mut first = request(&shared, &db);
        assert!(poll(&mut first).is_pending());
        let mut later: Vec<Request> = (0..5).map(|_| request(&shared, &db)).collect();
        for r in &mut later {
            assert!(poll(r).is_pending());
        }
        db.open.set(true);
        assert_eq!(poll(&mut first), Poll::Ready(1));
        run_tasks();
        for r in &mut later {
            assert_eq!(
                poll(r),
                Poll::Ready(2),
                "the read started after they arrived"
            );
        }
        assert_eq!(db.started.get(), 2, "two reads for six requests");
        run_tasks();
        assert!(TASKS.with(|t| t.borrow().is_empty()));
        let mut after = request(&shared, &db);
        assert_eq!(
            poll(&mut after),
            Poll::Ready(3),
            "no read runs: read at once"
        );
    }

    #[test]
    fn arrivals_during_a_shared_read_wait_for_the_one_after() {
        let (shared, db) = (Rc::new(Shared::default()), Db::default());
        let mut first = request(&shared, &db);
        let _ = poll(&mut first);
        let mut second = request(&shared, &db);
        let _ = poll(&mut second);
        db.open.set(true);
        assert_eq!(poll(&mut first), Poll::Ready(1));
        db.open.set(false);
        run_tasks(); // the shared read (2) starts and waits
        let mut third = request(&shared, &db);
        assert!(poll(&mut third).is_pending());
        db.open.set(true);
        run_tasks(); // read 2 ends, read 3 starts for the third and ends
        assert_eq!(poll(&mut second), Poll::Ready(2));
        assert_eq!(poll(&mut third), Poll::Ready(3));
    }

    #[test]
    fn a_round_whose_requests_all_left_is_not_read_and_a_gone_reader_passes_on() {
        let (shared, db) = (Rc::new(Shared::default()), Db::default());
        let mut first = request(&shared, &db);
        let _ = poll(&mut first);
        let mut gone = request(&shared, &db);
        let _ = poll(&mut gone);
        drop(gone);
        drop(first); // its client went away mid-read
        db.open.set(true);
        run_tasks();
        assert_eq!(db.started.get(), 1, "nobody waited for a second read");
        let mut next = request(&shared, &db);
        assert_eq!(
            poll(&mut next),
            Poll::Ready(2),
            "no read runs after the gone reader"
        );
    }
}
