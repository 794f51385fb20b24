//! A hash: field -> value, with optional per-field deadlines (HEXPIRE family).
//!
//! Two forms, chosen as Redis chooses between a listpack and a hashtable:
//!
//! ```text
//!   packed:  one buffer  [flen][field][vlen][value] [flen][field][vlen][value] ...
//!            fields in position order; lookups walk it (at most 128 fields of at
//!            most 64 bytes, so a walk is a few cache lines)
//!   table:   slots:     Vec<Slot>              fields in position order
//!            index:     HashTable<usize>       field -> position, O(1) lookup
//!            deadlines: BTreeSet<(ms, field)>  fields with a deadline, earliest first
//! ```
//!
//! A hash starts packed and becomes a table when it outgrows Redis's listpack thresholds
//! (then for good, as Redis never converts back) or when a field gets a deadline; it is
//! packed again once no deadline is left on a table that never outgrew the thresholds.
//! The packed form is what makes a million small hashes cheap: one allocation for all the
//! fields of a hash instead of a slot, two byte buffers and an index entry per field. The
//! key's value holds the hash itself (not a pointer to it): the packed buffer is the only
//! allocation, copied with a snapshot's slot (it is small by construction); the table is
//! shared with a snapshot until a write copies it.
//!
//! Positions only ever move towards 0: a removal either shifts the tail down by one
//! (packed hashes and small tables, which keeps Redis's listpack order) or moves the last
//! field into the hole (large tables, O(1)); new fields are appended. That is what makes
//! HSCAN's cursor sound: the cursor counts the positions still to visit, walked from the
//! end, so a field present for the whole scan can only move within the unvisited part and
//! is returned.
//!
//! Expired fields stay stored until a write purges them ([`Hash::remove_expired`]); the
//! `*_live` accessors hide them by the caller's clock.
//!
//! The table's lookup hasher is randomly seeded, but nothing iterates the index: every
//! walk goes through `slots` or `deadlines`, whose order depends only on the operations
//! applied.
//!
//! A pure data structure: no keyspace, no protocol, no clock.

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::num::NonZeroU64;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Redis's `hash-max-listpack-entries` default.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
/// Redis's `hash-max-listpack-value` default.
pub const LISTPACK_MAX_VALUE: usize = 64;

// A packed entry stores each length in one byte.
const _: () = assert!(LISTPACK_MAX_VALUE <= u8::MAX as usize);

/// One field as stored: borrowed from whichever form holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub field: &'a [u8],
    pub value: &'a [u8],
    /// Absolute deadline in Unix milliseconds (HEXPIRE family).
    pub expire_at_ms: Option<u64>,
}

impl Field<'_> {
    /// Whether the field is logically gone at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_some_and(|at| at <= now_ms)
    }
}

/// A hash: field -> value, with optional per-field deadlines (HEXPIRE family).
///
/// Cloning copies a packed buffer and shares a table (a snapshot's copy); the first
/// change through either copy of a table copies it.
#[derive(Clone, Default)]
pub struct Hash {
    form: Form,
}

#[derive(Clone)]
enum Form {
    Packed(Packed),
    Table(Arc<Table>),
}

impl Default for Form {
    fn default() -> Self {
        Form::Packed(Packed::default())
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Equal content (fields, values, deadlines), whatever the order or the form.
impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|s| other.slot(s.field) == Some(s))
    }
}

