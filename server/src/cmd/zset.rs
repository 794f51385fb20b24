//! Sorted sets: ZADD and the rest of the family (ranges by rank, score and lex, pops and
//! blocking pops, set operations with WEIGHTS/AGGREGATE, ZRANDMEMBER, ZSCAN).
//!
//! The data structure is `types::zset::ZSet` (hash map plus an order-statistic treap).
//! Writes plan against a read view first (`plan_add`, range selection), then mutate in
//! one step, so an error never leaves a half-applied command. Geo commands reuse the
//! helpers marked `pub(crate)` here.

use bytes::Bytes;
use hashbrown::HashMap;

use crate::cmd::args::parse_f64;
use crate::cmd::sort::parse_score;
use crate::cmd::spec::{
    read, write, BeginSearch, CmdResult, CommandSpec, FindKeys, Flags, Group, KeyFlags, KeySpec,
    Parse, ReadCommand, WriteCommand,
};
use crate::cmd::{scan, ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::glob;
use crate::keyspace::{Db, Value};
use crate::reply::{format_double, BlockedOn, Reply};
use crate::resp::decode::parse_i64;
use crate::types::set::Set;
use crate::types::zset::{cmp_key, ZSet};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "zadd",
        group: Group::SortedSet,
        summary: "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        since: "1.2.0",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        arity: -4,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::UPDATE))],
        exec: write::<ZAdd>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zincrby",
        group: Group::SortedSet,
        summary: "Increments the score of a member in a sorted set.",
        since: "1.2.0",
        complexity: "O(log(N)) where N is the number of elements in the sorted set.",
        arity: 4,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE))],
        exec: write::<ZIncrBy>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrem",
        group: Group::SortedSet,
        summary: "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        since: "1.2.0",
        complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE))],
        exec: write::<ZRem>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zcard",
        group: Group::SortedSet,
        summary: "Returns the number of members in a sorted set.",
        since: "1.2.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO)],
        exec: read::<ZCard>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zscore",
        group: Group::SortedSet,
        summary: "Returns the score of a member in a sorted set.",
        since: "1.2.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZScore>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zmscore",
        group: Group::SortedSet,
        summary: "Returns the score of one or more members in a sorted set.",
        since: "6.2.0",
        complexity: "O(N) where N is the number of members being requested.",
        arity: -3,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZMScore>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrank",
        group: Group::SortedSet,
        summary: "Returns the index of a member in a sorted set ordered by ascending scores.",
        since: "2.0.0",
        complexity: "O(log(N))",
        arity: -3,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRank<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrevrank",
        group: Group::SortedSet,
        summary: "Returns the index of a member in a sorted set ordered by descending scores.",
        since: "2.0.0",
        complexity: "O(log(N))",
        arity: -3,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRank<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zcount",
        group: Group::SortedSet,
        summary: "Returns the count of members in a sorted set that have scores within a range.",
        since: "2.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        arity: 4,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZCount>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zlexcount",
        group: Group::SortedSet,
        summary: "Returns the number of members in a sorted set within a lexicographical range.",
        since: "2.8.9",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        arity: 4,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZLexCount>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrange",
        group: Group::SortedSet,
        summary: "Returns members in a sorted set within a range of indexes.",
        since: "1.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRange<V_RANGE>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrangestore",
        group: Group::SortedSet,
        summary: "Stores a range of members from sorted set in a key.",
        since: "6.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
        arity: -5,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[KeySpec::single(1, KeyFlags::OW.with(KeyFlags::UPDATE)), KeySpec { begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: write::<ZRangeStore>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrangebyscore",
        group: Group::SortedSet,
        summary: "Returns members in a sorted set within a range of scores.",
        since: "1.0.5",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRange<V_RANGEBYSCORE>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrevrangebyscore",
        group: Group::SortedSet,
        summary: "Returns members in a sorted set within a range of scores in reverse order.",
        since: "2.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRange<V_REVRANGEBYSCORE>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrangebylex",
        group: Group::SortedSet,
        summary: "Returns members in a sorted set within a lexicographical range.",
        since: "2.8.9",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRange<V_RANGEBYLEX>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrevrangebylex",
        group: Group::SortedSet,
        summary: "Returns members in a sorted set within a lexicographical range in reverse order.",
        since: "2.8.9",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRange<V_REVRANGEBYLEX>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrevrange",
        group: Group::SortedSet,
        summary: "Returns members in a sorted set within a range of indexes in reverse order.",
        since: "1.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRange<V_REVRANGE>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zremrangebyrank",
        group: Group::SortedSet,
        summary: "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        since: "2.0.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        arity: 4,
        flags: Flags::WRITE,
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE))],
        exec: write::<ZRemRange<REM_RANK>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zremrangebyscore",
        group: Group::SortedSet,
        summary: "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        since: "1.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        arity: 4,
        flags: Flags::WRITE,
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE))],
        exec: write::<ZRemRange<REM_SCORE>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zremrangebylex",
        group: Group::SortedSet,
        summary: "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        since: "2.8.9",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        arity: 4,
        flags: Flags::WRITE,
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE))],
        exec: write::<ZRemRange<REM_LEX>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zpopmin",
        group: Group::SortedSet,
        summary: "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        since: "5.0.0",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        arity: -2,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE))],
        exec: write::<ZPop<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zpopmax",
        group: Group::SortedSet,
        summary: "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        since: "5.0.0",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        arity: -2,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE))],
        exec: write::<ZPop<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zmpop",
        group: Group::SortedSet,
        summary: "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        since: "7.0.0",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        arity: -4,
        flags: Flags::WRITE.with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE) }],
        exec: write::<ZMPop<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bzpopmin",
        group: Group::SortedSet,
        summary: "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        since: "5.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::BLOCKING).with(Flags::FAST),
        keys: &[KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Range { last: -2, step: 1, limit: 0 }, flags: KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE) }],
        exec: write::<BZPop<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bzpopmax",
        group: Group::SortedSet,
        summary: "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
        since: "5.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::BLOCKING).with(Flags::FAST),
        keys: &[KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Range { last: -2, step: 1, limit: 0 }, flags: KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE) }],
        exec: write::<BZPop<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bzmpop",
        group: Group::SortedSet,
        summary: "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        since: "7.0.0",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        arity: -5,
        flags: Flags::WRITE.with(Flags::BLOCKING).with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec { begin: BeginSearch::Index(2), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE) }],
        exec: write::<ZMPop<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zrandmember",
        group: Group::SortedSet,
        summary: "Returns one or more random members from a sorted set.",
        since: "6.2.0",
        complexity: "O(N) where N is the number of members returned",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZRandMember>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zunion",
        group: Group::SortedSet,
        summary: "Returns the union of multiple sorted sets.",
        since: "6.2.0",
        complexity: "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        arity: -3,
        flags: Flags::READONLY.with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: read::<ZSetOp<OP_UNION>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zinter",
        group: Group::SortedSet,
        summary: "Returns the intersect of multiple sorted sets.",
        since: "6.2.0",
        complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        arity: -3,
        flags: Flags::READONLY.with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: read::<ZSetOp<OP_INTER>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zdiff",
        group: Group::SortedSet,
        summary: "Returns the difference between multiple sorted sets.",
        since: "6.2.0",
        complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        arity: -3,
        flags: Flags::READONLY.with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: read::<ZSetOp<OP_DIFF>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zunionstore",
        group: Group::SortedSet,
        summary: "Stores the union of multiple sorted sets in a key.",
        since: "2.0.0",
        complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        arity: -4,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec::single(1, KeyFlags::OW.with(KeyFlags::UPDATE)), KeySpec { begin: BeginSearch::Index(2), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: write::<ZSetOpStore<OP_UNION>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zinterstore",
        group: Group::SortedSet,
        summary: "Stores the intersect of multiple sorted sets in a key.",
        since: "2.0.0",
        complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        arity: -4,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec::single(1, KeyFlags::OW.with(KeyFlags::UPDATE)), KeySpec { begin: BeginSearch::Index(2), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: write::<ZSetOpStore<OP_INTER>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zdiffstore",
        group: Group::SortedSet,
        summary: "Stores the difference of multiple sorted sets in a key.",
        since: "6.2.0",
        complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        arity: -4,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec::single(1, KeyFlags::OW.with(KeyFlags::UPDATE)), KeySpec { begin: BeginSearch::Index(2), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: write::<ZSetOpStore<OP_DIFF>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zintercard",
        group: Group::SortedSet,
        summary: "Returns the number of members of the intersect of multiple sorted sets.",
        since: "7.0.0",
        complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
        arity: -3,
        flags: Flags::READONLY.with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: read::<ZInterCard>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "zscan",
        group: Group::SortedSet,
        summary: "Iterates over members and scores of a sorted set.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        arity: -3,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<ZScan>(),
        ..CommandSpec::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// The sorted set stored in `v`, if any; another type is WRONGTYPE.
pub(crate) fn zset_ref(v: Option<&Value>) -> Result<Option<&ZSet>, CmdError> {
    match v {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// `-0` as `0`, so both zeros map to one ZSCAN cursor.
pub(crate) fn norm(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// The reply for (score, member) items: members only, or member/score pairs.
pub(crate) fn items_reply(items: Vec<(f64, Bytes)>, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(items.into_iter().map(|(s, m)| (Reply::Bulk(m), Reply::Double(s))).collect())
    } else {
        Reply::Array(items.into_iter().map(|(_, m)| Reply::Bulk(m)).collect())
    }
}

/// Applies `f` to the sorted set at `key` (which must exist and be a zset), recording
/// `event`; deletes the key (recording `del`) if it ends up empty.
pub(crate) fn mutate_zset<R>(
    cx: &mut ApplyCtx<'_>,
    key: &Bytes,
    event: &'static str,
    f: impl FnOnce(&mut ZSet) -> R,
) -> Option<R> {
    let now = cx.now_ms;
    let mut db = cx.db();
    let (out, empty) = match db.value_mut(key, now, event) {
        Some(Value::ZSet(z)) => {
            let out = f(z);
            (out, z.is_empty())
        }
        _ => return None,
    };
    if empty {
        db.remove(key, now, "del");
    }
    Some(out)
}

/// Inserts `items` into the sorted set at `key`, creating it if missing. The caller has
/// checked the type.
pub(crate) fn upsert_zset(
    cx: &mut ApplyCtx<'_>,
    key: &Bytes,
    event: &'static str,
    items: &[(Bytes, f64)],
) {
    if items.is_empty() {
        return;
    }
    let now = cx.now_ms;
    let mut db = cx.db();
    if let Some(Value::ZSet(z)) = db.value_mut(key, now, event) {
        for (m, s) in items {
            z.insert(m, *s);
        }
        return;
    }
    let mut z = ZSet::new();
    for (m, s) in items {
        z.insert(m, *s);
    }
    db.set(key.clone(), Value::ZSet(z), None, event);
}

/// Replaces `dst` with a sorted set of `items` (already in order), or deletes it when
/// `items` is empty. Returns the stored length.
pub(crate) fn store_result(
    cx: &mut ApplyCtx<'_>,
    dst: &Bytes,
    items: Vec<(f64, Bytes)>,
    event: &'static str,
) -> usize {
    let now = cx.now_ms;
    let mut db = cx.db();
    if items.is_empty() {
        db.remove(dst, now, "del");
        return 0;
    }
    let mut z = ZSet::new();
    let max_member = items.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    z.convert_if_needed(items.len(), max_member);
    for (s, m) in &items {
        z.insert(m, *s);
    }
    let n = z.len();
    db.set(dst.clone(), Value::ZSet(z), None, event);
    n
}

/// A score bound: `1.5`, `(1.5`, `-inf`, `+inf`, read as Redis reads it (C `strtod` with
/// the whole text consumed): leading whitespace, an empty text (0) and hexadecimal pass,
/// and out-of-range values become infinity or zero rather than failing.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match arg.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (arg, false),
    };
    let value = parse_score(text).ok().or_else(|| {
        // parse_score refuses overflow and underflow; a range bound saturates instead.
        let text = text.split(|&b| b == 0).next().unwrap_or_default();
        let v: f64 = std::str::from_utf8(text).ok()?.trim_start().parse().ok()?;
        (!v.is_nan()).then_some(v)
    })?;
    Some((value, exclusive))
}

/// A score, increment or weight read as Redis reads a double argument: `strtod` over the
/// whole text, no leading whitespace, no NaN, no overflow or underflow to zero (subnormal
/// scores are kept, as Redis keeps them); hexadecimal passes.
fn parse_score_arg(arg: &[u8]) -> Option<f64> {
    let strict =
        arg.first().is_some_and(|b| !b.is_ascii_whitespace() && *b != 0x0b) && !arg.contains(&0);
    strict.then(|| crate::cmd::sort::parse_strtod(arg, true).ok()).flatten()
}

/// `min max` for score ranges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScoreRange {
    min: f64,
    min_ex: bool,
    max: f64,
    max_ex: bool,
}

impl ScoreRange {
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Result<Self, CmdError> {
        let (min, min_ex) = parse_score_bound(min).ok_or(CmdError::ZsetMinMaxNotFloat)?;
        let (max, max_ex) = parse_score_bound(max).ok_or(CmdError::ZsetMinMaxNotFloat)?;
        Ok(ScoreRange { min, min_ex, max, max_ex })
    }

    /// Ascending rank window `[start, end)`.
    pub(crate) fn window(&self, z: &ZSet) -> (usize, usize) {
        if self.min > self.max || (self.min == self.max && (self.min_ex || self.max_ex)) {
            return (0, 0);
        }
        let start = z.count_before(|s, _| s < self.min || (self.min_ex && s == self.min));
        let end = z.count_before(|s, _| s < self.max || (!self.max_ex && s == self.max));
        (start, end.max(start))
    }
}

#[derive(Debug, Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

impl LexBound {
    fn parse(arg: &Bytes) -> Result<Self, CmdError> {
        match arg.first() {
            Some(b'-') if arg.len() == 1 => Ok(LexBound::Min),
            Some(b'+') if arg.len() == 1 => Ok(LexBound::Max),
            Some(b'[') => Ok(LexBound::Incl(arg.slice(1..))),
            Some(b'(') => Ok(LexBound::Excl(arg.slice(1..))),
            _ => Err(CmdError::ZsetMinMaxNotLex),
        }
    }
}

/// `min max` for lexicographic ranges.
#[derive(Debug, Clone)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    fn parse(min: &Bytes, max: &Bytes) -> Result<Self, CmdError> {
        Ok(LexRange { min: LexBound::parse(min)?, max: LexBound::parse(max)? })
    }

    fn window(&self, z: &ZSet) -> (usize, usize) {
        let below_min = |m: &[u8]| match &self.min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(x) => m < &x[..],
            LexBound::Excl(x) => m <= &x[..],
        };
        let within_max = |m: &[u8]| match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(x) => m <= &x[..],
            LexBound::Excl(x) => m < &x[..],
        };
        let start = z.count_before(|_, m| below_min(m));
        let end = z.count_before(|_, m| within_max(m));
        (start, end.max(start))
    }
}

