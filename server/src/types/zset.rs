//! A sorted set: members ordered by (score, member), with O(log N) rank.
//!
//! Two indexes over the same members:
//!
//! ```text
//!   index:  member -> node             O(1) ZSCORE, membership (the node has both)
//!   tree:   treap over (score, member) O(log N) insert, remove, rank, select,
//!           with subtree sizes          range bounds by score or by member
//! ```
//!
//! The treap lives in an arena (`Vec<Node>`, `u32` links, a free list), so there is no
//! unsafe code and no per-node allocation. Priorities come from a generator inside the set
//! whose state depends only on the operations applied, so the shape (not only the content)
//! is the same on every replica. Nothing iterates `index` (its hasher is randomly
//! seeded): ordered walks go through the tree. A member is stored once, in its node, and
//! the index holds node numbers: a member costs its node, its bytes and about six bytes
//! of index, where a member -> score map would hold a second handle on the bytes.
//!
//! Scores are never NaN (callers reject NaN before inserting); `-0.0` and `0.0` compare
//! equal, as in Redis, and ties are broken by the member's bytes.
//!
//! A pure data structure: no keyspace, no protocol, no clock.

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Redis's `zset-max-listpack-entries` default.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
/// Redis's `zset-max-listpack-value` default.
pub const LISTPACK_MAX_VALUE: usize = 64;

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    score: f64,
    /// The member's bytes, owned by the node alone (16 bytes here, not a 32-byte `Bytes`).
    member: Box<[u8]>,
    left: u32,
    right: u32,
    size: u32,
    prio: u32,
}

/// The skiplist encoding: the treap and its member index.
#[derive(Debug, Clone, Default)]
struct Tree {
    /// Node numbers, found by their member's hash.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: Root,
    rng: u64,
    member_bytes: usize,
}

/// The root link; a newtype so `Default` gives `NIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Root(u32);

impl Default for Root {
    fn default() -> Self {
        Root(NIL)
    }
}

/// Compares two (score, member) keys in sorted-set order.
pub fn cmp_key(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    match a_score.partial_cmp(&b_score) {
        Some(Ordering::Equal) | None => a_member.cmp(b_member),
        Some(o) => o,
    }
}

/// Result of [`ZSet::insert`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Inserted {
    /// The member is new.
    Added,
    /// The member existed with this old score (which may equal the new one).
    Updated(f64),
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((s1, m1), (s2, m2))| s1.to_bits() == s2.to_bits() && m1 == m2)
    }
}

/// A sorted set: members ordered by (score, member), with O(log N) rank once large.
///
/// A key's value holds it unboxed: a clone (a snapshot's copy of its slot) copies a packed
/// buffer (small by construction) and shares a treap until a write copies it.
#[derive(Debug, Clone)]
pub struct ZSet {
    form: Form,
}

#[derive(Debug, Clone)]
enum Form {
    /// `listpack`: `[score tag][score][member length][member]` per element (the score
    /// as the narrowest integer holding it, else its f64; see [`score_width`]), in
    /// (score, member) order, in one buffer of exactly that size; walked linearly (at
    /// most 128 elements of at most 64 bytes).
    Packed { buf: super::PackedBuf, len: u16 },
    /// `skiplist`; Redis never converts back on removal. Shared with a snapshot in
    /// progress until a write copies it.
    Tree(Arc<Tree>),
}

// A packed member's length fits its byte, and a packed set's count its counter.
const _: () = assert!(LISTPACK_MAX_VALUE <= u8::MAX as usize);
const _: () = assert!(LISTPACK_MAX_ENTRIES <= u16::MAX as usize);

impl Default for ZSet {
    fn default() -> Self {
        ZSet { form: Form::Packed { buf: super::PackedBuf::default(), len: 0 } }
    }
}

/// Widths a packed score takes as an integer, by its tag (the index); tag
/// [`FLOAT_SCORE`] is the f64's eight bytes. Scores are mostly small integers (ranks,
/// counts, seconds): as listpacks store them as integers, one byte holds a score below
/// 128 where the f64 took eight.
const INTEGER_WIDTHS: [usize; 4] = [1, 2, 4, 6];
const FLOAT_SCORE: u8 = INTEGER_WIDTHS.len() as u8;

