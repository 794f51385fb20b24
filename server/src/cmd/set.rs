//! Sets: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SPOP SRANDMEMBER SMOVE SINTER
//! SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN.
//!
//! Writes are deterministic: SPOP picks members by position with the entry's generator
//! (`ApplyCtx::rng`), and a set's order depends only on the operations applied (see
//! `types::set`). SRANDMEMBER and SSCAN are reads and may use any randomness.
//!
//! Multi-key writes (SMOVE, S*STORE) check every key's type before their first mutation,
//! so an error leaves the keyspace and its event list untouched. A command that empties a
//! set deletes the key, recording its own event and then `del`, as Redis notifies.

use bytes::Bytes;

use crate::cmd::scan::{self, parse_cursor};
use crate::cmd::spec::{
    read, write, BeginSearch, CmdResult, CommandSpec, FindKeys, Flags, Group, KeyFlags, KeySpec,
    Parse, ReadCommand, WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::{Db, DbMut, Value};
use crate::reply::Reply;
use crate::rng::Rng;
use crate::types::set::Set;

const RO: KeySpec = KeySpec::single(1, KeyFlags::RO);
const RO_ACCESS: KeySpec = KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS));
const ALL_RO_ACCESS: KeySpec = KeySpec::range(1, -1, 1, KeyFlags::RO.with(KeyFlags::ACCESS));
const STORE_KEYS: &[KeySpec] = &[
    KeySpec::single(1, KeyFlags::OW.with(KeyFlags::UPDATE)),
    KeySpec::range(2, -1, 1, KeyFlags::RO.with(KeyFlags::ACCESS)),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sadd",
        group: Group::Set,
        summary: "Adds one or more members to a set. Creates the key if it doesn't exist.",
        since: "1.0.0",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::INSERT))],
        exec: write::<SAdd>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "srem",
        group: Group::Set,
        summary: "Removes one or more members from a set. Deletes the set if the last member was removed.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of members to be removed.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE))],
        exec: write::<SRem>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "scard",
        group: Group::Set,
        summary: "Returns the number of members in a set.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[RO],
        exec: read::<SCard>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sismember",
        group: Group::Set,
        summary: "Determines whether a member belongs to a set.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[RO],
        exec: read::<SIsMember>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "smismember",
        group: Group::Set,
        summary: "Determines whether multiple members belong to a set.",
        since: "6.2.0",
        complexity: "O(N) where N is the number of elements being checked for membership",
        arity: -3,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[RO_ACCESS],
        exec: read::<SMIsMember>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "smembers",
        group: Group::Set,
        summary: "Returns all members of a set.",
        since: "1.0.0",
        complexity: "O(N) where N is the set cardinality.",
        arity: 2,
        flags: Flags::READONLY,
        keys: &[RO_ACCESS],
        exec: read::<SMembers>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "spop",
        group: Group::Set,
        summary: "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
        since: "1.0.0",
        complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        arity: -2,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::single(
            1,
            KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE),
        )],
        exec: write::<SPop>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "srandmember",
        group: Group::Set,
        summary: "Get one or multiple random members from a set",
        since: "1.0.0",
        complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[RO_ACCESS],
        exec: read::<SRandMember>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "smove",
        group: Group::Set,
        summary: "Moves a member from one set to another.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 4,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[
            KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE)),
            KeySpec::single(2, KeyFlags::RW.with(KeyFlags::INSERT)),
        ],
        exec: write::<SMove>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sinter",
        group: Group::Set,
        summary: "Returns the intersect of multiple sets.",
        since: "1.0.0",
        complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[ALL_RO_ACCESS],
        exec: read::<SetOp<INTER>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sintercard",
        group: Group::Set,
        summary: "Returns the number of members of the intersect of multiple sets.",
        since: "7.0.0",
        complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        arity: -3,
        flags: Flags::READONLY,
        keys: &[KeySpec {
            begin: BeginSearch::Index(1),
            find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 },
            flags: KeyFlags::RO.with(KeyFlags::ACCESS),
        }],
        exec: read::<SInterCard>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sinterstore",
        group: Group::Set,
        summary: "Stores the intersect of multiple sets in a key.",
        since: "1.0.0",
        complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: STORE_KEYS,
        exec: write::<SetOpStore<INTER>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sunion",
        group: Group::Set,
        summary: "Returns the union of multiple sets.",
        since: "1.0.0",
        complexity: "O(N) where N is the total number of elements in all given sets.",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[ALL_RO_ACCESS],
        exec: read::<SetOp<UNION>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sunionstore",
        group: Group::Set,
        summary: "Stores the union of multiple sets in a key.",
        since: "1.0.0",
        complexity: "O(N) where N is the total number of elements in all given sets.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: STORE_KEYS,
        exec: write::<SetOpStore<UNION>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sdiff",
        group: Group::Set,
        summary: "Returns the difference of multiple sets.",
        since: "1.0.0",
        complexity: "O(N) where N is the total number of elements in all given sets.",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[ALL_RO_ACCESS],
        exec: read::<SetOp<DIFF>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sdiffstore",
        group: Group::Set,
        summary: "Stores the difference of multiple sets in a key.",
        since: "1.0.0",
        complexity: "O(N) where N is the total number of elements in all given sets.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: STORE_KEYS,
        exec: write::<SetOpStore<DIFF>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sscan",
        group: Group::Set,
        summary: "Iterates over members of a set.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        arity: -3,
        flags: Flags::READONLY,
        keys: &[RO_ACCESS],
        exec: read::<SScan>(),
        ..CommandSpec::DEFAULT
    },
];