impl Hash {
    /// An empty hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored fields, including expired ones not yet purged.
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Packed(p) => usize::from(p.len),
            Form::Table(t) => t.slots.len(),
        }
    }

    /// Whether there are no fields (an empty hash is never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn deadlines(&self) -> Option<&Deadlines> {
        match &self.form {
            Form::Packed(_) => None,
            Form::Table(t) => Some(&t.deadlines),
        }
    }

    /// Whether some field's deadline passed at `now_ms`.
    pub fn has_expired(&self, now_ms: u64) -> bool {
        self.next_deadline().is_some_and(|at| at <= now_ms)
    }

    /// Number of fields alive at `now_ms`.
    pub fn live_len(&self, now_ms: u64) -> usize {
        let expired =
            self.deadlines().map_or(0, |d| d.iter().take_while(|(at, _)| *at <= now_ms).count());
        self.len() - expired
    }

    /// Number of fields with a deadline.
    pub fn volatile_len(&self) -> usize {
        self.deadlines().map_or(0, BTreeSet::len)
    }

    /// The earliest field deadline, if any (the keyspace indexes hashes by it).
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines().and_then(|d| d.first()).map(|(at, _)| *at)
    }

    /// The stored field, expired or not.
    pub fn slot(&self, field: &[u8]) -> Option<Field<'_>> {
        match &self.form {
            Form::Packed(p) => p.find(field).map(|found| p.entry(found)),
            Form::Table(t) => t.position(field).map(|i| t.slots[i].view()),
        }
    }

    /// The field if it is alive at `now_ms`.
    pub fn live(&self, field: &[u8], now_ms: u64) -> Option<Field<'_>> {
        self.slot(field).filter(|s| !s.is_expired(now_ms))
    }

    /// The value of a field alive at `now_ms`.
    pub fn get_live(&self, field: &[u8], now_ms: u64) -> Option<&[u8]> {
        self.live(field, now_ms).map(|s| s.value)
    }

    /// The field at `pos` (0 <= pos < len), expired or not. O(1) for a table; a packed
    /// hash walks to it, so callers visiting many positions collect [`Hash::iter`] once.
    pub fn at(&self, pos: usize) -> Option<Field<'_>> {
        match &self.form {
            Form::Packed(p) => p.iter().nth(pos),
            Form::Table(t) => t.slots.get(pos).map(Slot::view),
        }
    }

    /// The fields at `positions` (each `< len`), in that order: a packed hash is walked
    /// once, not once per position.
    pub fn fields_at(&self, positions: impl IntoIterator<Item = usize>) -> Vec<Field<'_>> {
        match &self.form {
            Form::Packed(p) => {
                let all: Vec<Field<'_>> = p.iter().collect();
                positions.into_iter().filter_map(|i| all.get(i).copied()).collect()
            }
            Form::Table(t) => {
                positions.into_iter().filter_map(|i| t.slots.get(i)).map(Slot::view).collect()
            }
        }
    }

    /// Every stored field in position order, expired ones included.
    pub fn iter(&self) -> Iter<'_> {
        let walk = match &self.form {
            Form::Packed(p) => Walk::Packed(&p.buf),
            Form::Table(t) => Walk::Table(t.slots.iter()),
        };
        Iter { walk, remaining: self.len() }
    }

    /// Fields alive at `now_ms`, in position order.
    pub fn iter_live(&self, now_ms: u64) -> impl Iterator<Item = Field<'_>> {
        let any_expired = self.has_expired(now_ms);
        self.iter().filter(move |s| !any_expired || !s.is_expired(now_ms))
    }

    /// Sets `field` to `value`, dropping any deadline it had (HSET). Returns whether the
    /// field is new. An expired field still stored counts as existing: purge first.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.set_value(field, value, false)
    }

    /// Sets `field` to `value`, keeping its deadline (HINCRBY, HINCRBYFLOAT). Returns
    /// whether the field is new.
    pub fn insert_keep_ttl(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.set_value(field, value, true)
    }

    /// Both forms store their own copies, so callers hand in the request's bytes.
    fn set_value(&mut self, field: &[u8], value: &[u8], keep_ttl: bool) -> bool {
        let fits = field.len() <= LISTPACK_MAX_VALUE && value.len() <= LISTPACK_MAX_VALUE;
        if let Form::Packed(p) = &mut self.form {
            if fits {
                match p.find(field) {
                    Some(found) => {
                        p.replace_value(found, value);
                        return false;
                    }
                    None if usize::from(p.len) < LISTPACK_MAX_ENTRIES => {
                        p.push(field, value);
                        return true;
                    }
                    None => {}
                }
            }
        }
        let t = self.table_mut();
        if !fits {
            t.big = true;
        }
        t.set_value(field, value, keep_ttl)
    }

    /// Sets or clears the deadline of an existing field; returns false if it is absent.
    pub fn set_deadline(&mut self, field: &[u8], expire_at_ms: Option<u64>) -> bool {
        if let Form::Packed(p) = &self.form {
            match (p.find(field), expire_at_ms) {
                (None, _) => return false,
                (Some(_), None) => return true,
                (Some(_), Some(_)) => {}
            }
        }
        let found = self.table_mut().set_deadline(field, expire_at_ms);
        self.repack_if_plain();
        found
    }

    /// Removes `field`; returns whether it was stored.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let removed = match &mut self.form {
            Form::Packed(p) => p.remove(field),
            // A table a snapshot shares is copied only if the field is there.
            Form::Table(t) => match Arc::get_mut(t) {
                Some(t) => t.remove(field),
                None => t.position(field).is_some() && Arc::make_mut(t).remove(field),
            },
        };
        if removed {
            self.repack_if_plain();
        }
        removed
    }

    /// Removes every field whose deadline passed at `now_ms`, earliest first; returns how
    /// many. Deterministic: the order depends only on the deadlines and field bytes.
    pub fn remove_expired(&mut self, now_ms: u64) -> usize {
        let Form::Table(t) = &mut self.form else { return 0 };
        let due: Vec<Box<[u8]>> = t
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .map(|(_, f)| f.clone())
            .collect();
        if due.is_empty() {
            return 0;
        }
        let t = Arc::make_mut(t);
        for f in &due {
            t.remove(f);
        }
        self.repack_if_plain();
        due.len()
    }

    /// The table form for a change: a packed hash is unpacked (keeping positions), a
    /// table shared with a snapshot is copied.
    fn table_mut(&mut self) -> &mut Table {
        if let Form::Packed(p) = &self.form {
            let mut t = Table::with_capacity(usize::from(p.len) + 1);
            for s in p.iter() {
                t.set_value(s.field, s.value, false);
            }
            t.ttl_touched = p.ttl_touched;
            self.form = Form::Table(Arc::new(t));
        }
        match &mut self.form {
            Form::Table(t) => Arc::make_mut(t),
            Form::Packed(_) => unreachable!("unpacked above"),
        }
    }

    /// Packs a table that never outgrew the thresholds once no field has a deadline: the
    /// positions are the same (such a table keeps listpack order).
    fn repack_if_plain(&mut self) {
        let Form::Table(t) = &self.form else { return };
        if t.big || !t.deadlines.is_empty() {
            return;
        }
        let entries = t.slots.iter().map(|s| (&s.field[..], &s.value[..]));
        self.form = Form::Packed(Packed::from_entries(entries, t.ttl_touched));
    }

    /// The name `OBJECT ENCODING` reports, following Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        let (big, ttl_touched) = match &self.form {
            Form::Packed(p) => (false, p.ttl_touched),
            Form::Table(t) => (t.big, t.ttl_touched),
        };
        match (big, ttl_touched || self.volatile_len() > 0) {
            (true, _) => "hashtable",
            (false, false) => "listpack",
            (false, true) => "listpackex",
        }
    }

    /// Records that a field-TTL command (HEXPIRE family) touched this hash.
    pub fn mark_ttl_touched(&mut self) {
        match &mut self.form {
            Form::Packed(p) => p.ttl_touched = true,
            Form::Table(t) if !t.ttl_touched => Arc::make_mut(t).ttl_touched = true,
            Form::Table(_) => {}
        }
    }

    /// Whether Redis would hold this hash as a listpack (HSCAN then returns it whole).
    pub fn is_listpack(&self) -> bool {
        !matches!(&self.form, Form::Table(t) if t.big)
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.form {
            Form::Packed(p) => p.buf.len(),
            Form::Table(t) => std::mem::size_of::<Table>() + t.heap_bytes(),
        }
    }

    /// Feeds the content to `out` in a canonical order (DEBUG DIGEST, replay tests):
    /// equal values must feed equal bytes whatever their history or form.
    pub fn digest(&self, out: &mut dyn FnMut(&[u8])) {
        let mut sorted: Vec<Field<'_>> = self.iter().collect();
        sorted.sort_unstable_by(|a, b| a.field.cmp(b.field));
        for s in sorted {
            out(&(s.field.len() as u64).to_le_bytes());
            out(s.field);
            out(&(s.value.len() as u64).to_le_bytes());
            out(s.value);
            out(&s.expire_at_ms.unwrap_or(0).to_le_bytes());
        }
    }
}

