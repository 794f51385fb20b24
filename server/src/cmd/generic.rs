//! Keyspace commands: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RENAME, RENAMENX, COPY,
//! MOVE, RANDOMKEY, TOUCH, OBJECT, the EXPIRE family, TTL and friends, PERSIST.
//!
//! Time: writes resolve relative deadlines with the entry's clock (`ApplyCtx::now_ms`),
//! reads compute TTLs with the read's clock (`ReadCtx::now_ms`). A deadline that is
//! already past deletes the key (event `del`), as Redis does.
//!
//! Multi-key and multi-database writes (RENAME, MOVE, COPY) check everything before their
//! first mutation, so an error reply leaves the keyspace and its event list untouched.
//!
//! Not tracked: access times and LFU counters. `OBJECT IDLETIME` reports 0 and
//! `OBJECT FREQ` reports 0 (under an LFU policy); TOUCH only counts existing keys.

use bytes::Bytes;

use crate::cmd::scan::{self, parse_cursor};
use crate::cmd::spec::{
    read, write, CmdResult, CommandSpec, Flags, Group, KeyFlags, KeySpec, Parse, ReadCommand,
    WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::db::{insert_into, remove_from, SLOTS};
use crate::keyspace::Value;
use crate::reply::Reply;
use crate::resp::decode::parse_i64;

const RO_KEY: KeySpec = KeySpec::single(1, KeyFlags::RO);
const RO_ACCESS_KEY: KeySpec = KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS));
const RW_UPDATE_KEY: KeySpec = KeySpec::single(1, KeyFlags::RW.with(KeyFlags::UPDATE));
const OBJECT_KEY: &[KeySpec] = &[KeySpec::single(2, KeyFlags::RO)];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        group: Group::Generic,
        summary: "Deletes one or more keys.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
        arity: -2,
        flags: Flags::WRITE,
        keys: &[KeySpec::range(1, -1, 1, KeyFlags::RM.with(KeyFlags::DELETE))],
        exec: write::<Del>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "unlink",
        group: Group::Generic,
        summary: "Asynchronously deletes one or more keys.",
        since: "4.0.0",
        complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
        arity: -2,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::range(1, -1, 1, KeyFlags::RM.with(KeyFlags::DELETE))],
        exec: write::<Del>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "exists",
        group: Group::Generic,
        summary: "Determines whether one or more keys exist.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys to check.",
        arity: -2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::range(1, -1, 1, KeyFlags::RO)],
        exec: read::<Exists>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "touch",
        group: Group::Generic,
        summary: "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        since: "3.2.1",
        complexity: "O(N) where N is the number of keys that will be touched.",
        arity: -2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::range(1, -1, 1, KeyFlags::RO)],
        exec: read::<Exists>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "type",
        group: Group::Generic,
        summary: "Determines the type of value stored at a key.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[RO_KEY],
        exec: read::<Type>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "keys",
        group: Group::Generic,
        summary: "Returns all key names that match a pattern.",
        since: "1.0.0",
        complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
        arity: 2,
        flags: Flags::READONLY,
        acl: &["dangerous"],
        exec: read::<Keys>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "scan",
        group: Group::Generic,
        summary: "Iterates over the key names in the database.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        arity: -2,
        flags: Flags::READONLY,
        exec: read::<Scan>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "randomkey",
        group: Group::Generic,
        summary: "Returns a random key name from the database.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 1,
        flags: Flags::READONLY,
        exec: read::<RandomKey>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "rename",
        group: Group::Generic,
        summary: "Renames a key and overwrites the destination.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::WRITE,
        keys: &[
            KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE)),
            KeySpec::single(2, KeyFlags::OW.with(KeyFlags::UPDATE)),
        ],
        exec: write::<Rename<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "renamenx",
        group: Group::Generic,
        summary: "Renames a key only when the target key name doesn't exist.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[
            KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE)),
            KeySpec::single(2, KeyFlags::OW.with(KeyFlags::INSERT)),
        ],
        exec: write::<Rename<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "copy",
        group: Group::Generic,
        summary: "Copies the value of a key to a new key.",
        since: "6.2.0",
        complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[
            KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS)),
            KeySpec::single(2, KeyFlags::OW.with(KeyFlags::UPDATE)),
        ],
        exec: write::<Copy>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "dump",
        group: Group::Generic,
        summary: "Returns a serialized representation of the value stored at a key.",
        since: "2.6.0",
        complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
        arity: 2,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<crate::cmd::dump::Dump>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "restore",
        group: Group::Generic,
        summary: "Creates a key from the serialized representation of a value.",
        since: "2.6.0",
        complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
        arity: -4,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        acl: &["dangerous"],
        keys: &[KeySpec::single(1, KeyFlags::OW.with(KeyFlags::UPDATE))],
        exec: write::<crate::cmd::dump::Restore>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "move",
        group: Group::Generic,
        summary: "Moves a key to another database.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::single(
            1,
            KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE),
        )],
        exec: write::<Move>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "object",
        group: Group::Generic,
        summary: "A container for object introspection commands.",
        since: "2.2.3",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: OBJECT_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "expire",
        group: Group::Generic,
        summary: "Sets the expiration time of a key in seconds.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: -3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_UPDATE_KEY],
        exec: write::<Expire<false, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pexpire",
        group: Group::Generic,
        summary: "Sets the expiration time of a key in milliseconds.",
        since: "2.6.0",
        complexity: "O(1)",
        arity: -3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_UPDATE_KEY],
        exec: write::<Expire<true, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "expireat",
        group: Group::Generic,
        summary: "Sets the expiration time of a key to a Unix timestamp.",
        since: "1.2.0",
        complexity: "O(1)",
        arity: -3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_UPDATE_KEY],
        exec: write::<Expire<false, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pexpireat",
        group: Group::Generic,
        summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        since: "2.6.0",
        complexity: "O(1)",
        arity: -3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_UPDATE_KEY],
        exec: write::<Expire<true, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "ttl",
        group: Group::Generic,
        summary: "Returns the expiration time in seconds of a key.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[RO_ACCESS_KEY],
        exec: read::<Ttl<false, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pttl",
        group: Group::Generic,
        summary: "Returns the expiration time in milliseconds of a key.",
        since: "2.6.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[RO_ACCESS_KEY],
        exec: read::<Ttl<true, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "expiretime",
        group: Group::Generic,
        summary: "Returns the expiration time of a key as a Unix timestamp.",
        since: "7.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[RO_ACCESS_KEY],
        exec: read::<Ttl<false, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pexpiretime",
        group: Group::Generic,
        summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        since: "7.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[RO_ACCESS_KEY],
        exec: read::<Ttl<true, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "persist",
        group: Group::Generic,
        summary: "Removes the expiration time of a key.",
        since: "2.2.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_UPDATE_KEY],
        exec: write::<Persist>(),
        ..CommandSpec::DEFAULT
    },
];

