//! A set of unique members whose iteration order is a function of the operations applied,
//! so replicas that apply the same log agree on it (SPOP picks by index with the entry's
//! seed; SORT BY nosort and SMEMBERS list members in this order).
//!
//! ```text
//!   members: [ "a" | "b" | "c" | "d" ]      dense, the iteration order
//!   index:   hash(member) -> position        lookups only; never iterated
//! ```
//!
//! The layout mirrors Redis's three encodings, and the encoding decides how order moves:
//!
//! - `intset` (only canonical 64-bit integers, at most 512): members kept sorted by value,
//!   as Redis's intset keeps them; removal shifts.
//! - `listpack` (at most 128 members of at most 64 bytes): insertion order; removal shifts.
//! - `hashtable`: insertion order with swap-remove (O(1)): the last member fills the hole.
//!
//! Conversions follow Redis's rules and, as in Redis, only go up (intset -> listpack ->
//! hashtable), except SPOP with a large count, which rebuilds what remains (see
//! [`Set::pop_random`]).
//!
//! Scanning a hashtable-encoded set walks positions from the end towards the start (see
//! [`Set::scan`]); small encodings are returned whole, as Redis returns them.
//!
//! A pure data structure: no keyspace, no protocol, no clock.

use std::fmt;
use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::resp::decode::parse_i64;
use crate::rng::Rng;

/// `set-max-intset-entries` (Redis's default).
pub const MAX_INTSET_ENTRIES: usize = 512;
/// `set-max-listpack-entries` (Redis's default).
pub const MAX_LISTPACK_ENTRIES: usize = 128;
/// `set-max-listpack-value` (Redis's default).
pub const MAX_LISTPACK_VALUE: usize = 64;

/// SPOP with a count rebuilds the set from what remains when
/// `remaining * SPOP_REBUILD_FACTOR <= count` (Redis's "case 3").
const SPOP_REBUILD_FACTOR: usize = 5;

/// Redis's set encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Intset,
    Listpack,
    Hashtable,
}

impl Encoding {
    /// The name `OBJECT ENCODING` reports.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Intset => "intset",
            Encoding::Listpack => "listpack",
            Encoding::Hashtable => "hashtable",
        }
    }
}

/// A set of unique members (see the module docs for the order guarantees).
///
/// A key's value holds it unboxed: a clone (a snapshot's copy of its slot) copies a packed
/// buffer (small by construction) and shares a hashtable until a write copies it.
#[derive(Clone)]
pub struct Set {
    form: Form,
}

#[derive(Clone)]
enum Form {
    /// `intset` (`sorted`) or `listpack`: `[length][member]` per member in iteration
    /// order, in one buffer of exactly that size. Members are at most 64 bytes (an
    /// intset's at most 20), so a length fits a byte.
    Packed { buf: super::PackedBuf, len: u16, sorted: bool },
    /// `hashtable`, shared with a snapshot in progress until a write copies it.
    Table(Arc<Table>),
}

// Every packed member's length fits its byte, and a packed set's count its counter.
const _: () = assert!(MAX_LISTPACK_VALUE <= u8::MAX as usize);
const _: () = assert!(MAX_INTSET_ENTRIES <= u16::MAX as usize);

/// The hashtable encoding: members in iteration order, found by hash.
#[derive(Clone, Default)]
struct Table {
    /// Each member's own copy, as a boxed slice (16 bytes where a `Bytes` takes 32).
    members: Vec<Box<[u8]>>,
    /// Positions into `members`, keyed by the member's hash.
    index: HashTable<usize>,
    hasher: DefaultHashBuilder,
}

impl Default for Set {
    fn default() -> Self {
        Set::new()
    }
}

impl fmt::Debug for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Set")
            .field("encoding", &self.encoding_kind())
            .field("members", &self.iter().map(Bytes::copy_from_slice).collect::<Vec<_>>())
            .finish()
    }
}

/// Equal content, whatever the order or encoding.
impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains(m))
    }
}

fn is_int(member: &[u8]) -> bool {
    parse_i64(member).is_some()
}

/// Members of a set in iteration order (see [`Set::iter`]).
pub struct Iter<'a> {
    walk: Walk<'a>,
    remaining: usize,
}