/// The fields of a hash in position order (see [`Hash::iter`]).
pub struct Iter<'a> {
    walk: Walk<'a>,
    remaining: usize,
}

enum Walk<'a> {
    /// The rest of a packed buffer.
    Packed(&'a [u8]),
    Table(std::slice::Iter<'a, Slot>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let next = match &mut self.walk {
            Walk::Packed(rest) => {
                let (entry, tail) = split_entry(rest)?;
                *rest = tail;
                Some(entry)
            }
            Walk::Table(slots) => slots.next().map(Slot::view),
        };
        self.remaining = self.remaining.saturating_sub(usize::from(next.is_some()));
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The first entry of a packed buffer and the rest after it; `None` at the end.
fn split_entry(buf: &[u8]) -> Option<(Field<'_>, &[u8])> {
    let (&field_len, rest) = buf.split_first()?;
    let (field, rest) = rest.split_at_checked(usize::from(field_len))?;
    let (&value_len, rest) = rest.split_first()?;
    let (value, rest) = rest.split_at_checked(usize::from(value_len))?;
    Some((Field { field, value, expire_at_ms: None }, rest))
}

/// The packed form: every field and value in one buffer, in position order.
#[derive(Clone, Default)]
struct Packed {
    /// `[field length][field][value length][value]` per field; each length fits a byte
    /// because a packed hash holds nothing longer than [`LISTPACK_MAX_VALUE`]. Exactly as
    /// long as its content, as a listpack is reallocated on every change.
    buf: super::PackedBuf,
    len: u16,
    /// Set once a field-TTL command touched this hash: Redis then reports `listpackex`
    /// for good, even if no field keeps a deadline.
    ttl_touched: bool,
}

// A packed hash's count fits its counter.
const _: () = assert!(LISTPACK_MAX_ENTRIES <= u16::MAX as usize);

/// Where a field's entry lies in a packed buffer.
#[derive(Clone, Copy)]
struct Found {
    /// Offset of the field's length byte.
    start: usize,
    /// Offset of the value's length byte.
    value_at: usize,
    /// Offset just past the entry.
    end: usize,
}

impl Packed {
    fn from_entries<'a>(
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
        ttl_touched: bool,
    ) -> Self {
        let size: usize = entries.clone().map(|(f, v)| 2 + f.len() + v.len()).sum();
        let mut buf = Vec::with_capacity(size);
        let mut len = 0;
        for (field, value) in entries {
            for part in [&[field.len() as u8], field, &[value.len() as u8], value] {
                buf.extend_from_slice(part);
            }
            len += 1;
        }
        Packed { buf: buf.into(), len, ttl_touched }
    }

    fn iter(&self) -> Iter<'_> {
        Iter { walk: Walk::Packed(&self.buf), remaining: usize::from(self.len) }
    }

    fn find(&self, field: &[u8]) -> Option<Found> {
        let mut rest = &self.buf[..];
        while let Some((entry, tail)) = split_entry(rest) {
            if entry.field == field {
                let end = self.buf.len() - tail.len();
                let value_at = end - entry.value.len() - 1;
                return Some(Found { start: value_at - field.len() - 1, value_at, end });
            }
            rest = tail;
        }
        None
    }

    fn entry(&self, found: Found) -> Field<'_> {
        Field {
            field: &self.buf[found.start + 1..found.value_at],
            value: &self.buf[found.value_at + 1..found.end],
            expire_at_ms: None,
        }
    }

    /// Replaces `buf[range]` with the parts of `with`.
    fn splice(&mut self, range: std::ops::Range<usize>, with: [&[u8]; 4]) {
        let added: usize = with.iter().map(|part| part.len()).sum();
        self.buf.edit(|buf| {
            buf.reserve_exact(added.saturating_sub(range.len()));
            // A chain of slices knows its exact length, so the tail moves once.
            let parts = with[0].iter().chain(with[1]).chain(with[2]).chain(with[3]);
            buf.splice(range, parts.copied());
        });
    }

    fn push(&mut self, field: &[u8], value: &[u8]) {
        let end = self.buf.len();
        self.splice(end..end, [&[field.len() as u8], field, &[value.len() as u8], value]);
        self.len += 1;
    }

    fn replace_value(&mut self, found: Found, value: &[u8]) {
        let Found { value_at, end, .. } = found;
        if end - value_at - 1 == value.len() {
            self.buf[value_at + 1..end].copy_from_slice(value);
            return;
        }
        self.splice(value_at..end, [&[value.len() as u8], value, &[], &[]]);
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some(found) = self.find(field) else { return false };
        self.splice(found.start..found.end, [&[]; 4]);
        self.len -= 1;
        true
    }
}