/// Most members a negative SRANDMEMBER count may ask for. Redis has no limit and would
/// build the reply until memory runs out; we refuse instead of aborting the process.
const MAX_RANDOM_REPLY: u64 = 1 << 24;

/// Deletes those of `keys` whose deadline passed, recording `expired` as a Redis write
/// does when it touches them, so the events that follow are the ones Redis would send.
pub fn purge_expired<'k>(
    db: &mut DbMut<'_>,
    keys: impl IntoIterator<Item = &'k Bytes>,
    now_ms: u64,
) {
    for key in keys {
        db.get(key, now_ms);
    }
}

/// The set at `key`: `None` if missing, WRONGTYPE if another type.
pub fn get_set<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a Set>, CmdError> {
    match db.get(key, now_ms) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn members_reply<'a>(members: impl IntoIterator<Item = &'a [u8]>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::bulk).collect())
}

/// `SADD key member [member ...]`
struct SAdd {
    key: Bytes,
    members: Vec<Bytes>,
}

impl Parse for SAdd {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SAdd { key: args.next_bytes()?, members: args.take_rest().to_vec() })
    }
}

impl WriteCommand for SAdd {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let hint = self.members.len();
        purge_expired(&mut db, [&self.key], now_ms);
        let Some(existing) = get_set(db.read(), &self.key, now_ms)? else {
            let mut set = Set::for_first(&self.members[0], hint);
            let added = self.members.iter().filter(|m| set.insert(m)).count();
            db.set(self.key, Value::Set(set), None, "sadd");
            return Ok(Reply::Int(added as i64));
        };
        // No event (and no write) when every member is already there, as Redis.
        if self.members.iter().all(|m| existing.contains(m)) {
            return Ok(Reply::Int(0));
        }
        let Some(Value::Set(set)) = db.value_mut(&self.key, now_ms, "sadd") else {
            return Err(CmdError::Internal);
        };
        set.reserve_for(hint);
        let added = self.members.iter().filter(|m| set.insert(m)).count();
        Ok(Reply::Int(added as i64))
    }
}

/// `SREM key member [member ...]`
struct SRem {
    key: Bytes,
    members: Vec<Bytes>,
}

impl Parse for SRem {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SRem { key: args.next_bytes()?, members: args.take_rest().to_vec() })
    }
}

impl WriteCommand for SRem {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        purge_expired(&mut db, [&self.key], now_ms);
        let Some(existing) = get_set(db.read(), &self.key, now_ms)? else {
            return Ok(Reply::Int(0));
        };
        if !self.members.iter().any(|m| existing.contains(m)) {
            return Ok(Reply::Int(0));
        }
        let Some(Value::Set(set)) = db.value_mut(&self.key, now_ms, "srem") else {
            return Err(CmdError::Internal);
        };
        let removed = self.members.iter().filter(|m| set.remove(m)).count();
        if set.is_empty() {
            db.remove(&self.key, now_ms, "del");
        }
        Ok(Reply::Int(removed as i64))
    }
}

/// `SCARD key`
struct SCard {
    key: Bytes,
}

