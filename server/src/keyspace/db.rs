//! One database: keys split by cluster hash slot, expiry times, and an expiry index.
//!
//! Reads go through [`Db`] and hide keys whose deadline has passed (by the reader's
//! clock). Writes go through [`DbMut`], which removes such keys first (recording
//! `expired`, deterministically: the clock is the log entry's) and records an event for
//! every change.

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;

use super::{KeyEvent, Value};
use crate::cluster::key_slot;

/// Number of hash slots (as Redis Cluster).
pub const SLOTS: usize = 16384;

/// A value with its absolute deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry time in Unix milliseconds, if any ([`Entry::expire_at_ms`]). Not
    /// zero, so the option takes no room of its own: eight bytes less for every key.
    deadline: Option<NonZeroU64>,
    /// The log index of the entry that last changed this key (WATCH compares it; the
    /// same on every replica because it comes from the log).
    pub version: u64,
}

impl Entry {
    /// An entry; a deadline of 0 is kept as 1 (both long past, so alike to every reader).
    pub fn new(value: Value, expire_at_ms: Option<u64>, version: u64) -> Self {
        Entry { value, deadline: stored_deadline(expire_at_ms), version }
    }

    /// Absolute expiry time in Unix milliseconds, if any.
    pub fn expire_at_ms(&self) -> Option<u64> {
        self.deadline.map(NonZeroU64::get)
    }

    fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms().is_some_and(|at| at <= now_ms)
    }
}

/// A deadline as an entry stores it (and the deadline index with it): 0 becomes 1.
fn stored_deadline(expire_at_ms: Option<u64>) -> Option<NonZeroU64> {
    expire_at_ms.map(|at| NonZeroU64::new(at).unwrap_or(NonZeroU64::MIN))
}

use super::table::Table;
use super::Key;

/// A slot's table for writing. A snapshot in progress may share it (it froze the slot
/// tables by reference count); then the first write copies it, and the snapshot keeps
/// the version it froze. That is the copy-on-write that lets snapshots run without
/// stopping writes, at the granularity of one slot.
fn owned(table: &mut Option<Arc<Table>>) -> Option<&mut Table> {
    table.as_mut().map(Arc::make_mut)
}

/// A database's slot tables as of one moment, shared with the live database until it
/// changes them (see [`owned`]).
pub struct FrozenDb(Vec<Arc<Table>>);

impl FrozenDb {
    /// Every (key, entry), expired or not.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.0.iter().flat_map(|t| t.iter())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.iter().map(|t| t.len()).sum()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of (non-empty) slot tables.
    pub fn table_count(&self) -> usize {
        self.0.len()
    }

    /// The keys of the `i`th table.
    pub fn table(&self, i: usize) -> impl Iterator<Item = (&Key, &Entry)> {
        self.0.get(i).into_iter().flat_map(|t| t.iter())
    }
}

/// One database.
#[derive(Debug, Default)]
pub struct Db {
    /// Allocated on first write; `SLOTS` tables.
    slots: Vec<Option<Arc<Table>>>,
    len: usize,
    /// (deadline, key) for every key with a TTL, for active expiry.
    deadlines: super::deadlines::DeadlineIndex,
    /// (earliest field deadline, key) for every hash with field deadlines (HEXPIRE), so
    /// the leader's expiry finds them; `hash_deadline_of` is the reverse map.
    hash_deadlines: BTreeSet<(u64, Key)>,
    hash_deadline_of: HashMap<Key, u64>,
}

impl Db {
    fn table(&self, key: &[u8]) -> Option<&Table> {
        self.slots.get(key_slot(key) as usize)?.as_deref()
    }

    /// The live entry for `key` at `now_ms`.
    pub fn get_entry(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.table(key)?.get(key).filter(|e| !e.is_expired(now_ms))
    }

