//! Concurrent statements of one kind of one worker sent together: one statement for all the
//! requests that arrived while the previous ones were in flight. For writes (POST, PUT, PATCH,
//! DELETE) that is one transaction and one commit (one WAL flush) for the batch: a connection
//! runs its pipelined statements one after another and each commit waits for the flush, so a
//! write alone costs a flush of its own. For single-row reads it is one execution and one
//! answer from the server (one TLS record) for the batch instead of one per request. What a
//! kind sends and how its rows answer its requests is its own file's
//! ([`insert_batch`](super::insert_batch), [`update_batch`](super::update_batch),
//! [`delete_batch`](super::delete_batch), [`read_batch`](super::read_batch)); the queueing, the
//! retries and the cancelling are here.
//!
//! The first request finds nothing in flight and is sent at once, alone, from its own task (no
//! added latency when the worker is idle), and so are the next ones while only a few are on
//! their way ([`FEW`]). Beyond that, while a batch of its kind is in flight, later requests
//! queue; a runner that finishes takes everything queued (up to [`MAX_ROWS`]) as its next
//! batch, and another batch starts beside those in flight only once [`FILL`] requests are
//! queued, or once a request has been held back [`HOLD_MS`] (then on the least busy
//! connection). Never are more statements of a kind in flight than the pool has connections
//! (`music_pool_size`: each connection commits one transaction at a time). A request for a row
//! that a batch in flight, or the batch being taken, already writes stays queued for a later
//! batch: two writes of one row run one after the other, in the order they arrived, as they
//! would alone.
//!
//! What each request sees is what it saw alone. A batch the server refused committed nothing,
//! so each of its requests is sent again alone, and only the one at fault gets the error. A
//! batch whose connection broke, or that timed out, gives every request of it that answer (for
//! a write's lost connection: outcome unknown, as for a write alone). A request whose client
//! goes away leaves its batch running for the others; once every request of a batch has gone,
//! the statement is cancelled on the server, as a statement alone would be.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_util::future::join_all;
use nginx_sys::ngx_msec_t;

use super::queries::Db;
use super::DbError;
use crate::ffi::executor::spawn;
use crate::ffi::timer::Deadline;
use crate::metrics::record::{self, Pool as Event};

/// Requests in one statement at most: the arrays stay small, and one slow batch holds few
/// requests.
const MAX_ROWS: usize = 64;

/// Requests of a kind in flight and queued together below which each is sent at once, on a
/// free connection, alone (as without batching): with so few, a request waiting for a batch to end
/// would lose more time than the server would save.
const FEW: usize = 4;

/// Requests of a kind that must be queued, when [`FEW`] or more are on their way, before
/// another batch is started beside the ones in flight. Fewer wait for a runner to finish and go
/// together in its next batch: each batch is a transaction and a WAL flush, and a commit sent
/// while another one flushes waits for that flush anyway, so a few batches of many requests
/// cost the server (and the worker) much less than many of few, for about one round trip more.
const FILL: usize = 16;

/// How long a request is held back for its batch to fill while a connection is free, at most:
/// a batch in flight normally ends well within it (a WAL flush and a round trip), and one that
/// does not (waiting on a row lock, say) holds up the requests behind it no longer.
const HOLD_MS: ngx_msec_t = 5;