impl Parse for SCard {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SCard { key: args.next_bytes()? })
    }
}

impl ReadCommand for SCard {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let len = get_set(cx.db(), &self.key, cx.now_ms)?.map_or(0, Set::len);
        Ok(Reply::Int(len as i64))
    }
}

/// `SISMEMBER key member`
struct SIsMember {
    key: Bytes,
    member: Bytes,
}

impl Parse for SIsMember {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SIsMember { key: args.next_bytes()?, member: args.next_bytes()? })
    }
}

impl ReadCommand for SIsMember {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let set = get_set(cx.db(), &self.key, cx.now_ms)?;
        Ok(Reply::Int(i64::from(set.is_some_and(|s| s.contains(&self.member)))))
    }
}

/// `SMISMEMBER key member [member ...]`
struct SMIsMember {
    key: Bytes,
    members: Vec<Bytes>,
}

impl Parse for SMIsMember {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SMIsMember { key: args.next_bytes()?, members: args.take_rest().to_vec() })
    }
}

impl ReadCommand for SMIsMember {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let set = get_set(cx.db(), &self.key, cx.now_ms)?;
        Ok(Reply::Array(
            self.members
                .iter()
                .map(|m| Reply::Int(i64::from(set.is_some_and(|s| s.contains(m)))))
                .collect(),
        ))
    }
}

/// `SMEMBERS key`
struct SMembers {
    key: Bytes,
}

impl Parse for SMembers {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SMembers { key: args.next_bytes()? })
    }
}

impl ReadCommand for SMembers {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let set = get_set(cx.db(), &self.key, cx.now_ms)?;
        Ok(members_reply(set.into_iter().flat_map(Set::iter)))
    }
}

/// `SPOP key [count]`
struct SPop {
    key: Bytes,
    count: Option<usize>,
}

impl Parse for SPop {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let count = match args.remaining() {
            0 => None,
            1 => {
                let n = args.next_i64_or(CmdError::NotPositive)?;
                Some(usize::try_from(n).map_err(|_| CmdError::NotPositive)?)
            }
            _ => return Err(CmdError::Syntax),
        };
        Ok(SPop { key, count })
    }
}

impl WriteCommand for SPop {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut rng = cx.rng();
        let mut db = cx.db();
        let empty = match self.count {
            None => Reply::Null,
            Some(_) => Reply::Set(Vec::new()),
        };
        purge_expired(&mut db, [&self.key], now_ms);
        if get_set(db.read(), &self.key, now_ms)?.is_none() || self.count == Some(0) {
            return Ok(empty);
        }
        let Some(Value::Set(set)) = db.value_mut(&self.key, now_ms, "spop") else {
            return Err(CmdError::Internal);
        };
        let popped = set.pop_random(&mut rng, self.count.unwrap_or(1));
        if set.is_empty() {
            db.remove(&self.key, now_ms, "del");
        }
        Ok(match self.count {
            None => popped.into_iter().next().map_or(Reply::Null, Reply::Bulk),
            Some(_) => Reply::Set(popped.into_iter().map(Reply::Bulk).collect()),
        })
    }
}

/// `SRANDMEMBER key [count]`: a positive count gives distinct members, a negative one
/// may repeat them.
struct SRandMember {
    key: Bytes,
    count: Option<i64>,
}

impl Parse for SRandMember {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let count = match args.remaining() {
            0 => None,
            1 => {
                let n = args.next_i64()?;
                if n == i64::MIN {
                    return Err(CmdError::LongOutOfRange);
                }
                Some(n)
            }
            _ => return Err(CmdError::Syntax),
        };
        Ok(SRandMember { key, count })
    }
}

impl ReadCommand for SRandMember {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let set = get_set(cx.db(), &self.key, cx.now_ms)?;
        let mut rng = cx.rng();
        let Some(count) = self.count else {
            return Ok(set.map_or(Reply::Null, |s| {
                s.get(rng.below(s.len() as u64) as usize).map_or(Reply::Null, Reply::bulk)
            }));
        };
        let Some(set) = set else { return Ok(Reply::Array(Vec::new())) };
        let len = set.len();
        let picks = random_positions(&mut rng, len, count)?;
        Ok(Reply::Array(set.members_at(&picks).into_iter().map(Reply::bulk).collect()))
    }
}