    /// The live value for `key` at `now_ms`.
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.get_entry(key, now_ms).map(|e| &e.value)
    }

    /// Whether `key` is still stored although its deadline passed at `now_ms` (a read
    /// found it logically absent; the leader should propose its deletion).
    pub fn is_stale(&self, key: &[u8], now_ms: u64) -> bool {
        self.table(key).and_then(|t| t.get(key)).is_some_and(|e| e.is_expired(now_ms))
    }

    /// Whether `key` exists (and is not expired) at `now_ms`.
    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.get_entry(key, now_ms).is_some()
    }

    /// Loads what looking up `keys` will read, one level at a time for all of them (see
    /// [`super::table`]): a pipeline's lookups then wait for memory together rather than
    /// one after another. Changes nothing; costs a few hashes when all is cached.
    pub fn prefetch<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        const CHUNK: usize = 32;
        let mut found: [(Option<&Table>, u64); CHUNK] = [(None, 0); CHUNK];
        let mut folded = 0u64;
        let mut keys = keys.peekable();
        while keys.peek().is_some() {
            let mut n = 0;
            for key in keys.by_ref().take(CHUNK) {
                let table = self.table(key);
                // The table's own fields: the first load of the chain.
                folded ^= table.map_or(0, |t| t.len() as u64);
                found[n] = (table, super::table::hash_key(key));
                n += 1;
            }
            for level in 0..3 {
                for (table, hash) in &found[..n] {
                    folded ^= table.map_or(0, |t| t.touch(*hash, level));
                }
            }
        }
        std::hint::black_box(folded);
    }

    /// Number of keys, including expired ones not yet deleted (as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of keys with a deadline.
    pub fn volatile_len(&self) -> usize {
        self.deadlines.len()
    }

    /// Every (key, entry), expired or not, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.slots.iter().flatten().flat_map(|t| t.iter())
    }

    /// The slot tables as of now, shared until changed (cheap: reference counts).
    pub fn freeze(&self) -> FrozenDb {
        FrozenDb(self.slots.iter().flatten().cloned().collect())
    }

    /// Keys in slot `slot` (expired ones included; callers filter by their clock).
    pub fn slot_keys(&self, slot: usize) -> impl Iterator<Item = (&Key, &Entry)> {
        self.slots.get(slot).and_then(|t| t.as_deref()).into_iter().flat_map(|t| t.iter())
    }

    /// Number of keys in `slot`.
    pub fn slot_len(&self, slot: usize) -> usize {
        self.slots.get(slot).and_then(|t| t.as_deref()).map_or(0, |t| t.len())
    }

    /// Up to `limit` keys whose deadline is at or before `now_ms`.
    pub fn expired_keys(&self, now_ms: u64, limit: usize) -> Vec<Bytes> {
        self.deadlines.due(now_ms, limit)
    }

    /// Up to `limit` hashes with a field whose deadline is at or before `now_ms`.
    pub fn expired_hash_keys(&self, now_ms: u64, limit: usize) -> Vec<Bytes> {
        self.hash_deadlines
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, k)| k.to_bytes())
            .collect()
    }

    /// Number of hashes with field deadlines (`INFO keyspace` `subexpiry`).
    pub fn hashes_with_field_deadlines(&self) -> usize {
        self.hash_deadline_of.len()
    }

    /// Re-indexes `key` in `hash_deadlines` by its hash's earliest field deadline.
    fn index_hash(&mut self, key: &[u8]) {
        let stored = self.table(key).and_then(|t| t.get_key_value(key));
        let next = match stored {
            Some((k, Entry { value: Value::Hash(h), .. })) => {
                h.next_deadline().map(|at| (at, k.clone()))
            }
            _ => None,
        };
        if let Some((k, at)) = self.hash_deadline_of.remove_entry(key) {
            self.hash_deadlines.remove(&(at, k));
        }
        if let Some((at, k)) = next {
            self.hash_deadline_of.insert(k.clone(), at);
            self.hash_deadlines.insert((at, k));
        }
    }

    /// A key chosen from `seed` among live keys, or `None` if there are none.
    pub fn random_key(&self, seed: u64, now_ms: u64) -> Option<Bytes> {
        if self.len == 0 {
            return None;
        }
        let mut rng = crate::rng::Rng::new(seed);
        // Pick a random non-empty slot a few times, then fall back to a full walk so an
        // almost-all-expired database still terminates.
        for _ in 0..64 {
            let slot = rng.below(SLOTS as u64) as usize;
            let Some(t) = self.slots.get(slot).and_then(|t| t.as_deref()) else { continue };
            let live: Vec<&Key> =
                t.iter().filter(|(_, e)| !e.is_expired(now_ms)).map(|(k, _)| k).collect();
            if !live.is_empty() {
                return Some(live[rng.below(live.len() as u64) as usize].to_bytes());
            }
        }
        let live: Vec<&Key> =
            self.iter().filter(|(_, e)| !e.is_expired(now_ms)).map(|(k, _)| k).collect();
        (!live.is_empty()).then(|| live[rng.below(live.len() as u64) as usize].to_bytes())
    }

    fn table_mut(&mut self, key: &[u8]) -> &mut Table {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, || None);
        }
        let slot = key_slot(key) as usize;
        Arc::make_mut(self.slots[slot].get_or_insert_with(Default::default))
    }

    fn remove_raw(&mut self, key: &[u8]) -> Option<Entry> {
        let slot = key_slot(key) as usize;
        let table = owned(self.slots.get_mut(slot)?)?;
        let (k, entry) = table.remove_entry(key)?;
        if table.is_empty() {
            self.slots[slot] = None;
        }
        self.len -= 1;
        if let Some((hk, at)) = self.hash_deadline_of.remove_entry(key) {
            self.hash_deadlines.remove(&(at, hk));
        }
        if let Some(at) = entry.expire_at_ms() {
            self.deadlines.remove(at, &k);
        }
        Some(entry)
    }

    fn insert_raw(&mut self, key: Bytes, entry: Entry) -> Option<Entry> {
        let new_at = entry.expire_at_ms();
        let inserts_hash = matches!(entry.value, Value::Hash(_));
        let table = self.table_mut(&key);
        // An existing key keeps its stored bytes; a new one gets its own copy rather
        // than a slice of whatever request buffer it arrived in. The deadline index
        // needs a copy of the key only when the key gets a new deadline.
        let (indexed, old) = match table.get_key_value_mut(&key) {
            Some((stored, slot)) => {
                let old = std::mem::replace(slot, entry);
                let moved = new_at.is_some() && old.expire_at_ms() != new_at;
                (moved.then(|| stored.clone()), Some(old))
            }
            None => {
                let owned = Key::new(&key);
                let handle = new_at.is_some().then(|| owned.clone());
                table.insert_new(owned, entry);
                (handle, None)
            }
        };
        let old_at = old.as_ref().and_then(Entry::expire_at_ms);
        if old.is_none() {
            self.len += 1;
        }
        // An unchanged deadline (INCR, APPEND, KEEPTTL on a volatile key) stays indexed
        // as it is: two hash operations per write on a hot path otherwise.
        if old_at != new_at {
            if let Some(at) = old_at {
                self.deadlines.remove(at, &key);
            }
            if let (Some(at), Some(stored)) = (new_at, indexed) {
                self.deadlines.insert(at, stored);
            }
        }
        // Only hashes have field deadlines: anything else needs the index only if the
        // key had one before (known without another lookup of the key).
        if inserts_hash || !self.hash_deadline_of.is_empty() {
            self.index_hash(&key);
        }
        old
    }
}