/// Ascending rank window `[start, end)` for Redis index arguments (negative from the end).
fn index_window(len: usize, start: i64, stop: i64) -> (usize, usize) {
    let len = len as i64;
    let (mut s, mut e) = (start, stop);
    if s < 0 {
        s += len;
    }
    if e < 0 {
        e += len;
    }
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return (0, 0);
    }
    if e >= len {
        e = len - 1;
    }
    (s as usize, (e + 1) as usize)
}

#[derive(Debug, Clone)]
enum By {
    Index(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// What a ZRANGE-family command selects.
#[derive(Debug, Clone)]
struct RangeQuery {
    by: By,
    rev: bool,
    limit: Option<(i64, i64)>,
}

impl RangeQuery {
    /// Ascending rank window.
    fn window(&self, z: &ZSet) -> (usize, usize) {
        match &self.by {
            By::Index(a, b) => {
                let (s, e) = index_window(z.len(), *a, *b);
                if self.rev && e > s {
                    (z.len() - e, z.len() - s)
                } else {
                    (s, e)
                }
            }
            By::Score(r) => r.window(z),
            By::Lex(r) => r.window(z),
        }
    }

    /// The selected items, in reply order.
    fn select(&self, z: &ZSet) -> Vec<(f64, Bytes)> {
        let (start, end) = self.window(z);
        let mut n = end - start;
        let mut skip = 0usize;
        if let Some((offset, count)) = self.limit {
            if offset < 0 {
                return Vec::new();
            }
            skip = usize::try_from(offset).unwrap_or(usize::MAX);
            n = n.saturating_sub(skip);
            if count >= 0 {
                n = n.min(usize::try_from(count).unwrap_or(usize::MAX));
            }
        }
        if n == 0 {
            return Vec::new();
        }
        let it = if self.rev {
            z.iter_from(end - 1 - skip, true)
        } else {
            z.iter_from(start + skip, false)
        };
        it.take(n).map(|(s, m)| (s, Bytes::copy_from_slice(m))).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Score,
    Lex,
}

/// Parses `key min max [options]` for the ZRANGE family. `kind`/`rev` fix the variant;
/// `Auto` accepts BYSCORE/BYLEX/REV (ZRANGE, ZRANGESTORE). Returns (query, withscores).
fn parse_range(
    args: &mut Args<'_>,
    kind: RangeKind,
    rev: bool,
    store: bool,
) -> Result<(RangeQuery, bool), CmdError> {
    let min = args.next_bytes()?;
    let max = args.next_bytes()?;
    let (mut kind_seen, mut rev, mut withscores, mut limit) = (kind, rev, false, None);
    let auto = kind == RangeKind::Auto && !rev;
    while !args.is_empty() {
        if !store && args.eat("WITHSCORES") {
            withscores = true;
        } else if args.remaining() >= 3 && args.peek_is("LIMIT") {
            args.eat("LIMIT");
            let offset = args.next_i64()?;
            let count = args.next_i64()?;
            limit = Some((offset, count));
        } else if auto && args.eat("BYSCORE") {
            kind_seen = RangeKind::Score;
        } else if auto && args.eat("BYLEX") {
            kind_seen = RangeKind::Lex;
        } else if auto && args.eat("REV") {
            rev = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if kind_seen == RangeKind::Auto {
        // Rank mode accepts (and ignores) a LIMIT whose count is -1, whatever the offset.
        if limit.is_some_and(|(_, count)| count != -1) {
            return Err(CmdError::ZrangeLimitNeedsBy);
        }
        limit = None;
    }
    if withscores && kind_seen == RangeKind::Lex {
        return Err(CmdError::ZrangeWithscoresBylex);
    }
    let (lo, hi) = if rev && kind_seen != RangeKind::Auto { (&max, &min) } else { (&min, &max) };
    let by = match kind_seen {
        RangeKind::Auto => By::Index(
            parse_i64(lo).ok_or(CmdError::NotAnInteger)?,
            parse_i64(hi).ok_or(CmdError::NotAnInteger)?,
        ),
        RangeKind::Score => By::Score(ScoreRange::parse(lo, hi)?),
        RangeKind::Lex => By::Lex(LexRange::parse(lo, hi)?),
    };
    Ok((RangeQuery { by, rev, limit }, withscores))
}

/// Parses a blocking timeout in seconds (a float) into milliseconds.
fn parse_timeout(arg: &[u8]) -> Result<u64, CmdError> {
    let secs = parse_f64(arg).ok_or(CmdError::TimeoutNotFloat)?;
    if secs < 0.0 {
        return Err(CmdError::TimeoutNegative);
    }
    let ms = (secs * 1000.0).ceil();
    if !ms.is_finite() || ms > 9.0e15 {
        return Err(CmdError::TimeoutOutOfRange);
    }
    Ok(ms as u64)
}

/// Parses `numkeys key [key ...]` (numkeys must be positive).
fn parse_numkeys(
    args: &mut Args<'_>,
    nokeys: CmdError,
    not_int: CmdError,
) -> Result<Vec<Bytes>, CmdError> {
    let n = args.next_i64_or(not_int)?;
    if n < 1 {
        return Err(nokeys);
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n > args.remaining() {
        return Err(CmdError::Syntax);
    }
    (0..n).map(|_| args.next_bytes()).collect()
}

// ---------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------------------

/// `ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]`
struct ZAdd {
    key: Bytes,
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
    pairs: Vec<(f64, Bytes)>,
}

impl Parse for ZAdd {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let mut z = ZAdd {
            key,
            nx: false,
            xx: false,
            gt: false,
            lt: false,
            ch: false,
            incr: false,
            pairs: Vec::new(),
        };
        loop {
            if args.eat("NX") {
                z.nx = true;
            } else if args.eat("XX") {
                z.xx = true;
            } else if args.eat("GT") {
                z.gt = true;
            } else if args.eat("LT") {
                z.lt = true;
            } else if args.eat("CH") {
                z.ch = true;
            } else if args.eat("INCR") {
                z.incr = true;
            } else {
                break;
            }
        }
        let rest = args.take_rest();
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return Err(CmdError::Syntax);
        }
        if z.nx && z.xx {
            return Err(CmdError::ZaddXxNx);
        }
        if (z.nx && (z.gt || z.lt)) || (z.gt && z.lt) {
            return Err(CmdError::ZaddGtLtNx);
        }
        if z.incr && rest.len() > 2 {
            return Err(CmdError::ZaddIncrPair);
        }
        for pair in rest.chunks(2) {
            let score = parse_score_arg(&pair[0]).ok_or(CmdError::NotAFloat)?;
            z.pairs.push((score, pair[1].clone()));
        }
        Ok(z)
    }
}

/// The outcome of ZADD's rules for a batch, computed before any mutation.
pub(crate) struct AddPlan {
    /// (member, new score) to write, in order.
    pub writes: Vec<(Bytes, f64)>,
    pub added: i64,
    pub changed: i64,
    /// INCR's resulting score (None: not applied).
    pub incr_result: Option<f64>,
}

/// Plans a ZADD/GEOADD against the current set (read-only).
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_add(
    existing: Option<&ZSet>,
    pairs: &[(f64, Bytes)],
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
) -> Result<AddPlan, CmdError> {
    let mut plan = AddPlan { writes: Vec::new(), added: 0, changed: 0, incr_result: None };
    let mut overlay: HashMap<&[u8], f64> = HashMap::new();
    for (score, member) in pairs {
        let current =
            overlay.get(&member[..]).copied().or_else(|| existing.and_then(|z| z.score(member)));
        match current {
            None => {
                if xx {
                    continue;
                }
                // The reply keeps `-0`; the stored score follows the encoding (ZSet::insert).
                let s = *score;
                plan.added += 1;
                overlay.insert(member, s);
                plan.writes.push((member.clone(), s));
                if incr {
                    plan.incr_result = Some(s);
                }
            }
            Some(cur) => {
                if nx {
                    continue;
                }
                let new = if incr { cur + score } else { *score };
                if new.is_nan() {
                    return Err(CmdError::ZsetNan);
                }
                if (gt && new <= cur) || (lt && new >= cur) {
                    continue;
                }
                if incr {
                    plan.incr_result = Some(new);
                }
                if new != cur {
                    plan.changed += 1;
                    overlay.insert(member, new);
                    plan.writes.push((member.clone(), new));
                }
            }
        }
    }
    Ok(plan)
}

impl WriteCommand for ZAdd {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let plan = {
            let existing = zset_ref(cx.ks.db(cx.db).get(&self.key, cx.now_ms))?;
            plan_add(existing, &self.pairs, self.nx, self.xx, self.gt, self.lt, self.incr)?
        };
        let event = if self.incr { "zincr" } else { "zadd" };
        upsert_zset(cx, &self.key, event, &plan.writes);
        if self.incr {
            return Ok(plan.incr_result.map_or(Reply::Null, Reply::Double));
        }
        Ok(Reply::Int(plan.added + if self.ch { plan.changed } else { 0 }))
    }
}

/// `ZINCRBY key increment member`
struct ZIncrBy {
    key: Bytes,
    incr: f64,
    member: Bytes,
}

impl Parse for ZIncrBy {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let incr = parse_score_arg(args.next_slice()?).ok_or(CmdError::NotAFloat)?;
        Ok(ZIncrBy { key, incr, member: args.next_bytes()? })
    }
}

impl WriteCommand for ZIncrBy {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let plan = {
            let existing = zset_ref(cx.ks.db(cx.db).get(&self.key, cx.now_ms))?;
            plan_add(existing, &[(self.incr, self.member)], false, false, false, false, true)?
        };
        upsert_zset(cx, &self.key, "zincr", &plan.writes);
        Ok(plan.incr_result.map_or(Reply::Null, Reply::Double))
    }
}

/// `ZREM key member [member ...]`
struct ZRem {
    key: Bytes,
    members: Vec<Bytes>,
}

impl Parse for ZRem {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(ZRem { key: args.next_bytes()?, members: args.take_rest().to_vec() })
    }
}

