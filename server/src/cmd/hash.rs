//! Hashes: HSET HSETNX HMSET HGET HMGET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL
//! HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN, and Redis 7.4's field expiry: HEXPIRE HPEXPIRE
//! HEXPIREAT HPEXPIREAT HTTL HPTTL HEXPIRETIME HPEXPIRETIME HPERSIST.
//!
//! Field expiry keeps the keyspace's rules:
//!
//! - relative times are resolved in apply with the entry's clock (`ApplyCtx::now_ms`), so
//!   every replica stores the same absolute deadline;
//! - reads hide a field whose deadline passed, by the reader's clock; only HLEN counts
//!   expired fields not yet removed, as Redis's does (it stays O(1));
//! - expired fields are removed only by writes: every write touching a hash first purges
//!   its expired fields with the entry's clock (`DbMut::purge_hash_fields`, event
//!   `hexpired`), and the leader's active expiry finds hashes with due fields through the
//!   database's field-deadline index and proposes `Request::Expire` for them, whose apply
//!   purges them the same way.
//!
//! Writes validate against the live view first and mutate only once nothing can fail, so
//! an error leaves no event behind. A field an HDEL names that has expired but is not yet
//! removed counts as deleted, as in Redis.
//!
//! Argument errors of HEXPIRE and HPERSIST are reported before the log, so on a key of the
//! wrong type they win over WRONGTYPE (Redis checks the type first). The read commands
//! (HTTL family, HSCAN options) keep Redis's order.
//!
//! HINCRBYFLOAT uses the strings family's `long double` arithmetic and formatting, so its
//! results are Redis's to the last digit and the same on every replica.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use crate::cmd::scan::{self, parse_cursor};
use crate::cmd::spec::{
    read, write, CmdResult, CommandSpec, Flags, Group, KeyFlags, KeySpec, Parse, ReadCommand,
    WriteCommand,
};
use crate::cmd::string::long_double;
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::{Db, DbMut, Value};
use crate::reply::Reply;
use crate::resp::decode::parse_i64;
use crate::types::hash::Hash;

const RW_UPDATE: &[KeySpec] = &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::UPDATE))];
const RW_INSERT: &[KeySpec] = &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::INSERT))];
const RW_DELETE: &[KeySpec] = &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE))];
const RW_ACCESS_UPDATE: &[KeySpec] =
    &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE))];
const RO: &[KeySpec] = &[KeySpec::single(1, KeyFlags::RO)];
const RO_ACCESS: &[KeySpec] = &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))];

const WRITE_FAST: Flags = Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST);
const READ_FAST: Flags = Flags::READONLY.with(Flags::FAST);
const FIELDS_N: &str = "O(N) where N is the number of specified fields";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "hset",
        group: Group::Hash,
        summary: "Creates or modifies the value of a field in a hash.",
        since: "2.0.0",
        complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
        arity: -4,
        flags: WRITE_FAST,
        keys: RW_UPDATE,
        exec: write::<HSet<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hmset",
        group: Group::Hash,
        summary: "Sets the values of multiple fields.",
        since: "2.0.0",
        complexity: "O(N) where N is the number of fields being set.",
        arity: -4,
        flags: WRITE_FAST,
        keys: RW_UPDATE,
        exec: write::<HSet<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hsetnx",
        group: Group::Hash,
        summary: "Sets the value of a field in a hash only when the field doesn't exist.",
        since: "2.0.0",
        complexity: "O(1)",
        arity: 4,
        flags: WRITE_FAST,
        keys: RW_INSERT,
        exec: write::<HSetNx>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hget",
        group: Group::Hash,
        summary: "Returns the value of a field in a hash.",
        since: "2.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: READ_FAST,
        keys: RO_ACCESS,
        exec: read::<HGet>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hmget",
        group: Group::Hash,
        summary: "Returns the values of all fields in a hash.",
        since: "2.0.0",
        complexity: "O(N) where N is the number of fields being requested.",
        arity: -3,
        flags: READ_FAST,
        keys: RO_ACCESS,
        exec: read::<HMGet>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hdel",
        group: Group::Hash,
        summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        since: "2.0.0",
        complexity: "O(N) where N is the number of fields to be removed.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: RW_DELETE,
        exec: write::<HDel>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hlen",
        group: Group::Hash,
        summary: "Returns the number of fields in a hash.",
        since: "2.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: READ_FAST,
        keys: RO,
        exec: read::<HLen>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hstrlen",
        group: Group::Hash,
        summary: "Returns the length of the value of a field.",
        since: "3.2.0",
        complexity: "O(1)",
        arity: 3,
        flags: READ_FAST,
        keys: RO,
        exec: read::<HStrLen>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hexists",
        group: Group::Hash,
        summary: "Determines whether a field exists in a hash.",
        since: "2.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: READ_FAST,
        keys: RO,
        exec: read::<HExists>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hkeys",
        group: Group::Hash,
        summary: "Returns all fields in a hash.",
        since: "2.0.0",
        complexity: "O(N) where N is the size of the hash.",
        arity: 2,
        flags: Flags::READONLY,
        keys: RO_ACCESS,
        exec: read::<HGetAll<{ ALL_KEYS }>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hvals",
        group: Group::Hash,
        summary: "Returns all values in a hash.",
        since: "2.0.0",
        complexity: "O(N) where N is the size of the hash.",
        arity: 2,
        flags: Flags::READONLY,
        keys: RO_ACCESS,
        exec: read::<HGetAll<{ ALL_VALUES }>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hgetall",
        group: Group::Hash,
        summary: "Returns all fields and values in a hash.",
        since: "2.0.0",
        complexity: "O(N) where N is the size of the hash.",
        arity: 2,
        flags: Flags::READONLY,
        keys: RO_ACCESS,
        exec: read::<HGetAll<{ ALL_PAIRS }>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hincrby",
        group: Group::Hash,
        summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        since: "2.0.0",
        complexity: "O(1)",
        arity: 4,
        flags: WRITE_FAST,
        keys: RW_ACCESS_UPDATE,
        exec: write::<HIncrBy>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hincrbyfloat",
        group: Group::Hash,
        summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        since: "2.6.0",
        complexity: "O(1)",
        arity: 4,
        flags: WRITE_FAST,
        keys: RW_ACCESS_UPDATE,
        exec: write::<HIncrByFloat>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hrandfield",
        group: Group::Hash,
        summary: "Returns one or more random fields from a hash.",
        since: "6.2.0",
        complexity: "O(N) where N is the number of fields returned",
        arity: -2,
        flags: Flags::READONLY,
        keys: RO_ACCESS,
        exec: read::<HRandField>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hscan",
        group: Group::Hash,
        summary: "Iterates over fields and values of a hash.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        arity: -3,
        flags: Flags::READONLY,
        keys: RO_ACCESS,
        exec: read::<HScan>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hexpire",
        group: Group::Hash,
        summary: "Set expiry for hash field using relative time to expire (seconds)",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -6,
        flags: WRITE_FAST,
        keys: RW_UPDATE,
        exec: write::<HExpire<false, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hpexpire",
        group: Group::Hash,
        summary: "Set expiry for hash field using relative time to expire (milliseconds)",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -6,
        flags: WRITE_FAST,
        keys: RW_UPDATE,
        exec: write::<HExpire<true, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hexpireat",
        group: Group::Hash,
        summary: "Set expiry for hash field using an absolute Unix timestamp (seconds)",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -6,
        flags: WRITE_FAST,
        keys: RW_UPDATE,
        exec: write::<HExpire<false, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hpexpireat",
        group: Group::Hash,
        summary: "Set expiry for hash field using an absolute Unix timestamp (milliseconds)",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -6,
        flags: WRITE_FAST,
        keys: RW_UPDATE,
        exec: write::<HExpire<true, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "httl",
        group: Group::Hash,
        summary: "Returns the TTL in seconds of a hash field.",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -5,
        flags: READ_FAST,
        keys: RO_ACCESS,
        exec: read::<HTtl<false, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hpttl",
        group: Group::Hash,
        summary: "Returns the TTL in milliseconds of a hash field.",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -5,
        flags: READ_FAST,
        keys: RO_ACCESS,
        exec: read::<HTtl<true, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hexpiretime",
        group: Group::Hash,
        summary: "Returns the expiration time of a hash field as a Unix timestamp, in seconds.",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -5,
        flags: READ_FAST,
        keys: RO_ACCESS,
        exec: read::<HTtl<false, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hpexpiretime",
        group: Group::Hash,
        summary: "Returns the expiration time of a hash field as a Unix timestamp, in msec.",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -5,
        flags: READ_FAST,
        keys: RO_ACCESS,
        exec: read::<HTtl<true, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hpersist",
        group: Group::Hash,
        summary: "Removes the expiration time for each specified field",
        since: "7.4.0",
        complexity: FIELDS_N,
        arity: -5,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: RW_UPDATE,
        exec: write::<HPersist>(),
        ..CommandSpec::DEFAULT
    },
];