/// `OBJECT <subcommand>`: names are without the `object|` prefix, as the table adds it.
const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "encoding",
        group: Group::Generic,
        summary: "Returns the internal encoding of a Redis object.",
        since: "2.2.3",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::READONLY,
        keys: OBJECT_KEY,
        exec: read::<Object<{ ObjectInfo::ENCODING }>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "freq",
        group: Group::Generic,
        summary: "Returns the logarithmic access frequency counter of a Redis object.",
        since: "4.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::READONLY,
        keys: OBJECT_KEY,
        exec: read::<Object<{ ObjectInfo::FREQ }>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "idletime",
        group: Group::Generic,
        summary: "Returns the time since the last access to a Redis object.",
        since: "2.2.3",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::READONLY,
        keys: OBJECT_KEY,
        exec: read::<Object<{ ObjectInfo::IDLETIME }>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "refcount",
        group: Group::Generic,
        summary: "Returns the reference count of a value of a key.",
        since: "2.2.3",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::READONLY,
        keys: OBJECT_KEY,
        exec: read::<Object<{ ObjectInfo::REFCOUNT }>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "help",
        group: Group::Generic,
        summary: "Returns helpful text about the different subcommands.",
        since: "6.2.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::LOADING.with(Flags::STALE),
        exec: read::<ObjectHelp>(),
        ..CommandSpec::DEFAULT
    },
];

/// `DEL key [key ...]` and `UNLINK key [key ...]` (memory is freed inline either way).
struct Del {
    keys: Vec<Bytes>,
}

impl Parse for Del {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Del { keys: args.take_rest().to_vec() })
    }
}

impl WriteCommand for Del {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let n = self
            .keys
            .iter()
            .filter_map(|k| db.remove(k, now_ms, "del"))
            .map(|entry| crate::keyspace::lazyfree::drop_value(entry.value))
            .count();
        Ok(Reply::Int(n as i64))
    }
}

/// `EXISTS key [key ...]` and `TOUCH key [key ...]`: a key named twice counts twice.
struct Exists {
    keys: Vec<Bytes>,
}

impl Parse for Exists {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Exists { keys: args.take_rest().to_vec() })
    }
}

impl ReadCommand for Exists {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let db = cx.db();
        Ok(Reply::Int(self.keys.iter().filter(|k| db.contains(k, cx.now_ms)).count() as i64))
    }
}

/// `TYPE key`
struct Type {
    key: Bytes,
}

impl Parse for Type {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Type { key: args.next_bytes()? })
    }
}

impl ReadCommand for Type {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let name = cx.db().get(&self.key, cx.now_ms).map_or("none", Value::type_name);
        Ok(Reply::status(name))
    }
}

/// `KEYS pattern`
struct Keys {
    pattern: Bytes,
}

impl Parse for Keys {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Keys { pattern: args.next_bytes()? })
    }
}

impl ReadCommand for Keys {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let all = &self.pattern[..] == b"*";
        let pattern = KeyPattern::new(&self.pattern);
        let keys: Vec<Bytes> = cx
            .db()
            .iter()
            .filter(|(_, e)| e.expire_at_ms().is_none_or(|at| at > cx.now_ms))
            .filter(|(k, _)| all || pattern.matches(k))
            .map(|(k, _)| k.to_bytes())
            .collect();
        Ok(Reply::bulks(keys))
    }
}