impl WriteCommand for ZRem {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let present = {
            let Some(z) = zset_ref(cx.ks.db(cx.db).get(&self.key, cx.now_ms))? else {
                return Ok(Reply::Int(0));
            };
            self.members.iter().any(|m| z.contains(m))
        };
        if !present {
            return Ok(Reply::Int(0));
        }
        let removed = mutate_zset(cx, &self.key, "zrem", |z| {
            self.members.iter().filter(|m| z.remove(m).is_some()).count()
        });
        Ok(Reply::Int(removed.unwrap_or(0) as i64))
    }
}

// ---------------------------------------------------------------------------------------
// Point reads
// ---------------------------------------------------------------------------------------

/// `ZCARD key`
struct ZCard {
    key: Bytes,
}

impl Parse for ZCard {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(ZCard { key: args.next_bytes()? })
    }
}

impl ReadCommand for ZCard {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        Ok(Reply::Int(z.map_or(0, |z| z.len()) as i64))
    }
}

/// `ZSCORE key member`
struct ZScore {
    key: Bytes,
    member: Bytes,
}

impl Parse for ZScore {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(ZScore { key: args.next_bytes()?, member: args.next_bytes()? })
    }
}

impl ReadCommand for ZScore {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        Ok(z.and_then(|z| z.score(&self.member)).map_or(Reply::Null, Reply::Double))
    }
}

