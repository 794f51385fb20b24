//! A list: ordered, duplicates allowed (LPUSH/RPUSH family).
//!
//! A pure data structure: no keyspace, no protocol, no clock.
//!
//! Elements live in a `VecDeque<Bytes>`: pushes and pops at both ends are O(1) amortized,
//! and indexing (LINDEX, LSET, the start of an LRANGE) is O(1), which a chunked quicklist
//! only approximates. Inserting or removing in the middle (LINSERT, LREM) is O(N), as in
//! Redis.
//!
//! `OBJECT ENCODING` is modelled, not mirrored: the list tracks the size its contents
//! would take as one listpack (with the listpack format's entry sizes) and reports
//! `quicklist` once that passes Redis's default node limit (`list-max-listpack-size -2`,
//! 8 KiB), and `listpack` again once it shrinks to half of it, the same hysteresis Redis
//! applies so a list near the limit does not flip on every push and pop.

use std::collections::VecDeque;

use bytes::Bytes;

/// `list-max-listpack-size -2`: one listpack node holds at most 8 KiB.
pub const LISTPACK_MAX_BYTES: usize = 8192;
/// A quicklist turns back into a listpack when it would fill half a node.
const LISTPACK_SHRINK_BYTES: usize = LISTPACK_MAX_BYTES / 2;
/// A listpack's header (total bytes, element count) and end marker.
const LISTPACK_OVERHEAD: usize = 7;

/// Which end of a list (LEFT = head, RIGHT = tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head (index 0).
    Left,
    /// The tail (index len - 1).
    Right,
}

/// A list: ordered, duplicates allowed (LPUSH/RPUSH family).
#[derive(Debug, Clone, Default)]
pub struct List {
    items: VecDeque<Bytes>,
    /// Sum of [`packed_size`] over the elements (without the listpack overhead).
    packed: usize,
    /// Whether the list is reported as a quicklist (see the module doc).
    quicklist: bool,
}