/// The latest absolute field deadline Redis accepts (`HFE_MAX_ABS_TIME_MSEC`, 2^46 - 1).
pub const MAX_FIELD_DEADLINE_MS: u64 = (1 << 46) - 1;

/// A negative HRANDFIELD count asks for this many picks at most: Redis would try to build
/// any size and run out of memory; we refuse instead.
const MAX_RANDOM_PICKS: u64 = 1 << 24;

// ---------------------------------------------------------------------------------------
// Shared helpers

/// The live hash at `key` in a read view, or WRONGTYPE.
fn hash_at<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a Hash>, CmdError> {
    match db.get(key, now_ms) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The live hash at `key` for a read command.
fn read_hash<'a>(cx: &'a ReadCtx<'_>, key: &[u8]) -> Result<Option<&'a Hash>, CmdError> {
    hash_at(cx.db(), key, cx.now_ms)
}

/// Changes the hash at `key` (created if absent) once every check has passed: purges its
/// expired fields first, records `event`, deletes the key (`del`) if `f` left it empty,
/// and re-indexes its field deadlines.
fn edit<R>(
    db: &mut DbMut<'_>,
    key: &Bytes,
    now_ms: u64,
    event: &'static str,
    f: impl FnOnce(&mut Hash) -> R,
) -> Result<R, CmdError> {
    db.purge_hash_fields(key, now_ms);
    match db.read().get(key, now_ms) {
        None => {
            let mut h = Hash::new();
            let out = f(&mut h);
            if !h.is_empty() {
                db.set(key.clone(), Value::Hash(h), None, event);
            }
            return Ok(out);
        }
        Some(Value::Hash(_)) => {}
        Some(_) => return Err(CmdError::WrongType),
    }
    let Some(Value::Hash(h)) = db.value_mut(key, now_ms, event) else {
        return Err(CmdError::Internal);
    };
    let out = f(h);
    let empty = h.is_empty();
    if empty {
        db.remove(key, now_ms, "del");
    } else {
        db.sync_hash_deadline(key);
    }
    Ok(out)
}

/// Parses `FIELDS numfields field ...` (the rest of the arguments); `bad_count` is the
/// error for a count that is not a positive integer (it differs between commands).
fn parse_fields(args: &mut Args<'_>, bad_count: CmdError) -> Result<Vec<Bytes>, CmdError> {
    if !args.eat("FIELDS") {
        return Err(CmdError::HashFieldsMissing);
    }
    let n = args.next_slice().ok().and_then(parse_i64).filter(|n| *n >= 1).ok_or(bad_count)?;
    let fields = args.take_rest();
    if u64::try_from(n).ok() != Some(fields.len() as u64) {
        return Err(CmdError::HashNumFieldsMismatch);
    }
    Ok(fields.to_vec())
}

// ---------------------------------------------------------------------------------------
// Setting and reading fields

/// `HSET key field value [field value ...]` (`MSET = false`, replies the number of new
/// fields) and `HMSET key field value [field value ...]` (replies OK).
struct HSet<const MSET: bool> {
    key: Bytes,
    pairs: Vec<(Bytes, Bytes)>,
}

impl<const MSET: bool> Parse for HSet<MSET> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let rest = args.take_rest();
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            let name = if MSET { "hmset" } else { "hset" };
            return Err(CmdError::WrongArity(name.into()));
        }
        let pairs = rest.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
        Ok(HSet { key, pairs })
    }
}

