//! One slot's keys: an open-addressing index of words over a dense list of
//! (key, entry) pairs.
//!
//! A lookup is a chain of dependent loads (the table, an index word, the entry, the
//! key's bytes), and with keys spread over memory each one waits for DRAM. Laid out this
//! way, every level's address is known from the level above without probing, so a batch
//! of lookups can load one level for all its keys before the next ([`Table::touch`],
//! used by `Db::prefetch`): the misses of different keys then overlap instead of queuing.
//! A hashbrown map keeps its control bytes private, so only the first level could be
//! touched ahead with it.
//!
//! An index word is `(low 32 bits of the key's hash) << 32 | position in entries`, or
//! [`EMPTY`]. The hash bits both find the word's home (for backward-shift deletion) and
//! let a probe skip other keys without reading them. Iteration follows the entry list,
//! not the index: removal moves the last entry into the hole, so the order depends only
//! on the table's history of inserts and removals, not on this process's hash seed.
//! Replicas applying the same log (and a node loading a snapshot, which inserts in that
//! order) iterate alike, which SCAN and RANDOMKEY inside scripts rely on.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use bytes::Bytes;

use super::db::Entry;

const EMPTY: u64 = u64::MAX;
const POSITION: u64 = 0xFFFF_FFFF;
/// Index words of the smallest non-empty table.
const MIN_INDEX: usize = 8;

static HASHER: LazyLock<hashbrown::DefaultHashBuilder> = LazyLock::new(Default::default);