enum Walk<'a> {
    /// The rest of a packed buffer.
    Packed(&'a [u8]),
    Table(std::slice::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let next = match &mut self.walk {
            Walk::Packed(rest) => {
                let (member, tail) = split_member(rest)?;
                *rest = tail;
                Some(member)
            }
            Walk::Table(members) => members.next().map(|m| &m[..]),
        };
        self.remaining = self.remaining.saturating_sub(usize::from(next.is_some()));
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The first member of a packed buffer and the rest after it; `None` at the end.
fn split_member(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = buf.split_first()?;
    rest.split_at_checked(usize::from(len))
}

/// Walks a packed buffer to the first member for which `stop` holds; returns its entry's
/// bytes (length byte included).
fn packed_find(buf: &[u8], mut stop: impl FnMut(&[u8]) -> bool) -> Option<Range<usize>> {
    let mut rest = buf;
    while let Some((member, tail)) = split_member(rest) {
        if stop(member) {
            let end = buf.len() - tail.len();
            return Some(end - member.len() - 1..end);
        }
        rest = tail;
    }
    None
}

impl Set {
    /// An empty set, encoded as an intset (as Redis starts the destination of
    /// SINTERSTORE, SUNIONSTORE and SDIFFSTORE).
    pub fn new() -> Set {
        Set { form: Form::Packed { buf: super::PackedBuf::default(), len: 0, sorted: true } }
    }

    fn empty(encoding: Encoding) -> Set {
        let form = match encoding {
            Encoding::Intset => {
                Form::Packed { buf: super::PackedBuf::default(), len: 0, sorted: true }
            }
            Encoding::Listpack => {
                Form::Packed { buf: super::PackedBuf::default(), len: 0, sorted: false }
            }
            Encoding::Hashtable => Form::Table(Arc::default()),
        };
        Set { form }
    }

    /// An empty set ready for `first` and about `hint` members in all (SADD on a missing
    /// key): the encoding Redis picks from the first member and the argument count.
    pub fn for_first(first: &[u8], hint: usize) -> Set {
        Set::empty(if is_int(first) && hint <= MAX_INTSET_ENTRIES {
            Encoding::Intset
        } else if hint <= MAX_LISTPACK_ENTRIES && first.len() <= MAX_LISTPACK_VALUE {
            Encoding::Listpack
        } else {
            Encoding::Hashtable
        })
    }

    /// A set holding `members` (duplicates collapse), built as Redis builds a stored
    /// result: starting as an intset and converting as members arrive.
    pub fn from_members<M: AsRef<[u8]>>(members: impl IntoIterator<Item = M>) -> Set {
        let mut set = Set::new();
        for m in members {
            set.insert(m.as_ref());
        }
        set
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Packed { len, .. } => usize::from(*len),
            Form::Table(t) => t.members.len(),
        }
    }

    /// Whether there are no members (an empty set is never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current encoding.
    pub fn encoding_kind(&self) -> Encoding {
        match &self.form {
            Form::Packed { sorted: true, .. } => Encoding::Intset,
            Form::Packed { sorted: false, .. } => Encoding::Listpack,
            Form::Table(_) => Encoding::Hashtable,
        }
    }

    /// The name `OBJECT ENCODING` reports, following Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        self.encoding_kind().name()
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.form {
            Form::Packed { buf, .. } => buf.len(),
            Form::Table(t) => {
                let per_member = std::mem::size_of::<Bytes>() + std::mem::size_of::<usize>() + 1;
                let content: usize = t.members.iter().map(|m| m.len()).sum();
                std::mem::size_of::<Table>() + content + t.members.len() * per_member
            }
        }
    }

    /// Feeds the content to `out` in a canonical order (DEBUG DIGEST, replay tests):
    /// equal values must feed equal bytes whatever their history.
    pub fn digest(&self, out: &mut dyn FnMut(&[u8])) {
        let mut sorted: Vec<&[u8]> = self.iter().collect();
        sorted.sort_unstable();
        for m in sorted {
            out(&(m.len() as u64).to_le_bytes());
            out(m);
        }
    }

    /// Members in iteration order.
    pub fn iter(&self) -> Iter<'_> {
        let walk = match &self.form {
            Form::Packed { buf, .. } => Walk::Packed(buf),
            Form::Table(t) => Walk::Table(t.members.iter()),
        };
        Iter { walk, remaining: self.len() }
    }

    /// The member at position `i` of the iteration order (a packed set walks to it;
    /// [`Set::members_at`] serves many positions).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match &self.form {
            Form::Packed { .. } => self.iter().nth(i),
            Form::Table(t) => t.members.get(i).map(|m| &m[..]),
        }
    }

    /// The members at `positions` (each `< len`), in that order.
    pub fn members_at(&self, positions: &[usize]) -> Vec<&[u8]> {
        match &self.form {
            Form::Packed { .. } => {
                let all: Vec<&[u8]> = self.iter().collect();
                positions.iter().filter_map(|&i| all.get(i).copied()).collect()
            }
            Form::Table(t) => {
                positions.iter().filter_map(|&i| t.members.get(i)).map(|m| &m[..]).collect()
            }
        }
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.form {
            Form::Packed { sorted: true, .. } if !is_int(member) => false,
            Form::Packed { buf, .. } => packed_find(buf, |m| m == member).is_some(),
            Form::Table(t) => t.position(member).is_some(),
        }
    }

    /// Prepares for `incoming` more members (SADD on an existing key): Redis converts a
    /// small encoding up front when the argument count alone would overflow it.
    pub fn reserve_for(&mut self, incoming: usize) {
        let total = self.len().saturating_add(incoming);
        let limit = match self.encoding_kind() {
            Encoding::Intset => MAX_INTSET_ENTRIES,
            Encoding::Listpack => MAX_LISTPACK_ENTRIES,
            Encoding::Hashtable => return,
        };
        if total > limit {
            self.table_mut().members.reserve(incoming.min(1 << 16));
        }
    }

    /// Adds `member` (the set stores its own copy); returns whether it was new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        let new_len = self.len() + 1;
        match &mut self.form {
            Form::Packed { buf, len, sorted } => {
                let fits_listpack =
                    new_len <= MAX_LISTPACK_ENTRIES && member.len() <= MAX_LISTPACK_VALUE;
                let at = match (*sorted, parse_i64(member)) {
                    (true, Some(value)) if new_len <= MAX_INTSET_ENTRIES => {
                        // Keep the intset sorted by value, as Redis does.
                        let mut present = false;
                        let at = packed_find(buf, |m| {
                            let existing = parse_i64(m).unwrap_or(i64::MIN);
                            present = existing == value;
                            existing >= value
                        });
                        if present {
                            return false;
                        }
                        Some(at.map_or(buf.len(), |at| at.start))
                    }
                    // Not an integer, so not a member: the intset becomes a listpack in
                    // the same order.
                    (true, None) if fits_listpack => {
                        *sorted = false;
                        Some(buf.len())
                    }
                    (false, _) if packed_find(buf, |m| m == member).is_some() => return false,
                    (false, _) if fits_listpack => Some(buf.len()),
                    _ => None,
                };
                if let Some(offset) = at {
                    buf.edit(|buf| packed_insert(buf, offset, member));
                    *len += 1;
                    return true;
                }
            }
            Form::Table(t) => return Arc::make_mut(t).insert(member),
        }
        // Past the packed form's limits: the hashtable takes it.
        !self.contains(member) && self.table_mut().insert(member)
    }

    /// The hashtable form, converting a packed set (keeping its order).
    fn table_mut(&mut self) -> &mut Table {
        if let Form::Packed { buf, len, .. } = &self.form {
            let mut t = Table::default();
            t.members.reserve(usize::from(*len) + 1);
            for m in (Iter { walk: Walk::Packed(buf), remaining: usize::from(*len) }) {
                t.insert(m);
            }
            self.form = Form::Table(Arc::new(t));
        }
        match &mut self.form {
            Form::Table(t) => Arc::make_mut(t),
            Form::Packed { .. } => unreachable!("converted above"),
        }
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.form {
            Form::Packed { buf, len, .. } => match packed_find(buf, |m| m == member) {
                Some(found) => {
                    packed_remove(buf, found);
                    *len -= 1;
                    true
                }
                None => false,
            },
            Form::Table(t) => match t.position(member) {
                Some(i) => {
                    Arc::make_mut(t).remove_at(i);
                    true
                }
                None => false,
            },
        }
    }

    /// Removes and returns the member at position `i` (`i < len`).
    pub fn remove_at(&mut self, i: usize) -> Bytes {
        match &mut self.form {
            Form::Packed { buf, len, .. } => {
                let mut pos = 0;
                let Some(found) = packed_find(buf, |_| {
                    pos += 1;
                    pos > i
                }) else {
                    return Bytes::new();
                };
                let member = Bytes::copy_from_slice(&buf[found.start + 1..found.end]);
                packed_remove(buf, found);
                *len -= 1;
                member
            }
            Form::Table(t) => Bytes::from(Arc::make_mut(t).remove_at(i)),
        }
    }

    /// Removes up to `count` members chosen by `rng` and returns them in the order they
    /// were picked. As Redis, when few members remain (`remaining * 5 <= count`) a
    /// hashtable-encoded set is rebuilt from what remains, which can make it a listpack.
    pub fn pop_random(&mut self, rng: &mut Rng, count: usize) -> Vec<Bytes> {
        let count = count.min(self.len());
        let remaining = self.len() - count;
        let mut popped = Vec::with_capacity(count);
        for _ in 0..count {
            let i = rng.below(self.len() as u64) as usize;
            popped.push(self.remove_at(i));
        }
        let rebuilt = remaining > 0 && remaining * SPOP_REBUILD_FACTOR <= count;
        if let Form::Table(t) = &self.form {
            if rebuilt
                && remaining <= MAX_LISTPACK_ENTRIES
                && t.members.iter().all(|m| m.len() <= MAX_LISTPACK_VALUE)
            {
                let mut buf = Vec::with_capacity(t.members.iter().map(|m| 1 + m.len()).sum());
                for m in &t.members {
                    let end = buf.len();
                    packed_insert(&mut buf, end, m);
                }
                self.form = Form::Packed { buf: buf.into(), len: remaining as u16, sorted: false };
            }
        }
        popped
    }

    /// One step of SSCAN: `(next cursor, members to examine)`; cursor 0 starts and ends.
    ///
    /// Small encodings are returned whole (as Redis does). A hashtable walks positions
    /// downwards: the cursor is the number of positions not yet visited, `[0, cursor)`.
    /// Additions go to the end (already visited region) and a removal fills its hole with
    /// the last member, which only moves a member from the visited region into the
    /// unvisited one (returned twice, which SCAN allows) or within a region. So a member
    /// present for the whole scan is always returned.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<&[u8]>) {
        let Form::Table(t) = &self.form else { return (0, self.iter().collect()) };
        let len = t.members.len();
        let end = match usize::try_from(cursor) {
            Ok(0) => len,
            Ok(c) => c.min(len),
            Err(_) => len,
        };
        let start = end.saturating_sub(count.max(1));
        (start as u64, t.members[start..end].iter().map(|m| &m[..]).collect())
    }

    /// Whether both share one hashtable (nothing was copied; tests).
    #[cfg(test)]
    pub fn shares_table(a: &Set, b: &Set) -> bool {
        matches!((&a.form, &b.form), (Form::Table(x), Form::Table(y)) if Arc::ptr_eq(x, y))
    }

    /// Checks the internal invariants (tests).
    #[cfg(test)]
    fn check(&self) {
        assert_eq!(self.iter().count(), self.len());
        if let Form::Table(t) = &self.form {
            assert_eq!(t.index.len(), t.members.len());
            for (i, m) in t.members.iter().enumerate() {
                assert_eq!(t.position(m), Some(i), "index of {m:?}");
            }
        }
        match self.encoding_kind() {
            Encoding::Intset => {
                assert!(self.len() <= MAX_INTSET_ENTRIES);
                let values: Vec<i64> =
                    self.iter().map(|m| parse_i64(m).expect("integer")).collect();
                assert!(values.windows(2).all(|w| w[0] < w[1]), "intset sorted");
            }
            Encoding::Listpack => assert!(self.len() <= MAX_LISTPACK_ENTRIES),
            Encoding::Hashtable => {}
        }
    }
}