/// Positions for SRANDMEMBER: `count >= 0` distinct ones (all of them when `count >=
/// len`, in set order), `count < 0` any `|count|` with repetition.
fn random_positions(rng: &mut Rng, len: usize, count: i64) -> Result<Vec<usize>, CmdError> {
    if len == 0 || count == 0 {
        return Ok(Vec::new());
    }
    if count < 0 {
        let n = count.unsigned_abs();
        if n > MAX_RANDOM_REPLY {
            return Err(CmdError::LongOutOfRange);
        }
        return Ok((0..n).map(|_| rng.below(len as u64) as usize).collect());
    }
    let n = usize::try_from(count).unwrap_or(usize::MAX);
    if n >= len {
        return Ok((0..len).collect());
    }
    // Partial Fisher-Yates over positions: distinct and uniform.
    let mut positions: Vec<usize> = (0..len).collect();
    for i in 0..n {
        let j = i + rng.below((len - i) as u64) as usize;
        positions.swap(i, j);
    }
    positions.truncate(n);
    Ok(positions)
}

/// `SMOVE source destination member`
struct SMove {
    src: Bytes,
    dst: Bytes,
    member: Bytes,
}

impl Parse for SMove {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SMove { src: args.next_bytes()?, dst: args.next_bytes()?, member: args.next_bytes()? })
    }
}

impl WriteCommand for SMove {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        purge_expired(&mut db, [&self.src, &self.dst], now_ms);
        // Redis's order: a missing source answers 0 before any type check.
        let Some(src) = get_set(db.read(), &self.src, now_ms)? else {
            return Ok(Reply::Int(0));
        };
        let dst = get_set(db.read(), &self.dst, now_ms)?;
        let in_src = src.contains(&self.member);
        if self.src == self.dst || !in_src {
            return Ok(Reply::Int(i64::from(in_src)));
        }
        let in_dst = dst.is_some_and(|d| d.contains(&self.member));
        let dst_exists = dst.is_some();
        let Some(Value::Set(src)) = db.value_mut(&self.src, now_ms, "srem") else {
            return Err(CmdError::Internal);
        };
        src.remove(&self.member);
        if src.is_empty() {
            db.remove(&self.src, now_ms, "del");
        }
        if !in_dst {
            if dst_exists {
                if let Some(Value::Set(dst)) = db.value_mut(&self.dst, now_ms, "sadd") {
                    dst.insert(&self.member);
                }
            } else {
                let mut set = Set::for_first(&self.member, 1);
                set.insert(&self.member);
                db.set(self.dst, Value::Set(set), None, "sadd");
            }
        }
        Ok(Reply::Int(1))
    }
}

const INTER: u8 = 0;
const UNION: u8 = 1;
const DIFF: u8 = 2;

/// The sets named by `keys`, after checking every key's type (a missing key is `None`).
fn lookup_sets<'a>(
    db: &'a Db,
    keys: &[Bytes],
    now_ms: u64,
) -> Result<Vec<Option<&'a Set>>, CmdError> {
    keys.iter().map(|k| get_set(db, k, now_ms)).collect()
}

/// Members of the intersection, in the order of the smallest set, stopping after
/// `limit` members (0 = no limit).
fn intersection<'a>(sets: &[Option<&'a Set>], limit: usize) -> Vec<&'a [u8]> {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return Vec::new();
    };
    sets.sort_by_key(|s| s.len());
    let Some((first, rest)) = sets.split_first() else { return Vec::new() };
    let mut out = Vec::new();
    for m in first.iter() {
        if rest.iter().all(|s| s.contains(m)) {
            out.push(m);
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

/// The result of SINTER / SUNION / SDIFF as a set (built as Redis builds it).
fn combine(op: u8, sets: &[Option<&Set>]) -> Set {
    match op {
        INTER => Set::from_members(intersection(sets, 0)),
        UNION => Set::from_members(sets.iter().flatten().flat_map(|s| s.iter())),
        _ => {
            let Some(Some(first)) = sets.first() else { return Set::new() };
            let rest = &sets[1..];
            Set::from_members(
                first.iter().filter(|m| !rest.iter().flatten().any(|s| s.contains(m))),
            )
        }
    }
}

/// `SINTER key [key ...]`, `SUNION key [key ...]`, `SDIFF key [key ...]`
struct SetOp<const OP: u8> {
    keys: Vec<Bytes>,
}

impl<const OP: u8> Parse for SetOp<OP> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SetOp { keys: args.take_rest().to_vec() })
    }
}

