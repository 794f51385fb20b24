//! Key rewrite: the write commands that recreate one key in an empty database.
//!
//! A snapshot is a compacted log (the idea of Redis's AOF rewrite): for every key, the
//! commands [`rewrite_entry`] produces, applied in order through the normal apply path,
//! rebuild the key. Because a restored node must go on applying the same log as the
//! others and stay identical to them, "the same value" means more than the same content:
//!
//! - the same iteration order where writes depend on it (a set's member order decides
//!   which member SPOP takes; a hash's field order is HSCAN's and HRANDFIELD's);
//! - the same encoding where it decides how that order moves or what a later command does
//!   (a set or hash that once grew big never converts back; a zset keeps `-0` only in
//!   the skiplist encoding; a list between half and the whole listpack limit stays a
//!   quicklist);
//! - for streams, the same listpack node boundaries (approximate `~` trimming removes
//!   whole nodes), last ID, entries-added counter, max deleted ID, groups, consumers and
//!   pending entries.
//!
//! Where plain commands would lose one of these, the rewrite adds a padding argument or a
//! placeholder it removes again (a 65-byte hash field, a 65-byte zset member, a
//! non-integer set member, an 8 KiB list element, stream entries at IDs that were
//! deleted). Every emitted command is a valid, documented command; nothing here is
//! visible to clients.
//!
//! Not restorable with existing commands (see the tests' normalisation):
//! - a consumer's seen-time and active-time become the restore entry's time (XGROUP
//!   CREATECONSUMER and XCLAIM stamp `now`);
//! - a pending entry whose stream entry was deleted and whose listpack node is gone
//!   (trimmed, or every entry of it deleted) is dropped: XCLAIM FORCE only creates pending
//!   entries for existing IDs, and a placeholder outside every node would change node
//!   boundaries;
//! - node boundaries are exact only when the restoring node has the same
//!   `stream-node-max-entries` / `stream-node-max-bytes` as the node that built them;
//! - a zset's treap shape (not observable) follows the restore's insert order.
//!
//! Cannot fail and does not look at the clock: the caller decides the restore time.
//! Linear in the value's size; `Bytes` arguments are reference-counted clones.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::keyspace::{Entry, Value};
use crate::resp::decode::parse_i64;
use crate::types::hash::{self, Hash};
use crate::types::list::{self, List};
use crate::types::set::{self, Encoding as SetEncoding, Set};
use crate::types::stream::{entry_size, Stream, StreamId};
use crate::types::zset::{self, ZSet};

/// Items per command when a collection is split (bounds one log entry's size).
pub const ITEMS_PER_COMMAND: usize = 512;

/// Zeros for padding arguments (list elements, stream placeholder values).
static ZEROS: [u8; list::LISTPACK_MAX_BYTES] = [0; list::LISTPACK_MAX_BYTES];

/// The smallest [`entry_size`] of a stream entry (one empty field with an empty value).
const MIN_STREAM_ENTRY_SIZE: usize = 12;
/// What a new listpack node counts before its first entry (see `Stream::append`).
const STREAM_NODE_OVERHEAD: usize = 16;

/// Calls `out` with each argv (in order) that recreates `key` holding `entry` in an empty database.
pub fn rewrite_entry(key: &[u8], entry: &Entry, out: &mut dyn FnMut(Vec<Bytes>)) {
    let key = &Bytes::copy_from_slice(key);
    let mut ttl_done = false;
    match &entry.value {
        Value::Str(s) => {
            // One command instead of two for a volatile string.
            match entry.expire_at_ms().filter(|at| *at > 0) {
                Some(at) => {
                    out(vec![b("SET"), key.clone(), s.to_bytes(), b("PXAT"), uint(at)]);
                    ttl_done = true;
                }
                None => out(vec![b("SET"), key.clone(), s.to_bytes()]),
            }
        }
        Value::List(l) => rewrite_list(key, l, out),
        Value::Hash(h) => rewrite_hash(key, h, out),
        Value::Set(s) => rewrite_set(key, s, out),
        Value::ZSet(z) => rewrite_zset(key, z, out),
        Value::Stream(s) => rewrite_stream(key, s, out),
        Value::Json(d) => rewrite_json(key, d, out),
    }
    if let (Some(at), false) = (entry.expire_at_ms(), ttl_done) {
        out(vec![b("PEXPIREAT"), key.clone(), uint(at)]);
    }
}

/// Nesting depth at which a JSON document is cut into several JSON.SETs: JSON text nested
/// deeper than [`engram_json::MAX_DEPTH`] does not parse, but a document can grow deeper
/// by setting values at depth.
const JSON_CUT_DEPTH: usize = 64;

/// `JSON.SET key $ <document>`; a document nested deeper than [`JSON_CUT_DEPTH`] is sent
/// with nulls in place of the deep containers, each then set at its own path (and cut
/// again if needed). Numbers are written in shortest round-trip form.
fn rewrite_json(key: &Bytes, doc: &engram_json::Document, out: &mut dyn FnMut(Vec<Bytes>)) {
    let compact = engram_json::Format::default();
    if doc.nesting_depth(JSON_CUT_DEPTH) <= JSON_CUT_DEPTH {
        out(vec![b("JSON.SET"), key.clone(), b("$"), Bytes::from(doc.to_json(&compact))]);
        return;
    }
    let mut pending = vec![(String::from("$"), doc.to_value())];
    while let Some((path, value)) = pending.pop() {
        let mut deeper = Vec::new();
        let cut = json_cut(&value, 0, &path, &mut deeper);
        let text = engram_json::Document::from_value(cut).to_json(&compact);
        out(vec![b("JSON.SET"), key.clone(), Bytes::from(path), Bytes::from(text)]);
        // Parents before children: the stack pops the deep ones after this one is set.
        deeper.reverse();
        pending.extend(deeper);
    }
}

/// A copy of `v` with the containers at `JSON_CUT_DEPTH` replaced by null; each replaced
/// one is pushed to `deeper` with its static path (`$["key"][3]...`).
fn json_cut(
    v: &serde_json::Value,
    level: usize,
    path: &str,
    deeper: &mut Vec<(String, serde_json::Value)>,
) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Array(_) | J::Object(_) if level == JSON_CUT_DEPTH => {
            deeper.push((path.to_string(), v.clone()));
            J::Null
        }
        J::Array(a) => J::Array(
            a.iter()
                .enumerate()
                .map(|(i, e)| json_cut(e, level + 1, &format!("{path}[{i}]"), deeper))
                .collect(),
        ),
        J::Object(m) => J::Object(
            m.iter()
                .map(|(k, e)| {
                    let quoted = k.replace('\\', "\\\\").replace('"', "\\\"");
                    let child = format!("{path}[\"{quoted}\"]");
                    (k.clone(), json_cut(e, level + 1, &child, deeper))
                })
                .collect(),
        ),
        scalar => scalar.clone(),
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn uint(n: u64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes())
}