/// `ZMSCORE key member [member ...]`
struct ZMScore {
    key: Bytes,
    members: Vec<Bytes>,
}

impl Parse for ZMScore {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(ZMScore { key: args.next_bytes()?, members: args.take_rest().to_vec() })
    }
}

impl ReadCommand for ZMScore {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        Ok(Reply::Array(
            self.members
                .iter()
                .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Null, Reply::Double))
                .collect(),
        ))
    }
}

/// `ZRANK key member [WITHSCORE]` (`REV`: ZREVRANK)
struct ZRank<const REV: bool> {
    key: Bytes,
    member: Bytes,
    withscore: bool,
}

impl<const REV: bool> Parse for ZRank<REV> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let member = args.next_bytes()?;
        let withscore = if args.is_empty() {
            false
        } else if args.eat("WITHSCORE") {
            true
        } else {
            return Err(CmdError::Syntax);
        };
        Ok(ZRank { key, member, withscore })
    }
}

impl<const REV: bool> ReadCommand for ZRank<REV> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        let found = z.and_then(|z| {
            let r = z.rank(&self.member)?;
            let r = if REV { z.len() - 1 - r } else { r };
            Some((r, z.score(&self.member)?))
        });
        Ok(match (found, self.withscore) {
            (None, false) => Reply::Null,
            (None, true) => Reply::NullArray,
            (Some((r, _)), false) => Reply::Int(r as i64),
            (Some((r, s)), true) => Reply::Array(vec![Reply::Int(r as i64), Reply::Double(s)]),
        })
    }
}