/// The tag and width `score` packs as: the narrowest integer holding it exactly.
fn score_width(score: f64) -> (u8, usize) {
    let integer = score as i64;
    if integer as f64 == score && score.to_bits() != (-0.0f64).to_bits() {
        for (tag, width) in INTEGER_WIDTHS.iter().enumerate() {
            let bits = 8 * *width as u32;
            if integer >= -(1i64 << (bits - 1)) && integer < 1i64 << (bits - 1) {
                return (tag as u8, *width);
            }
        }
    }
    (FLOAT_SCORE, 8)
}

/// `[tag][score][member length][member]`, as [`packed_elements`] reads it.
fn packed_element(score: f64, member: &[u8]) -> Vec<u8> {
    let (tag, width) = score_width(score);
    let mut out = Vec::with_capacity(2 + width + member.len());
    out.push(tag);
    match tag {
        FLOAT_SCORE => out.extend_from_slice(&score.to_le_bytes()),
        _ => out.extend_from_slice(&(score as i64).to_le_bytes()[..width]),
    }
    out.push(member.len() as u8);
    out.extend_from_slice(member);
    out
}

fn take_score(buf: &[u8]) -> Option<(f64, &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    if tag == FLOAT_SCORE {
        let (bits, rest) = rest.split_first_chunk::<8>()?;
        return Some((f64::from_le_bytes(*bits), rest));
    }
    let width = *INTEGER_WIDTHS.get(usize::from(tag))?;
    let (bytes, rest) = rest.split_at_checked(width)?;
    // Sign-extend from the top byte written.
    let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) { 0xFF } else { 0 };
    let mut wide = [fill; 8];
    wide[..width].copy_from_slice(bytes);
    Some((i64::from_le_bytes(wide) as f64, rest))
}

/// The elements of a packed buffer with their byte ranges, in order.
fn packed_elements(buf: &[u8]) -> impl Iterator<Item = (f64, &[u8], Range<usize>)> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let (score, tail) = take_score(rest)?;
        let (&len, tail) = tail.split_first()?;
        let (member, tail) = tail.split_at_checked(usize::from(len))?;
        let start = buf.len() - rest.len();
        rest = tail;
        Some((score, member, start..buf.len() - tail.len()))
    })
}