/// Whether `pattern` can match anything under Redis's guard against abusive patterns: its
/// matcher recurses once per `*` group and answers "no match" past 1000 levels. Our
/// matcher is iterative and has no such limit, so KEYS and SCAN apply the same cut-off to
/// give the same answers (a trailing `*` group is free, as in Redis).
fn within_star_limit(pattern: &[u8]) -> bool {
    const MAX_NESTING: usize = 1000;
    let mut groups = 0usize;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' => i += 2,
            b'[' => {
                i += 1;
                while i < pattern.len() && pattern[i] != b']' {
                    i += if pattern[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'*' => {
                while i < pattern.len() && pattern[i] == b'*' {
                    i += 1;
                }
                groups += 1;
                let trailing = i == pattern.len();
                if groups > MAX_NESTING + 1 || (groups == MAX_NESTING + 1 && !trailing) {
                    return false;
                }
            }
            _ => i += 1,
        }
    }
    true
}

/// A KEYS / SCAN pattern: glob matching with Redis's nesting cut-off.
struct KeyPattern<'a> {
    pattern: &'a [u8],
    possible: bool,
}

impl<'a> KeyPattern<'a> {
    fn new(pattern: &'a [u8]) -> Self {
        KeyPattern { pattern, possible: within_star_limit(pattern) }
    }

    fn matches(&self, key: &[u8]) -> bool {
        self.possible && crate::glob::matches(self.pattern, key, false)
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
///
/// The cursor is the next hash slot to visit (0 = start, and 0 again when done). Each
/// call returns whole slots, visiting slots in order until at least `count` keys were
/// looked at, so a key present from the first call to the last is always returned, and
/// returned once, however the database changes between calls.
struct Scan {
    cursor: u64,
    pattern: Option<Bytes>,
    count: usize,
    type_name: Option<Bytes>,
}

impl Parse for Scan {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let cursor = parse_cursor(args.next_slice()?)?;
        let o = scan::parse_options(args, scan::Extra::Type)?;
        let scan = Scan { cursor, pattern: o.pattern, count: o.count, type_name: o.type_name };
        Ok(scan)
    }
}

impl ReadCommand for Scan {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let db = cx.db();
        let pattern = self.pattern.as_deref().map(KeyPattern::new);
        let mut keys = Vec::new();
        let mut slot = usize::try_from(self.cursor).unwrap_or(SLOTS).min(SLOTS);
        let mut visited = 0usize;
        while slot < SLOTS && visited < self.count {
            for (key, entry) in db.slot_keys(slot) {
                visited += 1;
                if entry.expire_at_ms().is_some_and(|at| at <= cx.now_ms) {
                    continue;
                }
                if let Some(p) = &pattern {
                    if !p.matches(key) {
                        continue;
                    }
                }
                if let Some(t) = &self.type_name {
                    if !t.eq_ignore_ascii_case(entry.value.type_name().as_bytes()) {
                        continue;
                    }
                }
                keys.push(Reply::Bulk(key.to_bytes()));
            }
            slot += 1;
        }
        let next = if slot >= SLOTS { 0 } else { slot as i64 };
        Ok(Reply::Array(vec![Reply::bulk_int(next), Reply::Array(keys)]))
    }
}

/// `RANDOMKEY`
struct RandomKey;

impl Parse for RandomKey {
    fn parse(_args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(RandomKey)
    }
}

impl ReadCommand for RandomKey {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let seed = cx.rng().next_u64();
        Ok(cx.db().random_key(seed, cx.now_ms).map_or(Reply::Null, Reply::Bulk))
    }
}

/// `RENAME key newkey` (`NX = false`) and `RENAMENX key newkey` (`NX = true`).
struct Rename<const NX: bool> {
    from: Bytes,
    to: Bytes,
}

impl<const NX: bool> Parse for Rename<NX> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Rename { from: args.next_bytes()?, to: args.next_bytes()? })
    }
}

impl<const NX: bool> WriteCommand for Rename<NX> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        if db.get_entry(&self.from, now_ms).is_none() {
            return Err(CmdError::NoSuchKey);
        }
        if self.from == self.to {
            return Ok(if NX { Reply::Int(0) } else { Reply::ok() });
        }
        if NX && db.get_entry(&self.to, now_ms).is_some() {
            return Ok(Reply::Int(0));
        }
        // The destination is overwritten silently (no `del`), as Redis; its deadline
        // goes and the source's travels with the value.
        let entry = db.remove(&self.from, now_ms, "rename_from").ok_or(CmdError::Internal)?;
        db.insert_entry(self.to, entry, "rename_to");
        Ok(if NX { Reply::Int(1) } else { Reply::ok() })
    }
}

/// Parses a database index given as a C `int` (MOVE).
fn parse_int_db(args: &mut Args<'_>) -> Result<i64, CmdError> {
    let n = args.next_i64()?;
    if i32::try_from(n).is_err() {
        return Err(CmdError::IntOutOfRange);
    }
    Ok(n)
}

