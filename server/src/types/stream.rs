//! A stream: entries by ID, consumer groups and their pending lists.
//!
//! A pure data structure: no keyspace, no protocol, no clock (callers pass times in).
//!
//! Entries live in nodes as Redis's listpacks do: at most `stream-node-max-entries`
//! entries (and `stream-node-max-bytes` bytes) per node, each node one buffer of packed
//! entries, nodes in a `BTreeMap` by their first ID ([`Node`]). An entry costs its
//! bytes and a few more (a millisecond delta and sequence as varints), where a map entry
//! per ID with a `Bytes` per field cost over 400 bytes (1M two-field XADDs: 415 MB
//! against Redis's 16). Redis's approximate trimming (`MAXLEN ~`, `MINID ~`) removes
//! whole nodes only, so matching its node boundaries also makes `~` trimming, `LIMIT`
//! and `XINFO`'s `radix-tree-keys` agree with Redis. XDEL flags an entry in place, as
//! Redis does; a node goes when its last live entry does. Groups and consumers are `BTreeMap`s so every iteration order is by name/ID,
//! never by hash: apply stays deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

/// A stream entry ID: milliseconds and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    /// An ID from its parts.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, if any.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID, if any.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// Whether this is `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The `ms-seq` text.
    pub fn to_bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }

    /// Parses `ms` or `ms-seq` (Redis's `string2ull` rules for each part; a missing
    /// sequence is `missing_seq`). `-` and `+` are not handled here.
    pub fn parse(s: &[u8], missing_seq: u64) -> Option<StreamId> {
        let (ms, seq) = parse_parts(s)?;
        let seq = match seq {
            None => missing_seq,
            Some(p) => parse_u64(p)?,
        };
        Some(StreamId::new(parse_u64(ms)?, seq))
    }
}

/// Splits `ms[-seq]` at the first `-` (IDs longer than Redis's 127-byte buffer are invalid).
pub fn parse_parts(s: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    if s.is_empty() || s.len() > 127 {
        return None;
    }
    Some(match s.iter().position(|&b| b == b'-') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    })
}

/// Redis's `string2ull`: a non-negative integer, also accepting what `strtoull` accepts
/// (leading spaces, a `+`).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(s).ok()?;
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if text.is_empty() || text.starts_with('-') {
        return None;
    }
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An entry's field-value pairs, in insertion order.
pub type Fields = Vec<(Bytes, Bytes)>;

/// A listpack node as Redis would have it: the entries appended since its first ID.
#[derive(Debug, Clone)]
struct Node {
    /// The last ID appended to the node (deleted or not).
    last: StreamId,
    /// Entries not deleted.
    live: usize,
    /// Entries appended, deleted ones included (Redis counts both against the limit).
    total: usize,
    /// Approximate listpack size.
    bytes: usize,
    /// Every entry appended, in ID order: `[flags][ms - first ms][seq][pairs]`, then per
    /// pair `[field length][field][value length][value]`, or only the values when the
    /// fields are the node's first entry's, in order (the usual case: producers write
    /// the same fields every time; Redis's master entry); numbers are LEB128 varints.
    packed: Vec<u8>,
}

/// Flag bits of an entry.
const DELETED: u8 = 1;
const SAME_FIELDS: u8 = 2;

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        n |= u64::from(byte & 0x7F) << shift;
        if byte < 0x80 {
            return Some(n);
        }
    }
    None
}

fn take_bytes<'a>(buf: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(take_varint(buf, at)?).ok()?;
    let bytes = buf.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(bytes)
}

/// One entry of a node, read in place.
#[derive(Clone, Copy)]
struct Packed<'a> {
    id: StreamId,
    deleted: bool,
    /// Offset of the flag byte in the node's buffer.
    at: usize,
    count: usize,
    /// The pairs' bytes, or only the values' when `fields_from` gives the fields.
    pairs: &'a [u8],
    /// The node's first entry's pairs, whose fields this entry shares.
    fields_from: Option<&'a [u8]>,
}

impl Packed<'_> {
    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (mut at, mut field_at) = (0, 0);
        (0..self.count).map_while(move |_| {
            let field = match self.fields_from {
                Some(master) => {
                    let field = take_bytes(master, &mut field_at)?;
                    take_bytes(master, &mut field_at)?;
                    field
                }
                None => take_bytes(self.pairs, &mut at)?,
            };
            Some((field, take_bytes(self.pairs, &mut at)?))
        })
    }

    fn fields(&self) -> Fields {
        self.pairs().map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v))).collect()
    }
}

impl Node {
    fn new(id: StreamId) -> Self {
        Node { last: id, live: 0, total: 0, bytes: 16, packed: Vec::new() }
    }