/// `ZCOUNT key min max`
struct ZCount {
    key: Bytes,
    range: ScoreRange,
}

impl Parse for ZCount {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let min = args.next_slice()?;
        let max = args.next_slice()?;
        Ok(ZCount { key, range: ScoreRange::parse(min, max)? })
    }
}

impl ReadCommand for ZCount {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        Ok(Reply::Int(z.map_or(0, |z| {
            let (s, e) = self.range.window(z);
            e - s
        }) as i64))
    }
}

/// `ZLEXCOUNT key min max`
struct ZLexCount {
    key: Bytes,
    range: LexRange,
}

impl Parse for ZLexCount {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let min = args.next_bytes()?;
        let max = args.next_bytes()?;
        Ok(ZLexCount { key, range: LexRange::parse(&min, &max)? })
    }
}

impl ReadCommand for ZLexCount {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        Ok(Reply::Int(z.map_or(0, |z| {
            let (s, e) = self.range.window(z);
            e - s
        }) as i64))
    }
}

// ---------------------------------------------------------------------------------------
// ZRANGE family
// ---------------------------------------------------------------------------------------

const V_RANGE: u8 = 0;
const V_RANGEBYSCORE: u8 = 1;
const V_REVRANGEBYSCORE: u8 = 2;
const V_RANGEBYLEX: u8 = 3;
const V_REVRANGEBYLEX: u8 = 4;
const V_REVRANGE: u8 = 5;

fn variant(v: u8) -> (RangeKind, bool) {
    match v {
        V_RANGEBYSCORE => (RangeKind::Score, false),
        V_REVRANGEBYSCORE => (RangeKind::Score, true),
        V_RANGEBYLEX => (RangeKind::Lex, false),
        V_REVRANGEBYLEX => (RangeKind::Lex, true),
        V_REVRANGE => (RangeKind::Auto, true),
        _ => (RangeKind::Auto, false),
    }
}

/// `ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` and
/// the older ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE.
struct ZRange<const V: u8> {
    key: Bytes,
    query: RangeQuery,
    withscores: bool,
}

impl<const V: u8> Parse for ZRange<V> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let (kind, rev) = variant(V);
        let (query, withscores) = parse_range(args, kind, rev, false)?;
        Ok(ZRange { key, query, withscores })
    }
}

impl<const V: u8> ReadCommand for ZRange<V> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        let items = z.map(|z| self.query.select(z)).unwrap_or_default();
        Ok(items_reply(items, self.withscores))
    }
}

/// `ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]`
struct ZRangeStore {
    dst: Bytes,
    src: Bytes,
    query: RangeQuery,
}

impl Parse for ZRangeStore {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let dst = args.next_bytes()?;
        let src = args.next_bytes()?;
        let (query, _) = parse_range(args, RangeKind::Auto, false, true)?;
        Ok(ZRangeStore { dst, src, query })
    }
}

impl WriteCommand for ZRangeStore {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let items = {
            let z = zset_ref(cx.ks.db(cx.db).get(&self.src, cx.now_ms))?;
            z.map(|z| self.query.select(z)).unwrap_or_default()
        };
        let n = store_result(cx, &self.dst, items, "zrangestore");
        Ok(Reply::Int(n as i64))
    }
}

const REM_RANK: u8 = 0;
const REM_SCORE: u8 = 1;
const REM_LEX: u8 = 2;

/// `ZREMRANGEBYRANK key start stop`, `ZREMRANGEBYSCORE key min max`,
/// `ZREMRANGEBYLEX key min max`
struct ZRemRange<const K: u8> {
    key: Bytes,
    by: By,
}

impl<const K: u8> Parse for ZRemRange<K> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let a = args.next_bytes()?;
        let b = args.next_bytes()?;
        let by = match K {
            REM_RANK => By::Index(
                parse_i64(&a).ok_or(CmdError::NotAnInteger)?,
                parse_i64(&b).ok_or(CmdError::NotAnInteger)?,
            ),
            REM_SCORE => By::Score(ScoreRange::parse(&a, &b)?),
            _ => By::Lex(LexRange::parse(&a, &b)?),
        };
        Ok(ZRemRange { key, by })
    }
}

