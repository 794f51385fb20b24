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
use std::ops::Range;
use std::sync::Arc;

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
///
/// A key's value holds it unboxed: a clone (a snapshot's copy of its slot) copies a packed
/// buffer (at most 8 KiB) and shares a deque until a write copies it.
#[derive(Debug, Clone, Default)]
pub struct List {
    form: Form,
}

/// Where the elements live: packed while the list is a listpack, in a deque while it is
/// a quicklist (the form changes exactly when the reported encoding does).
#[derive(Debug, Clone)]
enum Form {
    /// `[length, 2 bytes LE][element][length again]` per element, head first, in one
    /// buffer of exactly that size: a listpack holds at most 8 KiB, so a length fits two
    /// bytes, and the trailing copy lets RPOP find the tail without walking (a queue's
    /// LPUSH + RPOP). `size` is the sum of [`packed_size`], at most 8 KiB here too.
    Packed {
        buf: super::PackedBuf,
        len: u32,
        size: u16,
    },
    Deque(Arc<Deque>),
}

/// The quicklist form.
#[derive(Debug, Clone)]
struct Deque {
    items: VecDeque<Bytes>,
    /// Sum of [`packed_size`] over the elements (without the listpack overhead).
    packed: usize,
}

impl Default for Form {
    fn default() -> Self {
        Form::Packed { buf: super::PackedBuf::default(), len: 0, size: 0 }
    }
}

// Anything longer than a listpack's limit makes a quicklist before it is stored.
const _: () = assert!(LISTPACK_MAX_BYTES <= u16::MAX as usize);

/// The elements of a packed buffer with their byte ranges (length included), in order.
fn packed_elements(buf: &[u8]) -> impl Iterator<Item = (&[u8], Range<usize>)> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let (element, tail) = tail.split_at_checked(usize::from(u16::from_le_bytes(*len)))?;
        let tail = tail.get(2..)?;
        let start = buf.len() - rest.len();
        rest = tail;
        Some((element, start..buf.len() - tail.len()))
    })
}

/// The last element of a packed buffer and its byte range, found from the end.
fn packed_last(buf: &[u8]) -> Option<(&[u8], Range<usize>)> {
    let (rest, len) = buf.split_last_chunk::<2>()?;
    let start = rest.len().checked_sub(usize::from(u16::from_le_bytes(*len)))?;
    Some((&rest[start..], start.checked_sub(2)?..buf.len()))
}

/// Bytes a packed entry adds to its element.
const PACKED_ENTRY_OVERHEAD: usize = 4;

/// `element` as a packed entry.
fn packed_entry(element: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let len = (element.len() as u16).to_le_bytes();
    len.into_iter().chain(element.iter().copied()).chain(len)
}