impl<const OP: u8> ReadCommand for SetOp<OP> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let sets = lookup_sets(cx.db(), &self.keys, cx.now_ms)?;
        if OP == INTER {
            // Redis replies while walking the smallest set; no result set is built.
            return Ok(members_reply(intersection(&sets, 0)));
        }
        Ok(members_reply(combine(OP, &sets).iter()))
    }
}

/// `SINTERSTORE destination key [key ...]` and the UNION / DIFF variants.
struct SetOpStore<const OP: u8> {
    dst: Bytes,
    keys: Vec<Bytes>,
}

impl<const OP: u8> Parse for SetOpStore<OP> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(SetOpStore { dst: args.next_bytes()?, keys: args.take_rest().to_vec() })
    }
}

impl<const OP: u8> WriteCommand for SetOpStore<OP> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        purge_expired(&mut db, self.keys.iter().chain([&self.dst]), now_ms);
        let result = combine(OP, &lookup_sets(db.read(), &self.keys, now_ms)?);
        let len = result.len();
        if result.is_empty() {
            db.remove(&self.dst, now_ms, "del");
        } else {
            let event = match OP {
                INTER => "sinterstore",
                UNION => "sunionstore",
                _ => "sdiffstore",
            };
            db.set(self.dst, Value::Set(result), None, event);
        }
        Ok(Reply::Int(len as i64))
    }
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
struct SInterCard {
    keys: Vec<Bytes>,
    limit: usize,
}