/// Checks a target database index against the keyspace.
fn check_db(cx: &ApplyCtx<'_>, db: i64) -> Result<usize, CmdError> {
    usize::try_from(db).ok().filter(|&d| d < cx.ks.len()).ok_or(CmdError::DbIndexOutOfRange)
}

/// `MOVE key db`
struct Move {
    key: Bytes,
    db: i64,
}

impl Parse for Move {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Move { key: args.next_bytes()?, db: parse_int_db(args)? })
    }
}

impl WriteCommand for Move {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let target = check_db(cx, self.db)?;
        if target == cx.db {
            return Err(CmdError::SameObject);
        }
        let stale = {
            let (mut src, dst) = cx.ks.two_dbs_mut(cx.db, target);
            if src.get_entry(&self.key, now_ms).is_none() || dst.contains(&self.key, now_ms) {
                return Ok(Reply::Int(0));
            }
            remove_from(dst, &self.key).is_some()
        };
        if stale {
            cx.ks.record(target, self.key.clone(), "expired");
        }
        {
            let (mut src, dst) = cx.ks.two_dbs_mut(cx.db, target);
            let entry = src.remove(&self.key, now_ms, "move_from").ok_or(CmdError::Internal)?;
            insert_into(dst, self.key.clone(), entry);
        }
        cx.ks.record(target, self.key, "move_to");
        Ok(Reply::Int(1))
    }
}

/// `COPY source destination [DB destination-db] [REPLACE]`
struct Copy {
    from: Bytes,
    to: Bytes,
    db: Option<i64>,
    replace: bool,
}

impl Parse for Copy {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let mut copy =
            Copy { from: args.next_bytes()?, to: args.next_bytes()?, db: None, replace: false };
        while !args.is_empty() {
            if args.eat("REPLACE") {
                copy.replace = true;
            } else if args.remaining() >= 2 && args.eat("DB") {
                copy.db = Some(args.next_i64()?);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(copy)
    }
}

impl WriteCommand for Copy {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let target = match self.db {
            Some(db) => check_db(cx, db)?,
            None => cx.db,
        };
        if target == cx.db {
            if self.from == self.to {
                return Err(CmdError::SameObject);
            }
            let mut db = cx.db();
            let Some(entry) = db.get_entry(&self.from, now_ms).cloned() else {
                return Ok(Reply::Int(0));
            };
            if !self.replace && db.get_entry(&self.to, now_ms).is_some() {
                return Ok(Reply::Int(0));
            }
            db.insert_entry(self.to, entry, "copy_to");
            return Ok(Reply::Int(1));
        }
        let (entry, stale) = {
            let (mut src, dst) = cx.ks.two_dbs_mut(cx.db, target);
            let Some(entry) = src.get_entry(&self.from, now_ms).cloned() else {
                return Ok(Reply::Int(0));
            };
            if !self.replace && dst.contains(&self.to, now_ms) {
                return Ok(Reply::Int(0));
            }
            let stale =
                dst.get_entry(&self.to, now_ms).is_none() && remove_from(dst, &self.to).is_some();
            (entry, stale)
        };
        if stale {
            cx.ks.record(target, self.to.clone(), "expired");
        }
        {
            let (_, dst) = cx.ks.two_dbs_mut(cx.db, target);
            insert_into(dst, self.to.clone(), entry);
        }
        cx.ks.record(target, self.to, "copy_to");
        Ok(Reply::Int(1))
    }
}

/// What an `OBJECT` subcommand reports.
struct ObjectInfo;

impl ObjectInfo {
    const ENCODING: u8 = 0;
    const FREQ: u8 = 1;
    const IDLETIME: u8 = 2;
    const REFCOUNT: u8 = 3;
}

/// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key`
struct Object<const WHAT: u8> {
    key: Bytes,
}

impl<const WHAT: u8> Parse for Object<WHAT> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Object { key: args.next_bytes()? })
    }
}

/// Redis shares the objects of small integers (0..10000) and reports this refcount.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

impl<const WHAT: u8> ReadCommand for Object<WHAT> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(value) = cx.db().get(&self.key, cx.now_ms) else { return Ok(Reply::Null) };
        let lfu = || cx.shared.config.get("maxmemory-policy").is_some_and(|p| p.contains("lfu"));
        match WHAT {
            ObjectInfo::ENCODING => Ok(Reply::bulk(value.encoding())),
            ObjectInfo::FREQ if !lfu() => Err(CmdError::LfuNotSelected),
            ObjectInfo::IDLETIME if lfu() => Err(CmdError::LfuSelected),
            ObjectInfo::REFCOUNT => {
                let shared = match value {
                    Value::Str(s) if value.encoding() == "int" => {
                        parse_i64(s).is_some_and(|n| (0..10_000).contains(&n))
                    }
                    #[allow(unreachable_patterns)]
                    _ => false,
                };
                Ok(Reply::Int(if shared { SHARED_REFCOUNT } else { 1 }))
            }
            // Access times and frequencies are not tracked.
            _ => Ok(Reply::Int(0)),
        }
    }
}