/// Equality is about content; the encoding follows from the history.
impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// Elements of a list (see [`List::iter`]).
pub enum Iter<'a> {
    Packed(PackedIter<'a>),
    Deque(std::collections::vec_deque::Iter<'a, Bytes>),
}

/// The elements of a packed buffer, walked from either end (each entry's trailing
/// length finds the one before it), without collecting them first.
pub struct PackedIter<'a> {
    /// The entries not yet walked.
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (element, range) = packed_elements(self.rest).next()?;
        self.rest = self.rest.get(range.end..)?;
        self.remaining -= 1;
        Some(element)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for PackedIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let (element, range) = packed_last(self.rest)?;
        self.rest = self.rest.get(..range.start)?;
        self.remaining -= 1;
        Some(element)
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Iter::Packed(elements) => elements.next(),
            Iter::Deque(elements) => elements.next().map(|e| &e[..]),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Packed(elements) => elements.size_hint(),
            Iter::Deque(elements) => elements.size_hint(),
        }
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(elements) => elements.next_back(),
            Iter::Deque(elements) => elements.next_back().map(|e| &e[..]),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl List {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Packed { len, .. } => *len as usize,
            Form::Deque(d) => d.items.len(),
        }
    }

    /// Whether there are no elements (an empty collection is never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` reports, following Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        match &self.form {
            Form::Packed { .. } => "listpack",
            Form::Deque(_) => "quicklist",
        }
    }

    /// The size the elements would take as one listpack (what the encoding follows).
    pub fn listpack_bytes(&self) -> usize {
        LISTPACK_OVERHEAD + self.packed()
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.form {
            Form::Packed { buf, .. } => buf.len(),
            Form::Deque(d) => {
                d.items.capacity() * std::mem::size_of::<Bytes>()
                    + d.items.iter().map(Bytes::len).sum::<usize>()
            }
        }
    }

    /// Feeds the content to `out` in a canonical order (DEBUG DIGEST, replay tests):
    /// equal values must feed equal bytes whatever their history.
    pub fn digest(&self, out: &mut dyn FnMut(&[u8])) {
        for item in self.iter() {
            out(&(item.len() as u64).to_le_bytes());
            out(item);
        }
    }

    /// Sum of [`packed_size`] over the elements.
    fn packed(&self) -> usize {
        match &self.form {
            Form::Packed { size, .. } => usize::from(*size),
            Form::Deque(d) => d.packed,
        }
    }

    /// Records the elements' new [`packed_size`] sum, becoming a quicklist (a deque) once
    /// past a listpack's limit. Called before an element that grows the list is stored,
    /// so nothing too long for the packed form is ever written to it.
    fn set_packed(&mut self, packed: usize) {
        match &mut self.form {
            Form::Packed { size, .. } if LISTPACK_OVERHEAD + packed <= LISTPACK_MAX_BYTES => {
                *size = packed as u16;
            }
            Form::Packed { buf, .. } => {
                let items = packed_elements(buf).map(|(e, _)| Bytes::copy_from_slice(e)).collect();
                self.form = Form::Deque(Arc::new(Deque { items, packed }));
            }
            Form::Deque(d) => Arc::make_mut(d).packed = packed,
        }
    }

    /// Becomes a listpack (packed) again once at half a listpack's limit.
    fn shrank(&mut self) {
        let Form::Deque(d) = &self.form else { return };
        if LISTPACK_OVERHEAD + d.packed > LISTPACK_SHRINK_BYTES {
            return;
        }
        let mut buf =
            Vec::with_capacity(d.items.iter().map(|e| PACKED_ENTRY_OVERHEAD + e.len()).sum());
        for e in &d.items {
            buf.extend(packed_entry(e));
        }
        let (len, size) = (d.items.len() as u32, d.packed as u16);
        self.form = Form::Packed { buf: buf.into(), len, size };
    }

    /// Adds a copy of `value` at `end`.
    pub fn push(&mut self, end: End, value: &[u8]) {
        self.set_packed(self.packed() + packed_size(value));
        match &mut self.form {
            Form::Packed { buf, len, .. } => {
                let at = match end {
                    End::Left => 0,
                    End::Right => buf.len(),
                };
                buf.edit(|buf| {
                    buf.reserve_exact(PACKED_ENTRY_OVERHEAD + value.len());
                    buf.splice(at..at, packed_entry(value));
                });
                *len += 1;
            }
            Form::Deque(d) => {
                let value = Bytes::copy_from_slice(value);
                match end {
                    End::Left => Arc::make_mut(d).items.push_front(value),
                    End::Right => Arc::make_mut(d).items.push_back(value),
                }
            }
        }
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let value = match &mut self.form {
            Form::Packed { buf, len, .. } => {
                let (element, bytes) = match end {
                    End::Left => packed_elements(buf).next()?,
                    End::Right => packed_last(buf)?,
                };
                let value = Bytes::copy_from_slice(element);
                buf.edit(|buf| buf.drain(bytes).for_each(drop));
                *len -= 1;
                value
            }
            Form::Deque(d) if d.items.is_empty() => return None,
            Form::Deque(d) => match end {
                End::Left => Arc::make_mut(d).items.pop_front(),
                End::Right => Arc::make_mut(d).items.pop_back(),
            }?,
        };
        self.set_packed(self.packed() - packed_size(&value));
        self.shrank();
        Some(value)
    }

    /// The element at `index` (0 = head).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        match &self.form {
            Form::Packed { buf, .. } => packed_elements(buf).nth(index).map(|(e, _)| e),
            Form::Deque(d) => d.items.get(index).map(|e| &e[..]),
        }
    }

    /// Replaces the element at `index`; false if out of range.
    pub fn set(&mut self, index: usize, value: &[u8]) -> bool {
        let Some(old) = self.get(index) else { return false };
        let packed = self.packed() - packed_size(old) + packed_size(value);
        self.set_packed(packed);
        match &mut self.form {
            Form::Packed { buf, .. } => {
                let found = packed_elements(buf).nth(index).map(|(_, bytes)| bytes);
                if let Some(bytes) = found {
                    buf.edit(|buf| buf.splice(bytes, packed_entry(value)).for_each(drop));
                }
            }
            Form::Deque(d) => {
                if let Some(slot) = Arc::make_mut(d).items.get_mut(index) {
                    *slot = Bytes::copy_from_slice(value);
                }
            }
        }
        self.shrank();
        true
    }

    /// Elements from head to tail.
    pub fn iter(&self) -> Iter<'_> {
        match &self.form {
            Form::Packed { buf, len, .. } => {
                Iter::Packed(PackedIter { rest: buf, remaining: *len as usize })
            }
            Form::Deque(d) => Iter::Deque(d.items.iter()),
        }
    }

    /// Elements `start..=stop` (indexes already resolved and in range).
    pub fn range(&self, start: usize, stop: usize) -> impl Iterator<Item = &[u8]> {
        let count = stop.min(self.len().saturating_sub(1)).saturating_add(1).saturating_sub(start);
        let walk: Box<dyn Iterator<Item = &[u8]>> = match &self.form {
            Form::Packed { buf, .. } => Box::new(packed_elements(buf).map(|(e, _)| e).skip(start)),
            Form::Deque(d) => Box::new(d.items.range(start.min(d.items.len())..).map(|e| &e[..])),
        };
        walk.take(count)
    }

    /// Inserts `value` before (or after) the first element equal to `pivot`. Returns the
    /// new length, or `None` if `pivot` is absent (nothing changes).
    pub fn insert(&mut self, pivot: &[u8], after: bool, value: &[u8]) -> Option<usize> {
        let at = self.iter().position(|e| e == pivot)?;
        self.set_packed(self.packed() + packed_size(value));
        let at = if after { at + 1 } else { at };
        match &mut self.form {
            Form::Packed { buf, len, .. } => {
                let offset = packed_elements(buf).nth(at).map_or(buf.len(), |(_, b)| b.start);
                buf.edit(|buf| {
                    buf.reserve_exact(PACKED_ENTRY_OVERHEAD + value.len());
                    buf.splice(offset..offset, packed_entry(value));
                });
                *len += 1;
            }
            Form::Deque(d) => Arc::make_mut(d).items.insert(at, Bytes::copy_from_slice(value)),
        }
        Some(self.len())
    }

    /// Removes elements equal to `value`: the first `count` from the head if `count > 0`,
    /// the last `-count` from the tail if `count < 0`, all if `count == 0`. Returns how
    /// many were removed.
    pub fn remove(&mut self, value: &[u8], count: i64) -> usize {
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
        // Positions to drop, head first.
        let mut matches: Vec<usize> =
            self.iter().enumerate().filter(|(_, e)| *e == value).map(|(i, _)| i).collect();
        if count < 0 {
            matches.drain(..matches.len().saturating_sub(limit));
        } else {
            matches.truncate(limit);
        }
        if matches.is_empty() {
            return 0;
        }
        let removed = matches.len();
        self.set_packed(self.packed() - removed * packed_size(value));
        let mut drop = matches.into_iter().peekable();
        let mut position = 0;
        let mut keep = |_: &[u8]| {
            let dropped = drop.next_if_eq(&position).is_some();
            position += 1;
            !dropped
        };
        match &mut self.form {
            Form::Packed { buf, len, .. } => {
                let kept: Vec<u8> = packed_elements(buf)
                    .filter(|(e, _)| keep(e))
                    .flat_map(|(e, _)| packed_entry(e))
                    .collect();
                *buf = kept.into();
                *len -= removed as u32;
            }
            Form::Deque(d) => Arc::make_mut(d).items.retain(|e| keep(e)),
        }
        self.shrank();
        removed
    }

    /// Keeps only the elements `start..stop` (half-open, indexes resolved); an empty range
    /// empties the list.
    pub fn retain_range(&mut self, start: usize, stop: usize) {
        let stop = stop.min(self.len());
        let start = start.min(stop);
        let dropped: usize = self
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < start || *i >= stop)
            .map(|(_, e)| packed_size(e))
            .sum();
        self.set_packed(self.packed() - dropped);
        match &mut self.form {
            Form::Packed { buf, len, .. } => {
                let kept: Vec<u8> = packed_elements(buf)
                    .skip(start)
                    .take(stop - start)
                    .flat_map(|(e, _)| packed_entry(e))
                    .collect();
                *buf = kept.into();
                *len = (stop - start) as u32;
            }
            Form::Deque(d) => {
                let items = &mut Arc::make_mut(d).items;
                items.truncate(stop);
                items.drain(..start);
            }
        }
        self.shrank();
    }
}