fn stream_id(id: StreamId) -> Bytes {
    let mut buf = itoa::Buffer::new();
    let mut v = Vec::with_capacity(41);
    v.extend_from_slice(buf.format(id.ms).as_bytes());
    v.push(b'-');
    v.extend_from_slice(buf.format(id.seq).as_bytes());
    Bytes::from(v)
}

/// Shortest text that parses back to exactly `score` (`-0.0`, `5e-324`, `inf`, `-inf`).
fn score_text(score: f64) -> Bytes {
    Bytes::copy_from_slice(ryu::Buffer::new().format(score).as_bytes())
}

fn zeros(len: usize) -> Bytes {
    if len <= ZEROS.len() {
        Bytes::from_static(&ZEROS[..len])
    } else {
        Bytes::from(vec![0u8; len])
    }
}

/// Emits `name key <items...>` commands of at most [`ITEMS_PER_COMMAND`] items each;
/// `push` appends one item's arguments.
fn chunked<T>(
    out: &mut dyn FnMut(Vec<Bytes>),
    name: &'static str,
    key: &Bytes,
    args_per_item: usize,
    items: impl Iterator<Item = T>,
    mut push: impl FnMut(&mut Vec<Bytes>, T),
) {
    let mut argv: Vec<Bytes> = Vec::new();
    let mut n = 0;
    for item in items {
        if n == 0 {
            argv = Vec::with_capacity(2 + ITEMS_PER_COMMAND * args_per_item);
            argv.push(b(name));
            argv.push(key.clone());
        }
        push(&mut argv, item);
        n += 1;
        if n == ITEMS_PER_COMMAND {
            out(std::mem::take(&mut argv));
            n = 0;
        }
    }
    if n > 0 {
        out(argv);
    }
}

fn rewrite_list(key: &Bytes, l: &List, out: &mut dyn FnMut(Vec<Bytes>)) {
    chunked(out, "RPUSH", key, 1, l.iter(), |a, e| a.push(Bytes::copy_from_slice(e)));
    // Pushes only grow the list, so it ends a quicklist exactly when it passes the
    // limit; one that shrank back into the hysteresis band is still a quicklist: push
    // past the limit, then pop (the band keeps it a quicklist).
    if l.encoding() == "quicklist" && l.listpack_bytes() <= list::LISTPACK_MAX_BYTES {
        out(vec![b("RPUSH"), key.clone(), zeros(list::LISTPACK_MAX_BYTES)]);
        out(vec![b("RPOP"), key.clone()]);
    }
}

fn rewrite_hash(key: &Bytes, h: &Hash, out: &mut dyn FnMut(Vec<Bytes>)) {
    // Fields in position order: HSET appends, so positions match.
    let mut grows_big = h.len() > hash::LISTPACK_MAX_ENTRIES;
    chunked(out, "HSET", key, 2, h.iter(), |a, s| {
        grows_big |=
            s.field.len() > hash::LISTPACK_MAX_VALUE || s.value.len() > hash::LISTPACK_MAX_VALUE;
        a.push(Bytes::copy_from_slice(s.field));
        a.push(Bytes::copy_from_slice(s.value));
    });
    if !h.is_listpack() && !grows_big {
        // Once big, always big (removals then move the last field into the hole). Every
        // field is at most 64 bytes here, so a 65-byte field is new; removing the last
        // field moves nothing.
        let pad = zeros(hash::LISTPACK_MAX_VALUE + 1);
        out(vec![b("HSET"), key.clone(), pad.clone(), Bytes::new()]);
        out(vec![b("HDEL"), key.clone(), pad]);
    }
    // Deadlines by (deadline, field), as the hash expires them; fields sharing a deadline
    // share a command. A deadline already passed at restore time removes the field, in
    // the order the original's purge would.
    let mut volatile: Vec<(u64, &[u8])> =
        h.iter().filter_map(|s| s.expire_at_ms.map(|at| (at, s.field))).collect();
    volatile.sort_unstable();
    for group in volatile.chunk_by(|x, y| x.0 == y.0) {
        for part in group.chunks(ITEMS_PER_COMMAND) {
            let mut argv = Vec::with_capacity(5 + part.len());
            argv.extend([b("HPEXPIREAT"), key.clone(), uint(part[0].0), b("FIELDS")]);
            argv.push(uint(part.len() as u64));
            argv.extend(part.iter().map(|(_, f)| Bytes::copy_from_slice(f)));
            out(argv);
        }
    }
    // A field-TTL command ever touched it: Redis reports `listpackex` for good. A
    // conditional HPEXPIREAT that fails still counts as touching.
    if volatile.is_empty() && h.is_listpack() && h.encoding() == "listpackex" {
        if let Some(first) = h.iter().next() {
            out(vec![
                b("HPEXPIREAT"),
                key.clone(),
                b("0"),
                b("XX"),
                b("FIELDS"),
                b("1"),
                Bytes::copy_from_slice(first.field),
            ]);
        }
    }
}

fn is_int(member: &[u8]) -> bool {
    parse_i64(member).is_some()
}

fn rewrite_set(key: &Bytes, s: &Set, out: &mut dyn FnMut(Vec<Bytes>)) {
    let Some(first) = s.iter().next() else { return };
    let copy = |m: &[u8]| Bytes::copy_from_slice(m);
    match s.encoding_kind() {
        // Sorted integers: SADD on a new key starts an intset for an integer first member
        // and at most 512 arguments, and keeps it sorted.
        SetEncoding::Intset => chunked(out, "SADD", key, 1, s.iter(), |a, m| a.push(copy(m))),
        // Insertion order. A non-integer first member starts a listpack directly; an
        // integer one would start an intset (sorted), so lead with a placeholder member
        // and remove it (a listpack removal shifts, keeping the order).
        SetEncoding::Listpack if !is_int(first) => {
            chunked(out, "SADD", key, 1, s.iter(), |a, m| a.push(copy(m)));
        }
        SetEncoding::Listpack => {
            let placeholder = set_placeholder(s);
            let head = s.len().min(set::MAX_LISTPACK_ENTRIES - 1);
            let mut argv = Vec::with_capacity(3 + head);
            argv.extend([b("SADD"), key.clone(), placeholder.clone()]);
            argv.extend(s.iter().take(head).map(copy));
            out(argv);
            out(vec![b("SREM"), key.clone(), placeholder]);
            if head < s.len() {
                chunked(out, "SADD", key, 1, s.iter().skip(head), |a, m| a.push(copy(m)));
            }
        }
        // SADD on a new key picks the encoding from the first member and the argument
        // count: repeat the first member until the count alone means a hashtable (the
        // repeats add nothing); from then on members are appended in order.
        SetEncoding::Hashtable => {
            let needed = if is_int(first) {
                set::MAX_INTSET_ENTRIES + 1
            } else if first.len() <= set::MAX_LISTPACK_VALUE {
                set::MAX_LISTPACK_ENTRIES + 1
            } else {
                1
            };
            let head = s.len().min(ITEMS_PER_COMMAND);
            let pad = needed.saturating_sub(head);
            let mut argv = Vec::with_capacity(2 + head + pad);
            argv.extend([b("SADD"), key.clone()]);
            argv.extend(s.iter().take(head).map(copy));
            argv.extend(std::iter::repeat_n(copy(first), pad));
            out(argv);
            chunked(out, "SADD", key, 1, s.iter().skip(head), |a, m| a.push(copy(m)));
        }
    }
}

