//! Concurrent POSTs of one worker written together: one `INSERT` statement, one transaction,
//! one commit (one WAL flush) for all the rows that arrived while the previous ones were being
//! written. A connection runs its pipelined statements one after another and each commit waits
//! for the flush, so a row written alone costs a flush of its own; a batch pays one for all.
//!
//! The first POST finds nothing in flight and is written at once, alone (no added latency when
//! the worker is idle). While as many batches are in flight as the pool has connections
//! (`music_pool_size`: each connection commits one transaction at a time), later POSTs queue; a
//! runner that finishes takes everything queued (up to [`MAX_ROWS`]) as its next batch.
//!
//! What each request sees is what it saw alone: its own row, id and timestamps (the statement
//! returns the rows in the order of the batch). A batch the server refused committed nothing,
//! so each of its rows is written again alone, and only the row at fault gets the error. A
//! batch whose connection broke, or that timed out, gives every request of it that answer (for
//! a lost connection: outcome unknown, as for a row written alone). A request whose client goes
//! away leaves its batch running for the others; once every request of a batch has gone, the
//! statement is cancelled on the server, as a row written alone would be.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_util::future::join_all;

use super::queries::Db;
use super::{DbError, MusicRow};
use crate::ffi::executor::spawn;
use crate::metrics::record::{self, Pool as Event};

/// Rows in one statement at most: the arrays stay small, and one slow batch holds few requests.
const MAX_ROWS: usize = 64;

/// One POST's row and, once written, its outcome.
struct Entry {
    song: String,
    singer: String,
    state: RefCell<State>,
    /// The batch it was sent in.
    flight: RefCell<Option<Rc<InFlight>>>,
}

/// A batch on its way: the runner's connection, and how many of its requests still wait.
struct InFlight {
    db: Rc<Db>,
    waiting: Cell<usize>,
}

enum State {
    /// Waiting for a runner (the waker of the request's task).
    Queued(Option<Waker>),
    /// Taken into a batch that is in flight.
    Sent(Option<Waker>),
    Done(Result<MusicRow, DbError>),
    /// The request took its outcome.
    Taken,
}

impl Entry {
    fn finish(&self, result: Result<MusicRow, DbError>) {
        // the connection goes back to the pool once the runner is done with it
        self.flight.take();
        let old = self.state.replace(State::Done(result));
        if let State::Queued(Some(w)) | State::Sent(Some(w)) = old {
            w.wake();
        }
    }
}

/// The rows waiting for a runner of one pool, and how many runners are at work.
#[derive(Default)]
struct Batcher {
    queue: RefCell<VecDeque<Rc<Entry>>>,
    runners: Cell<usize>,
}

thread_local! {
    static BATCHERS: RefCell<HashMap<usize, Rc<Batcher>>> = RefCell::new(HashMap::new());
}

fn batcher_for(db: &Db) -> Rc<Batcher> {
    BATCHERS.with(|b| {
        b.borrow_mut()
            .entry(db.lease.pool_key())
            .or_default()
            .clone()
    })
}

/// A request that gives up (its client went away): a row not yet sent is taken back out of
/// the queue (nobody waits for it); a batch that no request waits for any more is cancelled.
struct GiveUp<'a> {
    batcher: &'a Batcher,
    entry: &'a Rc<Entry>,
}

impl Drop for GiveUp<'_> {
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

/// Writes one POST's row, in a batch with the other POSTs of this worker that arrive meanwhile.
pub async fn create(db: &Db, song: &str, singer: &str) -> Result<MusicRow, DbError> {
    let batcher = batcher_for(db);
    let entry = Rc::new(Entry {
        song: song.to_owned(),
        singer: singer.to_owned(),
        state: RefCell::new(State::Queued(None)),
        flight: RefCell::new(None),
    });
    batcher.queue.borrow_mut().push_back(entry.clone());
    let _give_up = GiveUp {
        batcher: &batcher,
        entry: &entry,
    };
    std::future::poll_fn(|cx| {
        let queued = matches!(*entry.state.borrow(), State::Queued(_));
        // A request still queued when a runner is free starts one on its own connection (the
        // first request of an idle worker; or after a runner stopped on a broken connection).
        if queued && batcher.runners.get() < db.lease.pool_size() {
            start_runner(&batcher, db);
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
            State::Taken => Poll::Ready(Err(DbError::Query("a row's outcome taken twice".into()))),
        }
    })
    .await
}

/// The next batch: everything queued, up to [`MAX_ROWS`], in arrival order.
fn take_batch(batcher: &Batcher) -> Vec<Rc<Entry>> {
    let mut queue = batcher.queue.borrow_mut();
    let n = queue.len().min(MAX_ROWS);
    let batch: Vec<_> = queue.drain(..n).collect();
    for e in &batch {
        let mut state = e.state.borrow_mut();
        if let State::Queued(w) = &mut *state {
            let w = w.take();
            *state = State::Sent(w);
        }
    }
    batch
}