/// Fields with a deadline, earliest first: (deadline, field).
type Deadlines = BTreeSet<(u64, Box<[u8]>)>;

/// One field of a table: its own copies of the bytes (never a request buffer's), as
/// boxed slices (16 bytes each where a `Bytes` handle takes 32), and a deadline that is
/// never 0 (a deadline of 0 is kept as 1, both long past), so the option is free.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    field: Box<[u8]>,
    value: Box<[u8]>,
    deadline: Option<NonZeroU64>,
}

impl Slot {
    fn view(&self) -> Field<'_> {
        let expire_at_ms = self.deadline.map(NonZeroU64::get);
        Field { field: &self.field, value: &self.value, expire_at_ms }
    }
}

/// The table form: O(1) lookup and position access, deadlines.
#[derive(Clone, Default)]
struct Table {
    slots: Vec<Slot>,
    index: HashTable<usize>,
    hasher: DefaultHashBuilder,
    deadlines: Deadlines,
    /// Set once the hash outgrew the listpack thresholds; Redis never converts back.
    big: bool,
    /// As [`Packed::ttl_touched`].
    ttl_touched: bool,
}

impl Table {
    fn with_capacity(n: usize) -> Self {
        Table {
            slots: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            ..Table::default()
        }
    }

    fn hash_of(&self, field: &[u8]) -> u64 {
        self.hasher.hash_one(field)
    }

