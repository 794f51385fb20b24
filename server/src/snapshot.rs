//! What a snapshot holds: the keyspace as of one log index, as the write entries that
//! recreate it (a compacted log; see `engram_log::snapshot` for the file).
//!
//! The log freezes the state machine between two applies; [`Rewriter`] then walks the
//! frozen slot tables while writes go on (they copy a slot's table before changing it
//! while a snapshot shares it).
//!
//! The walk runs on a thread of its own and hands entries over through a bounded
//! channel, so the entries waiting to be written are at most [`IN_FLIGHT`] whatever a
//! key holds. Queued a slot table at a time, one stream of 2M entries queued 2M XADDs
//! at once (about 600 MB, ten times the stream itself).

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver};

use crate::entry::Request;
use crate::keyspace::FrozenDb;

/// Entries rewritten ahead of the snapshot writer.
const IN_FLIGHT: usize = 256;

/// Turns frozen databases into the entries that recreate them.
pub struct Rewriter {
    /// Entries emitted before the keys (script cache, function libraries).
    prelude: VecDeque<Request>,
    /// The databases, until the walk starts.
    pending: Option<(Vec<(u32, FrozenDb)>, u64)>,
    walk: Walk,
}

/// What the walk's thread sends: entries, then `Done` once every key is rewritten. A
/// channel closed without `Done` means the thread died midway; the snapshot must then
/// fail rather than end short (the log would be truncated behind missing keys).
enum Walked {
    Entry(Request),
    Done,
}

enum Walk {
    NotStarted,
    Finished,
    Thread {
        rx: Receiver<Walked>,
        /// Detached when dropped: an abandoned walk ends at its next send.
        #[cfg_attr(not(test), allow(dead_code))]
        thread: std::thread::JoinHandle<()>,
    },
    /// No thread could be started: the walk ran here, whole (memory is not bounded in
    /// this fallback, but nothing is lost).
    Inline(VecDeque<Request>),
}

impl Rewriter {
    /// Entries recreating `dbs` (database index, frozen tables), stamped `now_ms`: the
    /// last applied leader time, so TTLs already due are due on load too.
    pub fn new(dbs: Vec<(u32, FrozenDb)>, now_ms: u64) -> Self {
        let dbs = dbs.into_iter().filter(|(_, db)| !db.is_empty()).collect();
        Self { prelude: VecDeque::new(), pending: Some((dbs, now_ms)), walk: Walk::NotStarted }
    }

    /// Entries emitted before the keys (script cache, function libraries).
    pub fn with_prelude(mut self, prelude: Vec<Request>) -> Self {
        self.prelude.extend(prelude);
        self
    }

    fn start(&mut self) {
        let Some((dbs, now_ms)) = self.pending.take() else { return };
        let (tx, rx) = sync_channel(IN_FLIGHT);
        // The databases go to the thread only once it exists; a failed spawn hands them
        // back for the walk here (a snapshot missing keys would lose them when the log
        // is truncated behind it).
        let (give, take) = std::sync::mpsc::channel::<Vec<(u32, FrozenDb)>>();
        let spawned = std::thread::Builder::new().name("engram-rewrite".into()).spawn(move || {
            let Ok(dbs) = take.recv() else { return };
            if walk(dbs, now_ms, &mut |request| tx.send(Walked::Entry(request)).is_ok()) {
                let _ = tx.send(Walked::Done);
            }
        });
        self.walk = match spawned {
            Ok(thread) => match give.send(dbs) {
                Ok(()) => Walk::Thread { rx, thread },
                Err(back) => {
                    tracing::warn!(
                        "snapshot rewrite thread gone before it started; rewriting inline"
                    );
                    Walk::Inline(walk_here(back.0, now_ms))
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "no thread for the snapshot rewrite; rewriting inline");
                Walk::Inline(walk_here(dbs, now_ms))
            }
        };
    }
}

/// Emits every key's entries in order; stops early once `emit` returns false (the
/// snapshot was abandoned). Returns whether it emitted everything.
fn walk(dbs: Vec<(u32, FrozenDb)>, now_ms: u64, emit: &mut dyn FnMut(Request) -> bool) -> bool {
    let mut open = true;
    for (db_index, db) in &dbs {
        for table in 0..db.table_count() {
            for (key, entry) in db.table(table) {
                if !open {
                    return false;
                }
                crate::rewrite::rewrite_entry(key, entry, &mut |argv| {
                    open = open && emit(Request::Write { db: *db_index, now_ms, argv });
                });
            }
        }
    }
    open
}

/// The whole walk on this thread, queued.
fn walk_here(dbs: Vec<(u32, FrozenDb)>, now_ms: u64) -> VecDeque<Request> {
    let mut ready = VecDeque::new();
    walk(dbs, now_ms, &mut |request| {
        ready.push_back(request);
        true
    });
    ready
}

impl Iterator for Rewriter {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        if let Some(request) = self.prelude.pop_front() {
            return Some(request);
        }
        if matches!(self.walk, Walk::NotStarted) {
            self.start();
        }
        match &mut self.walk {
            Walk::NotStarted | Walk::Finished => None,
            Walk::Thread { rx, .. } => match rx.recv() {
                Ok(Walked::Entry(request)) => Some(request),
                Ok(Walked::Done) => {
                    self.walk = Walk::Finished;
                    None
                }
                // A snapshot cut short would lose every key not yet written: fail it,
                // as a failure inside the walk here would.
                Err(_) => panic!("the snapshot rewrite thread stopped before the last key"),
            },
            Walk::Inline(ready) => ready.pop_front(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{Keyspace, StrValue, Value};
    use bytes::Bytes;

    fn keyspace(keys: usize) -> Keyspace {
        let mut ks = Keyspace::new(2);
        for i in 0..keys {
            let value = Value::Str(StrValue::from(format!("v{i}")));
            ks.db_mut(i % 2).set(Bytes::from(format!("k{i}")), value, None, "set");
        }
        ks
    }

    fn frozen(ks: &Keyspace) -> Vec<(u32, FrozenDb)> {
        (0..2).map(|i| (i as u32, ks.db(i).freeze())).collect()
    }

    /// The thread's walk emits what the inline walk does, in the same order, after the
    /// prelude.
    #[test]
    fn the_threaded_walk_matches_the_inline_one() {
        let ks = keyspace(5000);
        let prelude = vec![Request::Write { db: 0, now_ms: 1, argv: vec![Bytes::from("PING")] }];
        let threaded: Vec<Request> =
            Rewriter::new(frozen(&ks), 7).with_prelude(prelude.clone()).collect();
        let expected: Vec<Request> = prelude.into_iter().chain(walk_here(frozen(&ks), 7)).collect();
        assert_eq!(threaded.len(), 5001);
        assert!(threaded == expected);
    }

    /// Dropping the rewriter midway (an abandoned snapshot) ends the walk's thread.
    #[test]
    fn an_abandoned_walk_stops() {
        let ks = keyspace(IN_FLIGHT * 8);
        let mut rewriter = Rewriter::new(frozen(&ks), 7);
        assert!(rewriter.next().is_some());
        let Walk::Thread { rx, thread } = std::mem::replace(&mut rewriter.walk, Walk::NotStarted)
        else {
            panic!("the walk runs on its thread");
        };
        drop(rx);
        let deadline = crate::clock::monotonic() + std::time::Duration::from_secs(10);
        while !thread.is_finished() {
            assert!(crate::clock::monotonic() < deadline, "the walk went on");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