impl FromIterator<Bytes> for List {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        let mut list = List::new();
        for e in iter {
            list.push(End::Right, &e);
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
        l.push(End::Left, &Bytes::from("b"));
        l.push(End::Left, &Bytes::from("a"));
        l.push(End::Right, &Bytes::from("c"));
        assert_eq!(contents(&l), ["a", "b", "c"]);
        assert_eq!(l.range(1, 5).collect::<Vec<_>>(), [b"b", b"c"]);
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

    /// A packed list walks from both ends at once without the two meeting twice.
    #[test]
    fn a_packed_walk_meets_in_the_middle() {
        let l = list(&["a", "bb", "", "ccc"]);
        assert_eq!(l.encoding(), "listpack");
        let mut walk = l.iter();
        assert_eq!(walk.len(), 4);
        assert_eq!(walk.next_back(), Some(&b"ccc"[..]));
        assert_eq!(walk.next(), Some(&b"a"[..]));
        assert_eq!(walk.len(), 2);
        assert_eq!(walk.next_back(), Some(&b""[..]));
        assert_eq!(walk.next(), Some(&b"bb"[..]));
        assert_eq!((walk.next(), walk.next_back(), walk.len()), (None, None, 0));
    }

    #[test]
    fn insert_finds_the_first_pivot() {
        let mut l = list(&["a", "b", "a"]);
        assert_eq!(l.insert(b"a", true, &Bytes::from("x")), Some(4));
        assert_eq!(contents(&l), ["a", "x", "b", "a"]);
        assert_eq!(l.insert(b"zz", false, &Bytes::from("y")), None);
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
            l.push(End::Right, &[b'x'; 60]);
        }
        assert_eq!(l.encoding(), "listpack");
        l.push(End::Right, &[b'x'; 2000]);
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
                        if left { l.push(End::Left, &elem(v)); model.insert(0, elem(v)); }
                        else { l.push(End::Right, &elem(v)); model.push(elem(v)); }
                    }
                    Op::Pop(left) => {
                        let want = if model.is_empty() { None }
                            else if left { Some(model.remove(0)) } else { model.pop() };
                        prop_assert_eq!(l.pop(if left { End::Left } else { End::Right }), want);
                    }
                    Op::Set(i, v) => {
                        let at = resolve_index(i, model.len());
                        prop_assert_eq!(l.set(at.unwrap_or(usize::MAX), &elem(v)), at.is_some());
                        if let Some(at) = at { model[at] = elem(v); }
                    }
                    Op::Insert(p, after, v) => {
                        let pivot = elem(p);
                        let at = model.iter().position(|e| *e == pivot);
                        let got = l.insert(&pivot, after, &elem(v));
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
                prop_assert_eq!(l.iter().map(Bytes::copy_from_slice).collect::<Vec<_>>(), model.clone());
                prop_assert_eq!(l.packed(), model.iter().map(|e| packed_size(e)).sum::<usize>());
                let back: Vec<&[u8]> = l.iter().rev().collect();
                prop_assert!(back.iter().eq(model.iter().rev().map(|e| &e[..]).collect::<Vec<_>>().iter()));
                for (i, e) in model.iter().enumerate() {
                    prop_assert_eq!(l.get(i), Some(&e[..]));
                    let tail: Vec<&[u8]> = l.range(i, model.len() - 1).collect();
                    prop_assert_eq!(tail.len(), model.len() - i);
                }
                prop_assert_eq!(l.get(model.len()), None);
            }
        }
    }
}