impl ZSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Packed { len, .. } => usize::from(*len),
            Form::Tree(t) => t.len(),
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
            Form::Tree(_) => "skiplist",
        }
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.form {
            Form::Packed { buf, .. } => buf.len(),
            Form::Tree(t) => std::mem::size_of::<Tree>() + t.heap_bytes(),
        }
    }

    /// Feeds the content to `out` in a canonical order (DEBUG DIGEST, replay tests):
    /// equal values must feed equal bytes whatever their history.
    pub fn digest(&self, out: &mut dyn FnMut(&[u8])) {
        for (score, member) in self.iter() {
            out(member);
            out(&score.to_bits().to_le_bytes());
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.form {
            Form::Packed { buf, .. } => {
                packed_elements(buf).find(|(_, m, _)| *m == member).map(|(s, _, _)| s)
            }
            Form::Tree(t) => t.score(member),
        }
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Sets `member`'s score (NaN is the caller's to reject).
    ///
    /// As in Redis, `-0` survives only in the large encoding: the listpack encoding stores
    /// it as `0`. An update to an equal score (`-0` over `0` or the reverse) changes nothing.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Inserted {
        let (buf, len) = match &mut self.form {
            Form::Packed { buf, len } => (buf, len),
            Form::Tree(t) => return Arc::make_mut(t).insert(member, score),
        };
        let (given, score) = (score, if score == 0.0 { 0.0 } else { score });
        let found = packed_elements(buf).find(|(_, m, _)| *m == member);
        let old = match found {
            Some((old, _, _)) if old == score => return Inserted::Updated(old),
            Some((old, _, bytes)) => {
                buf.edit(|buf| buf.drain(bytes).for_each(drop));
                *len -= 1;
                Some(old)
            }
            None if usize::from(*len) + 1 > LISTPACK_MAX_ENTRIES
                || member.len() > LISTPACK_MAX_VALUE =>
            {
                // Converted first, as Redis does: the skiplist keeps a `-0`.
                return self.tree_mut().insert(member, given);
            }
            None => None,
        };
        let at = packed_elements(buf)
            .find(|(s, m, _)| cmp_key(*s, m, score, member) == Ordering::Greater)
            .map_or(buf.len(), |(_, _, bytes)| bytes.start);
        let element = packed_element(score, member);
        buf.edit(|buf| {
            buf.reserve_exact(element.len());
            buf.splice(at..at, element);
        });
        *len += 1;
        old.map_or(Inserted::Added, Inserted::Updated)
    }

    /// Removes `member`; returns its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.form {
            Form::Packed { buf, len } => {
                let (score, _, bytes) = packed_elements(buf).find(|(_, m, _)| *m == member)?;
                buf.edit(|buf| buf.drain(bytes).for_each(drop));
                *len -= 1;
                Some(score)
            }
            Form::Tree(t) => {
                t.score(member)?;
                Arc::make_mut(t).remove(member)
            }
        }
    }

    /// Uses the large encoding from now on when a set of `expected_len` elements with
    /// members up to `max_member` bytes would need it (a destination built for a big
    /// result).
    pub fn convert_if_needed(&mut self, expected_len: usize, max_member: usize) {
        if expected_len > LISTPACK_MAX_ENTRIES || max_member > LISTPACK_MAX_VALUE {
            self.tree_mut();
        }
    }

    /// The skiplist form, converting a packed set (in order, so the treap's shape is
    /// the same on every replica).
    fn tree_mut(&mut self) -> &mut Tree {
        if let Form::Packed { buf, .. } = &self.form {
            let mut t = Tree::default();
            for (score, member, _) in packed_elements(buf) {
                t.insert(member, score);
            }
            self.form = Form::Tree(Arc::new(t));
        }
        match &mut self.form {
            Form::Tree(t) => Arc::make_mut(t),
            Form::Packed { .. } => unreachable!("converted above"),
        }
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.form {
            Form::Packed { buf, .. } => packed_elements(buf).position(|(_, m, _)| m == member),
            Form::Tree(t) => t.rank(member),
        }
    }

    /// The element at 0-based ascending rank `rank`.
    pub fn get_by_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        match &self.form {
            Form::Packed { buf, .. } => packed_elements(buf).nth(rank).map(|(s, m, _)| (s, m)),
            Form::Tree(t) => t.get_by_rank(rank),
        }
    }

    /// The number of elements `e` for which `before(e)` holds, where `before` is true for a
    /// prefix of the ascending order (a lower bound, as a rank).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.form {
            Form::Packed { buf, .. } => {
                packed_elements(buf).take_while(|(s, m, _)| before(*s, m)).count()
            }
            Form::Tree(t) => t.count_before(before),
        }
    }

    /// All elements in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// Elements from ascending rank `rank` on, ascending (`rev == false`) or from that
    /// rank downwards (`rev == true`).
    pub fn iter_from(&self, rank: usize, rev: bool) -> Iter<'_> {
        match &self.form {
            Form::Packed { buf, .. } => {
                let mut elements: Vec<(f64, &[u8])> =
                    packed_elements(buf).map(|(s, m, _)| (s, m)).collect();
                if rev {
                    elements.truncate(rank.saturating_add(1));
                    elements.reverse();
                } else {
                    elements.drain(..rank.min(elements.len()));
                }
                Iter::Packed(elements.into_iter())
            }
            Form::Tree(t) => Iter::Tree(t.iter_from(rank, rev)),
        }
    }

    /// Checks the encoding's invariants (tests).
    #[cfg(test)]
    fn check(&self) {
        match &self.form {
            Form::Packed { buf, len } => {
                let v: Vec<_> = packed_elements(buf).collect();
                assert_eq!(v.len(), usize::from(*len));
                assert_eq!(v.last().map_or(0, |e| e.2.end), buf.len());
                for w in v.windows(2) {
                    assert_eq!(cmp_key(w[0].0, w[0].1, w[1].0, w[1].1), Ordering::Less);
                }
            }
            Form::Tree(t) => t.check(),
        }
    }
}

/// An in-order walk (either direction) from a starting rank.
pub enum Iter<'a> {
    Packed(std::vec::IntoIter<(f64, &'a [u8])>),
    Tree(TreeIter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(elements) => elements.next(),
            Iter::Tree(walk) => walk.next(),
        }
    }
}