/// A kind of statement that can be batched: its statement for many requests at once, and how the
/// statement's rows answer each of them.
// Only ever used as a generic bound on this single-threaded event loop: the futures need not
// be `Send`, which is what the lint warns about.
#[allow(async_fn_in_trait)]
pub trait Kind: 'static {
    /// Whether a busy worker holds this kind's requests back for fuller batches (writes: a
    /// batch is one commit, one WAL flush, however many rows) or sends each while a connection
    /// is free (reads: the server's cost grows with the rows, and a held read only waits).
    /// Over TLS every kind fills ([`fills`]).
    const FILLS: bool = true;
    /// One request's part of the statement.
    type Item;
    /// What the statement returns for a batch.
    type Rows;
    /// One request's answer.
    type Out;
    /// The row an item writes, when two writes of one row must not share a batch nor run at
    /// once (an update or delete of an existing row; a new row, or a read, has none).
    fn row_of(item: &Self::Item) -> Option<i64>;
    /// Sends the items in one statement, one transaction.
    async fn send(db: &Db, items: &[&Self::Item]) -> Result<Self::Rows, DbError>;
    /// Each item's answer, in the order of `items`, from what the statement returned.
    fn answers(items: &[&Self::Item], rows: Self::Rows) -> Vec<Result<Self::Out, DbError>>;
    /// One item sent alone: by default a batch of one; a kind with a statement of its own for
    /// one request says so here.
    async fn alone(db: &Db, item: &Self::Item) -> Result<Self::Out, DbError> {
        let items = [item];
        let rows = Self::send(db, &items).await?;
        Self::answers(&items, rows)
            .pop()
            .unwrap_or_else(|| Err(DbError::Query("a request alone got no answer".into())))
    }
}

/// One request's item and, once written, its outcome.
struct Entry<K: Kind> {
    item: K::Item,
    state: RefCell<State<K::Out>>,
    /// The batch it was sent in.
    flight: RefCell<Option<Rc<InFlight>>>,
}

/// A batch on its way: the runner's connection, and how many of its requests still wait.
struct InFlight {
    db: Rc<Db>,
    waiting: Cell<usize>,
}

enum State<T> {
    /// Waiting for a runner (the waker of the request's task).
    Queued(Option<Waker>),
    /// Taken into a batch that is in flight.
    Sent(Option<Waker>),
    Done(Result<T, DbError>),
    /// The request took its outcome.
    Taken,
}

impl<K: Kind> Entry<K> {
    fn new(item: K::Item) -> Entry<K> {
        Entry {
            item,
            state: RefCell::new(State::Queued(None)),
            flight: RefCell::new(None),
        }
    }

    fn finish(&self, result: Result<K::Out, DbError>) {
        // the connection goes back to the pool once the runner is done with it
        self.flight.take();
        let old = self.state.replace(State::Done(result));
        if let State::Queued(Some(w)) | State::Sent(Some(w)) = old {
            w.wake();
        }
    }
}

/// The requests of one kind waiting for a runner of one pool, the rows its batches in flight
/// write, how many runners are at work and how many requests their batches hold.
struct Batcher<K: Kind> {
    queue: RefCell<VecDeque<Rc<Entry<K>>>>,
    busy: RefCell<HashSet<i64>>,
    /// Runners at work, the requests sent alone among them.
    runners: Cell<usize>,
    alone: Cell<usize>,
    in_flight: Cell<usize>,
}

impl<K: Kind> Default for Batcher<K> {
    fn default() -> Self {
        Batcher {
            queue: RefCell::default(),
            busy: RefCell::default(),
            runners: Cell::new(0),
            alone: Cell::new(0),
            in_flight: Cell::new(0),
        }
    }
}

/// A pool's batcher of one kind, under (pool, kind).
type Keyed = ((usize, TypeId), Rc<dyn Any>);

thread_local! {
    /// By pool and kind: a handful (a pool or two per database, a few kinds), so a list.
    static BATCHERS: RefCell<Vec<Keyed>> = const { RefCell::new(Vec::new()) };
}

fn batcher_for<K: Kind>(db: &Db) -> Rc<Batcher<K>> {
    let key = (db.lease.pool_key(), TypeId::of::<K>());
    let any = BATCHERS.with(|b| {
        let mut batchers = b.borrow_mut();
        match batchers.iter().find(|(k, _)| *k == key) {
            Some((_, any)) => any.clone(),
            None => {
                let any: Rc<dyn Any> = Rc::new(Batcher::<K>::default());
                batchers.push((key, any.clone()));
                any
            }
        }
    });
    any.downcast()
        .unwrap_or_else(|_| unreachable!("the batcher under a kind's TypeId is of that kind"))
}

/// A request that gives up (its client went away): an item not yet sent is taken back out of
/// the queue (nobody waits for it); a batch that no request waits for any more is cancelled.
struct GiveUp<'a, K: Kind> {
    batcher: &'a Batcher<K>,
    entry: &'a Rc<Entry<K>>,
}