/// `OBJECT HELP`
struct ObjectHelp;

impl Parse for ObjectHelp {
    fn parse(_args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(ObjectHelp)
    }
}

impl ReadCommand for ObjectHelp {
    fn run(self, _cx: &ReadCtx<'_>) -> CmdResult {
        const LINES: &[&str] = &[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Print this help.",
        ];
        Ok(Reply::Array(LINES.iter().map(|l| Reply::status(l)).collect()))
    }
}

/// The condition flags of the EXPIRE family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCond {
    /// Whether the new deadline `when` may replace `current` (`None` = no TTL, which
    /// counts as infinite for GT and LT).
    fn allows(self, current: Option<i64>, when: i64) -> bool {
        !((self.nx && current.is_some())
            || (self.xx && current.is_none())
            || (self.gt && current.is_none_or(|at| when <= at))
            || (self.lt && current.is_some_and(|at| when >= at)))
    }
}

/// `EXPIRE key seconds [NX | XX | GT | LT]` and its millisecond (`MS`) and absolute
/// (`AT`) variants: PEXPIRE, EXPIREAT, PEXPIREAT.
struct Expire<const MS: bool, const AT: bool> {
    key: Bytes,
    /// Milliseconds: relative until apply adds the entry's clock, or absolute.
    when_ms: i64,
    cond: ExpireCond,
}

impl<const MS: bool, const AT: bool> Expire<MS, AT> {
    const NAME: &'static str = match (MS, AT) {
        (false, false) => "expire",
        (true, false) => "pexpire",
        (false, true) => "expireat",
        (true, true) => "pexpireat",
    };
}

impl<const MS: bool, const AT: bool> Parse for Expire<MS, AT> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let amount = args.next_slice()?;
        // Options are checked before the amount, as Redis does.
        let mut cond = ExpireCond::default();
        while !args.is_empty() {
            if args.eat("NX") {
                cond.nx = true;
            } else if args.eat("XX") {
                cond.xx = true;
            } else if args.eat("GT") {
                cond.gt = true;
            } else if args.eat("LT") {
                cond.lt = true;
            } else {
                let opt = args.next_slice()?;
                let opt = String::from_utf8_lossy(&opt[..opt.len().min(128)]).into_owned();
                return Err(CmdError::UnsupportedOption(opt));
            }
        }
        if cond.nx && (cond.xx || cond.gt || cond.lt) {
            return Err(CmdError::ExpireNxConflict);
        }
        if cond.gt && cond.lt {
            return Err(CmdError::ExpireGtLtConflict);
        }
        let n = parse_i64(amount).ok_or(CmdError::NotAnInteger)?;
        let when_ms =
            if MS { n } else { n.checked_mul(1000).ok_or(CmdError::InvalidExpire(Self::NAME))? };
        Ok(Expire { key, when_ms, cond })
    }
}

impl<const MS: bool, const AT: bool> WriteCommand for Expire<MS, AT> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let when = if AT {
            self.when_ms
        } else {
            self.when_ms.checked_add(now).ok_or(CmdError::InvalidExpire(Self::NAME))?
        };
        let mut db = cx.db();
        let Some(entry) = db.get_entry(&self.key, now_ms) else { return Ok(Reply::Int(0)) };
        let current = entry.expire_at_ms().map(|at| i64::try_from(at).unwrap_or(i64::MAX));
        if !self.cond.allows(current, when) {
            return Ok(Reply::Int(0));
        }
        if when <= now {
            db.remove(&self.key, now_ms, "del");
        } else {
            db.set_expiry(&self.key, now_ms, Some(when as u64), "expire");
        }
        Ok(Reply::Int(1))
    }
}

/// `TTL key`, `PTTL key` (`MS`), `EXPIRETIME key`, `PEXPIRETIME key` (`ABS`).
struct Ttl<const MS: bool, const ABS: bool> {
    key: Bytes,
}

impl<const MS: bool, const ABS: bool> Parse for Ttl<MS, ABS> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Ttl { key: args.next_bytes()? })
    }
}

impl<const MS: bool, const ABS: bool> ReadCommand for Ttl<MS, ABS> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(entry) = cx.db().get_entry(&self.key, cx.now_ms) else {
            return Ok(Reply::Int(-2));
        };
        let Some(at) = entry.expire_at_ms() else { return Ok(Reply::Int(-1)) };
        let ms = if ABS { at } else { at.saturating_sub(cx.now_ms) };
        // Seconds are rounded to the nearest, as Redis does.
        let out = if MS { ms } else { ms.saturating_add(500) / 1000 };
        Ok(Reply::Int(i64::try_from(out).unwrap_or(i64::MAX)))
    }
}

/// `PERSIST key`
struct Persist {
    key: Bytes,
}

impl Parse for Persist {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Persist { key: args.next_bytes()? })
    }
}