/// A short non-integer member that `s` does not hold.
fn set_placeholder(s: &Set) -> Bytes {
    let mut n = 0u64;
    loop {
        let mut v = b"engram:rewrite:".to_vec();
        v.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        if !s.contains(&v) {
            return Bytes::from(v);
        }
        n += 1;
    }
}

fn rewrite_zset(key: &Bytes, z: &ZSet, out: &mut dyn FnMut(Vec<Bytes>)) {
    let push = |a: &mut Vec<Bytes>, (score, member): (f64, &[u8])| {
        a.push(score_text(score));
        a.push(Bytes::copy_from_slice(member));
    };
    if z.encoding() != "skiplist" {
        chunked(out, "ZADD", key, 2, z.iter(), push);
        return;
    }
    // The skiplist encoding is for good, and only it keeps `-0`: the set must be a
    // skiplist before the first insert. A member longer than 64 bytes converts it when
    // inserted first; otherwise a 65-byte placeholder member (new, as no member is that
    // long) does, and goes again at the end. Without `-0`, more than 128 members convert
    // on their own before anything depends on it.
    let mut long = None;
    let mut negative_zero = false;
    for (rank, (score, member)) in z.iter().enumerate() {
        if long.is_none() && member.len() > zset::LISTPACK_MAX_VALUE {
            long = Some((rank, score, member));
        }
        negative_zero |= score == 0.0 && score.is_sign_negative();
    }
    match long {
        Some((rank, score, member)) => {
            out(vec![b("ZADD"), key.clone(), score_text(score), Bytes::copy_from_slice(member)]);
            let others = z.iter().enumerate().filter(|(r, _)| *r != rank).map(|(_, item)| item);
            chunked(out, "ZADD", key, 2, others, push);
        }
        None if negative_zero || z.len() <= zset::LISTPACK_MAX_ENTRIES => {
            let pad = zeros(zset::LISTPACK_MAX_VALUE + 1);
            out(vec![b("ZADD"), key.clone(), b("0"), pad.clone()]);
            chunked(out, "ZADD", key, 2, z.iter(), push);
            out(vec![b("ZREM"), key.clone(), pad]);
        }
        None => chunked(out, "ZADD", key, 2, z.iter(), push),
    }
}

/// A stream entry the rewrite appends and deletes again, so the listpack nodes count
/// it as the original's did.
struct Placeholder {
    id: StreamId,
    size: usize,
}

/// Where each node's deleted entries go: at the node's first and last appended IDs when
/// those were deleted, at deleted IDs still pending in a group (so XCLAIM can recreate
/// their pending entries before they are deleted), then at the smallest free IDs. The
/// lowest placeholder of a node carries the bytes beyond the minimum, so a node that
/// began with a deleted entry still refuses to take the entry before it.
fn plan_placeholders(s: &Stream, pending_gone: &BTreeSet<StreamId>) -> Vec<Placeholder> {
    let mut all = Vec::new();
    for node in s.nodes() {
        let deleted = node.total.saturating_sub(node.live);
        if deleted == 0 {
            continue;
        }
        let live_bytes: usize =
            s.entries_in(node.first, node.last).map(|(_, fields)| entry_size(&fields)).sum();
        let mut ids = BTreeSet::new();
        for id in [node.first, node.last] {
            if ids.len() < deleted && !s.contains(id) {
                ids.insert(id);
            }
        }
        for id in pending_gone.range(node.first..=node.last) {
            if ids.len() >= deleted {
                break;
            }
            ids.insert(*id);
        }
        let mut candidate = node.first;
        while ids.len() < deleted {
            match candidate.next() {
                Some(next) if next < node.last => {
                    candidate = next;
                    if !s.contains(next) {
                        ids.insert(next);
                    }
                }
                _ => break,
            }
        }
        let deleted_bytes = node.bytes.saturating_sub(STREAM_NODE_OVERHEAD + live_bytes);
        let extra = deleted_bytes.saturating_sub(MIN_STREAM_ENTRY_SIZE * ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            let size = MIN_STREAM_ENTRY_SIZE + if i == 0 { extra } else { 0 };
            all.push(Placeholder { id, size });
        }
    }
    all
}