impl<K: Kind> Drop for GiveUp<'_, K> {
    fn drop(&mut self) {
        match &*self.entry.state.borrow() {
            State::Queued(_) => self
                .batcher
                .queue
                .borrow_mut()
                .retain(|e| !Rc::ptr_eq(e, self.entry)),
            State::Sent(_) => {
                if let Some(flight) = self.entry.flight.borrow().as_ref() {
                    let left = flight.waiting.get().saturating_sub(1);
                    flight.waiting.set(left);
                    if left == 0 {
                        flight.db.cancel_running();
                    }
                }
            }
            State::Done(_) | State::Taken => {}
        }
    }
}

/// Sends one request's item, in a batch with the other requests of its kind of this worker
/// that arrive meanwhile.
pub async fn submit<K: Kind>(db: &Db, item: K::Item) -> Result<K::Out, DbError> {
    let batcher = batcher_for::<K>(db);
    let row_free = K::row_of(&item).is_none_or(|row| !batcher.busy.borrow().contains(&row));
    let fills = fills(K::FILLS, db.lease.conn.over_tls);
    let may_go_alone = may_start(
        fills,
        batcher.runners.get(),
        batcher.in_flight.get(),
        1,
        db.lease.pool_size(),
    );
    if batcher.queue.borrow().is_empty() && row_free && may_go_alone {
        return alone(&batcher, db, item).await;
    }
    let entry = Rc::new(Entry::<K>::new(item));
    batcher.queue.borrow_mut().push_back(entry.clone());
    let _give_up = GiveUp {
        batcher: &batcher,
        entry: &entry,
    };
    let mut held: Option<Deadline> = None;
    std::future::poll_fn(|cx| {
        let queued = matches!(*entry.state.borrow(), State::Queued(_));
        if queued {
            let runners = batcher.runners.get();
            let pool_size = db.lease.pool_size();
            let waiting = batcher.queue.borrow().len();
            if may_start(fills, runners, batcher.in_flight.get(), waiting, pool_size) {
                // on its own connection: the first request of an idle worker, enough
                // requests waiting beside the batches in flight, or after a runner stopped
                // on a broken connection
                start_runner(&batcher, db.sharing());
            } else if runners < pool_size {
                // Held back for a batch to fill, while a connection is free: not for longer
                // than HOLD_MS, and then not behind the connections' slowest statement.
                let hold = held.get_or_insert_with(|| Deadline::after(HOLD_MS));
                if Pin::new(hold).poll(cx).is_ready() {
                    start_runner(&batcher, db.sharing_least_busy());
                }
            }
        } else {
            held = None;
        }
        let mut state = entry.state.borrow_mut();
        match &mut *state {
            State::Queued(w) | State::Sent(w) => {
                *w = Some(cx.waker().clone());
                Poll::Pending
            }
            State::Done(_) => match std::mem::replace(&mut *state, State::Taken) {
                State::Done(result) => Poll::Ready(result),
                _ => unreachable!("matched Done above"),
            },
            State::Taken => Poll::Ready(Err(DbError::Query("an outcome taken twice".into()))),
        }
    })
    .await
}

/// A request that finds nothing queued, its row free and a runner allowed to start
/// ([`may_start`]) is sent at once, alone, from its own task and on its own connection handle:
/// what a request did before there were batches, at no cost of queueing. It counts as a runner
/// with one request in flight while it runs, and its row is busy.
async fn alone<K: Kind>(
    batcher: &Rc<Batcher<K>>,
    db: &Db,
    item: K::Item,
) -> Result<K::Out, DbError> {
    let row = K::row_of(&item);
    if let Some(row) = row {
        batcher.busy.borrow_mut().insert(row);
    }
    batcher.runners.set(batcher.runners.get() + 1);
    batcher.alone.set(batcher.alone.get() + 1);
    batcher.in_flight.set(batcher.in_flight.get() + 1);
    let _done = AloneDone {
        batcher: batcher.as_ref(),
        row,
    };
    K::alone(db, &item).await
}