/// The `[LIMIT limit]` that ends SINTERCARD and ZINTERCARD (0: no limit).
pub(crate) fn parse_card_limit(args: &mut Args<'_>) -> Result<usize, CmdError> {
    let mut limit = 0;
    while !args.is_empty() {
        if args.remaining() >= 2 && args.eat("LIMIT") {
            let n = args.next_i64_or(CmdError::ZsetLimitNegative)?;
            limit = usize::try_from(n).map_err(|_| CmdError::ZsetLimitNegative)?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(limit)
}

impl Parse for SInterCard {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let numkeys = args.next_i64_or(CmdError::NumkeysNotPositive)?;
        if numkeys <= 0 {
            return Err(CmdError::NumkeysNotPositive);
        }
        if numkeys as u64 > args.remaining() as u64 {
            return Err(CmdError::NumkeysTooMany);
        }
        let mut keys = Vec::with_capacity(numkeys as usize);
        for _ in 0..numkeys {
            keys.push(args.next_bytes()?);
        }
        // Unlike ZINTERCARD, a bad LIMIT is reported before any key is looked at.
        let limit = parse_card_limit(args)?;
        Ok(SInterCard { keys, limit })
    }
}

impl ReadCommand for SInterCard {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let sets = lookup_sets(cx.db(), &self.keys, cx.now_ms)?;
        Ok(Reply::Int(intersection(&sets, self.limit).len() as i64))
    }
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`
///
/// Option errors are reported after the key lookup, as Redis does: a missing key answers
/// an empty scan whatever the options, and a wrong type wins over a bad option.
struct SScan {
    key: Bytes,
    cursor: u64,
    options: Result<ScanOptions, CmdError>,
}

struct ScanOptions {
    pattern: Option<Bytes>,
    count: usize,
}

fn parse_scan_options(args: &mut Args<'_>) -> Result<ScanOptions, CmdError> {
    let o = scan::parse_options(args, scan::Extra::None)?;
    Ok(ScanOptions { pattern: o.pattern, count: o.count })
}

impl Parse for SScan {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let cursor = parse_cursor(args.next_slice()?)?;
        let options = parse_scan_options(args);
        args.take_rest();
        Ok(SScan { key, cursor, options })
    }
}

impl ReadCommand for SScan {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(set) = get_set(cx.db(), &self.key, cx.now_ms)? else {
            return Ok(Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())]));
        };
        let options = self.options?;
        let (next, batch) = set.scan(self.cursor, options.count);
        let members = batch
            .iter()
            .filter(|m| options.pattern.as_ref().is_none_or(|p| crate::glob::matches(p, m, false)))
            .map(|m| Reply::bulk(*m))
            .collect();
        Ok(Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(members)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Exec;
    use crate::keyspace::{KeyEvent, Keyspace};

    const NOW: u64 = 1_000_000;

    fn argv(args: &[&str]) -> Vec<Bytes> {
        args.iter().map(|a| Bytes::from(a.to_string())).collect()
    }

    /// Checks and applies one write with `seed`, as the log would.
    fn write_seeded(ks: &mut Keyspace, seed: u64, args: &[&str]) -> Reply {
        let argv = argv(args);
        let (spec, _, skip) = match crate::cmd::resolve(&argv) {
            Ok(r) => r,
            Err(e) => return Reply::Error(e),
        };
        let Exec::Write(fns) = spec.exec else { panic!("{:?} is not a write", argv[0]) };
        if let Err(e) = (fns.check)(&mut Args::new(&argv[skip..])) {
            return Reply::Error(e);
        }
        let mut cx = ApplyCtx {
            ks,
            db: 0,
            now_ms: NOW,
            seed,
            index: 1,
            max_bulk_len: u64::MAX,
            hll_sparse_max_bytes: 3000,
            stream_node_max_entries: 100,
            stream_node_max_bytes: 4096,
            may_block: false,
            shared: None,
            in_script: false,
        };
        (fns.apply)(&mut Args::new(&argv[skip..]), &mut cx).unwrap_or_else(Reply::Error)
    }

    fn write(ks: &mut Keyspace, args: &[&str]) -> Reply {
        write_seeded(ks, 1, args)
    }

    fn events(ks: &mut Keyspace) -> Vec<(String, &'static str)> {
        ks.take_events()
            .into_iter()
            .map(|KeyEvent { key, event, .. }| (String::from_utf8_lossy(&key).into_owned(), event))
            .collect()
    }

    fn set_of(ks: &Keyspace, key: &str) -> Option<Vec<String>> {
        match ks.db(0).get(key.as_bytes(), NOW) {
            Some(Value::Set(s)) => {
                let mut v: Vec<String> =
                    s.iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect();
                v.sort();
                Some(v)
            }
            _ => None,
        }
    }

    #[test]
    fn sadd_and_srem_record_events_only_when_something_changes() {
        let mut ks = Keyspace::new(1);
        assert_eq!(write(&mut ks, &["SADD", "s", "a", "b", "a"]), Reply::Int(2));
        assert_eq!(write(&mut ks, &["SADD", "s", "a"]), Reply::Int(0));
        assert_eq!(write(&mut ks, &["SREM", "s", "zz"]), Reply::Int(0));
        assert_eq!(events(&mut ks), [("s".into(), "sadd")]);
        assert_eq!(write(&mut ks, &["SREM", "s", "a", "b", "c"]), Reply::Int(2));
        assert_eq!(events(&mut ks), [("s".into(), "srem"), ("s".into(), "del")]);
        assert_eq!(ks.db(0).len(), 0);
    }

    #[test]
    fn a_write_over_an_expired_key_reports_the_expiry_first() {
        let mut ks = Keyspace::new(1);
        let old = Value::Set(Set::from_members([Bytes::from("old")]));
        ks.db_mut(0).set(Bytes::from("s"), old, Some(NOW - 1), "sadd");
        events(&mut ks);
        assert_eq!(write(&mut ks, &["SADD", "s", "new"]), Reply::Int(1));
        assert_eq!(events(&mut ks), [("s".into(), "expired"), ("s".into(), "sadd")]);
        assert_eq!(set_of(&ks, "s"), Some(vec!["new".into()]));
        assert_eq!(ks.db(0).get_entry(b"s", NOW).and_then(|e| e.expire_at_ms()), None);
    }

    #[test]
    fn spop_is_deterministic_for_a_seed_and_deletes_the_emptied_key() {
        let (mut a, mut b) = (Keyspace::new(1), Keyspace::new(1));
        let members: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        let mut args = vec!["SADD", "s"];
        args.extend(members.iter().map(String::as_str));
        write(&mut a, &args);
        write(&mut b, &args);
        let ra = write_seeded(&mut a, 99, &["SPOP", "s", "7"]);
        let rb = write_seeded(&mut b, 99, &["SPOP", "s", "7"]);
        assert_eq!(ra, rb);
        assert_eq!(a.digest(), b.digest());
        events(&mut a);
        let Reply::Set(all) = write(&mut a, &["SPOP", "s", "100"]) else { panic!() };
        assert_eq!(all.len(), 43);
        assert_eq!(events(&mut a), [("s".into(), "spop"), ("s".into(), "del")]);
        assert_eq!(write(&mut a, &["SPOP", "s"]), Reply::Null);
        assert_eq!(write(&mut a, &["SPOP", "s", "-1"]), Reply::Error(CmdError::NotPositive));
    }

    #[test]
    fn smove_checks_both_types_before_mutating() {
        let mut ks = Keyspace::new(1);
        write(&mut ks, &["SADD", "src", "a"]);
        ks.db_mut(0).set(Bytes::from("str"), Value::Str("x".into()), None, "set");
        events(&mut ks);
        assert_eq!(
            write(&mut ks, &["SMOVE", "src", "str", "a"]),
            Reply::Error(CmdError::WrongType)
        );
        assert!(events(&mut ks).is_empty());
        assert_eq!(write(&mut ks, &["SMOVE", "nosuch", "str", "a"]), Reply::Int(0));
        assert_eq!(write(&mut ks, &["SMOVE", "src", "dst", "a"]), Reply::Int(1));
        assert_eq!(
            events(&mut ks),
            [("src".into(), "srem"), ("src".into(), "del"), ("dst".into(), "sadd")]
        );
        assert_eq!(set_of(&ks, "dst"), Some(vec!["a".into()]));
    }

    #[test]
    fn store_commands_fail_whole_or_replace_the_destination() {
        let mut ks = Keyspace::new(1);
        write(&mut ks, &["SADD", "a", "1", "2", "3", "x"]);
        write(&mut ks, &["SADD", "b", "2", "3", "4"]);
        write(&mut ks, &["SADD", "dst", "old"]);
        ks.db_mut(0).set(Bytes::from("str"), Value::Str("x".into()), None, "set");
        events(&mut ks);
        let r = write(&mut ks, &["SINTERSTORE", "dst", "a", "nosuch", "str"]);
        assert_eq!(r, Reply::Error(CmdError::WrongType));
        assert!(events(&mut ks).is_empty());
        assert_eq!(write(&mut ks, &["SINTERSTORE", "dst", "a", "b"]), Reply::Int(2));
        assert_eq!(set_of(&ks, "dst"), Some(vec!["2".into(), "3".into()]));
        assert_eq!(ks.db(0).get(b"dst", NOW).map(Value::encoding), Some("intset"));
        assert_eq!(write(&mut ks, &["SDIFFSTORE", "dst", "a", "b"]), Reply::Int(2));
        assert_eq!(set_of(&ks, "dst"), Some(vec!["1".into(), "x".into()]));
        assert_eq!(write(&mut ks, &["SUNIONSTORE", "dst", "dst", "b"]), Reply::Int(5));
        events(&mut ks);
        assert_eq!(write(&mut ks, &["SINTERSTORE", "dst", "a", "nosuch"]), Reply::Int(0));
        assert_eq!(events(&mut ks), [("dst".into(), "del")]);
    }

    #[test]
    fn sintercard_parses_like_redis() {
        let parse = |args: &[&str]| {
            let argv = argv(args);
            SInterCard::parse(&mut Args::new(&argv)).map(|c| (c.keys.len(), c.limit))
        };
        assert_eq!(parse(&["0", "a"]).err(), Some(CmdError::NumkeysNotPositive));
        assert_eq!(parse(&["x", "a"]).err(), Some(CmdError::NumkeysNotPositive));
        assert_eq!(parse(&["2", "a"]).err(), Some(CmdError::NumkeysTooMany));
        assert_eq!(parse(&["1", "a", "b"]).err(), Some(CmdError::Syntax));
        assert_eq!(parse(&["1", "a", "LIMIT"]).err(), Some(CmdError::Syntax));
        assert_eq!(parse(&["1", "a", "LIMIT", "-1"]).err(), Some(CmdError::ZsetLimitNegative));
        assert_eq!(parse(&["1", "a", "limit", "1", "LIMIT", "3"]).ok(), Some((1, 3)));
    }

    #[test]
    fn random_positions_are_distinct_for_positive_counts() {
        let mut rng = Rng::new(5);
        let mut p = random_positions(&mut rng, 100, 40).unwrap();
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), 40);
        assert_eq!(random_positions(&mut rng, 3, 10).unwrap(), [0, 1, 2]);
        assert_eq!(random_positions(&mut rng, 3, -10).unwrap().len(), 10);
    }
}