/// Equality is about content; the encoding follows from the history.
impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl List {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no elements (an empty collection is never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` reports, following Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        if self.quicklist {
            "quicklist"
        } else {
            "listpack"
        }
    }

    /// The size the elements would take as one listpack (what the encoding follows).
    pub fn listpack_bytes(&self) -> usize {
        self.packed_total()
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Bytes>()
            + self.items.iter().map(Bytes::len).sum::<usize>()
    }

    /// Feeds the content to `out` in a canonical order (DEBUG DIGEST, replay tests):
    /// equal values must feed equal bytes whatever their history.
    pub fn digest(&self, out: &mut dyn FnMut(&[u8])) {
        for item in &self.items {
            out(&(item.len() as u64).to_le_bytes());
            out(item);
        }
    }

    /// Adds `value` at `end`.
    pub fn push(&mut self, end: End, value: Bytes) {
        self.packed += packed_size(&value);
        match end {
            End::Left => self.items.push_front(value),
            End::Right => self.items.push_back(value),
        }
        self.grew();
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let value = match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }?;
        self.packed -= packed_size(&value);
        self.shrank();
        Some(value)
    }

    /// The element at `index` (0 = head).
    pub fn get(&self, index: usize) -> Option<&Bytes> {
        self.items.get(index)
    }

    /// Replaces the element at `index`; false if out of range.
    pub fn set(&mut self, index: usize, value: Bytes) -> bool {
        let Some(slot) = self.items.get_mut(index) else { return false };
        self.packed = self.packed - packed_size(slot) + packed_size(&value);
        *slot = value;
        self.grew();
        self.shrank();
        true
    }

    /// Elements from head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// Elements `start..=stop` (indexes already resolved and in range).
    pub fn range(&self, start: usize, stop: usize) -> impl Iterator<Item = &Bytes> {
        self.items.range(start..=stop.min(self.len().saturating_sub(1)))
    }

    /// Inserts `value` before (or after) the first element equal to `pivot`. Returns the
    /// new length, or `None` if `pivot` is absent (nothing changes).
    pub fn insert(&mut self, pivot: &[u8], after: bool, value: Bytes) -> Option<usize> {
        let at = self.items.iter().position(|e| e[..] == *pivot)?;
        self.packed += packed_size(&value);
        self.items.insert(if after { at + 1 } else { at }, value);
        self.grew();
        Some(self.len())
    }

    /// Removes elements equal to `value`: the first `count` from the head if `count > 0`,
    /// the last `-count` from the tail if `count < 0`, all if `count == 0`. Returns how
    /// many were removed.
    pub fn remove(&mut self, value: &[u8], count: i64) -> usize {
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
        let mut removed = 0;
        let mut freed = 0;
        let mut keep = |e: &Bytes| {
            if removed < limit && e[..] == *value {
                removed += 1;
                freed += packed_size(e);
                false
            } else {
                true
            }
        };
        if count >= 0 {
            self.items.retain(|e| keep(e));
        } else {
            let mut kept: VecDeque<Bytes> = VecDeque::with_capacity(self.items.len());
            while let Some(e) = self.items.pop_back() {
                if keep(&e) {
                    kept.push_front(e);
                }
            }
            self.items = kept;
        }
        self.packed -= freed;
        self.shrank();
        removed
    }

    /// Keeps only the elements `start..stop` (half-open, indexes resolved); an empty range
    /// empties the list.
    pub fn retain_range(&mut self, start: usize, stop: usize) {
        let stop = stop.min(self.len());
        if start >= stop {
            self.items.clear();
            self.packed = 0;
        } else {
            for e in self.items.drain(stop..) {
                self.packed -= packed_size(&e);
            }
            for e in self.items.drain(..start) {
                self.packed -= packed_size(&e);
            }
        }
        self.shrank();
    }

    fn packed_total(&self) -> usize {
        LISTPACK_OVERHEAD + self.packed
    }

    fn grew(&mut self) {
        if !self.quicklist && self.packed_total() > LISTPACK_MAX_BYTES {
            self.quicklist = true;
        }
    }

    fn shrank(&mut self) {
        if self.quicklist && self.packed_total() <= LISTPACK_SHRINK_BYTES {
            self.quicklist = false;
        }
        if self.items.is_empty() {
            self.items.shrink_to(0);
        }
    }
}

impl FromIterator<Bytes> for List {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        let mut list = List::new();
        for e in iter {
            list.push(End::Right, e);
        }
        list
    }
}

/// Resolves a Redis index (negative counts from the tail) against `len`.
pub fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { index.checked_add(len)? } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

/// Resolves a Redis `start stop` pair (inclusive, negative from the tail, clamped) to a
/// half-open range of `len`; `None` when it selects nothing.
pub fn resolve_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { start.saturating_add(len).max(0) } else { start };
    let stop = if stop < 0 { stop.saturating_add(len) } else { stop };
    if start > stop || start >= len || stop < 0 {
        return None;
    }
    Some((start as usize, (stop.min(len - 1) + 1) as usize))
}

/// Bytes `value` would take as one listpack entry: its encoding (small integers are
/// stored as integers), its data, and the back-length that lets a listpack walk backward.
fn packed_size(value: &[u8]) -> usize {
    let body = match as_listpack_int(value) {
        Some(n) if (0..=127).contains(&n) => 1,
        Some(n) if (-4096..4096).contains(&n) => 2,
        Some(n) if i64::from(n as i16) == n => 3,
        Some(n) if (-(1 << 23)..(1 << 23)).contains(&n) => 4,
        Some(n) if i64::from(n as i32) == n => 5,
        Some(_) => 9,
        None if value.len() < 64 => 1 + value.len(),
        None if value.len() < 4096 => 2 + value.len(),
        None => 5 + value.len(),
    };
    let backlen = match body {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    body + backlen
}

/// A canonical decimal integer (what a listpack stores as an integer), else `None`.
fn as_listpack_int(value: &[u8]) -> Option<i64> {
    if value.is_empty() || value.len() > 20 {
        return None;
    }
    let n: i64 = std::str::from_utf8(value).ok()?.parse().ok()?;
    // "+1", "01", "-0" are strings, not integers: only the canonical form round-trips.
    (itoa::Buffer::new().format(n).as_bytes() == value).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(items: &[&str]) -> List {
        items.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    fn contents(l: &List) -> Vec<String> {
        l.iter().map(|b| String::from_utf8(b.to_vec()).unwrap()).collect()
    }

    #[test]
    fn pushes_and_pops_work_at_both_ends() {
        let mut l = List::new();
        l.push(End::Left, Bytes::from("b"));
        l.push(End::Left, Bytes::from("a"));
        l.push(End::Right, Bytes::from("c"));
        assert_eq!(contents(&l), ["a", "b", "c"]);
        assert_eq!(l.pop(End::Right), Some(Bytes::from("c")));
        assert_eq!(l.pop(End::Left), Some(Bytes::from("a")));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn indexes_and_ranges_resolve_like_redis() {
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_range(0, -1, 3), Some((0, 3)));
        assert_eq!(resolve_range(-100, 100, 3), Some((0, 3)));
        assert_eq!(resolve_range(2, 1, 3), None);
        assert_eq!(resolve_range(0, -4, 3), None);
        assert_eq!(resolve_range(3, 5, 3), None);
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 3), Some((0, 3)));
    }

    #[test]
    fn insert_finds_the_first_pivot() {
        let mut l = list(&["a", "b", "a"]);
        assert_eq!(l.insert(b"a", true, Bytes::from("x")), Some(4));
        assert_eq!(contents(&l), ["a", "x", "b", "a"]);
        assert_eq!(l.insert(b"zz", false, Bytes::from("y")), None);
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn remove_counts_from_the_requested_end() {
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove(b"a", -2), 2);
        assert_eq!(contents(&l), ["a", "b", "c"]);
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove(b"a", 1), 1);
        assert_eq!(contents(&l), ["b", "a", "c", "a"]);
        assert_eq!(l.remove(b"a", 0), 2);
        assert_eq!(contents(&l), ["b", "c"]);
    }

    #[test]
    fn encoding_turns_quicklist_past_8k_and_back_below_half() {
        let mut l = List::new();
        for _ in 0..100 {
            l.push(End::Right, Bytes::from(vec![b'x'; 60]));
        }
        assert_eq!(l.encoding(), "listpack");
        l.push(End::Right, Bytes::from(vec![b'x'; 2000]));
        assert_eq!(l.encoding(), "quicklist");
        l.pop(End::Right);
        assert_eq!(l.encoding(), "quicklist", "hysteresis: still above half a node");
        l.retain_range(0, 10);
        assert_eq!(l.encoding(), "listpack");
        let big: List = [Bytes::from(vec![b'y'; 9000])].into_iter().collect();
        assert_eq!(big.encoding(), "quicklist");
    }

    #[test]
    fn small_integers_pack_smaller_than_their_text() {
        assert_eq!(packed_size(b"5"), 2);
        assert_eq!(packed_size(b"1000"), 3);
        assert_eq!(packed_size(b"01"), 4);
        assert_eq!(packed_size(b"abc"), 5);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, u8),
        Pop(bool),
        Set(i64, u8),
        Insert(u8, bool, u8),
        Remove(u8, i64),
        Trim(i64, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<bool>(), 0u8..4).prop_map(|(l, v)| Op::Push(l, v)),
            any::<bool>().prop_map(Op::Pop),
            (-6i64..6, 0u8..4).prop_map(|(i, v)| Op::Set(i, v)),
            (0u8..4, any::<bool>(), 0u8..4).prop_map(|(p, a, v)| Op::Insert(p, a, v)),
            (0u8..4, -3i64..3).prop_map(|(v, c)| Op::Remove(v, c)),
            (-6i64..6, -6i64..6).prop_map(|(a, b)| Op::Trim(a, b)),
        ]
    }

    fn elem(v: u8) -> Bytes {
        // Mix integers and strings, small and large, so the size accounting is exercised.
        match v {
            0 => Bytes::from("7"),
            1 => Bytes::from("-70000"),
            2 => Bytes::from("abc"),
            _ => Bytes::from(vec![b'z'; 3000]),
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_vec_and_keeps_its_size_accounting(ops in prop::collection::vec(op(), 0..80)) {
            let mut l = List::new();
            let mut model: Vec<Bytes> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(left, v) => {
                        if left { l.push(End::Left, elem(v)); model.insert(0, elem(v)); }
                        else { l.push(End::Right, elem(v)); model.push(elem(v)); }
                    }
                    Op::Pop(left) => {
                        let want = if model.is_empty() { None }
                            else if left { Some(model.remove(0)) } else { model.pop() };
                        prop_assert_eq!(l.pop(if left { End::Left } else { End::Right }), want);
                    }
                    Op::Set(i, v) => {
                        let at = resolve_index(i, model.len());
                        prop_assert_eq!(l.set(at.unwrap_or(usize::MAX), elem(v)), at.is_some());
                        if let Some(at) = at { model[at] = elem(v); }
                    }
                    Op::Insert(p, after, v) => {
                        let pivot = elem(p);
                        let at = model.iter().position(|e| *e == pivot);
                        let got = l.insert(&pivot, after, elem(v));
                        if let Some(at) = at { model.insert(if after { at + 1 } else { at }, elem(v)); }
                        prop_assert_eq!(got, at.map(|_| model.len()));
                    }
                    Op::Remove(v, count) => {
                        let target = elem(v);
                        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                        let mut idx: Vec<usize> = model.iter().enumerate()
                            .filter(|(_, e)| **e == target).map(|(i, _)| i).collect();
                        if count < 0 { idx.reverse(); }
                        idx.truncate(limit);
                        idx.sort_unstable();
                        for i in idx.iter().rev() { model.remove(*i); }
                        prop_assert_eq!(l.remove(&target, count), idx.len());
                    }
                    Op::Trim(a, b) => {
                        match resolve_range(a, b, model.len()) {
                            Some((s, e)) => { l.retain_range(s, e); model = model[s..e].to_vec(); }
                            None => { l.retain_range(1, 0); model.clear(); }
                        }
                    }
                }
                prop_assert_eq!(l.iter().cloned().collect::<Vec<_>>(), model.clone());
                prop_assert_eq!(l.packed, model.iter().map(|e| packed_size(e)).sum::<usize>());
            }
        }
    }
}
