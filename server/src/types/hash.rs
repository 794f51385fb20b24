//! A hash: field -> value, with optional per-field deadlines (HEXPIRE family).
//!
//! ```text
//!   slots:     Vec<Slot>            fields in position order (insertion order, as a
//!                                   Redis listpack); O(1) access by position for
//!                                   HRANDFIELD and HSCAN
//!   index:     HashTable<usize>     field -> position, O(1) lookup
//!   deadlines: BTreeSet<(ms, field)> fields with a deadline, earliest first
//! ```
//!
//! Positions only ever move towards 0: a removal either shifts the tail down by one
//! (small hashes, which keeps Redis's listpack order) or moves the last field into the
//! hole (large hashes, O(1)); new fields are appended. That is what makes HSCAN's cursor
//! sound: the cursor counts the positions still to visit, walked from the end, so a field
//! present for the whole scan can only move within the unvisited part and is returned.
//!
//! Expired fields stay stored until a write purges them ([`Hash::remove_expired`]); the
//! `*_live` accessors hide them by the caller's clock.
//!
//! The lookup hasher is randomly seeded, but nothing iterates the index: every walk goes
//! through `slots` or `deadlines`, whose order depends only on the operations applied.
//!
//! A pure data structure: no keyspace, no protocol, no clock.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashTable};

/// Redis's `hash-max-listpack-entries` default.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
/// Redis's `hash-max-listpack-value` default.
pub const LISTPACK_MAX_VALUE: usize = 64;

/// One field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub field: Bytes,
    pub value: Bytes,
    /// Absolute deadline in Unix milliseconds (HEXPIRE family).
    pub expire_at_ms: Option<u64>,
}

impl Slot {
    /// Whether the field is logically gone at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_some_and(|at| at <= now_ms)
    }
}

/// A hash: field -> value, with optional per-field deadlines (HEXPIRE family).
#[derive(Clone, Default)]
pub struct Hash {
    slots: Vec<Slot>,
    index: HashTable<usize>,
    hasher: DefaultHashBuilder,
    deadlines: BTreeSet<(u64, Bytes)>,
    /// Set once the hash outgrew the listpack thresholds; Redis never converts back.
    big: bool,
    /// Set once a field-TTL command touched this hash: Redis then reports `listpackex`
    /// for good, even if no field keeps a deadline.
    ttl_touched: bool,
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.slots.iter()).finish()
    }
}

/// Equal content (fields, values, deadlines), whatever the order.
impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.slots.iter().all(|s| other.slot(&s.field).is_some_and(|o| o == s))
    }
}

impl Hash {
    /// An empty hash.
    pub fn new() -> Self {
        Self::default()
    }

    fn hash_of(&self, field: &[u8]) -> u64 {
        self.hasher.hash_one(field)
    }

    fn position(&self, field: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index.find(self.hash_of(field), |&i| slots[i].field == field).copied()
    }

    /// Number of stored fields, including expired ones not yet purged.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no fields (an empty hash is never stored).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether some field's deadline passed at `now_ms`.
    pub fn has_expired(&self, now_ms: u64) -> bool {
        self.deadlines.first().is_some_and(|(at, _)| *at <= now_ms)
    }

    /// Number of fields alive at `now_ms`.
    pub fn live_len(&self, now_ms: u64) -> usize {
        let expired = self.deadlines.iter().take_while(|(at, _)| *at <= now_ms).count();
        self.len() - expired
    }

    /// Number of fields with a deadline.
    pub fn volatile_len(&self) -> usize {
        self.deadlines.len()
    }

    /// The earliest field deadline, if any (the keyspace indexes hashes by it).
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// The stored field, expired or not.
    pub fn slot(&self, field: &[u8]) -> Option<&Slot> {
        self.position(field).map(|i| &self.slots[i])
    }

    /// The field if it is alive at `now_ms`.
    pub fn live(&self, field: &[u8], now_ms: u64) -> Option<&Slot> {
        self.slot(field).filter(|s| !s.is_expired(now_ms))
    }