/// The end of a request sent alone (answered, failed or given up): its runner's place and its
/// row are free, and the first request queued meanwhile starts a runner for the queue.
struct AloneDone<'a, K: Kind> {
    batcher: &'a Batcher<K>,
    row: Option<i64>,
}

impl<K: Kind> Drop for AloneDone<'_, K> {
    fn drop(&mut self) {
        if let Some(row) = self.row {
            self.batcher.busy.borrow_mut().remove(&row);
        }
        self.batcher.runners.set(self.batcher.runners.get() - 1);
        self.batcher.alone.set(self.batcher.alone.get() - 1);
        self.batcher.in_flight.set(self.batcher.in_flight.get() - 1);
        wake_first_queued(self.batcher);
    }
}

/// The first queued request, woken, starts a runner from its own task (see [`submit`]).
fn wake_first_queued<K: Kind>(batcher: &Batcher<K>) {
    let first = batcher.queue.borrow().front().cloned();
    if let Some(first) = first {
        if let State::Queued(w) = &mut *first.state.borrow_mut() {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
    }
}

/// Whether requests of a kind are held back for fuller batches on a connection: the kind's
/// rule ([`Kind::FILLS`]), and always over TLS. There each statement's answer is a record of
/// its own, which the server encrypts and the worker decrypts at a fixed cost (a few thousand
/// instructions each end with OpenSSL 3, more than the statement's own work for one row):
/// a batch of several requests pays it once.
fn fills(kind_fills: bool, over_tls: bool) -> bool {
    kind_fills || over_tls
}

/// Whether a queued request starts a runner, with `runners` at work on `in_flight` requests
/// and `queued` requests waiting: never beyond the pool's connections (each commits one
/// transaction at a time); at once when none is at work (an idle worker writes at once) or
/// fewer than [`FEW`] are on their way; otherwise once [`FILL`] are queued.
/// A kind that does not fill ([`Kind::FILLS`] false) starts one whenever a connection is free.
fn may_start(
    fills: bool,
    runners: usize,
    in_flight: usize,
    queued: usize,
    pool_size: usize,
) -> bool {
    runners < pool_size && (!fills || runners == 0 || in_flight + queued < FEW || queued >= FILL)
}

/// The next batch: what is queued, up to [`MAX_ROWS`], in arrival order, except the requests
/// for a row a batch in flight or an earlier request of this batch writes (they stay queued,
/// in their order). The rows of the batch are busy until [`release`].
fn take_batch<K: Kind>(batcher: &Batcher<K>) -> Vec<Rc<Entry<K>>> {
    let mut queue = batcher.queue.borrow_mut();
    let mut busy = batcher.busy.borrow_mut();
    let mut batch = Vec::new();
    queue.retain(|e| {
        if batch.len() == MAX_ROWS {
            return true;
        }
        if let Some(row) = K::row_of(&e.item) {
            if !busy.insert(row) {
                return true;
            }
        }
        batch.push(e.clone());
        false
    });
    for e in &batch {
        let mut state = e.state.borrow_mut();
        if let State::Queued(w) = &mut *state {
            let w = w.take();
            *state = State::Sent(w);
        }
    }
    batch
}

/// The rows of a written batch are free for the requests that wait for them.
fn release<K: Kind>(batcher: &Batcher<K>, batch: &[Rc<Entry<K>>]) {
    let mut busy = batcher.busy.borrow_mut();
    for row in batch.iter().filter_map(|e| K::row_of(&e.item)) {
        busy.remove(&row);
    }
}

/// The next batch, to be sent on `db`: its requests can cancel it once none of them waits.
fn take_batch_for<K: Kind>(batcher: &Batcher<K>, db: &Rc<Db>) -> Vec<Rc<Entry<K>>> {
    let batch = take_batch(batcher);
    let flight = Rc::new(InFlight {
        db: db.clone(),
        waiting: Cell::new(batch.len()),
    });
    for e in &batch {
        *e.flight.borrow_mut() = Some(flight.clone());
    }
    batch
}

/// A runner: a task of its own (a request whose client goes away must not take the other
/// requests' statement with it), on `db`: a place of its own on the starting request's
/// connection, or on the least busy one.
fn start_runner<K: Kind>(batcher: &Rc<Batcher<K>>, db: Db) {
    if batcher.queue.borrow().is_empty() {
        return;
    }
    let db = Rc::new(db);
    let batch = take_batch_for(batcher, &db);
    // everything queued waits for a row in flight: its runner takes it when done
    if batch.is_empty() {
        return;
    }
    batcher.runners.set(batcher.runners.get() + 1);
    let batcher = batcher.clone();
    spawn(async move {
        let mut batch = batch;
        while !batch.is_empty() {
            batcher.in_flight.set(batcher.in_flight.get() + batch.len());
            send(&db, &batch).await;
            batcher.in_flight.set(batcher.in_flight.get() - batch.len());
            release(&batcher, &batch);
            if db.lease.conn.is_closed() || db.lease.conn.is_retired() {
                break;
            }
            // Beside other runners, this one goes on only as a new one would start: otherwise
            // they take what is queued, in fuller batches. Requests sent alone take nothing
            // queued: beside them only, it goes on.
            let others = batcher.runners.get() - 1 - batcher.alone.get();
            let queued = batcher.queue.borrow().len();
            if !may_start(
                fills(K::FILLS, db.lease.conn.over_tls),
                others,
                batcher.in_flight.get(),
                queued,
                db.lease.pool_size(),
            ) {
                break;
            }
            batch = take_batch_for(&batcher, &db);
        }
        batcher.runners.set(batcher.runners.get() - 1);
        // Requests queued meanwhile get a runner from their own request's task.
        wake_first_queued(&batcher);
    })
    .detach();
}

/// Sends a batch and gives each of its requests its outcome.
async fn send<K: Kind>(db: &Db, batch: &[Rc<Entry<K>>]) {
    let items: Vec<&K::Item> = batch.iter().map(|e| &e.item).collect();
    match K::send(db, &items).await {
        Ok(rows) => {
            for (entry, answer) in batch.iter().zip(K::answers(&items, rows)) {
                entry.finish(answer);
            }
        }
        // The server refused the statement, and with it every request (nothing was
        // committed): each again alone, so only the one at fault is refused. They are
        // pipelined on the same connection, one transaction each.
        Err(DbError::Query(_)) if batch.len() > 1 => {
            let alone = batch.iter().map(|entry| async move {
                let item = [&entry.item];
                let answer = match K::send(db, &item).await {
                    Ok(rows) => K::answers(&item, rows).pop().unwrap_or_else(|| {
                        Err(DbError::Query("a request alone got no answer".into()))
                    }),
                    Err(e) => Err(e),
                };
                entry.finish(answer);
            });
            join_all(alone).await;
        }
        Err(e) => {
            // The statement counted one write of unknown outcome; each request of it is one.
            if e == (DbError::ConnectionLost { write: true }) {
                for _ in 1..batch.len() {
                    record::pool(db.lease.purpose(), Event::WritesUnknown);
                }
            }
            batch.iter().for_each(|entry| entry.finish(Err(e.clone())));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Items of a test kind: (the row, a name).
    struct Test;

    impl Kind for Test {
        type Item = (Option<i64>, String);
        type Rows = ();
        type Out = ();
        fn row_of(item: &Self::Item) -> Option<i64> {
            item.0
        }
        async fn send(_: &Db, _: &[&Self::Item]) -> Result<(), DbError> {
            unreachable!("no database in unit tests")
        }
        fn answers(items: &[&Self::Item], _: ()) -> Vec<Result<(), DbError>> {
            items.iter().map(|_| Ok(())).collect()
        }
    }

    fn queue(batcher: &Batcher<Test>, items: &[(Option<i64>, &str)]) {
        for (row, name) in items {
            batcher
                .queue
                .borrow_mut()
                .push_back(Rc::new(Entry::new((*row, name.to_string()))));
        }
    }

    fn names(batch: &[Rc<Entry<Test>>]) -> Vec<&str> {
        batch.iter().map(|e| e.item.1.as_str()).collect()
    }

    #[test]
    fn a_batch_takes_what_is_queued_up_to_its_bound_in_arrival_order() {
        let batcher = Batcher::<Test>::default();
        let items: Vec<_> = (0..MAX_ROWS + 3).map(|i| format!("s{i}")).collect();
        for name in &items {
            queue(&batcher, &[(None, name)]);
        }
        let first = take_batch(&batcher);
        assert_eq!(first.len(), MAX_ROWS);
        assert_eq!(first[0].item.1, "s0");
        assert!(first
            .iter()
            .all(|e| matches!(*e.state.borrow(), State::Sent(_))));
        let rest = take_batch(&batcher);
        assert_eq!(names(&rest), ["s64", "s65", "s66"]);
        assert!(take_batch(&batcher).is_empty());
    }

    #[test]
    fn two_writes_of_one_row_go_in_batches_one_after_the_other() {
        let batcher = Batcher::<Test>::default();
        queue(
            &batcher,
            &[
                (Some(1), "a"),
                (Some(2), "b"),
                (Some(1), "c"),
                (Some(3), "d"),
            ],
        );
        let first = take_batch(&batcher);
        assert_eq!(names(&first), ["a", "b", "d"]);
        // row 1 is in flight: its next write waits, whatever else arrives
        queue(&batcher, &[(Some(1), "e"), (Some(4), "f")]);
        let second = take_batch(&batcher);
        assert_eq!(names(&second), ["f"]);
        assert!(take_batch(&batcher).is_empty());
        release(&batcher, &first);
        // then in the order they arrived
        let third = take_batch(&batcher);
        assert_eq!(names(&third), ["c"]);
        release(&batcher, &third);
        assert_eq!(names(&take_batch(&batcher)), ["e"]);
    }

    #[test]
    fn an_idle_worker_writes_at_once_and_a_busy_one_lets_batches_fill() {
        // nothing in flight: the first request goes alone, whatever the pool
        assert!(may_start(true, 0, 0, 1, 4));
        assert!(may_start(true, 0, 0, 1, 1));
        // a few on their way: each at once, on a free connection
        assert!(may_start(true, 1, 1, 1, 4));
        assert!(may_start(true, 2, 2, FEW - 3, 4));
        assert!(!may_start(true, 2, 2, 1, 2));
        // more: fewer than FILL waiting go in a runner's next batch
        assert!(!may_start(true, 1, 1, FEW - 1, 4));
        assert!(!may_start(true, 1, FILL, FILL - 1, 4));
        // FILL waiting: another batch on a free connection, never more than the pool has
        assert!(may_start(true, 1, 1, FILL, 4));
        assert!(may_start(true, 3, MAX_ROWS, MAX_ROWS, 4));
        assert!(!may_start(true, 4, MAX_ROWS, MAX_ROWS, 4));
        assert!(!may_start(true, 1, 1, MAX_ROWS, 1));
        // a kind that does not fill: at once while a connection is free, never beyond
        assert!(may_start(false, 1, 1, FEW - 1, 4));
        assert!(may_start(false, 3, 3, 1, 4));
        assert!(!may_start(false, 4, 4, FILL, 4));
    }

    #[test]
    fn over_tls_reads_fill_as_writes_do() {
        // in clear text a read goes at once while a connection is free
        assert!(!fills(false, false));
        assert!(may_start(fills(false, false), 3, 3, 1, 4));
        // over TLS, with FEW on their way, it waits for a batch
        assert!(fills(false, true));
        assert!(!may_start(fills(false, true), 3, 3, 1, 4));
        assert!(may_start(fills(false, true), 2, 2, 1, 4));
        // writes fill either way
        assert!(fills(true, false) && fills(true, true));
    }

    #[test]
    fn a_finished_entry_wakes_its_request() {
        struct Flag(AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let e = Entry::<Test>::new((None, "a".into()));
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        *e.state.borrow_mut() = State::Sent(Some(Waker::from(flag.clone())));
        e.finish(Err(DbError::QueryTimeout));
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(matches!(
            *e.state.borrow(),
            State::Done(Err(DbError::QueryTimeout))
        ));
    }
}