impl WriteCommand for Persist {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let volatile = db.get_entry(&self.key, now_ms).is_some_and(|e| e.expire_at_ms().is_some());
        if volatile {
            db.set_expiry(&self.key, now_ms, None, "persist");
        }
        Ok(Reply::Int(i64::from(volatile)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Exec;
    use crate::keyspace::{KeyEvent, Keyspace};

    const NOW: u64 = 1_000_000;

    /// Checks and applies one write at `now_ms` in database `db`, as the log would.
    fn run(ks: &mut Keyspace, db: usize, now_ms: u64, argv: &[&str]) -> Reply {
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
            db,
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

    fn put(ks: &mut Keyspace, db: usize, key: &str, value: &str, at: Option<u64>) {
        ks.db_mut(db).set(
            Bytes::from(key.to_string()),
            Value::Str(crate::keyspace::StrValue::from(value.to_string())),
            at,
            "set",
        );
        ks.take_events();
    }

    fn deadline(ks: &Keyspace, db: usize, key: &str) -> Option<Option<u64>> {
        ks.db(db).get_entry(key.as_bytes(), NOW).map(|e| e.expire_at_ms())
    }

    fn events(ks: &mut Keyspace) -> Vec<(usize, String, &'static str)> {
        ks.take_events()
            .into_iter()
            .map(|KeyEvent { db, key, event }| {
                (db, String::from_utf8_lossy(&key).into_owned(), event)
            })
            .collect()
    }

    #[test]
    fn relative_deadlines_are_resolved_with_the_entry_clock() {
        let mut ks = Keyspace::new(16);
        put(&mut ks, 0, "k", "v", None);
        assert_eq!(run(&mut ks, 0, NOW, &["EXPIRE", "k", "10"]), Reply::Int(1));
        assert_eq!(deadline(&ks, 0, "k"), Some(Some(NOW + 10_000)));
        assert_eq!(run(&mut ks, 0, NOW, &["PEXPIRE", "k", "5"]), Reply::Int(1));
        assert_eq!(deadline(&ks, 0, "k"), Some(Some(NOW + 5)));
        assert_eq!(run(&mut ks, 0, NOW, &["EXPIREAT", "k", "2000"]), Reply::Int(1));
        assert_eq!(deadline(&ks, 0, "k"), Some(Some(2_000_000)));
        assert_eq!(run(&mut ks, 0, NOW, &["PEXPIREAT", "k", "1500000"]), Reply::Int(1));
        assert_eq!(deadline(&ks, 0, "k"), Some(Some(1_500_000)));
        assert_eq!(events(&mut ks).iter().filter(|e| e.2 == "expire").count(), 4);
        assert_eq!(ks.db(0).volatile_len(), 1);
        assert_eq!(run(&mut ks, 0, NOW, &["EXPIRE", "missing", "10"]), Reply::Int(0));
    }

    #[test]
    fn a_deadline_in_the_past_deletes_the_key_with_a_del_event() {
        let mut ks = Keyspace::new(16);
        put(&mut ks, 0, "a", "v", None);
        put(&mut ks, 0, "b", "v", None);
        assert_eq!(run(&mut ks, 0, NOW, &["EXPIRE", "a", "-1"]), Reply::Int(1));
        assert_eq!(run(&mut ks, 0, NOW, &["PEXPIREAT", "b", &NOW.to_string()]), Reply::Int(1));
        assert_eq!(ks.db(0).len(), 0);
        assert_eq!(events(&mut ks), vec![(0, "a".into(), "del"), (0, "b".into(), "del")]);
    }

    #[test]
    fn nx_xx_gt_lt_follow_redis() {
        let mut ks = Keyspace::new(1);
        put(&mut ks, 0, "p", "v", None);
        put(&mut ks, 0, "t", "v", Some(NOW + 100_000));
        let cases: &[(&[&str], i64)] = &[
            (&["EXPIRE", "p", "50", "XX"], 0),
            (&["EXPIRE", "t", "50", "NX"], 0),
            (&["EXPIRE", "p", "50", "GT"], 0), // no TTL counts as infinite
            (&["EXPIRE", "t", "50", "GT"], 0),
            (&["EXPIRE", "t", "200", "GT"], 1),
            (&["EXPIRE", "t", "300", "LT"], 0),
            (&["EXPIRE", "t", "150", "LT", "XX"], 1),
            (&["EXPIRE", "p", "500", "LT", "XX"], 0),
            (&["EXPIRE", "p", "500", "lt"], 1),
        ];
        for (argv, want) in cases {
            assert_eq!(run(&mut ks, 0, NOW, argv), Reply::Int(*want), "{argv:?}");
        }
        assert_eq!(deadline(&ks, 0, "t"), Some(Some(NOW + 150_000)));
        assert_eq!(deadline(&ks, 0, "p"), Some(Some(NOW + 500_000)));
    }

    #[test]
    fn expire_errors_come_before_the_log_and_change_nothing() {
        let mut ks = Keyspace::new(1);
        put(&mut ks, 0, "k", "v", None);
        let err = |r: Reply| match r {
            Reply::Error(e) => e.to_string(),
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(
            err(run(&mut ks, 0, NOW, &["EXPIRE", "k", "x", "NX", "XX"])),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            err(run(&mut ks, 0, NOW, &["EXPIRE", "k", "1", "GT", "LT"])),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            err(run(&mut ks, 0, NOW, &["EXPIRE", "k", "1", "foo"])),
            "ERR Unsupported option foo"
        );
        assert_eq!(
            err(run(&mut ks, 0, NOW, &["EXPIRE", "k", "9223372036854775807"])),
            "ERR invalid expire time in 'expire' command"
        );
        assert_eq!(
            err(run(&mut ks, 0, NOW, &["EXPIREAT", "k", "-9223372036854775808"])),
            "ERR invalid expire time in 'expireat' command"
        );
        assert_eq!(
            err(run(&mut ks, 0, NOW, &["PEXPIRE", "k", "9223372036854775000"])),
            "ERR invalid expire time in 'pexpire' command"
        );
        assert_eq!(
            err(run(&mut ks, 0, NOW, &["EXPIRE", "k", ""])),
            CmdError::NotAnInteger.to_string()
        );
        assert!(events(&mut ks).is_empty());
        assert_eq!(run(&mut ks, 0, NOW, &["PEXPIREAT", "k", "9223372036854775807"]), Reply::Int(1));
        assert_eq!(run(&mut ks, 0, NOW, &["EXPIRE", "k", "1", "nx", "nx"]), Reply::Int(0));
    }

    #[test]
    fn persist_clears_the_deadline_only_of_volatile_keys() {
        let mut ks = Keyspace::new(1);
        put(&mut ks, 0, "p", "v", None);
        put(&mut ks, 0, "t", "v", Some(NOW + 10));
        assert_eq!(run(&mut ks, 0, NOW, &["PERSIST", "p"]), Reply::Int(0));
        assert_eq!(run(&mut ks, 0, NOW, &["PERSIST", "missing"]), Reply::Int(0));
        assert!(events(&mut ks).is_empty());
        assert_eq!(run(&mut ks, 0, NOW, &["PERSIST", "t"]), Reply::Int(1));
        assert_eq!(deadline(&ks, 0, "t"), Some(None));
        assert_eq!(ks.db(0).volatile_len(), 0);
        assert_eq!(events(&mut ks), vec![(0, "t".into(), "persist")]);
    }

    #[test]
    fn rename_carries_the_deadline_and_records_from_and_to() {
        let mut ks = Keyspace::new(1);
        put(&mut ks, 0, "a", "1", Some(NOW + 10));
        put(&mut ks, 0, "b", "2", Some(NOW + 99));
        assert_eq!(run(&mut ks, 0, NOW, &["RENAMENX", "a", "b"]), Reply::Int(0));
        assert_eq!(run(&mut ks, 0, NOW, &["RENAME", "a", "b"]), Reply::ok());
        assert_eq!(deadline(&ks, 0, "b"), Some(Some(NOW + 10)));
        assert_eq!(deadline(&ks, 0, "a"), None);
        assert_eq!(ks.db(0).volatile_len(), 1);
        assert_eq!(
            events(&mut ks),
            vec![(0, "a".into(), "rename_from"), (0, "b".into(), "rename_to")]
        );
        assert_eq!(run(&mut ks, 0, NOW, &["RENAME", "a", "c"]), Reply::Error(CmdError::NoSuchKey));
        assert_eq!(run(&mut ks, 0, NOW, &["RENAME", "b", "b"]), Reply::ok());
        assert_eq!(run(&mut ks, 0, NOW, &["RENAMENX", "b", "b"]), Reply::Int(0));
        assert!(events(&mut ks).is_empty());
        assert_eq!(run(&mut ks, 0, NOW, &["RENAMENX", "b", "c"]), Reply::Int(1));
        assert_eq!(ks.db(0).len(), 1);
    }

    #[test]
    fn rename_onto_a_key_with_the_same_deadline_keeps_it_volatile() {
        let mut ks = Keyspace::new(1);
        put(&mut ks, 0, "a", "1", Some(NOW + 10));
        put(&mut ks, 0, "b", "2", Some(NOW + 10));
        assert_eq!(run(&mut ks, 0, NOW, &["RENAME", "a", "b"]), Reply::ok());
        assert_eq!(ks.db(0).expired_keys(NOW + 10, 10), vec![Bytes::from("b")]);
    }

    #[test]
    fn move_checks_everything_before_it_mutates() {
        let mut ks = Keyspace::new(16);
        put(&mut ks, 0, "k", "v", Some(NOW + 10));
        put(&mut ks, 1, "taken", "v", None);
        put(&mut ks, 0, "taken", "v", None);
        let cases: &[(&[&str], Reply)] = &[
            (&["MOVE", "k", "16"], Reply::Error(CmdError::DbIndexOutOfRange)),
            (&["MOVE", "k", "-1"], Reply::Error(CmdError::DbIndexOutOfRange)),
            (&["MOVE", "k", "0"], Reply::Error(CmdError::SameObject)),
            (&["MOVE", "k", "x"], Reply::Error(CmdError::NotAnInteger)),
            (&["MOVE", "k", "4294967296"], Reply::Error(CmdError::IntOutOfRange)),
            (&["MOVE", "missing", "1"], Reply::Int(0)),
            (&["MOVE", "taken", "1"], Reply::Int(0)),
        ];
        for (argv, want) in cases {
            assert_eq!(&run(&mut ks, 0, NOW, argv), want, "{argv:?}");
        }
        assert!(events(&mut ks).is_empty());
        assert_eq!(run(&mut ks, 0, NOW, &["MOVE", "k", "1"]), Reply::Int(1));
        assert_eq!(deadline(&ks, 1, "k"), Some(Some(NOW + 10)));
        assert_eq!(deadline(&ks, 0, "k"), None);
        assert_eq!((ks.db(0).volatile_len(), ks.db(1).volatile_len()), (0, 1));
        assert_eq!(events(&mut ks), vec![(0, "k".into(), "move_from"), (1, "k".into(), "move_to")]);
    }

    #[test]
    fn move_over_an_expired_key_in_the_target_replaces_it() {
        let mut ks = Keyspace::new(16);
        put(&mut ks, 0, "k", "new", None);
        put(&mut ks, 1, "k", "old", Some(NOW - 1));
        assert_eq!(run(&mut ks, 0, NOW, &["MOVE", "k", "1"]), Reply::Int(1));
        assert_eq!(ks.db(1).get(b"k", NOW), Some(&Value::Str("new".into())));
        assert_eq!((ks.db(1).len(), ks.db(1).volatile_len()), (1, 0));
        let got = events(&mut ks);
        assert_eq!(
            got.iter().map(|e| e.2).collect::<Vec<_>>(),
            ["expired", "move_from", "move_to"]
        );
    }

    #[test]
    fn copy_copies_value_and_deadline_within_and_across_databases() {
        let mut ks = Keyspace::new(16);
        put(&mut ks, 0, "src", "v", Some(NOW + 10));
        put(&mut ks, 0, "dst", "old", None);
        assert_eq!(run(&mut ks, 0, NOW, &["COPY", "src", "dst"]), Reply::Int(0));
        assert_eq!(
            run(&mut ks, 0, NOW, &["COPY", "src", "src"]),
            Reply::Error(CmdError::SameObject)
        );
        assert_eq!(
            run(&mut ks, 0, NOW, &["COPY", "src", "x", "DB", "16"]),
            Reply::Error(CmdError::DbIndexOutOfRange)
        );
        assert_eq!(
            run(&mut ks, 0, NOW, &["COPY", "src", "x", "DB"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut ks, 0, NOW, &["COPY", "src", "x", "FOO"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(run(&mut ks, 0, NOW, &["COPY", "nosuch", "x"]), Reply::Int(0));
        assert!(events(&mut ks).is_empty());
        assert_eq!(run(&mut ks, 0, NOW, &["COPY", "src", "dst", "REPLACE"]), Reply::Int(1));
        assert_eq!(deadline(&ks, 0, "dst"), Some(Some(NOW + 10)));
        assert_eq!(run(&mut ks, 0, NOW, &["COPY", "src", "src", "DB", "2"]), Reply::Int(1));
        assert_eq!(deadline(&ks, 2, "src"), Some(Some(NOW + 10)));
        assert_eq!(run(&mut ks, 0, NOW, &["COPY", "src", "src", "DB", "2"]), Reply::Int(0));
        assert_eq!(
            events(&mut ks),
            vec![(0, "dst".into(), "copy_to"), (2, "src".into(), "copy_to")]
        );
        assert_eq!(ks.db(0).len(), 2);
        assert_eq!(ks.db(2).volatile_len(), 1);
    }

    #[test]
    fn del_and_unlink_count_only_live_keys() {
        let mut ks = Keyspace::new(1);
        put(&mut ks, 0, "a", "v", None);
        put(&mut ks, 0, "gone", "v", Some(NOW - 1));
        assert_eq!(run(&mut ks, 0, NOW, &["UNLINK", "a", "a", "gone", "none"]), Reply::Int(1));
        assert_eq!(ks.db(0).len(), 0);
    }

    #[test]
    fn patterns_past_redis_star_nesting_limit_match_nothing() {
        assert!(within_star_limit(b"a*b*c"));
        assert!(within_star_limit("*a".repeat(1000).as_bytes()));
        assert!(within_star_limit(format!("{}*", "*a".repeat(1000)).as_bytes()));
        assert!(!within_star_limit(format!("{}*a", "*a".repeat(1000)).as_bytes()));
        assert!(!within_star_limit("*?".repeat(50_000).as_bytes()));
        // Escaped and bracketed stars are literals.
        assert!(within_star_limit("\\*[*]".repeat(2000).as_bytes()));
        let long_key = "a".repeat(50_000);
        assert!(!KeyPattern::new("*?".repeat(50_000).as_bytes()).matches(long_key.as_bytes()));
        assert!(KeyPattern::new(b"a*a*b").matches(b"aaab"));
    }
}