impl Tree {
    fn len(&self) -> usize {
        self.index.len()
    }

    fn heap_bytes(&self) -> usize {
        self.member_bytes
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    /// The node holding `member`.
    fn find(&self, member: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        let hash = self.hasher.hash_one(member);
        self.index.find(hash, |&n| *nodes[n as usize].member == *member).copied()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|n| self.nodes[n as usize].score)
    }

    /// Sets `member`'s score (NaN is the caller's to reject).
    ///
    /// As in Redis, `-0` survives only in the large encoding: the listpack encoding stores
    /// it as `0`. An update to an equal score (`-0` over `0` or the reverse) changes nothing.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Inserted {
        let hash = self.hasher.hash_one(member);
        if let Some(old_node) = self.find(member) {
            let old = self.nodes[old_node as usize].score;
            if old != score {
                let stored = self.tree_remove(old, member);
                let m = stored.unwrap_or_else(|| Box::from(member));
                let new_node = self.tree_insert(score, m);
                if let Some(n) = self.index.find_mut(hash, |&n| n == old_node) {
                    *n = new_node;
                }
            }
            return Inserted::Updated(old);
        }
        let m: Box<[u8]> = Box::from(member);
        self.member_bytes += m.len();
        let node = self.tree_insert(score, m);
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index.insert_unique(hash, node, |&n| hasher.hash_one(&nodes[n as usize].member[..]));
        Inserted::Added
    }

    /// Removes `member`; returns its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let hash = self.hasher.hash_one(member);
        let nodes = &self.nodes;
        let found = self.index.find_entry(hash, |&n| *nodes[n as usize].member == *member);
        let (node, _) = found.ok()?.remove();
        let score = self.nodes[node as usize].score;
        self.member_bytes -= member.len();
        self.tree_remove(score, member);
        Some(score)
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_before(|s, m| cmp_key(s, m, score, member) == Ordering::Less))
    }

    /// The element at 0-based ascending rank `rank`.
    pub fn get_by_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        let mut n = self.root.0;
        let mut rank = rank;
        while n != NIL {
            let node = &self.nodes[n as usize];
            let left = self.size(node.left);
            match rank.cmp(&left) {
                Ordering::Less => n = node.left,
                Ordering::Equal => return Some((node.score, &node.member)),
                Ordering::Greater => {
                    rank -= left + 1;
                    n = node.right;
                }
            }
        }
        None
    }

    /// The number of elements `e` for which `before(e)` holds, where `before` is true for a
    /// prefix of the ascending order (a lower bound, as a rank).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut n = self.root.0;
        let mut count = 0;
        while n != NIL {
            let node = &self.nodes[n as usize];
            if before(node.score, &node.member) {
                count += self.size(node.left) + 1;
                n = node.right;
            } else {
                n = node.left;
            }
        }
        count
    }

    /// All elements in ascending order.
    #[cfg(test)]
    fn iter(&self) -> TreeIter<'_> {
        self.iter_from(0, false)
    }

    /// Elements from ascending rank `rank` on, ascending (`rev == false`) or from that
    /// rank downwards (`rev == true`).
    fn iter_from(&self, rank: usize, rev: bool) -> TreeIter<'_> {
        let mut it = TreeIter { set: self, stack: Vec::new(), rev };
        if rank >= self.len() {
            return it;
        }
        let mut n = self.root.0;
        let mut rank = rank;
        while n != NIL {
            let node = &self.nodes[n as usize];
            let left = self.size(node.left);
            match rank.cmp(&left) {
                Ordering::Less => {
                    if !rev {
                        it.stack.push(n);
                    }
                    n = node.left;
                }
                Ordering::Equal => {
                    it.stack.push(n);
                    break;
                }
                Ordering::Greater => {
                    if rev {
                        it.stack.push(n);
                    }
                    rank -= left + 1;
                    n = node.right;
                }
            }
        }
        it
    }

    fn size(&self, n: u32) -> usize {
        if n == NIL {
            0
        } else {
            self.nodes[n as usize].size as usize
        }
    }

    fn update(&mut self, n: u32) {
        let (l, r) = {
            let node = &self.nodes[n as usize];
            (node.left, node.right)
        };
        let size = 1 + self.size(l) + self.size(r);
        self.nodes[n as usize].size = size as u32;
    }

    fn next_prio(&mut self) -> u32 {
        // xorshift64*: deterministic in the sequence of inserts.
        let mut x = if self.rng == 0 { 0x2545_F491_4F6C_DD1D } else { self.rng };
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    /// Splits `n` into (< key, >= key).
    fn split(&mut self, n: u32, score: f64, member: &[u8]) -> (u32, u32) {
        if n == NIL {
            return (NIL, NIL);
        }
        let less = {
            let node = &self.nodes[n as usize];
            cmp_key(node.score, &node.member, score, member) == Ordering::Less
        };
        if less {
            let right = self.nodes[n as usize].right;
            let (a, b) = self.split(right, score, member);
            self.nodes[n as usize].right = a;
            self.update(n);
            (n, b)
        } else {
            let left = self.nodes[n as usize].left;
            let (a, b) = self.split(left, score, member);
            self.nodes[n as usize].left = b;
            self.update(n);
            (a, n)
        }
    }

    /// Joins two treaps where every key of `a` precedes every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio >= self.nodes[b as usize].prio {
            let right = self.nodes[a as usize].right;
            let m = self.merge(right, b);
            self.nodes[a as usize].right = m;
            self.update(a);
            a
        } else {
            let left = self.nodes[b as usize].left;
            let m = self.merge(a, left);
            self.nodes[b as usize].left = m;
            self.update(b);
            b
        }
    }

    fn alloc(&mut self, score: f64, member: Box<[u8]>) -> u32 {
        let prio = self.next_prio();
        let node = Node { score, member, left: NIL, right: NIL, size: 1, prio };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Links a new node into the tree; returns its number.
    fn tree_insert(&mut self, score: f64, member: Box<[u8]>) -> u32 {
        let new = self.alloc(score, member);
        let prio = self.nodes[new as usize].prio;
        // Descend while the path's priorities are higher, then split there: O(log N).
        let mut parent = NIL;
        let mut went_left = false;
        let mut n = self.root.0;
        let mut path = Vec::new();
        while n != NIL && self.nodes[n as usize].prio >= prio {
            path.push(n);
            parent = n;
            let node = &self.nodes[n as usize];
            went_left = cmp_key(score, &self.nodes[new as usize].member, node.score, &node.member)
                == Ordering::Less;
            n = if went_left { node.left } else { node.right };
        }
        // Taken out while splitting (the new node is not in the tree yet) rather than
        // cloned: a clone would give the stored bytes a reference-counted header for good.
        let key = std::mem::take(&mut self.nodes[new as usize].member);
        let (a, b) = self.split(n, score, &key);
        self.nodes[new as usize].member = key;
        self.nodes[new as usize].left = a;
        self.nodes[new as usize].right = b;
        self.update(new);
        if parent == NIL {
            self.root = Root(new);
        } else if went_left {
            self.nodes[parent as usize].left = new;
        } else {
            self.nodes[parent as usize].right = new;
        }
        for &p in path.iter().rev() {
            self.update(p);
        }
        new
    }

    /// Removes the node with this exact key; returns its stored member bytes.
    fn tree_remove(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
        let mut parent = NIL;
        let mut went_left = false;
        let mut n = self.root.0;
        let mut path = Vec::new();
        while n != NIL {
            let node = &self.nodes[n as usize];
            match cmp_key(score, member, node.score, &node.member) {
                Ordering::Equal => break,
                Ordering::Less => {
                    path.push(n);
                    parent = n;
                    went_left = true;
                    n = node.left;
                }
                Ordering::Greater => {
                    path.push(n);
                    parent = n;
                    went_left = false;
                    n = node.right;
                }
            }
        }
        if n == NIL {
            return None;
        }
        let (l, r) = (self.nodes[n as usize].left, self.nodes[n as usize].right);
        let joined = self.merge(l, r);
        if parent == NIL {
            self.root = Root(joined);
        } else if went_left {
            self.nodes[parent as usize].left = joined;
        } else {
            self.nodes[parent as usize].right = joined;
        }
        for &p in path.iter().rev() {
            self.update(p);
        }
        let stored = std::mem::take(&mut self.nodes[n as usize].member);
        self.free.push(n);
        if self.index.is_empty() {
            // Reclaim the arena once the set is empty (it is about to be dropped anyway).
            self.nodes.clear();
            self.free.clear();
            self.root = Root(NIL);
        }
        Some(stored)
    }

    /// Checks the tree invariants (tests).
    #[cfg(test)]
    fn check(&self) {
        fn walk(z: &Tree, n: u32) -> usize {
            if n == NIL {
                return 0;
            }
            let node = &z.nodes[n as usize];
            for c in [node.left, node.right] {
                if c != NIL {
                    assert!(z.nodes[c as usize].prio <= node.prio);
                }
            }
            let s = 1 + walk(z, node.left) + walk(z, node.right);
            assert_eq!(s, node.size as usize);
            s
        }
        assert_eq!(walk(self, self.root.0), self.len());
        let v: Vec<_> = self.iter().collect();
        for w in v.windows(2) {
            assert_eq!(cmp_key(w[0].0, w[0].1, w[1].0, w[1].1), Ordering::Less);
        }
        for (s, m) in v {
            assert_eq!(self.score(m).map(|x| x.to_bits()), Some(s.to_bits()));
        }
    }
}

