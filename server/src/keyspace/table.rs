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
//! An index word is `(low bits of the key's hash) << 32 | position in entries`, or
//! [`EMPTY`]. The hash bits both find the word's home (for backward-shift deletion) and
//! let a probe skip other keys without reading them. A table of fewer than
//! [`NARROW_ENTRIES`] keys (every table but a hash tag's giant) keeps its words in four
//! bytes: 17 hash bits and a 15-bit position, half the index's memory (8 bytes a key
//! at the load it runs at). Iteration follows the entry list,
//! not the index: removal moves the last entry into the hole, so the order depends only
//! on the table's history of inserts and removals, not on this process's hash seed.
//! Replicas applying the same log (and a node loading a snapshot, which inserts in that
//! order) iterate alike, which SCAN and RANDOMKEY inside scripts rely on.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use super::db::Entry;
use super::Key;

const EMPTY: u64 = u64::MAX;
const POSITION: u64 = 0xFFFF_FFFF;
/// A table keeps narrow index words while it holds fewer entries than this: positions
/// up to `NARROW_ENTRIES - 2` fit 15 bits with the all-ones word left for empty, and its
/// index (at most 65536 words at three quarters full) needs at most 16 of the 17 hash
/// bits to find a word's home.
const NARROW_ENTRIES: usize = 1 << 15;
const NARROW_HASH: u64 = (1 << 17) - 1;
const NARROW_POSITION: u32 = (1 << 15) - 1;
/// Index words of the smallest non-empty table.
const MIN_INDEX: usize = 8;

static HASHER: LazyLock<hashbrown::DefaultHashBuilder> = LazyLock::new(Default::default);

