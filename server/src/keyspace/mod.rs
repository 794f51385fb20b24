//! The keyspace: 16 (configurable) databases of keys, their values and expiry times.
//!
//! `DbMut` is the only way to change a key, and every change records a [`KeyEvent`]
//! (named as Redis's keyspace notifications name them). Observers (search indexes,
//! notifications, WATCH, blocked clients) consume the events after each command; no
//! command calls them directly.
//!
//! Each database is split into the 16384 cluster hash slots. That gives `SCAN` Redis's
//! guarantee (a key present for the whole scan is returned: the cursor is a slot, and a
//! slot is returned whole), bounds rehash pauses to one slot's table, and makes per-slot
//! operations (`CLUSTER COUNTKEYSINSLOT`, slot migration) direct.

pub mod db;
pub mod deadlines;
pub mod key;
pub mod lazyfree;
pub mod str_value;
pub mod table;
pub mod value;

pub use db::{Db, DbMut, Entry, FrozenDb};
pub use key::Key;
pub use str_value::StrValue;
pub use value::{SharedValue, Value};

use bytes::Bytes;

/// Event name (with an empty key) for "every key of this database is gone".
pub const DB_EVENT_FLUSHED: &str = "engram:flushdb";
/// Event name (with an empty key) for "this database was swapped with another".
pub const DB_EVENT_SWAPPED: &str = "engram:swapdb";

/// Whether `event` concerns a whole database rather than one key.
pub fn is_db_event(event: &str) -> bool {
    event == DB_EVENT_FLUSHED || event == DB_EVENT_SWAPPED
}

/// One key change, in apply order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// The database index.
    pub db: usize,
    /// The key that changed.
    pub key: Bytes,
    /// Redis's keyspace-notification event name (`set`, `del`, `expired`, `rename_to`, ...).
    pub event: &'static str,
}

/// All databases plus the events recorded since the last [`Keyspace::take_events`].
#[derive(Debug)]
pub struct Keyspace {
    dbs: Vec<Db>,
    events: Vec<KeyEvent>,
    /// The log index being applied (stamped into changed keys as their version).
    apply_index: u64,
    /// Cached scripts and function libraries: state, so EVALSHA and FCALL mean the same
    /// on every replica and on replay.
    pub scripts: crate::script::ScriptStore,
    /// Search index definitions and their derived postings (database 0's documents).
    pub search: crate::search::SearchState,
    /// How many of `events` the search indexes have seen.
    search_synced: usize,
}

impl Keyspace {
    /// An empty keyspace with `databases` databases.
    pub fn new(databases: usize) -> Self {
        Self {
            dbs: (0..databases.max(1)).map(|_| Db::default()).collect(),
            events: Vec::new(),
            apply_index: 0,
            scripts: crate::script::ScriptStore::default(),
            search: crate::search::SearchState::default(),
            search_synced: 0,
        }
    }

    /// Number of databases.
    pub fn len(&self) -> usize {
        self.dbs.len()
    }

    /// Always false: there is at least one database.
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// Read access to database `index` (callers validate the index when the session
    /// selects it).
    pub fn db(&self, index: usize) -> &Db {
        &self.dbs[index.min(self.dbs.len() - 1)]
    }

    /// Database 0 to read and the search indexes to update from it.
    pub fn search_parts(&mut self) -> (&Db, &mut crate::search::SearchState) {
        (&self.dbs[0], &mut self.search)
    }

    /// Write access to database `index`; changes record events.
    pub fn db_mut(&mut self, index: usize) -> DbMut<'_> {
        let index = index.min(self.dbs.len() - 1);
        DbMut {
            db: &mut self.dbs[index],
            events: &mut self.events,
            index,
            version: self.apply_index,
        }
    }

    /// Two databases at once (MOVE, COPY ... DB). `a != b`.
    pub fn two_dbs_mut(&mut self, a: usize, b: usize) -> (DbMut<'_>, &mut Db) {
        debug_assert_ne!(a, b);
        let (low, high) = (a.min(b), a.max(b));
        let (left, right) = self.dbs.split_at_mut(high);
        let (db_low, db_high) = (&mut left[low], &mut right[0]);
        let (first, second) = if a < b { (db_low, db_high) } else { (db_high, db_low) };
        (DbMut { db: first, events: &mut self.events, index: a, version: self.apply_index }, second)
    }

    /// Records an event for a key in another database (the `second` side of
    /// [`Keyspace::two_dbs_mut`]) once the caller has changed it.
    pub fn record(&mut self, db: usize, key: Bytes, event: &'static str) {
        self.events.push(KeyEvent { db, key, event });
    }

    /// Swaps two databases (SWAPDB); both get a [`DB_EVENT_SWAPPED`] event.
    pub fn swap(&mut self, a: usize, b: usize) {
        self.dbs.swap(a, b);
        for db in [a, b] {
            self.events.push(KeyEvent { db, key: Bytes::new(), event: DB_EVENT_SWAPPED });
        }
    }

    /// Empties every database (FLUSHALL); `lazy` as for [`db::DbMut::flush`].
    pub fn flush_all(&mut self, lazy: bool) {
        for i in 0..self.dbs.len() {
            self.db_mut(i).flush(lazy);
        }
    }

    /// Takes the events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<KeyEvent> {
        self.search_synced = 0;
        std::mem::take(&mut self.events)
    }

    /// Brings the search indexes up to date with the changes recorded so far. Called
    /// after every command (also inside MULTI/EXEC and scripts), so a search later in
    /// the same entry sees the earlier commands' writes.
    pub fn sync_search(&mut self, now_ms: u64) {
        if self.search_synced < self.events.len() {
            self.search.on_events(&self.dbs[0], &self.events[self.search_synced..], now_ms);
            self.search_synced = self.events.len();
        }
    }

    /// Sets the log index that changes made from now on are stamped with.
    pub fn set_apply_index(&mut self, index: u64) {
        self.apply_index = index;
    }

    /// Gives back a drained event buffer so the next command reuses its allocation.
    pub fn recycle_events(&mut self, mut buffer: Vec<KeyEvent>) {
        buffer.clear();
        if self.events.is_empty() && self.events.capacity() < buffer.capacity() {
            self.events = buffer;
        }
    }

    /// Iterates databases with their index.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Db)> {
        self.dbs.iter().enumerate()
    }

    /// An order-independent digest of the whole keyspace (for replay tests and DEBUG
    /// DIGEST): equal keyspaces give equal digests.
    pub fn digest(&self) -> [u8; 20] {
        const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
        let mut acc = [0u8; 20];
        for (i, db) in self.iter() {
            for (key, entry) in db.iter() {
                let mut h = CRC64.digest();
                h.update(&(i as u64).to_le_bytes());
                h.update(key);
                h.update(&entry.expire_at_ms().unwrap_or(0).to_le_bytes());
                entry.value.digest(&mut |bytes| h.update(bytes));
                let v = h.finalize().to_le_bytes();
                // XOR makes the digest independent of iteration order.
                for (j, b) in v.iter().enumerate() {
                    acc[j] ^= b;
                    acc[j + 8] ^= b.rotate_left(3);
                }
            }
        }
        acc
    }
}