impl<const MSET: bool> WriteCommand for HSet<MSET> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        hash_at(db.read(), &self.key, now_ms)?;
        let added = edit(&mut db, &self.key, now_ms, "hset", |h| {
            self.pairs.into_iter().filter(|(f, v)| h.insert(f, v)).count()
        })?;
        Ok(if MSET { Reply::ok() } else { Reply::Int(added as i64) })
    }
}

/// `HSETNX key field value`
struct HSetNx {
    key: Bytes,
    field: Bytes,
    value: Bytes,
}

impl Parse for HSetNx {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HSetNx { key: args.next_bytes()?, field: args.next_bytes()?, value: args.next_bytes()? })
    }
}

impl WriteCommand for HSetNx {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let exists = hash_at(db.read(), &self.key, now_ms)?
            .is_some_and(|h| h.live(&self.field, now_ms).is_some());
        if exists {
            db.purge_hash_fields(&self.key, now_ms);
            return Ok(Reply::Int(0));
        }
        edit(&mut db, &self.key, now_ms, "hset", |h| h.insert(&self.field, &self.value))?;
        Ok(Reply::Int(1))
    }
}

/// `HGET key field`
struct HGet {
    key: Bytes,
    field: Bytes,
}

impl Parse for HGet {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HGet { key: args.next_bytes()?, field: args.next_bytes()? })
    }
}

impl ReadCommand for HGet {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let value = read_hash(cx, &self.key)?.and_then(|h| h.get_live(&self.field, cx.now_ms));
        Ok(value.map_or(Reply::Null, Reply::bulk))
    }
}

/// `HMGET key field [field ...]`
struct HMGet {
    key: Bytes,
    fields: Vec<Bytes>,
}

impl Parse for HMGet {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HMGet { key: args.next_bytes()?, fields: args.take_rest().to_vec() })
    }
}

impl ReadCommand for HMGet {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let h = read_hash(cx, &self.key)?;
        let values = self
            .fields
            .iter()
            .map(|f| h.and_then(|h| h.get_live(f, cx.now_ms)).map_or(Reply::Null, Reply::bulk))
            .collect();
        Ok(Reply::Array(values))
    }
}

/// `HDEL key field [field ...]`
struct HDel {
    key: Bytes,
    fields: Vec<Bytes>,
}

impl Parse for HDel {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HDel { key: args.next_bytes()?, fields: args.take_rest().to_vec() })
    }
}

impl WriteCommand for HDel {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let Some(h) = hash_at(db.read(), &self.key, now_ms)? else { return Ok(Reply::Int(0)) };
        // Expired fields still stored count as deleted (the purge removes them).
        let named: HashSet<&[u8]> =
            self.fields.iter().filter(|f| h.slot(f).is_some()).map(|f| &f[..]).collect();
        if !self.fields.iter().any(|f| h.live(f, now_ms).is_some()) {
            db.purge_hash_fields(&self.key, now_ms);
            return Ok(Reply::Int(named.len() as i64));
        }
        edit(&mut db, &self.key, now_ms, "hdel", |h| {
            for f in &self.fields {
                h.remove(f);
            }
        })?;
        Ok(Reply::Int(named.len() as i64))
    }
}

/// `HLEN key`: stored fields, including expired ones not yet removed (as Redis).
struct HLen {
    key: Bytes,
}

impl Parse for HLen {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HLen { key: args.next_bytes()? })
    }
}

impl ReadCommand for HLen {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let n = read_hash(cx, &self.key)?.map_or(0, Hash::len);
        Ok(Reply::Int(n as i64))
    }
}

/// `HSTRLEN key field`
struct HStrLen {
    key: Bytes,
    field: Bytes,
}

impl Parse for HStrLen {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HStrLen { key: args.next_bytes()?, field: args.next_bytes()? })
    }
}

impl ReadCommand for HStrLen {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let h = read_hash(cx, &self.key)?;
        let len = h.and_then(|h| h.get_live(&self.field, cx.now_ms)).map_or(0, |v| v.len());
        Ok(Reply::Int(len as i64))
    }
}

/// `HEXISTS key field`
struct HExists {
    key: Bytes,
    field: Bytes,
}

impl Parse for HExists {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HExists { key: args.next_bytes()?, field: args.next_bytes()? })
    }
}

impl ReadCommand for HExists {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let h = read_hash(cx, &self.key)?;
        let exists = h.is_some_and(|h| h.live(&self.field, cx.now_ms).is_some());
        Ok(Reply::Int(i64::from(exists)))
    }
}

const ALL_KEYS: u8 = 0;
const ALL_VALUES: u8 = 1;
const ALL_PAIRS: u8 = 2;

/// `HKEYS key`, `HVALS key`, `HGETALL key` (a map in RESP3), in position order.
struct HGetAll<const WHAT: u8> {
    key: Bytes,
}

impl<const WHAT: u8> Parse for HGetAll<WHAT> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HGetAll { key: args.next_bytes()? })
    }
}

impl<const WHAT: u8> ReadCommand for HGetAll<WHAT> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(h) = read_hash(cx, &self.key)? else {
            return Ok(if WHAT == ALL_PAIRS {
                Reply::Map(Vec::new())
            } else {
                Reply::Array(vec![])
            });
        };
        let live = h.iter_live(cx.now_ms);
        Ok(match WHAT {
            ALL_KEYS => Reply::Array(live.map(|s| Reply::bulk(s.field)).collect()),
            ALL_VALUES => Reply::Array(live.map(|s| Reply::bulk(s.value)).collect()),
            _ => Reply::Map(live.map(|s| (Reply::bulk(s.field), Reply::bulk(s.value))).collect()),
        })
    }
}