impl<const K: u8> WriteCommand for ZRemRange<K> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let query = RangeQuery { by: self.by, rev: false, limit: None };
        let doomed = {
            let Some(z) = zset_ref(cx.ks.db(cx.db).get(&self.key, cx.now_ms))? else {
                return Ok(Reply::Int(0));
            };
            query.select(z)
        };
        if doomed.is_empty() {
            return Ok(Reply::Int(0));
        }
        let event = match K {
            REM_RANK => "zremrangebyrank",
            REM_SCORE => "zremrangebyscore",
            _ => "zremrangebylex",
        };
        mutate_zset(cx, &self.key, event, |z| {
            for (_, m) in &doomed {
                z.remove(m);
            }
        });
        Ok(Reply::Int(doomed.len() as i64))
    }
}

// ---------------------------------------------------------------------------------------
// Pops (plain, multi-key, blocking)
// ---------------------------------------------------------------------------------------

/// Pops up to `count` from the min (or max) end of the zset at `key`, recording
/// `zpopmin`/`zpopmax` (and `del` if it empties). The caller checked the type.
fn pop(cx: &mut ApplyCtx<'_>, key: &Bytes, max: bool, count: usize) -> Vec<(f64, Bytes)> {
    let event = if max { "zpopmax" } else { "zpopmin" };
    mutate_zset(cx, key, event, |z| {
        let n = count.min(z.len());
        let items: Vec<(f64, Bytes)> = if max {
            z.iter_from(z.len() - 1, true)
                .take(n)
                .map(|(s, m)| (s, Bytes::copy_from_slice(m)))
                .collect()
        } else {
            z.iter().take(n).map(|(s, m)| (s, Bytes::copy_from_slice(m))).collect()
        };
        for (_, m) in &items {
            z.remove(m);
        }
        items
    })
    .unwrap_or_default()
}

/// `ZPOPMIN key [count]` / `ZPOPMAX key [count]`
struct ZPop<const MAX: bool> {
    key: Bytes,
    count: Option<usize>,
}

impl<const MAX: bool> Parse for ZPop<MAX> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        // Redis refuses extra arguments before it reads the count.
        if args.remaining() > 1 {
            return Err(CmdError::Syntax);
        }
        let count = if args.is_empty() {
            None
        } else {
            let n = args.next_i64_or(CmdError::NotPositive)?;
            Some(usize::try_from(n).map_err(|_| CmdError::NotPositive)?)
        };
        Ok(ZPop { key, count })
    }
}

impl<const MAX: bool> WriteCommand for ZPop<MAX> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let exists = zset_ref(cx.ks.db(cx.db).get(&self.key, cx.now_ms))?.is_some();
        if !exists || self.count == Some(0) {
            return Ok(Reply::Array(Vec::new()));
        }
        let items = pop(cx, &self.key, MAX, self.count.unwrap_or(1));
        Ok(match self.count {
            None => Reply::Array(
                items.into_iter().flat_map(|(s, m)| [Reply::Bulk(m), Reply::Double(s)]).collect(),
            ),
            Some(_) => items_reply(items, true),
        })
    }
}

/// `BZPOPMIN key [key ...] timeout` / `BZPOPMAX key [key ...] timeout`
struct BZPop<const MAX: bool> {
    keys: Vec<Bytes>,
    timeout_ms: u64,
}

impl<const MAX: bool> Parse for BZPop<MAX> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let all = args.take_rest();
        let (timeout, keys) = all.split_last().ok_or(CmdError::Syntax)?;
        Ok(BZPop { keys: keys.to_vec(), timeout_ms: parse_timeout(timeout)? })
    }
}

/// The first key among `keys` holding a non-empty zset (WRONGTYPE if one before it is
/// another type).
fn first_nonempty(cx: &ApplyCtx<'_>, keys: &[Bytes]) -> Result<Option<Bytes>, CmdError> {
    let db = cx.ks.db(cx.db);
    for k in keys {
        if zset_ref(db.get(k, cx.now_ms))?.is_some() {
            return Ok(Some(k.clone()));
        }
    }
    Ok(None)
}

impl<const MAX: bool> WriteCommand for BZPop<MAX> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let Some(key) = first_nonempty(cx, &self.keys)? else {
            return Ok(BlockedOn {
                keys: self.keys,
                timeout_ms: self.timeout_ms,
                on_timeout: Box::new(Reply::NullArray),
                retry: None,
                wants: "zset",
                on_nokey: false,
            }
            .reply(cx.may_block));
        };
        let mut items = pop(cx, &key, MAX, 1);
        let (s, m) = items.pop().ok_or(CmdError::Internal)?;
        Ok(Reply::Array(vec![Reply::Bulk(key), Reply::Bulk(m), Reply::Double(s)]))
    }
}

/// `ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]`, and `BZMPOP timeout ...`.
struct ZMPop<const BLOCK: bool> {
    timeout_ms: u64,
    keys: Vec<Bytes>,
    max: bool,
    count: usize,
}

impl<const BLOCK: bool> Parse for ZMPop<BLOCK> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let timeout_ms = if BLOCK { parse_timeout(args.next_slice()?)? } else { 0 };
        let keys = parse_numkeys(args, CmdError::NumkeysNotPositive, CmdError::NumkeysNotPositive)?;
        let max = if args.eat("MIN") {
            false
        } else if args.eat("MAX") {
            true
        } else {
            return Err(CmdError::Syntax);
        };
        let mut count = None;
        while !args.is_empty() {
            if count.is_none() && args.remaining() >= 2 && args.eat("COUNT") {
                let n = args.next_i64_or(CmdError::CountNotPositive)?;
                if n <= 0 {
                    return Err(CmdError::CountNotPositive);
                }
                count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(ZMPop { timeout_ms, keys, max, count: count.unwrap_or(1) })
    }
}

impl<const BLOCK: bool> WriteCommand for ZMPop<BLOCK> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let Some(key) = first_nonempty(cx, &self.keys)? else {
            if BLOCK {
                return Ok(BlockedOn {
                    keys: self.keys,
                    timeout_ms: self.timeout_ms,
                    on_timeout: Box::new(Reply::NullArray),
                    retry: None,
                    wants: "zset",
                    on_nokey: false,
                }
                .reply(cx.may_block));
            }
            return Ok(Reply::NullArray);
        };
        let items = pop(cx, &key, self.max, self.count);
        let pairs = items
            .into_iter()
            .map(|(s, m)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
            .collect();
        Ok(Reply::Array(vec![Reply::Bulk(key), Reply::Array(pairs)]))
    }
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------------------