    /// Packs an entry; `first` is the node's first ID, at most `id`.
    fn push(&mut self, first: StreamId, id: StreamId, fields: &Fields, size: usize) {
        let same_fields = self.entries(first).next().is_some_and(|master| {
            master.count == fields.len()
                && master.pairs().zip(fields).all(|((f, _), (g, _))| f == &g[..])
        });
        let out = &mut self.packed;
        out.push(if same_fields { SAME_FIELDS } else { 0 });
        put_varint(out, id.ms - first.ms);
        put_varint(out, id.seq);
        put_varint(out, fields.len() as u64);
        for (f, v) in fields {
            if !same_fields {
                put_varint(out, f.len() as u64);
                out.extend_from_slice(f);
            }
            put_varint(out, v.len() as u64);
            out.extend_from_slice(v);
        }
        self.last = id;
        self.live += 1;
        self.total += 1;
        self.bytes += size;
    }

    /// Every entry, deleted ones included, in ID order.
    fn entries(&self, first: StreamId) -> impl Iterator<Item = Packed<'_>> {
        let buf = &self.packed[..];
        let mut at = 0;
        let mut master: Option<&[u8]> = None;
        std::iter::from_fn(move || {
            let start = at;
            let flags = *buf.get(at)?;
            at += 1;
            let ms = first.ms.checked_add(take_varint(buf, &mut at)?)?;
            let id = StreamId::new(ms, take_varint(buf, &mut at)?);
            let count = usize::try_from(take_varint(buf, &mut at)?).ok()?;
            let fields_from = if flags & SAME_FIELDS != 0 { Some(master?) } else { None };
            let pairs_at = at;
            let parts = if fields_from.is_some() { count } else { count * 2 };
            for _ in 0..parts {
                take_bytes(buf, &mut at)?;
            }
            let pairs = buf.get(pairs_at..at)?;
            master = master.or(Some(pairs));
            let deleted = flags & DELETED != 0;
            Some(Packed { id, deleted, at: start, count, pairs, fields_from })
        })
    }

    /// The live entries, in ID order.
    fn live(&self, first: StreamId) -> impl Iterator<Item = Packed<'_>> {
        self.entries(first).filter(|e| !e.deleted)
    }

    /// Flags the live entry `id` deleted; whether there was one.
    fn delete(&mut self, first: StreamId, id: StreamId) -> bool {
        let Some(at) = self.live(first).find(|e| e.id == id).map(|e| e.at) else {
            return false;
        };
        self.packed[at] |= DELETED;
        self.live -= 1;
        true
    }
}

/// What an entry counts against a node's `stream-node-max-bytes` (an approximation of its
/// listpack size; at least 12 for an entry with one pair).
pub fn entry_size(fields: &Fields) -> usize {
    8 + fields.iter().map(|(f, v)| f.len() + v.len() + 4).sum::<usize>()
}

/// A listpack node's bookkeeping, as [`Stream::nodes`] shows it (the snapshot rewrite
/// recreates it, so `~` trimming behaves the same after a restore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo {
    /// The first ID appended to the node (deleted or not).
    pub first: StreamId,
    /// The last ID appended to the node (deleted or not).
    pub last: StreamId,
    /// Entries not deleted.
    pub live: usize,
    /// Entries appended, deleted ones included.
    pub total: usize,
    /// Approximate listpack size: 16 plus the [`entry_size`] of every appended entry.
    pub bytes: usize,
}

/// Node limits (`stream-node-max-entries`, `stream-node-max-bytes`; 0 = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits { max_entries: 100, max_bytes: 4096 }
    }
}

/// One pending (delivered, not acknowledged) entry of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The consumer that owns it.
    pub consumer: Bytes,
    /// When it was last delivered (Unix ms).
    pub delivery_time_ms: u64,
    /// How many times it was delivered.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consumer {
    /// Last time it tried to read or claim (Unix ms).
    pub seen_time_ms: u64,
    /// Last time it successfully read or claimed something; `None` = never.
    pub active_time_ms: Option<u64>,
    /// IDs it owns in the group's pending list.
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    /// The last ID delivered to any consumer of the group.
    pub last_id: StreamId,
    /// Logical read counter; `None` when unknown (Redis's -1).
    pub entries_read: Option<u64>,
    /// The pending entries list.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers by name.
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    /// A group whose last delivered ID is `last_id`.
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group { last_id, entries_read, ..Group::default() }
    }

    /// The consumer called `name`, created (seen now) if missing. Returns whether it was
    /// created.
    pub fn consumer_mut(&mut self, name: &Bytes, now_ms: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self.consumers.entry(name.clone()).or_insert_with(|| Consumer {
            seen_time_ms: now_ms,
            active_time_ms: None,
            pending: BTreeSet::new(),
        });
        (c, created)
    }

    /// Removes `id` from the pending list (and its owner's); returns whether it was there.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pending.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Gives pending entry `id` to `consumer` (which must exist), creating the entry if
    /// missing; returns it for the caller to set times and counts.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, now_ms: u64) -> &mut Pending {
        let previous = self.pel.get(&id).map(|p| p.consumer.clone());
        if let Some(prev) = previous.as_ref().filter(|p| *p != consumer) {
            if let Some(c) = self.consumers.get_mut(prev) {
                c.pending.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
        let p = self.pel.entry(id).or_insert_with(|| Pending {
            consumer: consumer.clone(),
            delivery_time_ms: now_ms,
            delivery_count: 0,
        });
        p.consumer = consumer.clone();
        p
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pending {
            self.pel.remove(id);
        }
        Some(c.pending.len())
    }
}