fn rewrite_stream(key: &Bytes, s: &Stream, out: &mut dyn FnMut(Vec<Bytes>)) {
    let pending_gone: BTreeSet<StreamId> = s
        .groups
        .values()
        .flat_map(|g| g.pel.keys())
        .filter(|id| !s.contains(**id))
        .copied()
        .collect();
    let placeholders = plan_placeholders(s, &pending_gone);

    // Entries and placeholders in ID order, so nodes fill as they did.
    let xadd = |id: StreamId, fields: &mut dyn Iterator<Item = (Bytes, Bytes)>| {
        let mut argv = vec![b("XADD"), key.clone(), stream_id(id)];
        for (f, v) in fields {
            argv.push(f);
            argv.push(v);
        }
        argv
    };
    let mut live = s.entries_in(StreamId::MIN, StreamId::MAX).peekable();
    let mut pads = placeholders.iter().peekable();
    let mut appended = 0u64;
    let mut last_appended = StreamId::MIN;
    loop {
        let take_live = match (live.peek(), pads.peek()) {
            (Some((id, _)), Some(p)) => *id < p.id,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let argv = if take_live {
            let Some((id, fields)) = live.next() else { break };
            last_appended = id;
            xadd(id, &mut fields.iter().cloned())
        } else {
            let Some(p) = pads.next() else { break };
            last_appended = p.id;
            let value = zeros(p.size.saturating_sub(MIN_STREAM_ENTRY_SIZE));
            xadd(p.id, &mut std::iter::once((Bytes::new(), value)))
        };
        appended += 1;
        out(argv);
    }

    // An empty stream is created by its first group (or a throwaway one).
    let mut mkstream = appended == 0;
    if mkstream && s.groups.is_empty() {
        let throwaway = b("engram:rewrite");
        out(vec![b("XGROUP"), b("CREATE"), key.clone(), throwaway.clone(), b("0"), b("MKSTREAM")]);
        out(vec![b("XGROUP"), b("DESTROY"), key.clone(), throwaway]);
        mkstream = false;
    }
    for (name, g) in &s.groups {
        let mut argv =
            vec![b("XGROUP"), b("CREATE"), key.clone(), name.clone(), stream_id(g.last_id)];
        if std::mem::take(&mut mkstream) {
            argv.push(b("MKSTREAM"));
        }
        if let Some(n) = g.entries_read {
            argv.push(b("ENTRIESREAD"));
            argv.push(uint(n));
        }
        out(argv);
    }
    for (name, g) in &s.groups {
        for consumer in g.consumers.keys() {
            out(vec![
                b("XGROUP"),
                b("CREATECONSUMER"),
                key.clone(),
                name.clone(),
                consumer.clone(),
            ]);
        }
    }
    // Pending entries, while every ID they name exists (placeholders included). Runs of
    // IDs with the same owner, delivery time and count share one XCLAIM.
    let is_placeholder = |id: &StreamId| placeholders.binary_search_by(|p| p.id.cmp(id)).is_ok();
    for (name, g) in &s.groups {
        let claimable = g.pel.iter().filter(|(id, _)| s.contains(**id) || is_placeholder(id));
        let mut run: Option<(Vec<Bytes>, &crate::types::stream::Pending)> = None;
        let mut flush = |run: Option<(Vec<Bytes>, &crate::types::stream::Pending)>| {
            if let Some((mut argv, p)) = run {
                argv.extend([b("TIME"), uint(p.delivery_time_ms), b("RETRYCOUNT")]);
                argv.extend([uint(p.delivery_count), b("FORCE"), b("JUSTID")]);
                out(argv);
            }
        };
        for (id, p) in claimable {
            let same = run.as_ref().is_some_and(|(argv, q)| {
                argv.len() < 5 + ITEMS_PER_COMMAND
                    && q.consumer == p.consumer
                    && q.delivery_time_ms == p.delivery_time_ms
                    && q.delivery_count == p.delivery_count
            });
            if !same {
                flush(run.take());
                let argv = vec![b("XCLAIM"), key.clone(), name.clone(), p.consumer.clone(), b("0")];
                run = Some((argv, p));
            }
            if let Some((argv, _)) = run.as_mut() {
                argv.push(stream_id(*id));
            }
        }
        flush(run);
    }
    let max_deleted = placeholders.last().map_or(StreamId::MIN, |p| p.id);
    chunked(out, "XDEL", key, 1, placeholders.iter(), |a, p| a.push(stream_id(p.id)));

    let counters = (s.last_id, s.entries_added, s.max_deleted_id);
    if counters != (last_appended, appended, max_deleted) {
        // XSETID refuses a last ID below the current max deleted ID (a placeholder's),
        // which the original can have after lowering it with MAXDELETEDID first.
        if s.last_id < max_deleted {
            out(vec![
                b("XSETID"),
                key.clone(),
                stream_id(max_deleted),
                b("MAXDELETEDID"),
                stream_id(s.max_deleted_id),
            ]);
        }
        out(vec![
            b("XSETID"),
            key.clone(),
            stream_id(s.last_id),
            b("ENTRIESADDED"),
            uint(s.entries_added),
            b("MAXDELETEDID"),
            stream_id(s.max_deleted_id),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parking_lot::RwLock;

    use super::*;
    use crate::entry::Request;
    use crate::fsm::Fsm;
    use crate::keyspace::Keyspace;
    use crate::reply::Reply;
    use crate::rng::Rng;

    trait Arg {
        fn arg(&self) -> Bytes;
    }
    impl Arg for &str {
        fn arg(&self) -> Bytes {
            Bytes::copy_from_slice(self.as_bytes())
        }
    }
    impl Arg for String {
        fn arg(&self) -> Bytes {
            Bytes::copy_from_slice(self.as_bytes())
        }
    }
    impl Arg for Bytes {
        fn arg(&self) -> Bytes {
            self.clone()
        }
    }
    impl Arg for u64 {
        fn arg(&self) -> Bytes {
            uint(*self)
        }
    }
    impl Arg for StreamId {
        fn arg(&self) -> Bytes {
            stream_id(*self)
        }
    }

    macro_rules! argv {
        ($($x:expr),* $(,)?) => { vec![$(Arg::arg(&$x)),*] };
    }

    /// A keyspace fed through the real apply path.
    struct Node {
        fsm: Fsm,
        ks: Keyspace,
        index: u64,
    }

    impl Node {
        fn new() -> Node {
            let fsm = Fsm::new(Arc::new(RwLock::new(Keyspace::new(16))), None, Arc::default());
            Node { fsm, ks: Keyspace::new(16), index: 0 }
        }

        fn run(&mut self, db: u32, now_ms: u64, argv: Vec<Bytes>) -> Reply {
            self.index += 1;
            self.fsm.apply_one(&mut self.ks, self.index, &Request::Write { db, now_ms, argv })
        }

        fn ok(&mut self, now_ms: u64, argv: Vec<Bytes>) -> Reply {
            let shown = format!("{argv:?}");
            let reply = self.run(0, now_ms, argv);
            assert!(!matches!(reply, Reply::Error(_)), "{shown} -> {reply:?}");
            reply
        }

        fn value(&self, key: &str, now_ms: u64) -> &Value {
            self.ks.db(0).get(key.as_bytes(), now_ms).expect("key exists")
        }
    }

    /// Rewrites every key of `src` and applies the commands to a fresh keyspace at
    /// `now_ms`; every command must succeed. Returns the node and every argv.
    fn restore(src: &Keyspace, now_ms: u64) -> (Node, Vec<Vec<Bytes>>) {
        let mut dst = Node::new();
        let mut all = Vec::new();
        for (db, d) in src.iter() {
            let mut cmds = Vec::new();
            for (key, entry) in d.iter() {
                rewrite_entry(key, entry, &mut |argv| cmds.push(argv));
            }
            for argv in cmds {
                let reply = dst.run(db as u32, now_ms, argv.clone());
                assert!(!matches!(reply, Reply::Error(_)), "{argv:?} -> {reply:?}");
                all.push(argv);
            }
        }
        (dst, all)
    }

    /// What the rewrite cannot carry over (module docs), removed from both sides; and
    /// expired keys and fields purged, as the restore's clock purges them.
    fn settle(node: &mut Node, now_ms: u64) {
        for db in 0..node.ks.len() {
            let keys: Vec<Bytes> = node.ks.db(db).iter().map(|(k, _)| k.to_bytes()).collect();
            if keys.is_empty() {
                continue;
            }
            node.index += 1;
            let expire = Request::Expire { db: db as u32, now_ms, keys: keys.clone() };
            node.fsm.apply_one(&mut node.ks, node.index, &expire);
            for key in keys {
                let mut dbm = node.ks.db_mut(db);
                let Some(Value::Stream(s)) = dbm.value_mut_silent(&key, now_ms) else {
                    continue;
                };
                let gone: BTreeSet<StreamId> = s
                    .groups
                    .values()
                    .flat_map(|g| g.pel.keys())
                    .filter(|id| !s.contains(**id))
                    .copied()
                    .collect();
                let pads: BTreeSet<StreamId> =
                    plan_placeholders(s, &gone).iter().map(|p| p.id).collect();
                for g in s.groups.values_mut() {
                    for id in gone.difference(&pads) {
                        g.ack(*id);
                    }
                    for c in g.consumers.values_mut() {
                        c.seen_time_ms = 0;
                        c.active_time_ms = None;
                    }
                }
            }
        }
    }

    /// Encoding and the iteration orders the digest ignores on purpose.
    fn shape(v: &Value) -> String {
        match v {
            Value::Set(s) => format!("{} {:?}", s.encoding(), s.iter().collect::<Vec<_>>()),
            Value::Hash(h) => {
                let fields: Vec<&[u8]> = h.iter().map(|s| s.field).collect();
                format!("{} {fields:?}", h.encoding())
            }
            other => other.encoding().to_string(),
        }
    }

    /// Restores `src` and asserts the result equals it (after [`settle`]).
    fn assert_round_trip(src: &mut Node, now_ms: u64, seed: u64) -> Vec<Vec<Bytes>> {
        let (mut dst, argvs) = restore(&src.ks, now_ms);
        settle(src, now_ms);
        settle(&mut dst, now_ms);
        for (db, d) in src.ks.iter() {
            assert_eq!(d.len(), dst.ks.db(db).len(), "seed {seed}: db {db} key count");
            for (key, entry) in d.iter() {
                let Some(copy) = dst.ks.db(db).get_entry(key, now_ms) else {
                    panic!("seed {seed}: {key:?} missing after restore");
                };
                assert_eq!(copy.expire_at_ms(), entry.expire_at_ms(), "seed {seed}: {key:?} ttl");
                assert_eq!(copy.value, entry.value, "seed {seed}: {key:?}");
                assert_eq!(shape(&copy.value), shape(&entry.value), "seed {seed}: {key:?}");
            }
        }
        assert_eq!(dst.ks.digest(), src.ks.digest(), "seed {seed}");
        argvs
    }

    const SCORES: &[&str] = &[
        "0",
        "-0",
        "1",
        "1",
        "1.5",
        "-2.25",
        "inf",
        "-inf",
        "5e-324",
        "1e-310",
        "2.2250738585072014e-308",
        "1e300",
        "-1e-300",
        "0.1",
        "3",
        "3",
        "123456789.123",
    ];

    fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
        items[rng.below(items.len() as u64) as usize]
    }

    fn member(rng: &mut Rng) -> Bytes {
        match rng.below(10) {
            0..=3 => uint(rng.below(60)),
            4 => Bytes::from(format!("-{}", rng.below(30))),
            5 => Bytes::from(vec![b'L'; 65 + rng.below(10) as usize]),
            6 => Bytes::from(vec![0u8, b'\r', b'\n', rng.below(256) as u8]),
            _ => Bytes::from(format!("m{}", rng.below(40))),
        }
    }

    fn value(rng: &mut Rng) -> Bytes {
        match rng.below(8) {
            0 => uint(rng.next_u64() >> rng.below(64)),
            1 => Bytes::from(vec![b'v'; 40 + rng.below(400) as usize]),
            2 => Bytes::from(vec![0u8, 1, 2, b'\n', 255]),
            3 => Bytes::new(),
            _ => Bytes::from(format!("v{}", rng.below(1000))),
        }
    }

    /// Some existing entry ID of stream `key` (or a made-up one).
    fn some_id(ks: &Keyspace, key: &str, rng: &mut Rng, now_ms: u64) -> StreamId {
        match ks.db(0).get(key.as_bytes(), now_ms) {
            Some(Value::Stream(s)) if !s.is_empty() => {
                let all = s.range(StreamId::MIN, StreamId::MAX, 0, false);
                all[rng.below(all.len() as u64) as usize].0
            }
            _ => StreamId::new(now_ms, rng.below(3)),
        }
    }

    fn random_command(rng: &mut Rng, ks: &Keyspace, now_ms: u64) -> Vec<Bytes> {
        let n = rng.below(6);
        match rng.below(13) {
            0 => {
                let key = format!("s{n}");
                match rng.below(4) {
                    0 => argv!("SET", key, value(rng), "PX", 1 + rng.below(3000)),
                    1 => argv!("INCRBY", format!("i{n}"), rng.below(1000)),
                    2 => argv!("APPEND", key, value(rng)),
                    _ => argv!("SET", key, value(rng)),
                }
            }
            1 => {
                let key = format!("l{n}");
                let mut a = argv!(if rng.below(2) == 0 { "RPUSH" } else { "LPUSH" }, key);
                let count = if n == 0 && rng.below(20) == 0 { 700 } else { 1 + rng.below(4) };
                for _ in 0..count {
                    a.push(if rng.below(15) == 0 {
                        Bytes::from(vec![b'q'; 700])
                    } else {
                        member(rng)
                    });
                }
                a
            }
            2 => {
                let key = format!("l{n}");
                match rng.below(5) {
                    0 => argv!("LPOP", key, 1 + rng.below(5)),
                    1 => argv!("LTRIM", key, rng.below(3), format!("-{}", 1 + rng.below(20))),
                    2 => argv!("LSET", key, "0", value(rng)),
                    3 => argv!("LINSERT", key, "BEFORE", member(rng), value(rng)),
                    _ => argv!("LREM", key, "0", member(rng)),
                }
            }
            3 => {
                let key = format!("h{n}");
                let mut a = argv!("HSET", key);
                for _ in 0..1 + rng.below(3) {
                    a.push(Bytes::from(format!("f{}", rng.below(if n == 0 { 200 } else { 20 }))));
                    a.push(value(rng));
                }
                if rng.below(20) == 0 {
                    a.push(Bytes::from(vec![b'F'; 70]));
                    a.push(value(rng));
                }
                a
            }
            4 => {
                let key = format!("h{n}");
                let field = format!("f{}", rng.below(20));
                match rng.below(6) {
                    0 | 1 => argv!(
                        "HPEXPIRE",
                        key,
                        1 + rng.below(4000),
                        "FIELDS",
                        "2",
                        field,
                        format!("f{}", rng.below(20))
                    ),
                    2 => argv!("HPERSIST", key, "FIELDS", "1", field),
                    3 => argv!("HEXPIRE", key, "100", "XX", "FIELDS", "1", field),
                    4 => argv!("HINCRBY", key, field, rng.below(10)),
                    _ => argv!("HDEL", key, field, format!("f{}", rng.below(20))),
                }
            }
            5 => {
                let key = format!("t{n}");
                let mut a = argv!("SADD", key);
                let count = if n != 5 && rng.below(25) == 0 {
                    150 + rng.below(450)
                } else {
                    1 + rng.below(4)
                };
                let ints_only = n == 5 || rng.below(3) == 0;
                for _ in 0..count {
                    a.push(if ints_only { uint(rng.below(2000)) } else { member(rng) });
                }
                a
            }
            6 => {
                let key = format!("t{n}");
                match rng.below(3) {
                    0 => {
                        let max = if rng.below(4) == 0 { 600 } else { 3 };
                        argv!("SPOP", key, 1 + rng.below(max))
                    }
                    1 => argv!("SMOVE", key, format!("t{}", rng.below(5)), member(rng)),
                    _ => argv!("SREM", key, member(rng), member(rng)),
                }
            }
            7 => {
                let key = format!("z{n}");
                let mut a = argv!("ZADD", key);
                let count = if rng.below(25) == 0 { 140 } else { 1 + rng.below(4) };
                for i in 0..count {
                    a.push(pick(rng, SCORES).arg());
                    a.push(if count > 100 { uint(i) } else { member(rng) });
                }
                a
            }
            8 => {
                let key = format!("z{n}");
                match rng.below(3) {
                    0 => argv!("ZINCRBY", key, pick(rng, SCORES), member(rng)),
                    1 => argv!("ZREMRANGEBYRANK", key, "0", rng.below(100)),
                    _ => argv!("ZREM", key, member(rng), member(rng)),
                }
            }
            9 | 10 => {
                let key = format!("x{}", n % 4);
                let mut a = match rng.below(4) {
                    0 => argv!("XADD", key, "MAXLEN", "~", 30 + rng.below(200), "*"),
                    1 => argv!("XADD", key, format!("{}-*", now_ms + 1)),
                    _ => argv!("XADD", key, "*"),
                };
                for _ in 0..1 + rng.below(3) {
                    a.push(member(rng));
                    a.push(value(rng));
                }
                a
            }
            11 => {
                let key = format!("x{}", n % 4);
                let group = format!("g{}", rng.below(3));
                let consumer = format!("c{}", rng.below(4));
                match rng.below(13) {
                    0 => argv!(
                        "XDEL",
                        key,
                        some_id(ks, &key, rng, now_ms),
                        some_id(ks, &key, rng, now_ms)
                    ),
                    1 => argv!("XTRIM", key, "MAXLEN", rng.below(150)),
                    2 => argv!("XTRIM", key, "MINID", "~", some_id(ks, &key, rng, now_ms)),
                    3 => match rng.below(3) {
                        0 => argv!("XGROUP", "CREATE", key, group, "$", "MKSTREAM"),
                        1 => {
                            argv!("XGROUP", "CREATE", key, group, "0", "ENTRIESREAD", rng.below(5))
                        }
                        _ => argv!("XGROUP", "CREATE", key, group, some_id(ks, &key, rng, now_ms)),
                    },
                    4..=6 => argv!(
                        "XREADGROUP",
                        "GROUP",
                        group,
                        consumer,
                        "COUNT",
                        1 + rng.below(8),
                        "STREAMS",
                        key,
                        ">"
                    ),
                    7 => argv!(
                        "XACK",
                        key,
                        group,
                        some_id(ks, &key, rng, now_ms),
                        some_id(ks, &key, rng, now_ms)
                    ),
                    8 => argv!(
                        "XCLAIM",
                        key,
                        group,
                        consumer,
                        rng.below(50),
                        some_id(ks, &key, rng, now_ms),
                        some_id(ks, &key, rng, now_ms)
                    ),
                    9 => argv!(
                        "XAUTOCLAIM",
                        key,
                        group,
                        consumer,
                        rng.below(50),
                        "0",
                        "COUNT",
                        1 + rng.below(5)
                    ),
                    10 => argv!("XGROUP", "CREATECONSUMER", key, group, consumer),
                    11 => argv!("XGROUP", "DELCONSUMER", key, group, consumer),
                    _ => argv!(
                        "XGROUP",
                        "SETID",
                        key,
                        group,
                        some_id(ks, &key, rng, now_ms),
                        "ENTRIESREAD",
                        rng.below(3)
                    ),
                }
            }
            _ => {
                let key = pick(rng, &["s1", "l1", "h1", "t1", "z1", "x1", "s2", "h2", "t2"]);
                match rng.below(5) {
                    0 => argv!("PEXPIRE", key, 1 + rng.below(3000)),
                    1 => argv!("PERSIST", key),
                    2 => argv!("DEL", key),
                    3 => argv!(
                        "XSETID",
                        "x2",
                        StreamId::new(now_ms + 50, 0),
                        "ENTRIESADDED",
                        10_000u64,
                        "MAXDELETEDID",
                        StreamId::new(now_ms, 0)
                    ),
                    _ => argv!("PEXPIREAT", key, now_ms + 10_000),
                }
            }
        }
    }

    #[test]
    fn a_random_workload_over_every_type_is_recreated_exactly() {
        for seed in [1u64, 2, 3, 0xfeed] {
            let mut rng = Rng::new(seed);
            let mut src = Node::new();
            let mut now_ms = 1_700_000_000_000u64;
            for i in 0..8000 {
                now_ms += rng.below(3);
                let argv = random_command(&mut rng, &src.ks, now_ms);
                // A second database too, with the same commands.
                let db = u32::from(i % 7 == 0);
                src.run(db, now_ms, argv);
            }
            src.run(0, now_ms, argv!("SET", "raw", "r".repeat(100)));
            // JSON documents, one of them volatile (no rng draws: the workload stays as is).
            src.run(0, now_ms, argv!("JSON.SET", "j1", "$", r#"{"a":[1,2.5,"x"],"b":null}"#));
            src.run(0, now_ms, argv!("JSON.NUMINCRBY", "j1", "$.a[1]", "0.1"));
            src.run(1, now_ms, argv!("JSON.SET", "j2", "$", "-0.0"));
            src.run(0, now_ms, argv!("JSON.SET", "j3", "$", r#"{"z":1,"a":2}"#));
            src.run(0, now_ms, argv!("PEXPIRE", "j3", 5_000u64));
            // Shapes the workload must have produced, or the test proves little.
            let encodings: BTreeSet<&str> =
                src.ks.db(0).iter().map(|(_, e)| e.value.encoding()).collect();
            for wanted in
                ["int", "embstr", "raw", "listpack", "intset", "hashtable", "skiplist", "stream"]
            {
                assert!(encodings.contains(wanted), "seed {seed}: no {wanted} in {encodings:?}");
            }
            let streams_with_pending = src
                .ks
                .db(0)
                .iter()
                .filter(|(_, e)| match &e.value {
                    Value::Stream(s) => s.groups.values().any(|g| !g.pel.is_empty()),
                    _ => false,
                })
                .count();
            assert!(streams_with_pending > 0, "seed {seed}");
            assert_round_trip(&mut src, now_ms, seed);
        }
    }

    #[test]
    fn json_documents_keep_every_number_member_order_and_depth() {
        let now = 1_000;
        let mut src = Node::new();
        let mut rng = Rng::new(9);
        // Floats whose shortest text must read back as the same bits.
        let mut floats = Vec::new();
        for _ in 0..2000 {
            let f = f64::from_bits(rng.next_u64());
            if f.is_finite() {
                floats.push(ryu::Buffer::new().format_finite(f).to_string());
            }
        }
        let doc = format!(
            r#"{{"z":[{}],"i":[-9223372036854775808,18446744073709551615,0],"s":"\u0000\"é\\","a":{{}},"e":[]}}"#,
            floats.join(",")
        );
        src.ok(now, argv!("JSON.SET", "doc", "$", doc));
        src.ok(now, argv!("JSON.SET", "ttl", "$", "[1]"));
        src.ok(now, argv!("PEXPIRE", "ttl", 500u64));
        // Deeper than JSON text may be nested, with keys that need quoting in a path.
        src.ok(now, argv!("JSON.SET", "deep", "$", "{}"));
        let mut path = String::from("$");
        for i in 0..140 {
            let key = if i % 3 == 0 { "k\"\\'[" } else { "x" };
            src.ok(
                now,
                argv!(
                    "JSON.SET",
                    "deep",
                    path.clone(),
                    format!(
                        r#"{{"{}":[{{}}],"n":{i}}}"#,
                        key.replace('\\', "\\\\").replace('"', "\\\"")
                    )
                ),
            );
            let quoted = key.replace('\\', "\\\\").replace('"', "\\\"");
            path = format!(r#"{path}["{quoted}"][0]"#);
        }
        let argvs = assert_round_trip(&mut src, now, 0);
        assert!(argvs.contains(&argv!("PEXPIREAT", "ttl", 1_500u64)));
        let deep_sets = argvs.iter().filter(|a| a[1] == "deep").count();
        assert!(deep_sets > 2, "the deep document was not cut: {deep_sets} commands");
    }

    #[test]
    fn strings_keep_binary_values_and_deadlines() {
        let now = 1_000;
        let mut src = Node::new();
        src.ok(now, argv!("SET", "bin", Bytes::from_static(b"\0\r\n\xff")));
        src.ok(now, argv!("SET", "n", "-42"));
        src.ok(now, argv!("SET", "ttl", "v", "PX", 500u64));
        src.ok(now, argv!("SET", "", "empty key"));
        let argvs = assert_round_trip(&mut src, now, 0);
        assert!(argvs.contains(&argv!("SET", "ttl", "v", "PXAT", 1_500u64)));
    }

    #[test]
    fn long_collections_are_split_into_bounded_commands() {
        let now = 1_000;
        let mut src = Node::new();
        let mut push = argv!("RPUSH", "l");
        push.extend((0..1300u64).map(uint));
        src.ok(now, push);
        let mut hset = argv!("HSET", "h");
        for i in 0..600u64 {
            hset.extend([Bytes::from(format!("f{i}")), uint(i)]);
        }
        src.ok(now, hset);
        src.ok(now, argv!("PEXPIRE", "l", 10_000u64));
        let argvs = assert_round_trip(&mut src, now, 0);
        let rpush: Vec<usize> =
            argvs.iter().filter(|a| a[0] == "RPUSH").map(|a| a.len() - 2).collect();
        assert_eq!(rpush, [512, 512, 276]);
        let hset: Vec<usize> =
            argvs.iter().filter(|a| a[0] == "HSET").map(|a| (a.len() - 2) / 2).collect();
        assert_eq!(hset, [512, 88]);
        let last_rpush = argvs.iter().rposition(|a| a[0] == "RPUSH");
        let ttl = argvs.iter().position(|a| a == &argv!("PEXPIREAT", "l", 11_000u64));
        assert_eq!(ttl, last_rpush.map(|i| i + 1), "the TTL follows the value");
    }

    #[test]
    fn a_small_list_stays_a_listpack_and_a_shrunk_quicklist_stays_a_quicklist() {
        let now = 1_000;
        let mut src = Node::new();
        src.ok(now, argv!("RPUSH", "small", "a", "b", "c"));
        let mut push = argv!("RPUSH", "band");
        push.extend((0..12).map(|_| Bytes::from(vec![b'x'; 700])));
        src.ok(now, push);
        assert_eq!(src.value("band", now).encoding(), "quicklist");
        src.ok(now, argv!("LPOP", "band", 5u64));
        assert_eq!(src.value("band", now).encoding(), "quicklist", "in the band");
        assert_round_trip(&mut src, now, 0);
        let (dst, _) = restore(&src.ks, now);
        assert_eq!(dst.value("small", now).encoding(), "listpack");
        assert_eq!(dst.value("band", now).encoding(), "quicklist");
    }

    #[test]
    fn sets_keep_their_encoding_and_member_order() {
        let now = 1_000;
        let mut src = Node::new();
        src.ok(now, argv!("SADD", "ints", "5", "-3", "100"));
        // A listpack led by unsorted integers (an intset would sort them).
        src.ok(now, argv!("SADD", "lp", "a", "9", "2", "7"));
        src.ok(now, argv!("SREM", "lp", "a"));
        // A full listpack led by an integer.
        let mut full = argv!("SADD", "full", "x");
        full.extend((0..127u64).rev().map(uint));
        src.ok(now, full);
        src.ok(now, argv!("SREM", "full", "x"));
        src.ok(now, argv!("SADD", "full", "y"));
        // A hashtable that shrank to a few members, swap-removed out of order.
        let mut big = argv!("SADD", "ht");
        big.extend((0..600u64).map(uint));
        src.ok(now, big);
        let mut rem = argv!("SREM", "ht");
        rem.extend((3..597u64).map(uint));
        src.ok(now, rem);
        // A hashtable of non-integers led by a short member.
        let mut words = argv!("SADD", "words");
        words.extend((0..200u64).map(|i| Bytes::from(format!("w{i}"))));
        src.ok(now, words);
        src.ok(now, argv!("SREM", "words", "w0", "w5"));
        assert_eq!(src.value("lp", now).encoding(), "listpack");
        assert_eq!(src.value("full", now).encoding(), "listpack");
        assert_eq!(src.value("ht", now).encoding(), "hashtable");
        assert_round_trip(&mut src, now, 0);
    }

    #[test]
    fn hashes_keep_order_encoding_and_field_deadlines() {
        let now = 1_000;
        let mut src = Node::new();
        src.ok(now, argv!("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4"));
        src.ok(now, argv!("HPEXPIRE", "h", 500u64, "FIELDS", "2", "a", "c"));
        src.ok(now, argv!("HPEXPIRE", "h", 900u64, "FIELDS", "1", "d"));
        // Once big, always big: removals then swap the last field in.
        src.ok(now, argv!("HSET", "big", "x", "1", "y", "2", "z", "3", "long", "v".repeat(80)));
        src.ok(now, argv!("HDEL", "big", "x"));
        // Touched by a field-TTL command, without a deadline left: listpackex.
        src.ok(now, argv!("HSET", "touched", "a", "1"));
        src.ok(now, argv!("HEXPIRE", "touched", "100", "XX", "FIELDS", "1", "a"));
        assert_eq!(src.value("big", now).encoding(), "hashtable");
        assert_eq!(src.value("touched", now).encoding(), "listpackex");
        assert_round_trip(&mut src, now, 0);
        // Restored at a later time, due fields go as the original's purge removes them.
        assert_round_trip(&mut src, now + 600, 1);
    }

    #[test]
    fn scores_round_trip_bit_for_bit() {
        for x in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e300,
            -5e-324,
            1e-310,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let text = score_text(x);
            let back = crate::cmd::args::parse_f64(&text).expect("parses");
            assert_eq!(back.to_bits(), x.to_bits(), "{text:?}");
        }
        let now = 1_000;
        let mut src = Node::new();
        src.ok(now, argv!("ZADD", "small", "1", "a", "1", "b", "-inf", "c", "5e-324", "d"));
        // Skiplist with -0 kept, and only a few members left.
        let mut big = argv!("ZADD", "neg0");
        for i in 0..130u64 {
            big.extend([uint(i), uint(i)]);
        }
        src.ok(now, big);
        src.ok(now, argv!("ZADD", "neg0", "-0", "zero", "inf", "top"));
        src.ok(now, argv!("ZREMRANGEBYRANK", "neg0", "2", "120"));
        src.ok(now, argv!("ZADD", "long", "-0", "a", "2", "L".repeat(70)));
        let neg0 = |n: &Node| match n.value("neg0", now) {
            Value::ZSet(z) => z.score(b"zero").map(f64::to_bits),
            _ => None,
        };
        assert_eq!(neg0(&src), Some((-0.0f64).to_bits()));
        assert_round_trip(&mut src, now, 0);
        let (dst, _) = restore(&src.ks, now);
        assert_eq!(neg0(&dst), Some((-0.0f64).to_bits()));
        assert_eq!(dst.value("small", now).encoding(), "listpack");
        assert_eq!(dst.value("neg0", now).encoding(), "skiplist");
    }

    #[test]
    fn an_empty_stream_keeps_its_counters_and_groups() {
        let now = 1_000;
        let mut src = Node::new();
        src.ok(now, argv!("XADD", "e", "5-1", "f", "v"));
        src.ok(now, argv!("XADD", "e", "5-2", "f", "v"));
        src.ok(now, argv!("XDEL", "e", "5-1", "5-2"));
        src.ok(now, argv!("XGROUP", "CREATE", "e", "g", "5-1", "ENTRIESREAD", 1u64));
        src.ok(now, argv!("XGROUP", "CREATECONSUMER", "e", "g", "alice"));
        src.ok(now, argv!("XGROUP", "CREATE", "bare", "g", "$", "MKSTREAM"));
        src.ok(now, argv!("XGROUP", "DESTROY", "bare", "g"));
        src.ok(now, argv!("XADD", "trimmed", "7-0", "f", "v"));
        src.ok(now, argv!("XTRIM", "trimmed", "MAXLEN", "0"));
        assert_round_trip(&mut src, now, 0);
        let (dst, _) = restore(&src.ks, now);
        let Value::Stream(s) = dst.value("e", now) else { panic!("stream") };
        assert_eq!(
            (s.last_id, s.entries_added, s.max_deleted_id),
            (StreamId::new(5, 2), 2, StreamId::new(5, 2))
        );
        assert!(matches!(dst.value("bare", now), Value::Stream(s) if s.groups.is_empty()));
    }

    #[test]
    fn stream_nodes_groups_and_pending_entries_survive_deletions() {
        let now = 1_000_000;
        let mut src = Node::new();
        for i in 1..=250u64 {
            let value = "v".repeat((i % 7 * 20) as usize);
            src.ok(now, argv!("XADD", "s", StreamId::new(i, 0), "f", value));
        }
        src.ok(now, argv!("XGROUP", "CREATE", "s", "g", "0"));
        src.ok(now, argv!("XGROUP", "CREATE", "s", "lazy", "0"));
        src.ok(now, argv!("XREADGROUP", "GROUP", "g", "alice", "COUNT", "30", "STREAMS", "s", ">"));
        src.ok(
            now + 5,
            argv!("XREADGROUP", "GROUP", "g", "bob", "COUNT", "30", "STREAMS", "s", ">"),
        );
        src.ok(now + 9, argv!("XCLAIM", "s", "g", "bob", "0", "3-0", "4-0", "RETRYCOUNT", "7"));
        src.ok(now + 9, argv!("XACK", "s", "g", "5-0", "40-0"));
        // Deleted entries: a node's first and last, pending ones, and a gap.
        src.ok(now, argv!("XDEL", "s", "1-0", "2-0", "3-0", "50-0", "101-0", "150-0", "151-0"));
        // Trimmed away with its pending entries (node gone: those are dropped).
        src.ok(now, argv!("XTRIM", "s", "MINID", "10-0"));
        src.ok(now, argv!("XGROUP", "CREATECONSUMER", "s", "g", "carol"));
        let Value::Stream(s) = src.value("s", now) else { panic!("stream") };
        assert!(s.nodes().any(|n| n.total > n.live), "a node with deleted entries");
        assert_round_trip(&mut src, now + 10, 0);
        let (dst, _) = restore(&src.ks, now + 10);
        let Value::Stream(r) = dst.value("s", now + 10) else { panic!("stream") };
        let pel = &r.groups[&Bytes::from("g")].pel;
        assert!(pel.contains_key(&StreamId::new(50, 0)), "pending deleted entry inside a node");
        let p = &pel[&StreamId::new(4, 0)];
        assert_eq!((p.delivery_count, p.delivery_time_ms), (7, now + 9));
    }

    #[test]
    fn a_last_id_below_a_deleted_node_tail_is_restored() {
        let now = 1_000;
        let mut src = Node::new();
        src.ok(now, argv!("XADD", "s", "1-1", "f", "v"));
        src.ok(now, argv!("XADD", "s", "1-2", "f", "v"));
        src.ok(now, argv!("XDEL", "s", "1-2"));
        src.ok(now, argv!("XSETID", "s", "1-2", "MAXDELETEDID", "0-0"));
        src.ok(now, argv!("XSETID", "s", "1-1"));
        assert_round_trip(&mut src, now, 0);
    }
}