/// The next batch, to be sent on `db`: its requests can cancel it once none of them waits.
fn take_batch_for(batcher: &Batcher, db: &Rc<Db>) -> Vec<Rc<Entry>> {
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
/// requests' rows with it), on a place of its own on the starting request's connection.
fn start_runner(batcher: &Rc<Batcher>, db: &Db) {
    if batcher.queue.borrow().is_empty() {
        return;
    }
    let db = Rc::new(db.sharing());
    let batch = take_batch_for(batcher, &db);
    batcher.runners.set(batcher.runners.get() + 1);
    let batcher = batcher.clone();
    spawn(async move {
        let mut batch = batch;
        while !batch.is_empty() {
            write(&db, &batch).await;
            if db.lease.conn.is_closed() || db.lease.conn.is_retired() {
                break;
            }
            batch = take_batch_for(&batcher, &db);
        }
        batcher.runners.set(batcher.runners.get() - 1);
        // Rows queued meanwhile get a runner from their own request's task.
        let first = batcher.queue.borrow().front().cloned();
        if let Some(first) = first {
            if let State::Queued(w) = &mut *first.state.borrow_mut() {
                if let Some(w) = w.take() {
                    w.wake();
                }
            }
        }
    })
    .detach();
}

/// Writes a batch and gives each of its requests its outcome.
async fn write(db: &Db, batch: &[Rc<Entry>]) {
    let songs: Vec<&str> = batch.iter().map(|e| e.song.as_str()).collect();
    let singers: Vec<&str> = batch.iter().map(|e| e.singer.as_str()).collect();
    match db.insert_rows(&songs, &singers).await {
        Ok(rows) => match matched(batch, rows) {
            Some(rows) => {
                for (entry, row) in batch.iter().zip(rows) {
                    entry.finish(Ok(row));
                }
            }
            None => {
                let e = DbError::Query("the INSERT returned fewer rows than it was given".into());
                batch.iter().for_each(|entry| entry.finish(Err(e.clone())));
            }
        },
        // The server refused the statement, and with it every row (nothing was committed):
        // each row again alone, so only the one at fault is refused. The rows are pipelined on
        // the same connection, one transaction each.
        Err(DbError::Query(_)) if batch.len() > 1 => {
            let alone = batch.iter().map(|entry| async move {
                let row = db
                    .insert_rows(&[entry.song.as_str()], &[entry.singer.as_str()])
                    .await
                    .and_then(|mut rows| match rows.pop() {
                        Some(row) if rows.is_empty() => Ok(row),
                        _ => Err(DbError::Query("INSERT returned no row".into())),
                    });
                entry.finish(row);
            });
            join_all(alone).await;
        }
        Err(e) => {
            // The statement counted one write of unknown outcome; each row of it is one.
            if e == (DbError::ConnectionLost { write: true }) {
                for _ in 1..batch.len() {
                    record::pool(db.lease.purpose(), Event::WritesUnknown);
                }
            }
            batch.iter().for_each(|entry| entry.finish(Err(e.clone())));
        }
    }
}

/// The returned rows, one per entry: the statement inserts, and so returns, them in the
/// batch's order. The texts are not compared: a trigger of the schema may change them, and the
/// request then answers the row as written, as it did alone. A row a trigger skipped makes the
/// count short, and then no request can be told which row is its own.
fn matched(batch: &[Rc<Entry>], rows: Vec<MusicRow>) -> Option<Vec<MusicRow>> {
    (rows.len() == batch.len()).then_some(rows)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};

    use super::*;

    fn entry(song: &str, singer: &str) -> Rc<Entry> {
        Rc::new(Entry {
            song: song.into(),
            singer: singer.into(),
            state: RefCell::new(State::Queued(None)),
            flight: RefCell::new(None),
        })
    }

    fn row(id: i64, song: &str, singer: &str) -> MusicRow {
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        MusicRow {
            id,
            song: song.into(),
            singer: singer.into(),
            last_modify_date: t,
            created: t,
        }
    }

    #[test]
    fn a_batch_takes_what_is_queued_up_to_its_bound_in_arrival_order() {
        let batcher = Batcher::default();
        for i in 0..MAX_ROWS + 3 {
            batcher
                .queue
                .borrow_mut()
                .push_back(entry(&format!("s{i}"), "x"));
        }
        let first = take_batch(&batcher);
        assert_eq!(first.len(), MAX_ROWS);
        assert_eq!(first[0].song, "s0");
        assert!(first
            .iter()
            .all(|e| matches!(*e.state.borrow(), State::Sent(_))));
        let rest = take_batch(&batcher);
        assert_eq!(
            rest.iter().map(|e| e.song.as_str()).collect::<Vec<_>>(),
            ["s64", "s65", "s66"]
        );
        assert!(take_batch(&batcher).is_empty());
    }

    #[test]
    fn rows_are_given_out_in_order_only_if_there_is_one_per_request() {
        let batch = [entry("a", "x"), entry("b", "y")];
        let good = vec![row(7, "a", "x"), row(8, "b", "y")];
        assert_eq!(matched(&batch, good.clone()), Some(good));
        // a trigger changed a text: still that request's row
        let changed = vec![row(7, "A", "x"), row(8, "b", "y")];
        assert_eq!(matched(&batch, changed.clone()), Some(changed));
        // a trigger skipped a row: which one is unknown
        assert_eq!(matched(&batch, vec![row(7, "a", "x")]), None);
    }

    #[test]
    fn a_finished_entry_wakes_its_request() {
        struct Flag(AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let e = entry("a", "x");
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