/// Write access to one database. Every change records a [`KeyEvent`].
pub struct DbMut<'a> {
    pub(super) db: &'a mut Db,
    pub(super) events: &'a mut Vec<KeyEvent>,
    pub(super) index: usize,
    /// The log index being applied: every change stamps it as the key's version.
    pub(super) version: u64,
}

impl DbMut<'_> {
    /// The database index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Read view of the same database.
    pub fn read(&self) -> &Db {
        self.db
    }

    /// Records `event` for `key` (for in-place changes made through [`DbMut::value_mut`]).
    pub fn event(&mut self, key: &Bytes, event: &'static str) {
        self.events.push(KeyEvent { db: self.index, key: key.clone(), event });
    }

    /// Removes `key` if its deadline passed, recording `expired`. Apply code calls this
    /// (through every accessor below) so writes never see a stale value.
    fn purge_if_expired(&mut self, key: &[u8], now_ms: u64) {
        // Every key with a deadline is indexed: with none, nothing can have expired,
        // and a write skips a lookup.
        if self.db.deadlines.is_empty() {
            return;
        }
        let expired =
            self.db.table(key).and_then(|t| t.get(key)).is_some_and(|e| e.is_expired(now_ms));
        if expired {
            if let Some(k) = self
                .db
                .slots
                .get(key_slot(key) as usize)
                .and_then(|t| t.as_deref())
                .and_then(|t| t.get_key_value(key))
                .map(|(k, _)| k.to_bytes())
            {
                self.db.remove_raw(&k);
                self.events.push(KeyEvent { db: self.index, key: k, event: "expired" });
            }
        }
    }

    /// The live entry for `key`.
    pub fn get_entry(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.purge_if_expired(key, now_ms);
        self.db.table(key)?.get(key)
    }

    /// The live value for `key`.
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.get_entry(key, now_ms).map(|e| &e.value)
    }

    /// Mutable access to the live value for `key`, recording `event` for it. Call only
    /// once every check has passed: the event is recorded now.
    pub fn value_mut(
        &mut self,
        key: &Bytes,
        now_ms: u64,
        event: &'static str,
    ) -> Option<&mut Value> {
        self.purge_if_expired(key, now_ms);
        let slot = key_slot(key) as usize;
        let exists =
            self.db.slots.get(slot).and_then(|t| t.as_deref()).is_some_and(|t| t.contains_key(key));
        if !exists {
            return None;
        }
        self.events.push(KeyEvent { db: self.index, key: key.clone(), event });
        let version = self.version;
        owned(&mut self.db.slots[slot])?.get_mut(key).map(|e| {
            e.version = version;
            &mut e.value
        })
    }

    /// Mutable access to the live value for `key` without recording an event, for the
    /// changes Redis does not notify (stream consumer-group bookkeeping by XREADGROUP,
    /// XACK, XCLAIM). Call only once every check has passed.
    pub fn value_mut_silent(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        self.purge_if_expired(key, now_ms);
        let slot = key_slot(key) as usize;
        let version = self.version;
        // Still a change for WATCH, even when nobody is notified.
        owned(self.db.slots.get_mut(slot)?)?.get_mut(key).map(|e| {
            e.version = version;
            &mut e.value
        })
    }

    /// Sets `key` to `value` with deadline `expire_at_ms` (replacing any TTL).
    pub fn set(
        &mut self,
        key: Bytes,
        value: Value,
        expire_at_ms: Option<u64>,
        event: &'static str,
    ) {
        self.events.push(KeyEvent { db: self.index, key: key.clone(), event });
        let old = self.db.insert_raw(key, Entry::new(value, expire_at_ms, self.version));
        if let Some(old) = old {
            super::lazyfree::drop_value(old.value);
        }
    }

    /// Sets `key` to `value`, keeping its current deadline if it exists.
    pub fn set_keep_ttl(&mut self, key: Bytes, value: Value, now_ms: u64, event: &'static str) {
        let ttl = self.get_entry(&key, now_ms).and_then(Entry::expire_at_ms);
        self.set(key, value, ttl, event);
    }

    /// Deletes `key`; returns its entry if it was live.
    pub fn remove(&mut self, key: &[u8], now_ms: u64, event: &'static str) -> Option<Entry> {
        self.purge_if_expired(key, now_ms);
        let slot = key_slot(key) as usize;
        let k = self
            .db
            .slots
            .get(slot)
            .and_then(|t| t.as_deref())
            .and_then(|t| t.get_key_value(key))
            .map(|(k, _)| k.to_bytes())?;
        let entry = self.db.remove_raw(&k)?;
        self.events.push(KeyEvent { db: self.index, key: k, event });
        Some(entry)
    }

    /// Deletes `key` because its deadline passed (the leader's expiry entry). Returns
    /// whether it was deleted: a key whose TTL changed meanwhile is left alone.
    ///
    /// A live hash instead loses the fields whose deadline passed (HEXPIRE family), as
    /// [`DbMut::purge_hash_fields`]; that also counts as expiring something.
    pub fn expire_now(&mut self, key: &[u8], now_ms: u64) -> bool {
        let expired =
            self.db.table(key).and_then(|t| t.get(key)).is_some_and(|e| e.is_expired(now_ms));
        if expired {
            self.purge_if_expired(key, now_ms);
            return true;
        }
        self.purge_hash_fields(key, now_ms) > 0
    }

    /// Removes the fields of the hash at `key` whose deadline passed at `now_ms`,
    /// recording `hexpired` (once), and deletes the key (`del`) if no field is left.
    /// Returns how many fields went. Every write touching a hash calls this first, and
    /// the leader's expiry entries through [`DbMut::expire_now`]: the clock is the
    /// entry's, so every replica removes the same fields.
    pub fn purge_hash_fields(&mut self, key: &[u8], now_ms: u64) -> usize {
        let stored = match self.get_entry(key, now_ms) {
            Some(Entry { value: Value::Hash(h), .. }) if h.has_expired(now_ms) => key,
            _ => return 0,
        };
        let key = Bytes::copy_from_slice(stored);
        let Some(Value::Hash(h)) = self.value_mut(&key, now_ms, "hexpired") else { return 0 };
        let removed = h.remove_expired(now_ms);
        if h.is_empty() {
            self.remove(&key, now_ms, "del");
        } else {
            self.db.index_hash(&key);
        }
        removed
    }

    /// Re-indexes the hash at `key` by its earliest field deadline, for active expiry.
    /// Hash commands call it after changing a hash in place.
    pub fn sync_hash_deadline(&mut self, key: &[u8]) {
        self.db.index_hash(key);
    }

    /// Sets or clears the deadline of a live key; returns false if the key is absent.
    pub fn set_expiry(
        &mut self,
        key: &Bytes,
        now_ms: u64,
        expire_at_ms: Option<u64>,
        event: &'static str,
    ) -> bool {
        self.purge_if_expired(key, now_ms);
        let slot = key_slot(key) as usize;
        let Some(table) = self.db.slots.get_mut(slot).and_then(owned) else {
            return false;
        };
        let Some((stored, entry)) = table.get_key_value_mut(key) else { return false };
        entry.version = self.version;
        let new = stored_deadline(expire_at_ms);
        let old = std::mem::replace(&mut entry.deadline, new).map(NonZeroU64::get);
        let expire_at_ms = new.map(NonZeroU64::get);
        let deadlines = &mut self.db.deadlines;
        match (old, expire_at_ms) {
            (Some(from), Some(to)) => deadlines.reschedule(from, to, stored),
            (Some(from), None) => deadlines.remove(from, stored),
            (None, Some(to)) => deadlines.insert(to, stored.clone()),
            (None, None) => {}
        }
        self.events.push(KeyEvent { db: self.index, key: key.clone(), event });
        true
    }

    /// Removes every key (FLUSHDB). Records no per-key events, as Redis; one
    /// [`super::DB_EVENT_FLUSHED`] event (empty key) lets observers that track keys of this
    /// database (blocked clients) react. Keyspace notifications skip it. `lazy` says
    /// whether INFO counts the keys as lazily freed (see `lazyfree::drop_db`).
    pub fn flush(&mut self, lazy: bool) {
        super::lazyfree::drop_db(std::mem::take(self.db), lazy);
        self.events.push(KeyEvent {
            db: self.index,
            key: Bytes::new(),
            event: super::DB_EVENT_FLUSHED,
        });
    }

    /// Inserts a whole entry (RENAME, MOVE, COPY): the deadline travels with it.
    pub fn insert_entry(&mut self, key: Bytes, mut entry: Entry, event: &'static str) {
        entry.version = self.version;
        self.events.push(KeyEvent { db: self.index, key: key.clone(), event });
        self.db.insert_raw(key, entry);
    }
}