/// An in-order walk of the treap (either direction) from a starting rank.
pub struct TreeIter<'a> {
    set: &'a Tree,
    stack: Vec<u32>,
    rev: bool,
}

impl<'a> Iterator for TreeIter<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let n = self.stack.pop()?;
        let nodes = &self.set.nodes;
        let node = &nodes[n as usize];
        let mut c = if self.rev { node.left } else { node.right };
        while c != NIL {
            self.stack.push(c);
            let cn = &nodes[c as usize];
            c = if self.rev { cn.right } else { cn.left };
        }
        Some((node.score, &node.member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every score reads back bit for bit, in the narrowest width that holds it.
    #[test]
    fn packed_scores_round_trip_in_their_narrowest_width() {
        let p47 = (1u64 << 47) as f64;
        let cases: [(f64, usize); 20] = [
            (0.0, 1),
            (1.0, 1),
            (-1.0, 1),
            (127.0, 1),
            (-128.0, 1),
            (128.0, 2),
            (-129.0, 2),
            (32768.0, 4),
            (1_700_000_000.0, 4),
            (-2_147_483_648.0, 4),
            (2_147_483_648.0, 6),
            (1.7e12, 6),
            (p47 - 1.0, 6),
            (-p47, 6),
            (p47, 8),
            (-p47 - 1.0, 8),
            (0.5, 8),
            (1e300, 8),
            (f64::INFINITY, 8),
            (f64::NEG_INFINITY, 8),
        ];
        for (score, width) in cases {
            let element = packed_element(score, b"m");
            assert_eq!(element.len(), 1 + width + 2, "{score}");
            let read = packed_elements(&element).next().map(|(s, m, r)| (s.to_bits(), m, r));
            assert_eq!(read, Some((score.to_bits(), &b"m"[..], 0..element.len())), "{score}");
        }
        assert_eq!(score_width(9_223_372_036_854_775_808.0).1, 8);
        assert_eq!(score_width(-0.0).1, 8, "a negative zero keeps its sign");
    }
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn ranks_follow_score_then_member_order() {
        let mut z = ZSet::new();
        z.insert(b"b", 1.0);
        z.insert(b"a", 1.0);
        z.insert(b"c", 0.5);
        assert_eq!(z.rank(b"c"), Some(0));
        assert_eq!(z.rank(b"a"), Some(1));
        assert_eq!(z.rank(b"b"), Some(2));
        assert_eq!(z.get_by_rank(2).map(|(_, m)| m), Some(&b"b"[..]));
        assert_eq!(z.insert(b"c", 5.0), Inserted::Updated(0.5));
        assert_eq!(z.rank(b"c"), Some(2));
        let rev: Vec<_> = z.iter_from(1, true).map(|(_, m)| m).collect();
        assert_eq!(rev, [b"b", b"a"]);
        z.check();
    }

    #[test]
    fn a_million_members_keep_logarithmic_rank() {
        let mut z = ZSet::new();
        for i in 0..1_000_000u32 {
            z.insert(&i.to_be_bytes(), f64::from(i % 1000));
        }
        assert_eq!(z.len(), 1_000_000);
        // score 0 holds members 0, 1000, 2000, ...: rank of member 1000 is 1.
        assert_eq!(z.rank(&1000u32.to_be_bytes()), Some(1));
        assert_eq!(z.get_by_rank(999_999).map(|(s, _)| s), Some(999.0));
        assert_eq!(z.count_before(|s, _| s < 500.0), 500_000);
        assert_eq!(z.encoding(), "skiplist");
    }

    #[test]
    fn encoding_turns_skiplist_on_long_members_and_stays() {
        let mut z = ZSet::new();
        z.insert(b"a", 1.0);
        assert_eq!(z.encoding(), "listpack");
        z.insert(&[b'x'; 65], 1.0);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(&[b'x'; 65]);
        assert_eq!(z.encoding(), "skiplist");
    }

    #[test]
    fn negative_zero_survives_only_in_the_skiplist_encoding() {
        let mut z = ZSet::new();
        z.insert(b"a", -0.0);
        assert!(z.score(b"a").is_some_and(|s| s.is_sign_positive()));
        z.insert(&[b'x'; 65], 1.0);
        z.insert(b"b", -0.0);
        assert!(z.score(b"b").is_some_and(|s| s.is_sign_negative()));
        // An equal score is no change: 0 over -0 keeps -0.
        assert_eq!(z.insert(b"b", 0.0), Inserted::Updated(-0.0));
        assert!(z.score(b"b").is_some_and(|s| s.is_sign_negative()));
        assert_eq!(z.iter().map(|(_, m)| m).collect::<Vec<_>>()[..2], [&b"a"[..], b"b"]);
        // The member that converts the set keeps its `-0`.
        let mut z = ZSet::new();
        z.insert(&[b'y'; 65], -0.0);
        assert!(z.score(&[b'y'; 65]).is_some_and(|s| s.is_sign_negative()));
    }
    /// Applies (member, score, add) steps to a set and a model, then compares order,
    /// ranks and walks in both directions.
    fn check_against_model(ops: Vec<(u8, i32, bool)>) -> Result<(), TestCaseError> {
        let mut z = ZSet::new();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for (m, s, add) in ops {
            let member = vec![m];
            if add {
                let old = model.insert(member.clone(), f64::from(s));
                let expected = old.map_or(Inserted::Added, Inserted::Updated);
                prop_assert_eq!(z.insert(&member, f64::from(s)), expected);
            } else {
                prop_assert_eq!(z.remove(&member), model.remove(&member));
            }
        }
        z.check();
        let mut expect: Vec<(f64, Vec<u8>)> = model.into_iter().map(|(m, s)| (s, m)).collect();
        expect.sort_by(|a, b| cmp_key(a.0, &a.1, b.0, &b.1));
        let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(s, m)| (s, m.to_vec())).collect();
        prop_assert_eq!(&got, &expect);
        for (i, (s, m)) in expect.iter().enumerate() {
            prop_assert_eq!(z.rank(m), Some(i));
            prop_assert_eq!(z.score(m), Some(*s));
            prop_assert_eq!(z.get_by_rank(i).map(|(_, m)| m.to_vec()), Some(m.clone()));
            let back: Vec<Vec<u8>> = z.iter_from(i, true).map(|(_, m)| m.to_vec()).collect();
            let want: Vec<Vec<u8>> = expect[..=i].iter().rev().map(|(_, m)| m.clone()).collect();
            prop_assert_eq!(back, want);
            let ahead = z.iter_from(i, false).count();
            prop_assert_eq!(ahead, expect.len() - i);
        }
        prop_assert_eq!(
            z.count_before(|s, _| s < 0.0),
            expect.iter().filter(|e| e.0 < 0.0).count()
        );
        Ok(())
    }

    proptest! {
        /// Within the listpack thresholds: the packed form.
        #[test]
        fn matches_a_btree_model(ops in prop::collection::vec((0u8..40, -5i32..5, any::<bool>()), 1..300)) {
            check_against_model(ops)?;
        }

        /// Past them: the set converts to the tree midway.
        #[test]
        fn matches_a_btree_model_across_the_conversion(ops in prop::collection::vec((0u8..=255, -5i32..5, any::<bool>()), 100..600)) {
            check_against_model(ops)?;
        }
    }
}