/// Inserts `member` as a packed entry at byte `offset`, growing the buffer exactly.
fn packed_insert(buf: &mut Vec<u8>, offset: usize, member: &[u8]) {
    buf.reserve_exact(1 + member.len());
    let entry = std::iter::once(member.len() as u8).chain(member.iter().copied());
    buf.splice(offset..offset, entry);
}

/// Removes the packed entry at `bytes`.
fn packed_remove(buf: &mut super::PackedBuf, bytes: Range<usize>) {
    buf.edit(|buf| buf.drain(bytes).for_each(drop));
}

impl Table {
    fn position(&self, member: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(member);
        self.index.find(hash, |&i| self.members[i][..] == *member).copied()
    }

    fn insert(&mut self, member: &[u8]) -> bool {
        if self.position(member).is_some() {
            return false;
        }
        let hash = self.hasher.hash_one(member);
        let at = self.members.len();
        self.members.push(Box::from(member));
        let Table { members, index, hasher } = self;
        index.insert_unique(hash, at, |&i| hasher.hash_one(&members[i][..]));
        true
    }

    /// Removes position `i`, moving the last member into the hole (O(1)).
    fn remove_at(&mut self, i: usize) -> Box<[u8]> {
        let hash = self.hasher.hash_one(&self.members[i][..]);
        if let Ok(entry) = self.index.find_entry(hash, |&p| p == i) {
            entry.remove();
        }
        let removed = self.members.swap_remove(i);
        if i < self.members.len() {
            // The former last member now lives at `i`.
            let moved_from = self.members.len();
            let hash = self.hasher.hash_one(&self.members[i][..]);
            if let Some(p) = self.index.find_mut(hash, |&p| p == moved_from) {
                *p = i;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::{prop_assert, prop_assert_eq, prop_oneof, proptest, Strategy};

    use super::*;
    use crate::rng::Rng;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    fn members(set: &Set) -> Vec<String> {
        set.iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect()
    }

    #[test]
    fn integers_stay_sorted_in_an_intset() {
        let mut s = Set::new();
        for m in ["5", "3", "1", "4", "-2"] {
            assert!(s.insert(&b(m)));
        }
        assert!(!s.insert(&b("3")));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(members(&s), ["-2", "1", "3", "4", "5"]);
        assert!(s.remove(b"3"));
        assert_eq!(members(&s), ["-2", "1", "4", "5"]);
        s.check();
    }

    #[test]
    fn a_non_integer_turns_a_small_intset_into_a_listpack_keeping_order() {
        let mut s = Set::from_members([b("3"), b("1")]);
        s.insert(&b("a"));
        assert_eq!(s.encoding(), "listpack");
        assert_eq!(members(&s), ["1", "3", "a"]);
        s.insert(&b("0"));
        assert_eq!(members(&s), ["1", "3", "a", "0"]);
        s.check();
    }

    #[test]
    fn non_canonical_integers_are_not_intset_members() {
        for m in ["01", "+1", " 1", "-0", "9223372036854775808"] {
            assert_eq!(Set::from_members([b(m)]).encoding(), "listpack", "{m}");
        }
    }

    #[test]
    fn thresholds_follow_redis() {
        let mut s = Set::from_members((0..512).map(|i| b(&i.to_string())));
        assert_eq!(s.encoding(), "intset");
        s.insert(&b("512"));
        assert_eq!(s.encoding(), "hashtable");

        let mut s = Set::from_members((0..130).map(|i| b(&i.to_string())));
        s.insert(&b("a"));
        assert_eq!(s.encoding(), "hashtable");

        let mut s = Set::from_members((0..128).map(|i| b(&format!("m{i}"))));
        assert_eq!(s.encoding(), "listpack");
        s.insert(&b("b"));
        assert_eq!(s.encoding(), "hashtable");

        let mut s = Set::from_members([b("a")]);
        s.insert(&[b'x'; 65]);
        assert_eq!(s.encoding(), "hashtable");
        s.check();
    }

    #[test]
    fn creation_and_reservation_use_the_argument_count() {
        assert_eq!(Set::for_first(b"1", 600).encoding(), "hashtable");
        assert_eq!(Set::for_first(b"1", 300).encoding(), "intset");
        assert_eq!(Set::for_first(b"a", 200).encoding(), "hashtable");
        assert_eq!(Set::for_first(b"a", 100).encoding(), "listpack");
        let mut s = Set::from_members([b("x")]);
        s.reserve_for(200);
        assert_eq!(s.encoding(), "hashtable");
        let mut s = Set::from_members([b("1")]);
        s.reserve_for(200);
        assert_eq!(s.encoding(), "intset");
    }

    #[test]
    fn listpack_removal_keeps_insertion_order() {
        let mut s = Set::from_members([b("c"), b("a"), b("b")]);
        s.remove(b"a");
        s.insert(&b("a"));
        assert_eq!(members(&s), ["c", "b", "a"]);
    }

    #[test]
    fn hashtable_removal_moves_the_last_member_into_the_hole() {
        let mut s = Set::from_members((0..200).map(|i| b(&format!("m{i}"))));
        assert_eq!(s.encoding(), "hashtable");
        s.remove(b"m0");
        assert_eq!(s.get(0), Some(&b"m199"[..]));
        s.check();
    }

    #[test]
    fn spop_is_a_function_of_the_seed() {
        let base = Set::from_members((0..300).map(|i| b(&format!("m{i}"))));
        let (mut a, mut c) = (base.clone(), base.clone());
        let pa = a.pop_random(&mut Rng::new(42), 17);
        let pc = c.pop_random(&mut Rng::new(42), 17);
        assert_eq!(pa, pc);
        assert_eq!(members(&a), members(&c));
        assert_eq!(a.len(), 283);
        a.check();
    }

    #[test]
    fn spop_of_almost_everything_rebuilds_a_small_listpack() {
        let mut s = Set::from_members((0..201).map(|i| b(&format!("m{i}"))));
        s.pop_random(&mut Rng::new(1), 170);
        assert_eq!((s.len(), s.encoding()), (31, "listpack"));
        let mut s = Set::from_members((0..301).map(|i| b(&format!("m{i}"))));
        s.pop_random(&mut Rng::new(1), 200);
        assert_eq!((s.len(), s.encoding()), (101, "hashtable"));
        let mut s = Set::from_members((0..20).map(|i| b(&i.to_string())));
        s.pop_random(&mut Rng::new(1), 18);
        assert_eq!(s.encoding(), "intset");
        s.check();
    }

    #[test]
    fn equality_ignores_order_and_digest_is_canonical() {
        let a = Set::from_members([b("x"), b("y")]);
        let c = Set::from_members([b("y"), b("x")]);
        assert_eq!(a, c);
        let (mut da, mut dc) = (Vec::new(), Vec::new());
        a.digest(&mut |x| da.extend_from_slice(x));
        c.digest(&mut |x| dc.extend_from_slice(x));
        assert_eq!(da, dc);
        assert_ne!(a, Set::from_members([b("x")]));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u16),
        AddText(u16),
        Remove(u16),
        Pop(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u16..700).prop_map(Op::Add),
            1 => (0u16..200).prop_map(Op::AddText),
            3 => (0u16..700).prop_map(Op::Remove),
            1 => (0u8..40).prop_map(Op::Pop),
        ]
    }

    fn apply(set: &mut Set, model: &mut BTreeSet<Bytes>, op: &Op, rng: &mut Rng) {
        match op {
            Op::Add(n) => {
                let m = b(&n.to_string());
                assert_eq!(set.insert(&m), model.insert(m));
            }
            Op::AddText(n) => {
                let m = b(&format!("t{n}"));
                assert_eq!(set.insert(&m), model.insert(m));
            }
            Op::Remove(n) => {
                let m = b(&n.to_string());
                assert_eq!(set.remove(&m), model.remove(&m));
            }
            Op::Pop(k) => {
                for m in set.pop_random(rng, usize::from(*k)) {
                    assert!(model.remove(&m));
                }
            }
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec(op(), 0..1000)) {
            let (mut set, mut model, mut rng) = (Set::new(), BTreeSet::new(), Rng::new(7));
            for op in &ops {
                apply(&mut set, &mut model, op, &mut rng);
            }
            set.check();
            let got: BTreeSet<Bytes> = set.iter().map(Bytes::copy_from_slice).collect();
            prop_assert_eq!(got, model);
        }

        #[test]
        fn a_scan_returns_every_member_present_throughout(
            initial in 150u16..600,
            ops in proptest::collection::vec(op(), 0..400),
            count in 1usize..40,
        ) {
            let mut set = Set::from_members((0..initial).map(|i| b(&format!("t{i}"))));
            let mut model: BTreeSet<Bytes> = set.iter().map(Bytes::copy_from_slice).collect();
            let mut always = model.clone();
            let mut seen = BTreeSet::new();
            let (mut rng, mut cursor, mut ops) = (Rng::new(3), 0u64, ops.into_iter());
            loop {
                let (next, batch) = set.scan(cursor, count);
                seen.extend(batch.iter().map(|m| Bytes::copy_from_slice(m)));
                cursor = next;
                if cursor == 0 {
                    break;
                }
                if let Some(op) = ops.next() {
                    apply(&mut set, &mut model, &op, &mut rng);
                    always.retain(|m| model.contains(m));
                }
            }
            prop_assert!(always.is_subset(&seen));
        }
    }
}