/// `HINCRBY key field increment`: keeps the field's deadline.
struct HIncrBy {
    key: Bytes,
    field: Bytes,
    delta: i64,
}

impl Parse for HIncrBy {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(HIncrBy { key: args.next_bytes()?, field: args.next_bytes()?, delta: args.next_i64()? })
    }
}

impl WriteCommand for HIncrBy {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let current = match hash_at(db.read(), &self.key, now_ms)?
            .and_then(|h| h.get_live(&self.field, now_ms))
        {
            None => 0,
            Some(v) => parse_i64(v).ok_or(CmdError::HashValueNotInteger)?,
        };
        let next = current.checked_add(self.delta).ok_or(CmdError::Overflow)?;
        let text = Bytes::copy_from_slice(itoa::Buffer::new().format(next).as_bytes());
        edit(&mut db, &self.key, now_ms, "hincrby", |h| h.insert_keep_ttl(&self.field, &text))?;
        Ok(Reply::Int(next))
    }
}

/// `HINCRBYFLOAT key field increment`: Redis's `long double` sum and `%.17Lf` text;
/// keeps the field's deadline.
struct HIncrByFloat {
    key: Bytes,
    field: Bytes,
    incr: long_double::Num,
}

impl Parse for HIncrByFloat {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let field = args.next_bytes()?;
        let incr = long_double::parse(args.next_slice()?).ok_or(CmdError::NotAFloat)?;
        // `add` refuses exactly the infinities.
        if long_double::add(incr, long_double::Num::ZERO).is_none() {
            return Err(CmdError::NanOrInfinityValue);
        }
        Ok(HIncrByFloat { key, field, incr })
    }
}

impl WriteCommand for HIncrByFloat {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let current = match hash_at(db.read(), &self.key, now_ms)?
            .and_then(|h| h.get_live(&self.field, now_ms))
        {
            None => long_double::Num::ZERO,
            Some(v) => long_double::parse(v).ok_or(CmdError::HashValueNotFloat)?,
        };
        let sum = long_double::add(current, self.incr).ok_or(CmdError::NanOrInfinity)?;
        let text = Bytes::from(long_double::format_human(&sum));
        let stored = text.clone();
        edit(&mut db, &self.key, now_ms, "hincrbyfloat", |h| {
            h.insert_keep_ttl(&self.field, &stored)
        })?;
        Ok(Reply::Bulk(text))
    }
}

// ---------------------------------------------------------------------------------------
// HRANDFIELD and HSCAN

/// `HRANDFIELD key [count [WITHVALUES]]`
struct HRandField {
    key: Bytes,
    count: Option<i64>,
    with_values: bool,
}

impl Parse for HRandField {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        if args.is_empty() {
            return Ok(HRandField { key, count: None, with_values: false });
        }
        let count = args.next_i64()?;
        if count == i64::MIN {
            return Err(CmdError::LongOutOfRange);
        }
        let with_values = match args.remaining() {
            0 => false,
            1 if args.eat("WITHVALUES") => true,
            _ => return Err(CmdError::Syntax),
        };
        if with_values && count.unsigned_abs() > (i64::MAX / 2) as u64 {
            return Err(CmdError::ValueOutOfRange);
        }
        if count < 0 && count.unsigned_abs() > MAX_RANDOM_PICKS {
            return Err(CmdError::ValueOutOfRange);
        }
        Ok(HRandField { key, count: Some(count), with_values })
    }
}