/// `ZRANDMEMBER key [count [WITHSCORES]]`
struct ZRandMember {
    key: Bytes,
    count: Option<i64>,
    withscores: bool,
}

impl Parse for ZRandMember {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        if args.is_empty() {
            return Ok(ZRandMember { key, count: None, withscores: false });
        }
        let count = args.next_i64()?;
        let withscores = if args.is_empty() {
            false
        } else if args.eat("WITHSCORES") {
            true
        } else {
            return Err(CmdError::Syntax);
        };
        if count == i64::MIN || (withscores && count < -(i64::MAX / 2)) {
            return Err(if withscores && count != i64::MIN {
                CmdError::ValueOutOfRange
            } else {
                CmdError::LongOutOfRange
            });
        }
        Ok(ZRandMember { key, count: Some(count), withscores })
    }
}

impl ReadCommand for ZRandMember {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        let mut rng = cx.rng();
        let Some(count) = self.count else {
            return Ok(match z {
                None => Reply::Null,
                Some(z) => z
                    .get_by_rank(rng.below(z.len() as u64) as usize)
                    .map_or(Reply::Null, |(_, m)| Reply::bulk(m)),
            });
        };
        let Some(z) = z else { return Ok(Reply::Array(Vec::new())) };
        let len = z.len();
        let pick = |rank: usize| z.get_by_rank(rank).map(|(s, m)| (s, Bytes::copy_from_slice(m)));
        let items: Vec<(f64, Bytes)> = if count < 0 {
            let n = count.unsigned_abs();
            (0..n).filter_map(|_| pick(rng.below(len as u64) as usize)).collect()
        } else {
            let n = usize::try_from(count).unwrap_or(usize::MAX);
            if n >= len {
                z.iter().map(|(s, m)| (s, Bytes::copy_from_slice(m))).collect()
            } else if n * 3 > len {
                // Partial Fisher-Yates over all ranks.
                let mut ranks: Vec<usize> = (0..len).collect();
                for i in 0..n {
                    let j = i + rng.below((len - i) as u64) as usize;
                    ranks.swap(i, j);
                }
                ranks[..n].iter().filter_map(|&r| pick(r)).collect()
            } else {
                let mut seen = std::collections::HashSet::new();
                let mut out = Vec::with_capacity(n);
                while out.len() < n {
                    let r = rng.below(len as u64) as usize;
                    if seen.insert(r) {
                        out.extend(pick(r));
                    }
                }
                out
            }
        };
        Ok(items_reply(items, self.withscores))
    }
}