/// The hash every table of this process uses for `key`.
pub fn hash_key(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

fn word(hash: u64, position: usize) -> u64 {
    (hash & POSITION) << 32 | position as u64
}

fn same_hash(word: u64, hash: u64) -> bool {
    word >> 32 == hash & POSITION
}

/// The keys of one slot and their entries.
#[derive(Debug, Default)]
pub struct Table {
    /// A power of two in length (or empty), at most three quarters full.
    index: Box<[u64]>,
    entries: Vec<(Bytes, Entry)>,
}

/// The copy a write makes of a table a snapshot still shares (`db::owned`). Small keys
/// and strings are copied rather than shared (see [`super::detached`]): sharing would
/// give each its own reference-counted header, kept after the snapshot ends (70 MB
/// over 1M small keys).
impl Clone for Table {
    fn clone(&self) -> Self {
        let entries = self
            .entries
            .iter()
            .map(|(key, entry)| {
                let value = match &entry.value {
                    super::Value::Str(s) => super::Value::Str(super::detached(s)),
                    other => other.clone(),
                };
                (super::detached(key), Entry::new(value, entry.expire_at_ms(), entry.version))
            })
            .collect();
        Table { index: self.index.clone(), entries }
    }
}

impl Table {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every (key, entry), in the table's order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.entries.iter().map(|(k, e)| (k, e))
    }

    /// (index word position, entry position) of `key`.
    fn find(&self, hash: u64, key: &[u8]) -> Option<(usize, usize)> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let w = self.index[at];
            if w == EMPTY {
                return None;
            }
            if same_hash(w, hash) {
                let position = (w & POSITION) as usize;
                if self.entries.get(position).is_some_and(|(k, _)| k[..] == *key) {
                    return Some((at, position));
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// The entry of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.get_key_value(key).map(|(_, e)| e)
    }

    /// The stored key and entry of `key`.
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Bytes, &Entry)> {
        let (_, position) = self.find(hash_key(key), key)?;
        self.entries.get(position).map(|(k, e)| (k, e))
    }

    /// The stored key and the entry of `key`, the entry mutable.
    pub fn get_key_value_mut(&mut self, key: &[u8]) -> Option<(&Bytes, &mut Entry)> {
        let (_, position) = self.find(hash_key(key), key)?;
        self.entries.get_mut(position).map(|(k, e)| (&*k, e))
    }

    /// The entry of `key`, mutable.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.get_key_value_mut(key).map(|(_, e)| e)
    }

    /// Whether `key` is stored.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(hash_key(key), key).is_some()
    }

    /// Stores `entry` under `key`; an existing key keeps its stored bytes and gives
    /// back its old entry.
    pub fn insert(&mut self, key: Bytes, entry: Entry) -> Option<Entry> {
        let hash = hash_key(&key);
        if let Some((_, position)) = self.find(hash, &key) {
            return self.entries.get_mut(position).map(|(_, e)| std::mem::replace(e, entry));
        }
        if (self.entries.len() + 1) * 4 > self.index.len() * 3 {
            self.grow();
        }
        let position = self.entries.len();
        self.place(word(hash, position));
        if self.entries.len() == self.entries.capacity() {
            // Grow by a quarter rather than double: an entry is 96 bytes, and a doubled
            // list is a third empty on average. Tables are small (a slot's keys), so the
            // extra moves are few.
            self.entries.reserve_exact((position / 4).max(4));
        }
        self.entries.push((key, entry));
        None
    }

    /// Puts `w` in the first free word from its home.
    fn place(&mut self, w: u64) {
        let mask = self.index.len() - 1;
        let mut at = (w >> 32) as usize & mask;
        while self.index[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.index[at] = w;
    }

    fn grow(&mut self) {
        let words = (self.index.len() * 2).max(MIN_INDEX);
        self.index = vec![EMPTY; words].into_boxed_slice();
        let hashes: Vec<u64> = self.entries.iter().map(|(k, _)| hash_key(k)).collect();
        for (position, hash) in hashes.into_iter().enumerate() {
            self.place(word(hash, position));
        }
    }

    /// Removes `key`, giving back the stored key and its entry.
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Bytes, Entry)> {
        let (at, position) = self.find(hash_key(key), key)?;
        self.vacate(at);
        let last = self.entries.len() - 1;
        if position != last {
            // The last entry moves into the hole: its word must name its new place.
            let moved_hash = self.entries.get(last).map(|(k, _)| hash_key(k))?;
            let mask = self.index.len() - 1;
            let from = moved_hash as usize & mask;
            // Its word lies on its probe path, before the first empty word.
            let at = (0..self.index.len())
                .map(|step| (from + step) & mask)
                .take_while(|&at| self.index[at] != EMPTY)
                .find(|&at| self.index[at] & POSITION == last as u64);
            if let Some(at) = at {
                self.index[at] = word(moved_hash, position);
            }
        }
        let removed = self.entries.swap_remove(position);
        if self.entries.is_empty() {
            self.index = Box::default();
        }
        Some(removed)
    }

    /// Empties index word `at`, shifting back the words after it that probed past it,
    /// so every remaining key is still reachable from its home without tombstones.
    fn vacate(&mut self, at: usize) {
        let mask = self.index.len() - 1;
        let mut hole = at;
        let mut next = (hole + 1) & mask;
        loop {
            let w = self.index[next];
            if w == EMPTY {
                break;
            }
            let home = (w >> 32) as usize & mask;
            // The word may fill the hole if the hole lies between its home and it.
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.index[hole] = w;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.index[hole] = EMPTY;
    }

    /// One level of a lookup of `hash`, loaded and folded into a value nothing waits
    /// on, so a batch can issue that level for all its keys before the next
    /// ([`super::Db::prefetch`]): 0 the home index word, 1 the entry the probe finds
    /// (the words after home share its cache line, mostly), 2 the bytes of that
    /// entry's key and (for a string) value. Plain loads rather than prefetch
    /// instructions: those need `unsafe` here, and measured no faster.
    pub fn touch(&self, hash: u64, level: u8) -> u64 {
        let Some(&w) = self.home_word(hash) else { return 0 };
        if level == 0 {
            return w;
        }
        let Some((key, entry)) = self.home_entry(hash) else { return 0 };
        if level == 1 {
            return key.len() as u64 ^ entry.version;
        }
        let value = match &entry.value {
            super::Value::Str(s) => s.first().copied().unwrap_or(0),
            _ => 0,
        };
        u64::from(key.first().copied().unwrap_or(0) ^ value)
    }

    fn home_word(&self, hash: u64) -> Option<&u64> {
        let mask = self.index.len().checked_sub(1)?;
        self.index.get(hash as usize & mask)
    }

    /// The first entry on `hash`'s probe path whose word carries the same hash bits
    /// (almost always the key's own): reads index words only, no key bytes.
    fn home_entry(&self, hash: u64) -> Option<&(Bytes, Entry)> {
        let mask = self.index.len().checked_sub(1)?;
        let mut at = hash as usize & mask;
        loop {
            let w = *self.index.get(at)?;
            if w == EMPTY {
                return None;
            }
            if same_hash(w, hash) {
                return self.entries.get((w & POSITION) as usize);
            }
            at = (at + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;
    use crate::rng::Rng;

    fn entry(n: u64) -> Entry {
        Entry::new(Value::Str(Bytes::from(n.to_string())), None, n)
    }

    /// Random inserts, overwrites and removals against a std map: same contents, and
    /// every key reachable, after each step.
    #[test]
    fn behaves_as_a_map() {
        let mut rng = Rng::new(7);
        let mut table = Table::default();
        let mut model = std::collections::HashMap::new();
        for step in 0..20_000u64 {
            let key = Bytes::from(format!("k{}", rng.below(300)));
            match rng.below(3) {
                0 | 1 => {
                    let old = table.insert(key.clone(), entry(step));
                    assert_eq!(old.map(|e| e.version), model.insert(key, step));
                }
                _ => {
                    let gone = table.remove_entry(&key);
                    assert_eq!(gone.map(|(k, e)| (k, e.version)), model.remove_entry(&key));
                }
            }
            assert_eq!(table.len(), model.len());
            if step % 97 == 0 {
                for (k, v) in &model {
                    assert_eq!(table.get(k).map(|e| e.version), Some(*v), "{k:?}");
                }
                let listed: std::collections::HashMap<_, _> =
                    table.iter().map(|(k, e)| (k.clone(), e.version)).collect();
                assert_eq!(listed, model);
            }
        }
        assert!(table.get(b"absent").is_none());
    }

    #[test]
    fn an_existing_key_keeps_its_stored_bytes() {
        let mut table = Table::default();
        let stored = Bytes::from_static(b"key");
        table.insert(stored.clone(), entry(1));
        table.insert(Bytes::copy_from_slice(b"key"), entry(2));
        let (k, e) = table.get_key_value(b"key").map(|(k, e)| (k.clone(), e.version)).unzip();
        assert_eq!(e, Some(2));
        assert!(k.is_some_and(|k| k.as_ptr() == stored.as_ptr()));
    }

    /// The copy a write makes under a snapshot owns its small keys and strings (no
    /// shared header left behind) and shares big ones; both read the same.
    #[test]
    fn a_copied_table_owns_its_small_bytes() {
        let mut table = Table::default();
        let big = Bytes::from(vec![b'x'; 1000]);
        table.insert(Bytes::from_static(b"small"), entry(1));
        let big_entry = Entry::new(Value::Str(big.clone()), Some(9), 2);
        table.insert(big.clone(), big_entry);
        let copy = table.clone();
        let (k, e) = copy.get_key_value(b"small").map(|(k, e)| (k.clone(), e.clone())).unzip();
        let (k, e) = (k.unwrap_or_default(), e.map(|e| e.value));
        let original = table.get_key_value(b"small").map(|(k, _)| k.as_ptr());
        assert_ne!(Some(k.as_ptr()), original, "a small key is copied");
        assert_eq!(e, Some(Value::Str(Bytes::from_static(b"1"))));
        let (bk, be) = copy.get_key_value(&big).map(|(k, e)| (k.as_ptr(), e.clone())).unzip();
        assert_eq!(bk, Some(big.as_ptr()), "a big key is shared");
        assert_eq!(be.map(|e| (e.expire_at_ms(), e.version)), Some((Some(9), 2)));
    }

    #[test]
    fn emptied_tables_release_their_index() {
        let mut table = Table::default();
        for i in 0..100 {
            table.insert(Bytes::from(format!("k{i}")), entry(i));
        }
        for i in 0..100 {
            assert!(table.remove_entry(format!("k{i}").as_bytes()).is_some());
        }
        assert!(table.is_empty());
        assert!(table.index.is_empty());
        assert_eq!(table.touch(hash_key(b"k1"), 2), 0);
    }
}