/// Why an XADD ID was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// Equal or smaller than the top item.
    TooSmall,
    /// The last possible ID was already used.
    Exhausted,
}

/// The ID requested by XADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddId {
    /// `*`: from the clock.
    Auto,
    /// `ms-*`: the sequence is chosen.
    AutoSeq(u64),
    /// A full ID.
    Explicit(StreamId),
}

/// How to trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream: entries by ID, consumer groups and their pending lists.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// Listpack nodes by master (first appended) ID.
    nodes: BTreeMap<StreamId, Node>,
    /// Live entries.
    len: usize,
    /// The last ID generated or set (XSETID).
    pub last_id: StreamId,
    /// The first live entry's ID when the stream was last changed (0-0 when empty).
    pub first_id: StreamId,
    /// The largest ID removed by XDEL.
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Bytes, Group>,
}

/// Equal content: the same live entries, node boundaries and counts, metadata and
/// groups (what a deleted entry held does not matter).
impl PartialEq for Stream {
    fn eq(&self, other: &Self) -> bool {
        let content = |s: &Stream| {
            let mut bytes = Vec::new();
            s.digest(&mut |part| bytes.extend_from_slice(part));
            bytes
        };
        self.len == other.len && content(self) == content(other)
    }
}

impl Stream {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entries (unlike other types, an empty stream is kept).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Number of listpack nodes (`radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The listpack nodes in ID order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeInfo> + '_ {
        self.nodes.iter().map(|(first, n)| NodeInfo {
            first: *first,
            last: n.last,
            live: n.live,
            total: n.total,
            bytes: n.bytes,
        })
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        let entries: usize = self.nodes.values().map(|n| n.packed.capacity() + 64).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| name.len() + 64 + g.pel.len() * 48 + g.consumers.len() * 64)
            .sum();
        entries + groups + 64
    }

    /// Feeds the content to `out` in a canonical order (DEBUG DIGEST, replay tests).
    pub fn digest(&self, out: &mut dyn FnMut(&[u8])) {
        for entry in self.nodes.iter().flat_map(|(first, n)| n.live(*first)) {
            out(&entry.id.ms.to_be_bytes());
            out(&entry.id.seq.to_be_bytes());
            for (f, v) in entry.pairs() {
                out(&(f.len() as u64).to_le_bytes());
                out(f);
                out(&(v.len() as u64).to_le_bytes());
                out(v);
            }
        }
        for id in [self.last_id, self.first_id, self.max_deleted_id] {
            out(&id.ms.to_le_bytes());
            out(&id.seq.to_le_bytes());
        }
        out(&self.entries_added.to_le_bytes());
        // Node boundaries decide what `~` trimming removes: two streams that trim
        // differently are not equal.
        for (first, n) in &self.nodes {
            for part in [first.ms, first.seq, n.last.ms, n.last.seq] {
                out(&part.to_le_bytes());
            }
            for count in [n.live, n.total, n.bytes] {
                out(&(count as u64).to_le_bytes());
            }
        }
        for (name, g) in &self.groups {
            out(name);
            out(&g.last_id.ms.to_le_bytes());
            out(&g.last_id.seq.to_le_bytes());
            out(&g.entries_read.map_or(-1i128, i128::from).to_le_bytes());
            for (id, p) in &g.pel {
                out(&id.ms.to_le_bytes());
                out(&id.seq.to_le_bytes());
                out(&p.consumer);
                out(&p.delivery_time_ms.to_le_bytes());
                out(&p.delivery_count.to_le_bytes());
            }
            // Consumer seen/active times are access bookkeeping (as Redis's LRU clock,
            // which its digest leaves out too); a snapshot restores them as of the load.
            for cname in g.consumers.keys() {
                out(cname);
            }
        }
    }

    /// The live entry `id`, read in place.
    fn find(&self, id: StreamId) -> Option<Packed<'_>> {
        let (first, node) = self.nodes.range(..=id).next_back()?;
        node.live(*first).take_while(|e| e.id <= id).find(|e| e.id == id)
    }

    /// The entry with `id`.
    pub fn get(&self, id: StreamId) -> Option<Fields> {
        self.find(id).map(|e| e.fields())
    }

    /// Whether the entry `id` exists.
    pub fn contains(&self, id: StreamId) -> bool {
        self.find(id).is_some()
    }

    /// The live entries from `start` on, ascending.
    fn live_from(&self, start: StreamId) -> impl Iterator<Item = Packed<'_>> {
        let from = self.nodes.range(..=start).next_back().map_or(start, |(first, _)| *first);
        self.nodes
            .range(from..)
            .flat_map(|(first, n)| n.live(*first))
            .skip_while(move |e| e.id < start)
    }

    /// The live entries up to `end`, descending.
    fn live_back_from(&self, end: StreamId) -> impl Iterator<Item = Packed<'_>> {
        self.nodes
            .range(..=end)
            .rev()
            .flat_map(|(first, n)| n.live(*first).collect::<Vec<_>>().into_iter().rev())
            .skip_while(move |e| e.id > end)
    }

    /// The first live entry.
    pub fn first_entry(&self) -> Option<(StreamId, Fields)> {
        self.live_from(StreamId::MIN).next().map(|e| (e.id, e.fields()))
    }

    /// The last live entry.
    pub fn last_entry(&self) -> Option<(StreamId, Fields)> {
        self.live_back_from(StreamId::MAX).next().map(|e| (e.id, e.fields()))
    }

    /// IDs of the entries with `start <= id <= end`, ascending.
    pub fn ids(&self, start: StreamId, end: StreamId) -> impl Iterator<Item = StreamId> + '_ {
        self.live_from(start).map(|e| e.id).take_while(move |id| *id <= end)
    }

    /// Entries with `start <= id <= end`, ascending, each read when the iterator gets to
    /// it (a snapshot walks a stream of millions without holding them all).
    pub fn entries_in(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl Iterator<Item = (StreamId, Fields)> + '_ {
        self.live_from(start).take_while(move |e| e.id <= end).map(|e| (e.id, e.fields()))
    }

    /// Entries with `start <= id <= end`, ascending (or descending with `rev`), at most
    /// `count` (0 = all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<(StreamId, Fields)> {
        if start > end {
            return Vec::new();
        }
        let limit = if count == 0 { usize::MAX } else { count };
        let entry = |e: Packed<'_>| (e.id, e.fields());
        if rev {
            self.live_back_from(end).take_while(|e| e.id >= start).take(limit).map(entry).collect()
        } else {
            self.live_from(start).take_while(|e| e.id <= end).take(limit).map(entry).collect()
        }
    }

    /// The ID XADD would use for `want` at `now_ms`.
    pub fn next_id(&self, want: AddId, now_ms: u64) -> Result<StreamId, AddError> {
        let last = self.last_id;
        match want {
            AddId::Auto => {
                if last == StreamId::MAX {
                    return Err(AddError::Exhausted);
                }
                if now_ms > last.ms {
                    Ok(StreamId::new(now_ms, 0))
                } else {
                    last.next().ok_or(AddError::Exhausted)
                }
            }
            AddId::AutoSeq(ms) => {
                if last == StreamId::MAX {
                    return Err(AddError::Exhausted);
                }
                if ms > last.ms {
                    Ok(StreamId::new(ms, 0))
                } else if ms == last.ms && last.seq < u64::MAX {
                    Ok(StreamId::new(ms, last.seq + 1))
                } else {
                    Err(AddError::TooSmall)
                }
            }
            AddId::Explicit(id) => {
                if last == StreamId::MAX {
                    Err(AddError::Exhausted)
                } else if id > last {
                    Ok(id)
                } else {
                    Err(AddError::TooSmall)
                }
            }
        }
    }

    /// Appends an entry with `id`, which must be greater than `last_id`.
    pub fn append(&mut self, id: StreamId, fields: Fields, limits: NodeLimits) {
        let size = entry_size(&fields);
        let fits = self.nodes.iter_mut().next_back().filter(|(_, n)| {
            let by_bytes = limits.max_bytes == 0 || n.bytes + size < limits.max_bytes;
            let by_count = limits.max_entries == 0 || n.total < limits.max_entries;
            by_bytes && by_count
        });
        match fits {
            Some((first, n)) => n.push(*first, id, &fields, size),
            None => {
                // The closed node will not grow again: give back its spare room.
                if let Some((_, closed)) = self.nodes.iter_mut().next_back() {
                    closed.packed.shrink_to_fit();
                }
                self.nodes.entry(id).or_insert_with(|| Node::new(id)).push(id, id, &fields, size);
            }
        }
        self.len += 1;
        self.last_id = id;
        self.entries_added += 1;
        if self.len == 1 {
            self.first_id = id;
        }
    }

    /// Removes one entry, keeping node counts (a node left without live entries goes).
    fn remove_entry(&mut self, id: StreamId) -> bool {
        let Some((&first, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        if !node.delete(first, id) {
            return false;
        }
        if node.live == 0 {
            self.nodes.remove(&first);
        }
        self.len -= 1;
        true
    }

    fn refresh_first_id(&mut self) {
        self.first_id = self.first_entry().map_or(StreamId::MIN, |(id, _)| id);
    }

    /// XDEL: removes the entries; returns how many existed.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        let mut deleted = 0;
        for &id in ids {
            if self.remove_entry(id) {
                deleted += 1;
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
            }
        }
        if deleted > 0 {
            self.refresh_first_id();
        }
        deleted
    }

    /// Trims as Redis's `streamTrim`: whole nodes first; with `approx` only whole nodes;
    /// `limit` (0 = none) bounds the entries removed as whole nodes. Returns the number
    /// of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: usize) -> usize {
        let mut removed = 0usize;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.len as u64 <= max {
                    break;
                }
            }
            let Some((&key, node)) = self.nodes.iter().next() else { break };
            let live = node.live;
            if limit != 0 && removed + live > limit {
                break;
            }
            let whole = match how {
                Trim::MaxLen(max) => (self.len - live) as u64 >= max,
                Trim::MinId(min) => node.last < min,
            };
            if whole {
                self.nodes.remove(&key);
                self.len -= live;
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            // Exact: delete entries inside this first node until the condition holds.
            let ids: Vec<StreamId> = node.live(key).map(|e| e.id).collect();
            for id in ids {
                let done = match how {
                    Trim::MaxLen(max) => self.len as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if done {
                    break;
                }
                self.remove_entry(id);
                removed += 1;
            }
            break;
        }
        self.refresh_first_id();
        removed
    }

    /// Whether an XDEL tombstone may lie in `start..` (Redis `streamRangeHasTombstones`
    /// with an open end).
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.len == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// The logical read counter of `id` if it can be known (Redis
    /// `streamEstimateDistanceFromFirstEverEntry`).
    pub fn estimate_read_counter(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.len == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        let len = self.len as u64;
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(self.entries_added.saturating_sub(len)),
                std::cmp::Ordering::Equal => {
                    return Some(self.entries_added.saturating_sub(len) + 1);
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag, if it can be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let added = self.entries_added as i64;
        if let Some(read) = g.entries_read {
            if !self.has_tombstones_from(g.last_id) {
                return Some(added.wrapping_sub(read as i64));
            }
        }
        self.estimate_read_counter(g.last_id).map(|read| added.wrapping_sub(read as i64))
    }

    /// Records that a group was served entry `id` past its last delivered ID.
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        match g.entries_read {
            Some(n) if !self.has_tombstones_from(id) => g.entries_read = Some(n + 1),
            _ if self.entries_added > 0 => g.entries_read = self.estimate_read_counter(id),
            _ => {}
        }
        g.last_id = id;
    }
}

/// XCLAIM's options, resolved against the entry's clock.
#[derive(Debug, Clone, Copy)]
pub struct ClaimOptions {
    pub min_idle_ms: u64,
    pub delivery_time_ms: u64,
    pub retry_count: Option<u64>,
    pub force: bool,
    pub just_id: bool,
    pub last_id: Option<StreamId>,
}

/// What XAUTOCLAIM did.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoClaim {
    /// Where the next call should start (0-0 when the scan reached the end).
    pub cursor: StreamId,
    /// Claimed entries (fields `None` only when JUSTID is used).
    pub claimed: Vec<(StreamId, Option<Fields>)>,
    /// Pending IDs whose entries no longer exist (removed from the PEL).
    pub deleted: Vec<StreamId>,
}

impl Stream {
    /// Runs `f` on group `name` with the rest of the stream readable.
    fn with_group<R>(
        &mut self,
        name: &[u8],
        f: impl FnOnce(&mut Stream, &mut Group) -> R,
    ) -> Option<R> {
        let (key, mut g) = self.groups.remove_entry(name)?;
        let r = f(self, &mut g);
        self.groups.insert(key, g);
        Some(r)
    }

    /// XREADGROUP `>`: delivers up to `count` (0 = all) entries never delivered to the
    /// group, to `consumer` (created if missing). `None` when there was nothing new.
    pub fn read_new(
        &mut self,
        group: &[u8],
        consumer: &Bytes,
        count: usize,
        noack: bool,
        now_ms: u64,
    ) -> Option<Vec<(StreamId, Fields)>> {
        self.with_group(group, |s, g| {
            g.consumer_mut(consumer, now_ms).0.seen_time_ms = now_ms;
            let start = g.last_id.next()?;
            let served = s.range(start, StreamId::MAX, count, false);
            if served.is_empty() {
                return None;
            }
            for (id, _) in &served {
                s.advance_group(g, *id);
                if !noack {
                    let p = g.assign(*id, consumer, now_ms);
                    p.delivery_time_ms = now_ms;
                    p.delivery_count = 1;
                }
            }
            if !noack {
                g.consumer_mut(consumer, now_ms).0.active_time_ms = Some(now_ms);
            }
            Some(served)
        })
        .flatten()
    }

    /// XREADGROUP with an ID: the consumer's pending entries after `after`, up to
    /// `count` (0 = all); each served one counts as delivered again. Entries deleted
    /// meanwhile come back as `None`.
    pub fn read_history(
        &mut self,
        group: &[u8],
        consumer: &Bytes,
        after: StreamId,
        count: usize,
        now_ms: u64,
    ) -> Vec<(StreamId, Option<Fields>)> {
        self.with_group(group, |s, g| {
            let c = g.consumer_mut(consumer, now_ms).0;
            c.seen_time_ms = now_ms;
            let Some(start) = after.next() else { return Vec::new() };
            let limit = if count == 0 { usize::MAX } else { count };
            let ids: Vec<StreamId> = c.pending.range(start..).take(limit).copied().collect();
            ids.into_iter()
                .map(|id| {
                    let fields = s.get(id);
                    if fields.is_some() {
                        if let Some(p) = g.pel.get_mut(&id) {
                            p.delivery_time_ms = now_ms;
                            p.delivery_count += 1;
                        }
                    }
                    (id, fields)
                })
                .collect()
        })
        .unwrap_or_default()
    }

    /// XCLAIM: gives the listed pending entries idle for at least `min_idle_ms` to
    /// `consumer`. Returns the claimed IDs with their fields.
    pub fn claim(
        &mut self,
        group: &[u8],
        consumer: &Bytes,
        ids: &[StreamId],
        o: &ClaimOptions,
        now_ms: u64,
    ) -> Vec<(StreamId, Option<Fields>)> {
        self.with_group(group, |s, g| {
            g.consumer_mut(consumer, now_ms).0.seen_time_ms = now_ms;
            if let Some(last) = o.last_id {
                if last > g.last_id {
                    g.last_id = last;
                }
            }
            let mut out = Vec::new();
            for &id in ids {
                let exists = s.contains(id);
                if !g.pel.contains_key(&id) {
                    if !o.force || !exists {
                        continue;
                    }
                    let p = g.assign(id, consumer, now_ms);
                    p.delivery_count = 1;
                } else if !exists {
                    // The entry was deleted: drop it from the PEL rather than claim it.
                    g.ack(id);
                    continue;
                }
                if o.min_idle_ms > 0 {
                    let idle =
                        g.pel.get(&id).map_or(0, |p| now_ms.saturating_sub(p.delivery_time_ms));
                    if idle < o.min_idle_ms {
                        continue;
                    }
                }
                let p = g.assign(id, consumer, now_ms);
                p.delivery_time_ms = o.delivery_time_ms;
                match o.retry_count {
                    Some(n) => p.delivery_count = n,
                    None if !o.just_id => p.delivery_count += 1,
                    None => {}
                }
                g.consumer_mut(consumer, now_ms).0.active_time_ms = Some(now_ms);
                out.push((id, if o.just_id { None } else { s.get(id) }));
            }
            out
        })
        .unwrap_or_default()
    }

    /// XAUTOCLAIM: scans the group's PEL from `start`, claiming up to `count` entries
    /// idle for at least `min_idle_ms` and examining at most `10 * count`.
    #[allow(clippy::too_many_arguments)]
    pub fn auto_claim(
        &mut self,
        group: &[u8],
        consumer: &Bytes,
        min_idle_ms: u64,
        start: StreamId,
        count: usize,
        just_id: bool,
        now_ms: u64,
    ) -> AutoClaim {
        self.with_group(group, |s, g| {
            g.consumer_mut(consumer, now_ms).0.seen_time_ms = now_ms;
            let mut r =
                AutoClaim { cursor: StreamId::MIN, claimed: Vec::new(), deleted: Vec::new() };
            let mut attempts = count.saturating_mul(10);
            let mut left = count;
            let mut next = Some(start);
            while let Some(from) = next {
                let Some(id) = g.pel.range(from..).next().map(|(id, _)| *id) else { break };
                next = id.next();
                if attempts == 0 || left == 0 {
                    r.cursor = id;
                    break;
                }
                attempts -= 1;
                if !s.contains(id) {
                    // A deleted entry leaves the PEL and uses up one of `count`.
                    g.ack(id);
                    r.deleted.push(id);
                    left -= 1;
                    continue;
                }
                let idle = g.pel.get(&id).map_or(0, |p| now_ms.saturating_sub(p.delivery_time_ms));
                if idle < min_idle_ms {
                    continue;
                }
                let p = g.assign(id, consumer, now_ms);
                p.delivery_time_ms = now_ms;
                if !just_id {
                    p.delivery_count += 1;
                }
                g.consumer_mut(consumer, now_ms).0.active_time_ms = Some(now_ms);
                r.claimed.push((id, if just_id { None } else { s.get(id) }));
                left -= 1;
            }
            r
        })
        .unwrap_or(AutoClaim {
            cursor: StreamId::MIN,
            claimed: Vec::new(),
            deleted: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(v: &str) -> Fields {
        vec![(Bytes::from("f"), Bytes::from(v.to_string()))]
    }

    fn filled(n: u64, per_node: usize) -> Stream {
        let mut s = Stream::default();
        let limits = NodeLimits { max_entries: per_node, max_bytes: 0 };
        for i in 1..=n {
            s.append(StreamId::new(i, 0), fields("v"), limits);
        }
        s
    }

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(StreamId::parse(b"5", 0), Some(StreamId::new(5, 0)));
        assert_eq!(StreamId::parse(b"5", u64::MAX), Some(StreamId::new(5, u64::MAX)));
        assert_eq!(StreamId::parse(b"+5-1", 0), Some(StreamId::new(5, 1)));
        assert_eq!(StreamId::parse(b" 6", 0), Some(StreamId::new(6, 0)));
        for bad in [&b""[..], b"-8", b"7-", b"0x9", b"1-2-3", b"18446744073709551616", b"a"] {
            assert_eq!(StreamId::parse(bad, 0), None, "{bad:?}");
        }
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::MIN.prev(), None);
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
    }

    #[test]
    fn auto_ids_follow_the_clock_and_never_go_back() {
        let mut s = Stream::default();
        assert_eq!(s.next_id(AddId::Auto, 100), Ok(StreamId::new(100, 0)));
        s.append(StreamId::new(100, 5), fields("a"), NodeLimits::default());
        assert_eq!(s.next_id(AddId::Auto, 50), Ok(StreamId::new(100, 6)));
        assert_eq!(s.next_id(AddId::AutoSeq(100), 0), Ok(StreamId::new(100, 6)));
        assert_eq!(s.next_id(AddId::AutoSeq(99), 0), Err(AddError::TooSmall));
        assert_eq!(s.next_id(AddId::Explicit(StreamId::new(100, 5)), 0), Err(AddError::TooSmall));
        s.append(StreamId::MAX, fields("b"), NodeLimits::default());
        assert_eq!(s.next_id(AddId::Auto, 0), Err(AddError::Exhausted));
    }

    #[test]
    fn approximate_trimming_removes_whole_nodes_only() {
        let mut s = filled(1000, 100);
        assert_eq!(s.trim(Trim::MaxLen(555), true, 10_000), 400);
        assert_eq!(s.len(), 600);
        let mut s = filled(100, 10);
        assert_eq!(s.trim(Trim::MaxLen(55), true, 30), 30);
        assert_eq!(s.len(), 70);
        let mut s = filled(102, 1);
        s.trim(Trim::MaxLen(1), true, 100);
        assert_eq!(s.len(), 2);
        s.trim(Trim::MaxLen(1), false, 0);
        assert_eq!(s.len(), 1);
        assert_eq!(s.first_id, StreamId::new(102, 0));
    }

    #[test]
    fn exact_minid_trimming_stops_at_the_first_kept_id() {
        let mut s = filled(5, 100);
        assert_eq!(s.trim(Trim::MinId(StreamId::new(3, 0)), false, 0), 2);
        assert_eq!(s.first_id, StreamId::new(3, 0));
        assert_eq!(s.node_count(), 1);
    }

    #[test]
    fn deleting_tracks_first_and_max_deleted_ids_and_drops_empty_nodes() {
        let mut s = filled(4, 2);
        assert_eq!(s.delete(&[StreamId::new(2, 0), StreamId::new(9, 0)]), 1);
        assert_eq!(s.max_deleted_id, StreamId::new(2, 0));
        assert_eq!(s.delete(&[StreamId::new(1, 0)]), 1);
        assert_eq!(s.first_id, StreamId::new(3, 0));
        assert_eq!(s.node_count(), 1);
        assert_eq!(s.max_deleted_id, StreamId::new(2, 0));
    }

    /// Entries sharing the node's first entry's fields store only their values; others
    /// keep their own fields; both read back whole, also once the first is deleted.
    #[test]
    fn entries_read_back_their_fields_whether_shared_or_not() {
        let pairs = |p: &[(&str, &str)]| -> Fields {
            p.iter()
                .map(|(f, v)| (Bytes::from(f.to_string()), Bytes::from(v.to_string())))
                .collect()
        };
        let written = [
            pairs(&[("name", "a"), ("n", "1")]),
            pairs(&[("name", "b"), ("n", "2")]),
            pairs(&[("n", "3"), ("name", "c")]),
            pairs(&[("name", "d")]),
            pairs(&[("", ""), ("name", "")]),
            pairs(&[("name", "e"), ("n", "")]),
        ];
        let mut s = Stream::default();
        for (i, fields) in written.iter().enumerate() {
            s.append(StreamId::new(10, i as u64), fields.clone(), NodeLimits::default());
        }
        assert_eq!(s.node_count(), 1);
        let node = s.nodes.values().next().map(|n| n.packed.len()).unwrap_or(0);
        let own: usize = written.iter().flatten().map(|(f, v)| f.len() + v.len() + 2).sum();
        // Four bytes of header each (flags, ms delta, seq, count); the two entries that
        // share `name` and `n` leave out those fields and their lengths (7 bytes each).
        assert_eq!(node, own + 4 * written.len() - 2 * 7, "shared fields are not stored again");
        assert_eq!(s.delete(&[StreamId::new(10, 0)]), 1);
        for (i, fields) in written.iter().enumerate().skip(1) {
            assert_eq!(s.get(StreamId::new(10, i as u64)).as_ref(), Some(fields), "entry {i}");
        }
        let all: Vec<Fields> =
            s.range(StreamId::MIN, StreamId::MAX, 0, true).into_iter().map(|(_, f)| f).collect();
        assert_eq!(all, written[1..].iter().rev().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn pending_entries_move_between_consumers() {
        let mut g = Group::new(StreamId::MIN, None);
        let (a, b) = (Bytes::from("a"), Bytes::from("b"));
        g.consumer_mut(&a, 1);
        g.consumer_mut(&b, 1);
        let id = StreamId::new(1, 0);
        g.assign(id, &a, 5).delivery_count = 1;
        g.assign(id, &b, 6);
        assert!(g.consumers[&a].pending.is_empty());
        assert!(g.consumers[&b].pending.contains(&id));
        assert_eq!(g.remove_consumer(b"b"), Some(1));
        assert!(g.pel.is_empty());
    }

    proptest! {
        /// Against a model (a sorted Vec), any sequence of appends, deletes and exact
        /// trims leaves the same entries, and node counts always add up.
        #[test]
        fn matches_a_sorted_vec_model(ops in proptest::collection::vec((0u8..4, 0u64..50), 1..200),
                                       per_node in 1usize..8) {
            let limits = NodeLimits { max_entries: per_node, max_bytes: 0 };
            let mut s = Stream::default();
            let mut model: Vec<u64> = Vec::new();
            let mut next = 1u64;
            for (op, arg) in ops {
                match op {
                    0 | 1 => {
                        s.append(StreamId::new(next, 0), fields("v"), limits);
                        model.push(next);
                        next += 1 + arg % 3;
                    }
                    2 => {
                        let id = model.get(arg as usize % (model.len() + 1)).copied().unwrap_or(0);
                        s.delete(&[StreamId::new(id, 0)]);
                        model.retain(|&m| m != id);
                    }
                    _ => {
                        s.trim(Trim::MaxLen(arg % 10), false, 0);
                        let keep = (arg % 10) as usize;
                        if model.len() > keep {
                            model.drain(..model.len() - keep);
                        }
                    }
                }
                let got: Vec<u64> = s.range(StreamId::MIN, StreamId::MAX, 0, false)
                    .iter().map(|(id, _)| id.ms).collect();
                prop_assert_eq!(&got, &model);
                let live: usize = s.nodes.values().map(|n| n.live).sum();
                prop_assert_eq!(live, s.len());
                prop_assert_eq!(s.first_id.ms, model.first().copied().unwrap_or(0));
            }
        }
    }
}