/// Order-preserving map from a (non-NaN) score to a non-zero cursor.
fn score_cursor(score: f64) -> u64 {
    let bits = norm(score).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`
///
/// The cursor is the (order-preserving encoding of the) score where the next batch
/// starts, and a batch always ends at a score boundary: members that stay in the set
/// with the same score for the whole scan are returned, as Redis guarantees.
struct ZScan {
    key: Bytes,
    cursor: u64,
    pattern: Option<Bytes>,
    count: usize,
}

impl Parse for ZScan {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let cursor = scan::parse_cursor(args.next_slice()?)?;
        let o = scan::parse_options(args, scan::Extra::None)?;
        let scan = ZScan { key, cursor, pattern: o.pattern, count: o.count };
        Ok(scan)
    }
}

impl ReadCommand for ZScan {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        let Some(z) = z else {
            return Ok(Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())]));
        };
        let start =
            if self.cursor == 0 { 0 } else { z.count_before(|s, _| score_cursor(s) < self.cursor) };
        // A small (listpack) set is returned whole, as Redis does.
        let budget = if z.encoding() == "listpack" { usize::MAX } else { self.count };
        let mut out = Vec::new();
        let mut last: Option<f64> = None;
        let mut next = 0u64;
        for (taken, (s, m)) in z.iter_from(start, false).enumerate() {
            if taken >= budget && last.is_some_and(|l| l != s) {
                next = score_cursor(s);
                break;
            }
            last = Some(s);
            if let Some(p) = &self.pattern {
                if !glob::matches(p, m, false) {
                    continue;
                }
            }
            out.push(Reply::bulk(m));
            out.push(Reply::bulk(format_double(s)));
        }
        Ok(Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)]))
    }
}

// ---------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF (+STORE), ZINTERCARD
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

const OP_UNION: u8 = 0;
const OP_INTER: u8 = 1;
const OP_DIFF: u8 = 2;

fn op_name(op: u8, store: bool) -> &'static str {
    match (op, store) {
        (OP_UNION, false) => "zunion",
        (OP_INTER, false) => "zinter",
        (OP_DIFF, false) => "zdiff",
        (OP_UNION, true) => "zunionstore",
        (OP_INTER, true) => "zinterstore",
        _ => "zdiffstore",
    }
}

/// One input of a set operation: a sorted set, a plain set (scores 1) or nothing.
enum Input<'a> {
    Z(&'a ZSet),
    S(&'a Set),
    Empty,
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Z(z) => z.len(),
            Input::S(s) => s.len(),
            Input::Empty => 0,
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Z(z) => z.score(member),
            Input::S(s) => s.contains(member).then_some(1.0),
            Input::Empty => None,
        }
    }

    fn for_each(&self, mut f: impl FnMut(f64, &[u8])) {
        match self {
            Input::Z(z) => z.iter().for_each(|(s, m)| f(s, m)),
            Input::S(s) => s.iter().for_each(|m| f(1.0, m)),
            Input::Empty => {}
        }
    }
}

fn inputs<'a>(db: &'a Db, now_ms: u64, keys: &[Bytes]) -> Result<Vec<Input<'a>>, CmdError> {
    keys.iter()
        .map(|k| match db.get(k, now_ms) {
            None => Ok(Input::Empty),
            Some(Value::ZSet(z)) => Ok(Input::Z(z)),
            Some(Value::Set(s)) => Ok(Input::S(s)),
            Some(_) => Err(CmdError::WrongType),
        })
        .collect()
}

/// The parsed arguments of ZUNION and friends.
struct SetOpArgs {
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// An error in the options after the keys: Redis reports it only once every key has
    /// passed its type check (a wrong-type key wins).
    options_error: Option<CmdError>,
}

fn parse_setop(args: &mut Args<'_>, op: u8, store: bool) -> Result<SetOpArgs, CmdError> {
    let keys =
        parse_numkeys(args, CmdError::ZsetNoInputKey(op_name(op, store)), CmdError::NotAnInteger)?;
    let mut a = SetOpArgs {
        weights: vec![1.0; keys.len()],
        keys,
        aggregate: Aggregate::Sum,
        withscores: false,
        options_error: None,
    };
    if let Err(e) = parse_setop_options(args, op, store, &mut a) {
        a.options_error = Some(e);
        args.take_rest();
    }
    Ok(a)
}

fn parse_setop_options(
    args: &mut Args<'_>,
    op: u8,
    store: bool,
    a: &mut SetOpArgs,
) -> Result<(), CmdError> {
    while !args.is_empty() {
        if op != OP_DIFF && args.remaining() > a.keys.len() && args.eat("WEIGHTS") {
            for w in a.weights.iter_mut() {
                *w = parse_score_arg(args.next_slice()?).ok_or(CmdError::ZsetWeightNotFloat)?;
            }
        } else if op != OP_DIFF && args.remaining() >= 2 && args.eat("AGGREGATE") {
            a.aggregate = if args.eat("SUM") {
                Aggregate::Sum
            } else if args.eat("MIN") {
                Aggregate::Min
            } else if args.eat("MAX") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
        } else if !store && args.eat("WITHSCORES") {
            a.withscores = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(())
}

fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn aggregate(agg: Aggregate, acc: f64, v: f64) -> f64 {
    match agg {
        Aggregate::Sum => {
            let s = acc + v;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        // Explicit comparisons: a NaN `v` keeps `acc`, and of `0`/`-0` the one already
        // there stays (f64::min leaves the sign of zero unspecified).
        Aggregate::Min => {
            if v < acc {
                v
            } else {
                acc
            }
        }
        Aggregate::Max => {
            if v > acc {
                v
            } else {
                acc
            }
        }
    }
}

/// Computes a set operation; the result is sorted by (score, member).
fn combine(db: &Db, now_ms: u64, op: u8, a: &SetOpArgs) -> Result<Vec<(f64, Bytes)>, CmdError> {
    let ins = inputs(db, now_ms, &a.keys)?;
    if let Some(e) = &a.options_error {
        return Err(e.clone());
    }
    let mut order: Vec<usize> = (0..ins.len()).collect();
    let mut out: Vec<(f64, Bytes)> = Vec::new();
    match op {
        OP_UNION => {
            order.sort_by_key(|&i| ins[i].len());
            let mut index: HashMap<Bytes, usize> = HashMap::new();
            for &i in &order {
                let w = a.weights[i];
                ins[i].for_each(|s, m| {
                    let v = weighted(s, w);
                    match index.get(m) {
                        Some(&j) => out[j].0 = aggregate(a.aggregate, out[j].0, v),
                        None => {
                            let m = Bytes::copy_from_slice(m);
                            index.insert(m.clone(), out.len());
                            out.push((v, m));
                        }
                    }
                });
            }
        }
        OP_INTER => {
            order.sort_by_key(|&i| ins[i].len());
            if ins.iter().any(|i| i.len() == 0) {
                return Ok(Vec::new());
            }
            let first = order[0];
            ins[first].for_each(|s, m| {
                // As in Redis, only the first (smallest) set's product is cleaned of NaN
                // (`-0 * inf`); a later NaN product turns a SUM into NaN, which restarts at 0.
                let mut acc = weighted(s, a.weights[first]);
                for &j in &order[1..] {
                    match ins[j].score(m) {
                        Some(sj) => acc = aggregate(a.aggregate, acc, sj * a.weights[j]),
                        None => return,
                    }
                }
                out.push((acc, Bytes::copy_from_slice(m)));
            });
        }
        _ => {
            ins[0].for_each(|s, m| {
                if !ins[1..].iter().any(|o| o.score(m).is_some()) {
                    out.push((s, Bytes::copy_from_slice(m)));
                }
            });
        }
    }
    out.sort_by(|x, y| cmp_key(x.0, &x.1, y.0, &y.1));
    Ok(out)
}

/// `ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`,
/// `ZINTER ...` and `ZDIFF numkeys key [key ...] [WITHSCORES]`.
struct ZSetOp<const OP: u8> {
    a: SetOpArgs,
}

impl<const OP: u8> Parse for ZSetOp<OP> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(ZSetOp { a: parse_setop(args, OP, false)? })
    }
}

impl<const OP: u8> ReadCommand for ZSetOp<OP> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let items = combine(cx.db(), cx.now_ms, OP, &self.a)?;
        Ok(items_reply(items, self.a.withscores))
    }
}

/// `ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]`, ZINTERSTORE,
/// ZDIFFSTORE.
struct ZSetOpStore<const OP: u8> {
    dst: Bytes,
    a: SetOpArgs,
}

impl<const OP: u8> Parse for ZSetOpStore<OP> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let dst = args.next_bytes()?;
        Ok(ZSetOpStore { dst, a: parse_setop(args, OP, true)? })
    }
}

impl<const OP: u8> WriteCommand for ZSetOpStore<OP> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let items = combine(cx.ks.db(cx.db), cx.now_ms, OP, &self.a)?;
        let n = store_result(cx, &self.dst, items, op_name(OP, true));
        Ok(Reply::Int(n as i64))
    }
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
struct ZInterCard {
    keys: Vec<Bytes>,
    limit: usize,
    options_error: Option<CmdError>,
}

impl Parse for ZInterCard {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let keys =
            parse_numkeys(args, CmdError::ZsetNoInputKey("zintercard"), CmdError::NotAnInteger)?;
        // As for ZINTER, a wrong-type key is reported before a bad option.
        let (limit, options_error) = match crate::cmd::set::parse_card_limit(args) {
            Ok(limit) => (limit, None),
            Err(e) => (0, Some(e)),
        };
        args.take_rest();
        Ok(ZInterCard { keys, limit, options_error })
    }
}

impl ReadCommand for ZInterCard {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let ins = inputs(cx.db(), cx.now_ms, &self.keys)?;
        if let Some(e) = self.options_error {
            return Err(e);
        }
        let mut order: Vec<usize> = (0..ins.len()).collect();
        order.sort_by_key(|&i| ins[i].len());
        let mut n = 0usize;
        let mut done = false;
        ins[order[0]].for_each(|_, m| {
            if done {
                return;
            }
            if order[1..].iter().all(|&j| ins[j].score(m).is_some()) {
                n += 1;
                if self.limit != 0 && n >= self.limit {
                    done = true;
                }
            }
        });
        Ok(Reply::Int(n as i64))
    }
}