    /// The value of a field alive at `now_ms`.
    pub fn get_live(&self, field: &[u8], now_ms: u64) -> Option<&Bytes> {
        self.live(field, now_ms).map(|s| &s.value)
    }

    /// The field at `pos` (0 <= pos < len), expired or not.
    pub fn at(&self, pos: usize) -> Option<&Slot> {
        self.slots.get(pos)
    }

    /// Every stored field in position order, expired ones included.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Slot> + ExactSizeIterator {
        self.slots.iter()
    }

    /// Fields alive at `now_ms`, in position order.
    pub fn iter_live(&self, now_ms: u64) -> impl Iterator<Item = &Slot> {
        let any_expired = self.has_expired(now_ms);
        self.slots.iter().filter(move |s| !any_expired || !s.is_expired(now_ms))
    }

    /// Redis converts a listpack to a hashtable when a field or value is too long or
    /// there are too many entries, and never back.
    fn note_size(&mut self, field: &[u8], value: &[u8]) {
        if field.len() > LISTPACK_MAX_VALUE || value.len() > LISTPACK_MAX_VALUE {
            self.big = true;
        }
    }

    /// Sets `field` to `value`, dropping any deadline it had (HSET). Returns whether the
    /// field is new. An expired field still stored counts as existing: purge first.
    pub fn insert(&mut self, field: Bytes, value: Bytes) -> bool {
        self.set_value(field, value, false)
    }

    /// Sets `field` to `value`, keeping its deadline (HINCRBY, HINCRBYFLOAT). Returns
    /// whether the field is new.
    pub fn insert_keep_ttl(&mut self, field: Bytes, value: Bytes) -> bool {
        self.set_value(field, value, true)
    }

    fn set_value(&mut self, field: Bytes, value: Bytes, keep_ttl: bool) -> bool {
        self.note_size(&field, &value);
        if let Some(i) = self.position(&field) {
            if !keep_ttl {
                self.clear_deadline(i);
            }
            self.slots[i].value = value;
            return false;
        }
        let hash = self.hash_of(&field);
        let pos = self.slots.len();
        self.slots.push(Slot { field, value, expire_at_ms: None });
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, pos, |&i| hasher.hash_one(&slots[i].field[..]));
        if self.slots.len() > LISTPACK_MAX_ENTRIES {
            self.big = true;
        }
        true
    }

    fn clear_deadline(&mut self, i: usize) {
        if let Some(at) = self.slots[i].expire_at_ms.take() {
            self.deadlines.remove(&(at, self.slots[i].field.clone()));
        }
    }

    /// Sets or clears the deadline of an existing field; returns false if it is absent.
    pub fn set_deadline(&mut self, field: &[u8], expire_at_ms: Option<u64>) -> bool {
        let Some(i) = self.position(field) else { return false };
        self.clear_deadline(i);
        if let Some(at) = expire_at_ms {
            self.slots[i].expire_at_ms = Some(at);
            self.deadlines.insert((at, self.slots[i].field.clone()));
        }
        true
    }

    /// Removes `field`; returns whether it was stored.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let hash = self.hash_of(field);
        let slots = &self.slots;
        let Ok(entry) = self.index.find_entry(hash, |&i| slots[i].field == field) else {
            return false;
        };
        let (pos, _) = entry.remove();
        self.clear_deadline(pos);
        let last = self.slots.len() - 1;
        if !self.big {
            // Keep the listpack order: the tail shifts down by one.
            self.slots.remove(pos);
            if pos != last {
                for i in self.index.iter_mut() {
                    if *i > pos {
                        *i -= 1;
                    }
                }
            }
        } else {
            self.slots.swap_remove(pos);
            if pos != last {
                let moved = self.hash_of(&self.slots[pos].field);
                if let Some(i) = self.index.find_mut(moved, |&i| i == last) {
                    *i = pos;
                }
            }
        }
        true
    }

    /// Removes every field whose deadline passed at `now_ms`, earliest first; returns how
    /// many. Deterministic: the order depends only on the deadlines and field bytes.
    pub fn remove_expired(&mut self, now_ms: u64) -> usize {
        let due: Vec<Bytes> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .map(|(_, f)| f.clone())
            .collect();
        for f in &due {
            self.remove(f);
        }
        due.len()
    }

    /// The name `OBJECT ENCODING` reports, following Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        match (self.big, self.ttl_touched || !self.deadlines.is_empty()) {
            (true, _) => "hashtable",
            (false, false) => "listpack",
            (false, true) => "listpackex",
        }
    }

    /// Records that a field-TTL command (HEXPIRE family) touched this hash.
    pub fn mark_ttl_touched(&mut self) {
        self.ttl_touched = true;
    }

    /// Whether Redis would hold this hash as a listpack (HSCAN then returns it whole).
    pub fn is_listpack(&self) -> bool {
        !self.big
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        let per_slot = std::mem::size_of::<Slot>() + std::mem::size_of::<usize>() + 1;
        let content: usize = self.slots.iter().map(|s| s.field.len() + s.value.len()).sum();
        content + self.slots.capacity() * per_slot + self.deadlines.len() * 48
    }

    /// Feeds the content to `out` in a canonical order (DEBUG DIGEST, replay tests):
    /// equal values must feed equal bytes whatever their history.
    pub fn digest(&self, out: &mut dyn FnMut(&[u8])) {
        let mut sorted: Vec<&Slot> = self.slots.iter().collect();
        sorted.sort_unstable_by(|a, b| a.field.cmp(&b.field));
        for s in sorted {
            out(&(s.field.len() as u64).to_le_bytes());
            out(&s.field);
            out(&(s.value.len() as u64).to_le_bytes());
            out(&s.value);
            out(&s.expire_at_ms.unwrap_or(0).to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    fn fields(h: &Hash) -> Vec<String> {
        h.iter().map(|s| String::from_utf8_lossy(&s.field).into_owned()).collect()
    }

    #[test]
    fn small_hashes_keep_insertion_order_through_removals() {
        let mut h = Hash::new();
        for f in ["a", "b", "c", "d"] {
            assert!(h.insert(b(f), b("1")));
        }
        assert!(!h.insert(b("b"), b("2")));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(fields(&h), ["a", "c", "d"]);
        assert_eq!(h.get_live(b"d", 0), Some(&b("1")));
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn big_hashes_stay_hashtable_after_shrinking() {
        let mut h = Hash::new();
        for i in 0..=LISTPACK_MAX_ENTRIES {
            h.insert(b(&i.to_string()), b("v"));
        }
        assert_eq!(h.encoding(), "hashtable");
        for i in 0..LISTPACK_MAX_ENTRIES {
            h.remove(i.to_string().as_bytes());
        }
        assert_eq!(h.len(), 1);
        assert_eq!(h.encoding(), "hashtable");
        let mut long = Hash::new();
        long.insert(b("f"), Bytes::from(vec![b'x'; LISTPACK_MAX_VALUE + 1]));
        assert_eq!(long.encoding(), "hashtable");
    }

    #[test]
    fn deadlines_hide_fields_and_purge_removes_them_earliest_first() {
        let mut h = Hash::new();
        for f in ["a", "b", "c"] {
            h.insert(b(f), b("v"));
        }
        assert!(h.set_deadline(b"a", Some(100)));
        assert!(h.set_deadline(b"b", Some(50)));
        assert!(!h.set_deadline(b"zz", Some(50)));
        assert_eq!(h.encoding(), "listpackex");
        assert_eq!(h.next_deadline(), Some(50));
        assert_eq!(h.live_len(49), 3);
        assert_eq!(h.live_len(50), 2);
        assert!(h.get_live(b"b", 50).is_none());
        assert_eq!(h.iter_live(100).count(), 1);
        assert_eq!(h.remove_expired(60), 1);
        assert_eq!(h.next_deadline(), Some(100));
        // HSET drops the deadline; the keep-TTL variant does not.
        h.insert_keep_ttl(b("a"), b("w"));
        assert_eq!(h.slot(b"a").unwrap().expire_at_ms, Some(100));
        h.insert(b("a"), b("x"));
        assert_eq!(h.slot(b"a").unwrap().expire_at_ms, None);
        assert_eq!(h.volatile_len(), 0);
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn equality_and_digest_ignore_history() {
        let mut x = Hash::new();
        let mut y = Hash::new();
        x.insert(b("a"), b("1"));
        x.insert(b("b"), b("2"));
        y.insert(b("b"), b("2"));
        y.insert(b("a"), b("1"));
        assert_eq!(x, y);
        let digest = |h: &Hash| {
            let mut v = Vec::new();
            h.digest(&mut |bytes| v.extend_from_slice(bytes));
            v
        };
        assert_eq!(digest(&x), digest(&y));
        y.set_deadline(b"a", Some(5));
        assert_ne!(x, y);
        assert_ne!(digest(&x), digest(&y));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u8),
        Del(u8),
        Expire(u8, u8),
        Purge(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..200, any::<u8>()).prop_map(|(f, v)| Op::Set(f, v)),
            2 => (0u8..200).prop_map(Op::Del),
            1 => (0u8..200, any::<u8>()).prop_map(|(f, t)| Op::Expire(f, t)),
            1 => any::<u8>().prop_map(Op::Purge),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_map_with_deadlines(ops in proptest::collection::vec(op(), 1..400)) {
            let mut h = Hash::new();
            let mut model: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Set(f, v) => {
                        let new = h.insert(Bytes::from(vec![f]), Bytes::from(vec![v]));
                        prop_assert_eq!(new, model.insert(vec![f], (vec![v], None)).is_none());
                    }
                    Op::Del(f) => {
                        prop_assert_eq!(h.remove(&[f]), model.remove(&vec![f]).is_some());
                    }
                    Op::Expire(f, t) => {
                        let at = Some(u64::from(t));
                        let present = model.get_mut(&vec![f]).map(|e| e.1 = at).is_some();
                        prop_assert_eq!(h.set_deadline(&[f], at), present);
                    }
                    Op::Purge(now) => {
                        let now = u64::from(now);
                        let before = model.len();
                        model.retain(|_, (_, at)| at.is_none_or(|at| at > now));
                        prop_assert_eq!(h.remove_expired(now), before - model.len());
                    }
                }
                prop_assert_eq!(h.len(), model.len());
                prop_assert_eq!(
                    h.volatile_len(),
                    model.values().filter(|(_, at)| at.is_some()).count()
                );
                for (f, (v, at)) in &model {
                    let s = h.slot(f).unwrap();
                    prop_assert_eq!(&s.value[..], &v[..]);
                    prop_assert_eq!(s.expire_at_ms, *at);
                }
                for (pos, s) in h.iter().enumerate() {
                    prop_assert_eq!(h.position(&s.field), Some(pos));
                }
            }
        }

        /// A descending position cursor returns every field present for the whole scan,
        /// whatever is inserted and removed between calls.
        #[test]
        fn a_descending_cursor_returns_fields_present_throughout(
            initial in 1usize..300,
            churn in proptest::collection::vec((any::<bool>(), 0u16..600), 0..200),
            count in 1usize..20,
        ) {
            let mut h = Hash::new();
            for i in 0..initial {
                h.insert(Bytes::from(format!("f{i}")), b("v"));
            }
            let mut removed = std::collections::HashSet::new();
            let mut seen = std::collections::HashSet::new();
            let mut cursor = h.len();
            let mut churn = churn.into_iter();
            loop {
                let top = cursor.min(h.len());
                let low = top.saturating_sub(count);
                for pos in (low..top).rev() {
                    seen.insert(h.at(pos).unwrap().field.clone());
                }
                if low == 0 {
                    break;
                }
                cursor = low;
                for (insert, n) in churn.by_ref().take(3) {
                    let f = Bytes::from(format!("f{n}"));
                    if insert {
                        h.insert(f, b("v"));
                    } else if h.remove(&f) {
                        removed.insert(f);
                    }
                }
            }
            for i in 0..initial {
                let f = Bytes::from(format!("f{i}"));
                if !removed.contains(&f) {
                    prop_assert!(seen.contains(&f), "{:?} was never returned", f);
                }
            }
        }
    }
}