impl ReadCommand for HRandField {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let h = read_hash(cx, &self.key)?;
        let now_ms = cx.now_ms;
        // Positions of live fields (all of them, unless some have expired).
        let live: Vec<usize> = match h {
            Some(h) if h.has_expired(now_ms) => h
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.is_expired(now_ms))
                .map(|(i, _)| i)
                .collect(),
            Some(h) => (0..h.len()).collect(),
            None => Vec::new(),
        };
        let (Some(h), Some(count)) = (h, self.count) else {
            if self.count.is_some() {
                return Ok(Reply::Array(Vec::new()));
            }
            return Ok(match h {
                Some(h) if !live.is_empty() => {
                    let pos = live[cx.rng().below(live.len() as u64) as usize];
                    h.at(pos).map_or(Reply::Null, |s| Reply::bulk(s.field))
                }
                _ => Reply::Null,
            });
        };
        if live.is_empty() || count == 0 {
            return Ok(Reply::Array(Vec::new()));
        }
        let mut rng = cx.rng();
        let picks: Vec<usize> = if count < 0 {
            (0..count.unsigned_abs()).map(|_| live[rng.below(live.len() as u64) as usize]).collect()
        } else if count as u64 >= live.len() as u64 {
            live
        } else {
            // Partial Fisher-Yates: the first `count` of a uniform shuffle.
            let mut pool = live;
            let count = count as usize;
            for i in 0..count {
                let j = i + rng.below((pool.len() - i) as u64) as usize;
                pool.swap(i, j);
            }
            pool.truncate(count);
            pool
        };
        let slots = h.fields_at(picks).into_iter();
        Ok(if self.with_values {
            Reply::Pairs(slots.map(|s| (Reply::bulk(s.field), Reply::bulk(s.value))).collect())
        } else {
            Reply::Array(slots.map(|s| Reply::bulk(s.field)).collect())
        })
    }
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]`
///
/// A small (listpack) hash is returned whole with cursor 0, as Redis does. A larger one is
/// walked by position from the end: the cursor is the number of positions still to visit,
/// and positions only move towards 0 (see `types::hash`), so a field present for the
/// whole scan is returned.
struct HScan {
    key: Bytes,
    cursor: u64,
    /// Options are checked after the key (a missing key ignores them, as Redis).
    opts: Result<ScanOpts, CmdError>,
}

struct ScanOpts {
    pattern: Option<Bytes>,
    count: usize,
    no_values: bool,
}

fn parse_scan_opts(args: &mut Args<'_>) -> Result<ScanOpts, CmdError> {
    let o = scan::parse_options(args, scan::Extra::NoValues)?;
    Ok(ScanOpts { pattern: o.pattern, count: o.count, no_values: o.no_values })
}

impl Parse for HScan {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let cursor = parse_cursor(args.next_slice()?)?;
        let opts = parse_scan_opts(args);
        args.take_rest();
        Ok(HScan { key, cursor, opts })
    }
}

impl ReadCommand for HScan {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(h) = read_hash(cx, &self.key)? else {
            return Ok(Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())]));
        };
        let opts = self.opts?;
        let (top, low) = if h.is_listpack() {
            (h.len(), 0)
        } else {
            let len = h.len();
            let top = match self.cursor {
                0 => len,
                c => usize::try_from(c).unwrap_or(usize::MAX).min(len),
            };
            (top, top.saturating_sub(opts.count))
        };
        let mut out = Vec::new();
        let positions: Box<dyn Iterator<Item = usize>> =
            if h.is_listpack() { Box::new(low..top) } else { Box::new((low..top).rev()) };
        for s in h.fields_at(positions) {
            if s.is_expired(cx.now_ms) {
                continue;
            }
            if let Some(p) = &opts.pattern {
                if !crate::glob::matches(p, s.field, false) {
                    continue;
                }
            }
            out.push(Reply::bulk(s.field));
            if !opts.no_values {
                out.push(Reply::bulk(s.value));
            }
        }
        Ok(Reply::Array(vec![Reply::bulk_int(low as i64), Reply::Array(out)]))
    }
}

// ---------------------------------------------------------------------------------------
// Field expiry

/// The NX | XX | GT | LT condition of the HEXPIRE family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    None,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// When an HEXPIRE deadline is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Milliseconds after the entry's time.
    In(u64),
    /// Absolute Unix milliseconds.
    At(u64),
}

/// Per-field reply codes of HEXPIRE and friends.
const NO_FIELD: i64 = -2;
const COND_FAILED: i64 = 0;
const SET: i64 = 1;
const DELETED: i64 = 2;

/// `HEXPIRE key seconds [NX | XX | GT | LT] FIELDS numfields field [field ...]`, and
/// HPEXPIRE (`MS`), HEXPIREAT (`AT`), HPEXPIREAT (both).
struct HExpire<const MS: bool, const AT: bool> {
    key: Bytes,
    /// Argument errors come after the type check, as in Redis.
    args: Result<HExpireArgs, CmdError>,
}

/// The parsed arguments of an HEXPIRE-family command.
struct HExpireArgs {
    when: When,
    cond: Cond,
    fields: Vec<Bytes>,
}

impl<const MS: bool, const AT: bool> HExpire<MS, AT> {
    const NAME: &'static str = match (MS, AT) {
        (false, false) => "hexpire",
        (true, false) => "hpexpire",
        (false, true) => "hexpireat",
        (true, true) => "hpexpireat",
    };
}

impl<const MS: bool, const AT: bool> Parse for HExpire<MS, AT> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let parsed = Self::parse_args(args);
        if parsed.is_err() {
            args.take_rest();
        }
        Ok(HExpire { key, args: parsed })
    }
}

impl<const MS: bool, const AT: bool> HExpire<MS, AT> {
    fn parse_args(args: &mut Args<'_>) -> Result<HExpireArgs, CmdError> {
        let amount = args.next_i64()?;
        if amount < 0 {
            return Err(CmdError::HashExpireNegative);
        }
        let invalid = CmdError::InvalidExpire(Self::NAME);
        let ms =
            if MS { amount as u64 } else { (amount as u64).checked_mul(1000).ok_or(invalid)? };
        // A relative amount is checked again against the entry's clock in apply.
        if ms > MAX_FIELD_DEADLINE_MS {
            return Err(CmdError::InvalidExpire(Self::NAME));
        }
        let when = if AT { When::At(ms) } else { When::In(ms) };
        let cond = if args.eat("NX") {
            Cond::Nx
        } else if args.eat("XX") {
            Cond::Xx
        } else if args.eat("GT") {
            Cond::Gt
        } else if args.eat("LT") {
            Cond::Lt
        } else {
            Cond::None
        };
        let fields = parse_fields(args, CmdError::HashNumFieldsNotPositive)?;
        Ok(HExpireArgs { when, cond, fields })
    }
}

impl<const MS: bool, const AT: bool> WriteCommand for HExpire<MS, AT> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        hash_at(db.read(), &self.key, now_ms)?;
        let HExpireArgs { when, cond, fields } = self.args?;
        let at = match when {
            When::At(at) => at,
            When::In(ms) => now_ms
                .checked_add(ms)
                .filter(|at| *at <= MAX_FIELD_DEADLINE_MS)
                .ok_or(CmdError::InvalidExpire(Self::NAME))?,
        };
        let Some(h) = hash_at(db.read(), &self.key, now_ms)? else {
            return Ok(Reply::Array(fields.iter().map(|_| Reply::Int(NO_FIELD)).collect()));
        };
        // Decide every field against the live view, in order (a field may repeat), before
        // changing anything. `None` = absent, `Some(deadline)` = present.
        let mut seen: HashMap<&[u8], Option<Option<u64>>> = HashMap::new();
        let mut codes = Vec::with_capacity(fields.len());
        for f in &fields {
            let state =
                *seen.entry(&f[..]).or_insert_with(|| h.live(f, now_ms).map(|s| s.expire_at_ms));
            let code = match state {
                None => NO_FIELD,
                Some(current) => {
                    let ok = match (cond, current) {
                        (Cond::None, _) => true,
                        (Cond::Nx, current) => current.is_none(),
                        (Cond::Xx, current) => current.is_some(),
                        (Cond::Gt, current) => current.is_some_and(|c| at > c),
                        (Cond::Lt, current) => current.is_none_or(|c| at < c),
                    };
                    if !ok {
                        COND_FAILED
                    } else if at <= now_ms {
                        DELETED
                    } else {
                        SET
                    }
                }
            };
            match code {
                SET => seen.insert(f, Some(Some(at))),
                DELETED => seen.insert(f, None),
                _ => None,
            };
            codes.push(code);
        }
        let any_set = codes.contains(&SET);
        let any_deleted = codes.contains(&DELETED);
        if !any_set && !any_deleted {
            db.purge_hash_fields(&self.key, now_ms);
        } else {
            // `hdel` follows `hexpire` when a command did both (a field that got a deadline
            // remains, so the key is not deleted then).
            let event = if any_set { "hexpire" } else { "hdel" };
            let (fields, codes) = (&fields, &codes);
            edit(&mut db, &self.key, now_ms, event, |h| {
                for (f, code) in fields.iter().zip(codes) {
                    match *code {
                        SET => {
                            h.set_deadline(f, Some(at));
                        }
                        DELETED => {
                            h.remove(f);
                        }
                        _ => {}
                    }
                }
            })?;
            if any_set && any_deleted {
                db.event(&self.key, "hdel");
            }
        }
        if let Some(Value::Hash(h)) = db.value_mut_silent(&self.key, now_ms) {
            h.mark_ttl_touched();
        }
        Ok(Reply::Array(codes.into_iter().map(Reply::Int).collect()))
    }
}

/// `HPERSIST key FIELDS numfields field [field ...]`
struct HPersist {
    key: Bytes,
    /// Argument errors come after the type check, as in Redis.
    fields: Result<Vec<Bytes>, CmdError>,
}

impl Parse for HPersist {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let fields = parse_fields(args, CmdError::HashNumFieldsInvalid);
        if fields.is_err() {
            args.take_rest();
        }
        Ok(HPersist { key, fields })
    }
}

impl WriteCommand for HPersist {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        hash_at(db.read(), &self.key, now_ms)?;
        let fields = self.fields?;
        let Some(h) = hash_at(db.read(), &self.key, now_ms)? else {
            return Ok(Reply::Array(fields.iter().map(|_| Reply::Int(NO_FIELD)).collect()));
        };
        let mut persisted: Vec<&[u8]> = Vec::new();
        let codes: Vec<i64> = fields
            .iter()
            .map(|f| match h.live(f, now_ms) {
                None => NO_FIELD,
                Some(s) if s.expire_at_ms.is_none() || persisted.contains(&&f[..]) => -1,
                Some(_) => {
                    persisted.push(f);
                    1
                }
            })
            .collect();
        if persisted.is_empty() {
            db.purge_hash_fields(&self.key, now_ms);
        } else {
            edit(&mut db, &self.key, now_ms, "hpersist", |h| {
                for f in &persisted {
                    h.set_deadline(f, None);
                }
            })?;
        }
        Ok(Reply::Array(codes.into_iter().map(Reply::Int).collect()))
    }
}

/// `HTTL key FIELDS numfields field [field ...]`, HPTTL (`MS`), HEXPIRETIME (`ABS`),
/// HPEXPIRETIME (both). Seconds are rounded up, as Redis does.
struct HTtl<const MS: bool, const ABS: bool> {
    key: Bytes,
    /// Argument errors come after the type check, as in Redis.
    fields: Result<Vec<Bytes>, CmdError>,
}

impl<const MS: bool, const ABS: bool> Parse for HTtl<MS, ABS> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let fields = parse_fields(args, CmdError::HashNumFieldsInvalid);
        args.take_rest();
        Ok(HTtl { key, fields })
    }
}

impl<const MS: bool, const ABS: bool> ReadCommand for HTtl<MS, ABS> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let h = read_hash(cx, &self.key)?;
        let fields = self.fields?;
        let now_ms = cx.now_ms;
        let codes = fields.iter().map(|f| {
            let Some(s) = h.and_then(|h| h.live(f, now_ms)) else { return NO_FIELD };
            let Some(at) = s.expire_at_ms else { return -1 };
            let ms = if ABS { at } else { at.saturating_sub(now_ms) };
            let out = if MS { ms } else { ms.div_ceil(1000) };
            i64::try_from(out).unwrap_or(i64::MAX)
        });
        Ok(Reply::Array(codes.map(Reply::Int).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Exec;
    use crate::keyspace::{KeyEvent, Keyspace};

    const NOW: u64 = 1_000_000;

    /// Checks and applies one write at `now_ms`, as the log would.
    fn run(ks: &mut Keyspace, now_ms: u64, argv: &[&str]) -> Reply {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::from(a.to_string())).collect();
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
            now_ms,
            seed: 1,
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

    fn events(ks: &mut Keyspace) -> Vec<&'static str> {
        ks.take_events().into_iter().map(|KeyEvent { event, .. }| event).collect()
    }

    fn ints(v: &[i64]) -> Reply {
        Reply::Array(v.iter().map(|n| Reply::Int(*n)).collect())
    }

    fn hash(ks: &Keyspace, key: &str) -> Option<Hash> {
        match ks.db(0).get(key.as_bytes(), 0) {
            Some(Value::Hash(h)) => Some(h.clone()),
            _ => None,
        }
    }

    #[test]
    fn hset_counts_new_fields_and_records_one_event() {
        let mut ks = Keyspace::new(1);
        assert_eq!(run(&mut ks, NOW, &["HSET", "h", "a", "1", "b", "2", "a", "3"]), Reply::Int(2));
        assert_eq!(run(&mut ks, NOW, &["HMSET", "h", "b", "9", "c", "3"]), Reply::ok());
        assert_eq!(events(&mut ks), ["hset", "hset"]);
        let h = hash(&ks, "h").unwrap();
        assert_eq!(h.get_live(b"a", NOW), Some(&b"3"[..]));
        assert_eq!(h.len(), 3);
        assert_eq!(
            run(&mut ks, NOW, &["HSET", "h", "a"]),
            Reply::Error(CmdError::WrongArity("hset".into()))
        );
    }

    #[test]
    fn errors_leave_no_events() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["HSET", "h", "s", "x", "big", "9223372036854775807", "f", "1"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "10", "FIELDS", "1", "f"]);
        ks.take_events();
        let later = NOW + 100; // `f` has expired but is still stored
        let cases: &[(&[&str], CmdError)] = &[
            (&["HINCRBY", "h", "s", "1"], CmdError::HashValueNotInteger),
            (&["HINCRBY", "h", "big", "1"], CmdError::Overflow),
            (&["HINCRBYFLOAT", "h", "s", "1"], CmdError::HashValueNotFloat),
            (&["HINCRBYFLOAT", "h", "s", "inf"], CmdError::NanOrInfinityValue),
            (
                &["HPEXPIRE", "h", "70368744177663", "FIELDS", "1", "s"],
                CmdError::InvalidExpire("hpexpire"),
            ),
        ];
        for (argv, err) in cases {
            assert_eq!(run(&mut ks, later, argv), Reply::Error(err.clone()), "{argv:?}");
        }
        assert!(events(&mut ks).is_empty());
        assert_eq!(hash(&ks, "h").unwrap().len(), 3);
    }

    #[test]
    fn relative_field_deadlines_use_the_entry_clock() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(run(&mut ks, NOW, &["HEXPIRE", "h", "10", "FIELDS", "1", "a"]), ints(&[1]));
        assert_eq!(run(&mut ks, NOW, &["HPEXPIRE", "h", "5", "FIELDS", "1", "b"]), ints(&[1]));
        let h = hash(&ks, "h").unwrap();
        assert_eq!(h.slot(b"a").unwrap().expire_at_ms, Some(NOW + 10_000));
        assert_eq!(h.slot(b"b").unwrap().expire_at_ms, Some(NOW + 5));
        assert_eq!(ks.db(0).expired_hash_keys(NOW + 5, 10), vec![Bytes::from("h")]);
        assert!(ks.db(0).expired_hash_keys(NOW + 4, 10).is_empty());
    }

    #[test]
    fn conditions_and_past_deadlines_give_redis_codes() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["HSET", "h", "f1", "v", "f2", "v", "f3", "v", "f4", "v"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "1000", "FIELDS", "1", "f1"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "2000", "FIELDS", "1", "f2"]);
        ks.take_events();
        let gt =
            run(&mut ks, NOW, &["HPEXPIRE", "h", "1500", "GT", "FIELDS", "3", "f1", "f2", "f3"]);
        assert_eq!(gt, ints(&[1, 0, 0]));
        let lt =
            run(&mut ks, NOW, &["HPEXPIRE", "h", "1200", "LT", "FIELDS", "3", "f1", "f2", "f3"]);
        assert_eq!(lt, ints(&[1, 1, 1]));
        let nx = run(&mut ks, NOW, &["HPEXPIRE", "h", "9", "NX", "FIELDS", "3", "f1", "f4", "zz"]);
        assert_eq!(nx, ints(&[0, 1, -2]));
        let xx = run(&mut ks, NOW, &["HPEXPIRE", "h", "9", "XX", "FIELDS", "2", "f3", "f4"]);
        assert_eq!(xx, ints(&[1, 1]));
        assert_eq!(events(&mut ks), ["hexpire", "hexpire", "hexpire", "hexpire"]);
        // A past deadline deletes (after the condition is checked); repeats see the change.
        let past = run(&mut ks, NOW, &["HPEXPIREAT", "h", "1", "FIELDS", "3", "f1", "f1", "zz"]);
        assert_eq!(past, ints(&[2, -2, -2]));
        assert_eq!(events(&mut ks), ["hdel"]);
        let both = run(&mut ks, NOW, &["HPEXPIRE", "h", "0", "NX", "FIELDS", "2", "f2", "f3"]);
        assert_eq!(both, ints(&[0, 0]));
        assert!(events(&mut ks).is_empty());
        let rest = run(&mut ks, NOW, &["HEXPIREAT", "h", "0", "FIELDS", "3", "f2", "f3", "f4"]);
        assert_eq!(rest, ints(&[2, 2, 2]));
        assert_eq!(events(&mut ks), ["hdel", "del"]);
        assert_eq!(ks.db(0).len(), 0);
        assert_eq!(ks.db(0).hashes_with_field_deadlines(), 0);
        let missing = run(&mut ks, NOW, &["HEXPIRE", "h", "1", "FIELDS", "2", "a", "b"]);
        assert_eq!(missing, ints(&[-2, -2]));
    }

    #[test]
    fn hexpire_argument_errors_match_redis() {
        let mut ks = Keyspace::new(1);
        let cases: &[(&[&str], CmdError)] = &[
            (&["HEXPIRE", "h", "-1", "FIELDS", "1", "a"], CmdError::HashExpireNegative),
            (&["HEXPIRE", "h", "x", "FIELDS", "1", "a"], CmdError::NotAnInteger),
            (&["HEXPIRE", "h", "10", "FIELDS", "0", "a"], CmdError::HashNumFieldsNotPositive),
            (&["HEXPIRE", "h", "10", "FIELDS", "2", "a"], CmdError::HashNumFieldsMismatch),
            (&["HEXPIRE", "h", "10", "NX", "XX", "FIELDS", "1", "a"], CmdError::HashFieldsMissing),
            (
                &["HEXPIRE", "h", "70368744178", "FIELDS", "1", "a"],
                CmdError::InvalidExpire("hexpire"),
            ),
            (
                &["HPEXPIREAT", "h", "70368744177664", "FIELDS", "1", "a"],
                CmdError::InvalidExpire("hpexpireat"),
            ),
            (&["HPERSIST", "h", "FIELDS", "0", "a"], CmdError::HashNumFieldsInvalid),
            (&["HPERSIST", "h", "FOO", "1", "a"], CmdError::HashFieldsMissing),
        ];
        for (argv, err) in cases {
            assert_eq!(run(&mut ks, NOW, argv), Reply::Error(err.clone()), "{argv:?}");
        }
        let ok = run(&mut ks, NOW, &["HPEXPIREAT", "h", "70368744177663", "FIELDS", "1", "a"]);
        assert_eq!(ok, ints(&[-2]));
    }

    #[test]
    fn writes_purge_expired_fields_first_and_hset_drops_the_ttl() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "10", "FIELDS", "2", "a", "b"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "10", "FIELDS", "1", "c"]);
        run(&mut ks, NOW, &["HSET", "h", "c", "4"]);
        ks.take_events();
        let later = NOW + 10;
        assert_eq!(run(&mut ks, later, &["HSET", "h", "a", "5"]), Reply::Int(1));
        assert_eq!(events(&mut ks), ["hexpired", "hset"]);
        let h = hash(&ks, "h").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h.volatile_len(), 0);
        assert_eq!(ks.db(0).hashes_with_field_deadlines(), 0);
        // HINCRBY on an expired field starts from 0 and keeps no deadline.
        run(&mut ks, NOW, &["HPEXPIRE", "h", "10", "FIELDS", "1", "c"]);
        assert_eq!(run(&mut ks, later, &["HINCRBY", "h", "c", "1"]), Reply::Int(1));
        // HDEL of an expired field: absent; the last live field goes, then the key.
        run(&mut ks, later, &["HPEXPIRE", "h", "10", "FIELDS", "1", "c"]);
        ks.take_events();
        assert_eq!(run(&mut ks, later + 10, &["HDEL", "h", "c", "c"]), Reply::Int(1));
        assert_eq!(run(&mut ks, later + 10, &["HDEL", "h", "a", "zz"]), Reply::Int(1));
        assert_eq!(events(&mut ks), ["hexpired", "hdel", "del"]);
        assert_eq!(ks.db(0).len(), 0);
    }

    #[test]
    fn hincrby_keeps_the_field_deadline() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["HSET", "h", "n", "10", "x", "1.5"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "50", "FIELDS", "2", "n", "x"]);
        assert_eq!(run(&mut ks, NOW, &["HINCRBY", "h", "n", "-3"]), Reply::Int(7));
        assert_eq!(run(&mut ks, NOW, &["HINCRBYFLOAT", "h", "x", "0.1"]), Reply::bulk("1.6"));
        let h = hash(&ks, "h").unwrap();
        assert_eq!(h.slot(b"n").unwrap().expire_at_ms, Some(NOW + 50));
        assert_eq!(h.slot(b"x").unwrap().expire_at_ms, Some(NOW + 50));
        assert_eq!(run(&mut ks, NOW, &["HINCRBYFLOAT", "h", "y", "1.23"]), Reply::bulk("1.23"));
        assert_eq!(run(&mut ks, NOW, &["HINCRBYFLOAT", "h", "y", "0.77"]), Reply::bulk("2"));
    }

    #[test]
    fn hpersist_codes_and_event() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["HSET", "h", "a", "1", "b", "2"]);
        run(&mut ks, NOW, &["HEXPIRE", "h", "100", "FIELDS", "1", "a"]);
        ks.take_events();
        let r = run(&mut ks, NOW, &["HPERSIST", "h", "FIELDS", "4", "a", "a", "b", "zz"]);
        assert_eq!(r, ints(&[1, -1, -1, -2]));
        assert_eq!(events(&mut ks), ["hpersist"]);
        assert_eq!(run(&mut ks, NOW, &["HPERSIST", "h", "FIELDS", "1", "a"]), ints(&[-1]));
        assert!(events(&mut ks).is_empty());
        assert_eq!(ks.db(0).hashes_with_field_deadlines(), 0);
    }

    #[test]
    fn the_leaders_expiry_entry_purges_due_fields() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["HSET", "h", "a", "1", "b", "2"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "10", "FIELDS", "1", "a"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "20", "FIELDS", "1", "b"]);
        ks.take_events();
        let due = ks.db(0).expired_hash_keys(NOW + 10, 10);
        assert_eq!(due, vec![Bytes::from("h")]);
        assert!(ks.db_mut(0).expire_now(b"h", NOW + 10));
        assert!(!ks.db_mut(0).expire_now(b"h", NOW + 10));
        assert_eq!(events(&mut ks), ["hexpired"]);
        assert_eq!(ks.db(0).expired_hash_keys(NOW + 19, 10), Vec::<Bytes>::new());
        assert_eq!(ks.db(0).expired_hash_keys(NOW + 20, 10), vec![Bytes::from("h")]);
        assert!(ks.db_mut(0).expire_now(b"h", NOW + 20));
        assert_eq!(events(&mut ks), ["hexpired", "del"]);
        assert_eq!(ks.db(0).len(), 0);
        assert_eq!(ks.db(0).hashes_with_field_deadlines(), 0);
    }

    #[test]
    fn rename_and_delete_keep_the_field_deadline_index_right() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["HSET", "h", "a", "1"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "10", "FIELDS", "1", "a"]);
        run(&mut ks, NOW, &["RENAME", "h", "g"]);
        assert_eq!(ks.db(0).expired_hash_keys(NOW + 10, 10), vec![Bytes::from("g")]);
        run(&mut ks, NOW, &["SET", "g", "string"]);
        assert_eq!(ks.db(0).hashes_with_field_deadlines(), 0);
        run(&mut ks, NOW, &["HSET", "h", "a", "1"]);
        run(&mut ks, NOW, &["HPEXPIRE", "h", "10", "FIELDS", "1", "a"]);
        run(&mut ks, NOW, &["DEL", "h"]);
        assert_eq!(ks.db(0).hashes_with_field_deadlines(), 0);
    }
}