    fn position(&self, field: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index.find(self.hash_of(field), |&i| *slots[i].field == *field).copied()
    }

    fn set_value(&mut self, field: &[u8], value: &[u8], keep_ttl: bool) -> bool {
        if let Some(i) = self.position(field) {
            if !keep_ttl {
                self.clear_deadline(i);
            }
            self.slots[i].value = Box::from(value);
            return false;
        }
        let hash = self.hash_of(field);
        let pos = self.slots.len();
        self.slots.push(Slot { field: Box::from(field), value: Box::from(value), deadline: None });
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, pos, |&i| hasher.hash_one(&slots[i].field[..]));
        if self.slots.len() > LISTPACK_MAX_ENTRIES {
            self.big = true;
        }
        true
    }

    fn clear_deadline(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if let Some(at) = slot.deadline.take() {
            // The set's key is built from the slot's own field (moved out and back)
            // rather than a copy of it.
            let key = (at.get(), std::mem::take(&mut slot.field));
            self.deadlines.remove(&key);
            slot.field = key.1;
        }
    }

    fn set_deadline(&mut self, field: &[u8], expire_at_ms: Option<u64>) -> bool {
        let Some(i) = self.position(field) else { return false };
        self.clear_deadline(i);
        if let Some(at) = expire_at_ms {
            let at = NonZeroU64::new(at).unwrap_or(NonZeroU64::MIN);
            self.slots[i].deadline = Some(at);
            self.deadlines.insert((at.get(), self.slots[i].field.clone()));
        }
        true
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let hash = self.hash_of(field);
        let slots = &self.slots;
        let Ok(entry) = self.index.find_entry(hash, |&i| *slots[i].field == *field) else {
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

    fn heap_bytes(&self) -> usize {
        let per_slot = std::mem::size_of::<Slot>() + std::mem::size_of::<usize>() + 1;
        let content: usize = self.slots.iter().map(|s| s.field.len() + s.value.len()).sum();
        content + self.slots.capacity() * per_slot + self.deadlines.len() * 48
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    fn fields(h: &Hash) -> Vec<String> {
        h.iter().map(|s| String::from_utf8_lossy(s.field).into_owned()).collect()
    }

    #[test]
    fn small_hashes_keep_insertion_order_through_removals() {
        let mut h = Hash::new();
        for f in ["a", "b", "c", "d"] {
            assert!(h.insert(&b(f), &b("1")));
        }
        assert!(!h.insert(&b("b"), &b("2")));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(fields(&h), ["a", "c", "d"]);
        assert_eq!(h.get_live(b"d", 0), Some(&b"1"[..]));
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn a_clone_keeps_its_content_while_the_original_changes() {
        for n in [4, LISTPACK_MAX_ENTRIES + 1] {
            let mut h = Hash::new();
            for i in 0..n {
                h.insert(&b(&format!("f{i}")), &b("v"));
            }
            let frozen = h.clone();
            h.insert(&b("f0"), &b("changed"));
            h.insert(&b("f3"), &b("w"));
            assert!(h.remove(b"f1"));
            h.insert(&b("new"), &b("x"));
            h.set_deadline(b"f2", Some(5));
            assert_eq!(frozen.len(), n);
            assert_eq!(frozen.get_live(b"f0", 0), Some(&b"v"[..]));
            assert_eq!(frozen.get_live(b"f3", 0), Some(&b"v"[..]));
            assert!(frozen.slot(b"f1").is_some() && frozen.slot(b"new").is_none());
            assert_eq!(frozen.volatile_len(), 0);
            assert_eq!(h.get_live(b"f3", 0), Some(&b"w"[..]));
            assert_eq!(h.volatile_len(), 1);
        }
    }

    #[test]
    fn a_hash_is_no_bigger_than_a_string_handle() {
        // It sits in the key's value unboxed, next to strings' `Bytes`.
        assert!(std::mem::size_of::<Hash>() <= std::mem::size_of::<Bytes>());
    }

    #[test]
    fn big_hashes_stay_hashtable_after_shrinking() {
        let mut h = Hash::new();
        for i in 0..=LISTPACK_MAX_ENTRIES {
            h.insert(&b(&i.to_string()), &b("v"));
        }
        assert_eq!(h.encoding(), "hashtable");
        for i in 0..LISTPACK_MAX_ENTRIES {
            h.remove(i.to_string().as_bytes());
        }
        assert_eq!(h.len(), 1);
        assert_eq!(h.encoding(), "hashtable");
        let mut long = Hash::new();
        long.insert(&b("f"), &Bytes::from(vec![b'x'; LISTPACK_MAX_VALUE + 1]));
        assert_eq!(long.encoding(), "hashtable");
    }

    #[test]
    fn deadlines_hide_fields_and_purge_removes_them_earliest_first() {
        let mut h = Hash::new();
        for f in ["a", "b", "c"] {
            h.insert(&b(f), &b("v"));
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
        h.insert_keep_ttl(&b("a"), &b("w"));
        assert_eq!(h.slot(b"a").unwrap().expire_at_ms, Some(100));
        h.insert(&b("a"), &b("x"));
        assert_eq!(h.slot(b"a").unwrap().expire_at_ms, None);
        assert_eq!(h.volatile_len(), 0);
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn equality_and_digest_ignore_history() {
        let mut x = Hash::new();
        let mut y = Hash::new();
        x.insert(&b("a"), &b("1"));
        x.insert(&b("b"), &b("2"));
        y.insert(&b("b"), &b("2"));
        y.insert(&b("a"), &b("1"));
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
        Set(u8, u8, u8),
        Del(u8),
        Expire(u8, u8),
        Purge(u8),
    }

    /// Operations over `fields` distinct one-byte fields with values up to `max_len` long.
    fn op(fields: u8, max_len: u8) -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..fields, any::<u8>(), 0..=max_len).prop_map(|(f, v, n)| Op::Set(f, v, n)),
            2 => (0..fields).prop_map(Op::Del),
            // Deadlines are never 0: a command deletes a field whose time has passed.
            1 => (0..fields, 1u8..).prop_map(|(f, t)| Op::Expire(f, t)),
            1 => any::<u8>().prop_map(Op::Purge),
        ]
    }

    /// Applies `ops` to a hash and to a model (a map, plus the insertion order a listpack
    /// keeps), comparing them after every step.
    fn check_against_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut h = Hash::new();
        let mut model: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> = BTreeMap::new();
        let mut order: Vec<Vec<u8>> = Vec::new();
        for op in ops {
            match op {
                Op::Set(f, v, n) => {
                    let value = vec![v; usize::from(n)];
                    let new = h.insert(&Bytes::from(vec![f]), &Bytes::from(value.clone()));
                    prop_assert_eq!(new, model.insert(vec![f], (value, None)).is_none());
                    if new {
                        order.push(vec![f]);
                    }
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
            order.retain(|f| model.contains_key(f));
            prop_assert_eq!(h.len(), model.len());
            prop_assert_eq!(
                h.volatile_len(),
                model.values().filter(|(_, at)| at.is_some()).count()
            );
            for (f, (v, at)) in &model {
                let s = h.slot(f).unwrap();
                prop_assert_eq!(s.value, &v[..]);
                prop_assert_eq!(s.expire_at_ms, *at);
            }
            for (pos, s) in h.iter().enumerate() {
                prop_assert_eq!(h.at(pos), Some(s));
                prop_assert_eq!(h.slot(s.field), Some(s));
            }
            if h.is_listpack() {
                let fields: Vec<&[u8]> = h.iter().map(|s| s.field).collect();
                let expected: Vec<&[u8]> = order.iter().map(|f| &f[..]).collect();
                prop_assert_eq!(fields, expected);
            }
        }
        Ok(())
    }

    proptest! {
        /// Many fields and long values: the hash outgrows the packed form.
        #[test]
        fn behaves_like_a_map_with_deadlines(ops in proptest::collection::vec(op(200, 80), 1..400)) {
            check_against_model(ops)?;
        }

        /// Within the thresholds: deadlines move the hash between its forms.
        #[test]
        fn small_hashes_behave_like_a_map(ops in proptest::collection::vec(op(24, 64), 1..400)) {
            check_against_model(ops)?;
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
                h.insert(&Bytes::from(format!("f{i}")), &b("v"));
            }
            let mut removed = std::collections::HashSet::new();
            let mut seen = std::collections::HashSet::new();
            let mut cursor = h.len();
            let mut churn = churn.into_iter();
            loop {
                let top = cursor.min(h.len());
                let low = top.saturating_sub(count);
                for pos in (low..top).rev() {
                    seen.insert(Bytes::copy_from_slice(h.at(pos).unwrap().field));
                }
                if low == 0 {
                    break;
                }
                cursor = low;
                for (insert, n) in churn.by_ref().take(3) {
                    let f = Bytes::from(format!("f{n}"));
                    if insert {
                        h.insert(&f, &b("v"));
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