/// The hash every table of this process uses for `key`.
pub fn hash_key(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// Index words, four or eight bytes each; read and written as eight-byte words whose
/// hash bits are those a narrow word keeps ([`Index::tag`]).
#[derive(Debug, Clone)]
enum Index {
    Narrow(Box<[u32]>),
    Wide(Box<[u64]>),
}

impl Default for Index {
    fn default() -> Self {
        Index::Narrow(Box::default())
    }
}

impl Index {
    /// `words` empty words, narrow if a table of `entries` keys may use them.
    fn empty(words: usize, entries: usize) -> Self {
        if entries < NARROW_ENTRIES - 1 {
            Index::Narrow(vec![u32::MAX; words].into_boxed_slice())
        } else {
            Index::Wide(vec![EMPTY; words].into_boxed_slice())
        }
    }

    fn len(&self) -> usize {
        match self {
            Index::Narrow(words) => words.len(),
            Index::Wide(words) => words.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_narrow(&self) -> bool {
        matches!(self, Index::Narrow(_))
    }

    /// The hash bits a word of this index keeps.
    fn tag(&self, hash: u64) -> u64 {
        match self {
            Index::Narrow(_) => hash & NARROW_HASH,
            Index::Wide(_) => hash & POSITION,
        }
    }

    /// The word for the key hashing to `hash` at entry `position`.
    fn word(&self, hash: u64, position: usize) -> u64 {
        self.tag(hash) << 32 | position as u64
    }

    fn same_hash(&self, word: u64, hash: u64) -> bool {
        word >> 32 == self.tag(hash)
    }

    /// Word `at` ([`EMPTY`] if free); `at` is below [`Index::len`].
    fn load(&self, at: usize) -> u64 {
        match self {
            Index::Narrow(words) => match words[at] {
                u32::MAX => EMPTY,
                w => u64::from(w >> 15) << 32 | u64::from(w & NARROW_POSITION),
            },
            Index::Wide(words) => words[at],
        }
    }

    fn store(&mut self, at: usize, word: u64) {
        match self {
            Index::Narrow(words) => {
                words[at] = if word == EMPTY {
                    u32::MAX
                } else {
                    ((word >> 32) as u32) << 15 | (word as u32 & NARROW_POSITION)
                };
            }
            Index::Wide(words) => words[at] = word,
        }
    }
}

/// The capacity a full entry list of `len` grows to: about an eighth more, rounded up
/// to fill the allocator's size class. An entry is 80 bytes, and a doubled list is a
/// third empty on average (26 bytes a key); jemalloc rounds a request up to its next
/// class anyway (four per doubling), so capacity short of the class would be paid for
/// and unused. Tables are small (one slot's keys), so the extra moves are few.
fn grown_capacity(len: usize) -> usize {
    let entry = std::mem::size_of::<(Key, Entry)>();
    let wanted = (len + (len / 8).max(1)) * entry;
    (allocator_class(wanted) / entry).max(len + 1)
}

/// The size jemalloc gives a request of `bytes`: multiples of 16 up to 128, then four
/// classes per doubling.
fn allocator_class(bytes: usize) -> usize {
    if bytes <= 128 {
        return bytes.next_multiple_of(16).max(16);
    }
    let spacing = bytes.next_power_of_two() / 8;
    bytes.next_multiple_of(spacing)
}

/// The keys of one slot and their entries.
#[derive(Debug, Default)]
pub struct Table {
    /// A power of two in length (or empty), at most three quarters full.
    index: Index,
    entries: Vec<(Key, Entry)>,
}

/// The copy a write makes of a table a snapshot still shares (`db::owned`): keys and
/// short strings are copied, collections' large forms and long strings shared.
impl Clone for Table {
    fn clone(&self) -> Self {
        Table { index: self.index.clone(), entries: self.entries.clone() }
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
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
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
            let w = self.index.load(at);
            if w == EMPTY {
                return None;
            }
            if self.index.same_hash(w, hash) {
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
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Key, &Entry)> {
        let (_, position) = self.find(hash_key(key), key)?;
        self.entries.get(position).map(|(k, e)| (k, e))
    }

    /// The stored key and the entry of `key`, the entry mutable.
    pub fn get_key_value_mut(&mut self, key: &[u8]) -> Option<(&Key, &mut Entry)> {
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
    pub fn insert(&mut self, key: Key, entry: Entry) -> Option<Entry> {
        let hash = hash_key(&key);
        if let Some((_, position)) = self.find(hash, &key) {
            return self.entries.get_mut(position).map(|(_, e)| std::mem::replace(e, entry));
        }
        self.insert_absent(hash, key, entry);
        None
    }

    /// Stores `entry` under `key`, which the caller just looked up and did not find
    /// (a write's miss): the probe is not walked a second time.
    pub fn insert_new(&mut self, key: Key, entry: Entry) {
        debug_assert!(!self.contains_key(&key));
        self.insert_absent(hash_key(&key), key, entry);
    }

    fn insert_absent(&mut self, hash: u64, key: Key, entry: Entry) {
        let narrow_full = self.index.is_narrow() && self.entries.len() + 1 >= NARROW_ENTRIES - 1;
        if (self.entries.len() + 1) * 4 > self.index.len() * 3 || narrow_full {
            self.grow();
        }
        let position = self.entries.len();
        self.place(self.index.word(hash, position));
        if self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact(grown_capacity(position) - position);
        }
        self.entries.push((key, entry));
    }

    /// Puts `w` in the first free word from its home.
    fn place(&mut self, w: u64) {
        let mask = self.index.len() - 1;
        let mut at = (w >> 32) as usize & mask;
        while self.index.load(at) != EMPTY {
            at = (at + 1) & mask;
        }
        self.index.store(at, w);
    }

    /// Doubles the index (or widens its words, for a table about to outgrow narrow
    /// positions) and places every key again.
    fn grow(&mut self) {
        let entries = self.entries.len() + 1;
        let words = if (entries * 4) > self.index.len() * 3 {
            (self.index.len() * 2).max(MIN_INDEX)
        } else {
            self.index.len()
        };
        self.index = Index::empty(words, entries);
        let hashes: Vec<u64> = self.entries.iter().map(|(k, _)| hash_key(k)).collect();
        for (position, hash) in hashes.into_iter().enumerate() {
            self.place(self.index.word(hash, position));
        }
    }

    /// Removes `key`, giving back the stored key and its entry.
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Key, Entry)> {
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
                .take_while(|&at| self.index.load(at) != EMPTY)
                .find(|&at| self.index.load(at) & POSITION == last as u64);
            if let Some(at) = at {
                let moved = self.index.word(moved_hash, position);
                self.index.store(at, moved);
            }
        }
        let removed = self.entries.swap_remove(position);
        if self.entries.is_empty() {
            self.index = Index::default();
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
            let w = self.index.load(next);
            if w == EMPTY {
                break;
            }
            let home = (w >> 32) as usize & mask;
            // The word may fill the hole if the hole lies between its home and it.
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.index.store(hole, w);
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.index.store(hole, EMPTY);
    }

    /// One level of a lookup of `hash`, loaded and folded into a value nothing waits
    /// on, so a batch can issue that level for all its keys before the next
    /// ([`super::Db::prefetch`]): 0 the home index word, 1 the entry the probe finds
    /// (the words after home share its cache line, mostly), 2 the bytes of that
    /// entry's key and (for a string) value. Plain loads rather than prefetch
    /// instructions: those need `unsafe` here, and measured no faster.
    pub fn touch(&self, hash: u64, level: u8) -> u64 {
        let Some(w) = self.home_word(hash) else { return 0 };
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

    fn home_word(&self, hash: u64) -> Option<u64> {
        let mask = self.index.len().checked_sub(1)?;
        Some(self.index.load(hash as usize & mask))
    }

    /// The first entry on `hash`'s probe path whose word carries the same hash bits
    /// (almost always the key's own): reads index words only, no key bytes.
    fn home_entry(&self, hash: u64) -> Option<&(Key, Entry)> {
        let mask = self.index.len().checked_sub(1)?;
        let mut at = hash as usize & mask;
        loop {
            let w = self.index.load(at);
            if w == EMPTY {
                return None;
            }
            if self.index.same_hash(w, hash) {
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
    use bytes::Bytes;

    fn entry(n: u64) -> Entry {
        Entry::new(Value::Str(crate::keyspace::StrValue::from(n.to_string())), None, n)
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
                // A write's miss stores with insert_new, skipping the second probe.
                0 if !model.contains_key(&key) => {
                    table.insert_new(Key::new(&key), entry(step));
                    model.insert(key, step);
                }
                0 | 1 => {
                    let old = table.insert(Key::new(&key), entry(step));
                    assert_eq!(old.map(|e| e.version), model.insert(key, step));
                }
                _ => {
                    let gone = table.remove_entry(&key);
                    assert_eq!(
                        gone.map(|(k, e)| (k.to_bytes(), e.version)),
                        model.remove_entry(&key)
                    );
                }
            }
            assert_eq!(table.len(), model.len());
            if step % 97 == 0 {
                for (k, v) in &model {
                    assert_eq!(table.get(k).map(|e| e.version), Some(*v), "{k:?}");
                }
                let listed: std::collections::HashMap<_, _> =
                    table.iter().map(|(k, e)| (k.to_bytes(), e.version)).collect();
                assert_eq!(listed, model);
            }
        }
        assert!(table.get(b"absent").is_none());
    }

    #[test]
    fn an_overwrite_keeps_the_entry_in_place() {
        let mut table = Table::default();
        table.insert(Key::new(b"key"), entry(1));
        table.insert(Key::new(b"other"), entry(3));
        assert_eq!(table.insert(Key::new(b"key"), entry(2)).map(|e| e.version), Some(1));
        let order: Vec<_> = table.iter().map(|(k, e)| (k.to_vec(), e.version)).collect();
        assert_eq!(order, vec![(b"key".to_vec(), 2), (b"other".to_vec(), 3)]);
    }

    /// The copy a write makes under a snapshot reads the same, and shares a long string
    /// rather than copying it.
    #[test]
    fn a_copied_table_shares_long_strings() {
        let mut table = Table::default();
        let big = Bytes::from(vec![b'x'; 1000]);
        table.insert(Key::new(b"small"), entry(1));
        table.insert(Key::new(b"big"), Entry::new(Value::Str(big.clone().into()), Some(9), 2));
        let copy = table.clone();
        assert_eq!(copy.get(b"small"), table.get(b"small"));
        let copied_big = copy.get(b"big");
        let shared = matches!(copied_big.map(|e| &e.value),
            Some(Value::Str(s)) if s.to_bytes().as_ptr() == big.as_ptr());
        assert!(shared, "a long string is shared");
        assert_eq!(copied_big.map(|e| (e.expire_at_ms(), e.version)), Some((Some(9), 2)));
    }

    #[test]
    fn entry_lists_grow_to_whole_allocator_classes() {
        assert_eq!(allocator_class(1), 16);
        assert_eq!(allocator_class(80), 80);
        assert_eq!(allocator_class(129), 160);
        assert_eq!(allocator_class(1025), 1280);
        assert_eq!(allocator_class(1280), 1280);
        assert_eq!(allocator_class(5000), 5120);
        let entry = std::mem::size_of::<(Key, Entry)>();
        let mut len = 0;
        while len < 10_000 {
            let grown = grown_capacity(len);
            assert!(grown > len, "grows from {len}");
            assert!(grown <= len + len / 2 + 2, "by an eighth, to a class, from {len}: {grown}");
            assert!(allocator_class(grown * entry) - grown * entry < entry, "fills its class");
            len = grown;
        }
    }

    /// A table past narrow positions (one hash tag's keys) widens its index words and
    /// keeps every key reachable through the change and through removals after it.
    #[test]
    fn a_giant_table_widens_its_index() {
        let mut table = Table::default();
        let key = |i: usize| format!("{{tag}}:{i}").into_bytes();
        let total = NARROW_ENTRIES + 500;
        for i in 0..total {
            assert!(table.insert(Key::new(&key(i)), entry(i as u64)).is_none());
            if i + 2 == NARROW_ENTRIES - 1 {
                assert!(table.index.is_narrow(), "narrow up to its last position");
            }
        }
        assert!(!table.index.is_narrow());
        for i in (0..total).step_by(3) {
            assert_eq!(table.remove_entry(&key(i)).map(|(_, e)| e.version), Some(i as u64));
        }
        for i in 0..total {
            let expected = (i % 3 != 0).then_some(i as u64);
            assert_eq!(table.get(&key(i)).map(|e| e.version), expected, "key {i}");
        }
    }

    #[test]
    fn emptied_tables_release_their_index() {
        let mut table = Table::default();
        for i in 0..100 {
            table.insert(Key::new(format!("k{i}").as_bytes()), entry(i));
        }
        for i in 0..100 {
            assert!(table.remove_entry(format!("k{i}").as_bytes()).is_some());
        }
        assert!(table.is_empty());
        assert!(table.index.is_empty());
        assert_eq!(table.touch(hash_key(b"k1"), 2), 0);
    }
}