/// Raw insert into a database without an event (the caller records one through
/// `Keyspace::record`), for the second database of a two-database command.
pub fn insert_into(db: &mut Db, key: Bytes, entry: Entry) {
    db.insert_raw(key, entry);
}

/// Raw removal of an expired-or-live key from a second database, without an event.
pub fn remove_from(db: &mut Db, key: &[u8]) -> Option<Entry> {
    db.remove_raw(key)
}

#[cfg(test)]
mod tests {
    use super::super::Keyspace;
    use super::*;
    use crate::types::set::Set;

    fn set_of(members: &[String]) -> Value {
        Value::Set(Set::from_members(members.iter().map(|m| Bytes::from(m.clone()))))
    }

    fn set_in<'a>(db: impl Iterator<Item = (&'a Key, &'a Entry)>, key: &str) -> Set {
        let found = db.into_iter().find(|(k, _)| k.as_ref() == key.as_bytes());
        match found.map(|(_, e)| &e.value) {
            Some(Value::Set(s)) => s.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn a_frozen_snapshot_keeps_its_values_and_writes_copy_only_what_they_touch() {
        let mut ks = Keyspace::new(1);
        // Same slot (hash tag), so the write copies the slot table the snapshot shares.
        // Hashtable-encoded sets: shared by reference until written (a packed one is
        // copied with its slot, being small).
        let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        for key in ["{t}touched", "{t}untouched"] {
            ks.db_mut(0).set(Bytes::from(key), set_of(&members), None, "sadd");
        }
        let frozen = ks.db(0).freeze();
        let touched = Bytes::from("{t}touched");
        match ks.db_mut(0).value_mut(&touched, 0, "sadd") {
            Some(Value::Set(s)) => assert!(s.insert(b"c")),
            other => panic!("{other:?}"),
        }
        assert_eq!(set_in(frozen.iter(), "{t}touched").len(), 200, "the snapshot keeps its value");
        assert_eq!(set_in(ks.db(0).iter(), "{t}touched").len(), 201);
        assert!(
            Set::shares_table(
                &set_in(frozen.iter(), "{t}untouched"),
                &set_in(ks.db(0).iter(), "{t}untouched")
            ),
            "a value no write touched is shared, not copied"
        );
        drop(frozen);
        match ks.db_mut(0).value_mut(&touched, 0, "sadd") {
            Some(Value::Set(s)) => assert!(s.insert(b"d")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn expired_keys_are_hidden_from_reads_and_purged_by_writes() {
        let mut ks = Keyspace::new(16);
        let key = Bytes::from("k");
        ks.db_mut(0).set(key.clone(), Value::Str("v".into()), Some(100), "set");
        assert!(ks.db(0).get(b"k", 99).is_some());
        assert!(ks.db(0).get(b"k", 100).is_none());
        assert_eq!(ks.db(0).len(), 1);
        ks.take_events();
        assert!(ks.db_mut(0).get(b"k", 100).is_none());
        assert_eq!(ks.db(0).len(), 0);
        assert_eq!(ks.take_events()[0].event, "expired");
        assert_eq!(ks.db(0).volatile_len(), 0);
    }

    #[test]
    fn overwriting_clears_the_old_deadline_from_the_index() {
        let mut ks = Keyspace::new(1);
        let key = Bytes::from("k");
        ks.db_mut(0).set(key.clone(), Value::Str("v".into()), Some(100), "set");
        ks.db_mut(0).set(key.clone(), Value::Str("w".into()), None, "set");
        assert_eq!(ks.db(0).volatile_len(), 0);
        assert!(ks.db(0).expired_keys(1000, 10).is_empty());
    }

    #[test]
    fn overwriting_with_the_same_deadline_keeps_the_key_in_the_index() {
        let mut ks = Keyspace::new(1);
        let key = Bytes::from("k");
        ks.db_mut(0).set(key.clone(), Value::Str("v".into()), Some(100), "set");
        ks.db_mut(0).set(key.clone(), Value::Str("w".into()), Some(100), "set");
        assert_eq!(ks.db(0).volatile_len(), 1);
        assert_eq!(ks.db(0).expired_keys(100, 10), vec![key]);
    }
}
