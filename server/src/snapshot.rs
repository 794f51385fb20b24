//! What a snapshot holds: the keyspace as of one log index, as the write entries that
//! recreate it (a compacted log; see `engram_log::snapshot` for the file).
//!
//! The log freezes the state machine between two applies; [`Rewriter`] then walks the
//! frozen slot tables on the snapshot thread while writes go on (they copy a slot's table
//! before changing it while a snapshot shares it).

use std::collections::VecDeque;

use crate::entry::Request;
use crate::keyspace::FrozenDb;

/// Turns frozen databases into the entries that recreate them, a slot table at a time.
pub struct Rewriter {
    dbs: VecDeque<(u32, FrozenDb)>,
    next_table: usize,
    now_ms: u64,
    ready: VecDeque<Request>,
}

impl Rewriter {
    /// Entries recreating `dbs` (database index, frozen tables), stamped `now_ms`: the
    /// last applied leader time, so TTLs already due are due on load too.
    pub fn new(dbs: Vec<(u32, FrozenDb)>, now_ms: u64) -> Self {
        let dbs = dbs.into_iter().filter(|(_, db)| !db.is_empty()).collect();
        Self { dbs, next_table: 0, now_ms, ready: VecDeque::new() }
    }

    /// Entries emitted before the keys (script cache, function libraries).
    pub fn with_prelude(mut self, prelude: Vec<Request>) -> Self {
        self.ready.extend(prelude);
        self
    }

    /// Rewrites the next slot table into `ready`; false when none is left.
    fn fill(&mut self) -> bool {
        loop {
            let Some((index, db)) = self.dbs.front() else { return false };
            if self.next_table >= db.table_count() {
                self.dbs.pop_front();
                self.next_table = 0;
                continue;
            }
            let (db_index, now_ms) = (*index, self.now_ms);
            for (key, entry) in db.table(self.next_table) {
                crate::rewrite::rewrite_entry(key, entry, &mut |argv| {
                    self.ready.push_back(Request::Write { db: db_index, now_ms, argv });
                });
            }
            self.next_table += 1;
            if !self.ready.is_empty() {
                return true;
            }
        }
    }
}

impl Iterator for Rewriter {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        if self.ready.is_empty() && !self.fill() {
            return None;
        }
        self.ready.pop_front()
    }
}
