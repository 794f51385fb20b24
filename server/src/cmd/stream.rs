//! Streams: XADD XRANGE XREVRANGE XLEN XREAD XDEL XTRIM XSETID XINFO XGROUP XREADGROUP
//! XACK XPENDING XCLAIM XAUTOCLAIM.
//!
//! Time: auto IDs, delivery times, seen/active times and claim idleness use the entry's
//! clock (`ApplyCtx::now_ms`), so every replica generates the same IDs and PELs; reads
//! (XPENDING, XINFO) compute idle times with the read's clock.
//!
//! Events: XADD records `xadd` (and `xtrim` when it trimmed), XTRIM `xtrim`, XDEL `xdel`,
//! XSETID `xsetid`, XGROUP `xgroup-*`. Consumer-group bookkeeping (XREADGROUP, XACK,
//! XCLAIM, XAUTOCLAIM) changes the value without an event, as Redis does not notify it.
//! An empty stream is kept (Redis never deletes a stream for being empty).
//!
//! Blocking: XREAD and XREADGROUP with BLOCK return `Reply::Blocked` when nothing can be
//! served; XREAD's `$` is resolved to the stream's last ID in the retry argv, so entries
//! added while blocked are delivered.
//!
//! Node limits: approximate trimming works on whole nodes of `stream-node-max-entries`
//! entries (the node's config, passed in `ApplyCtx`).

use bytes::Bytes;

use crate::cmd::spec::{
    read, write, BeginSearch, CmdResult, CommandSpec, FindKeys, Flags, Group, KeyFlags, KeySpec,
    Parse, ReadCommand, WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::{Db, Value};
use crate::reply::{BlockedOn, Reply};
use crate::resp::decode::parse_i64;
use crate::types::stream::{
    parse_parts, parse_u64, AddError, AddId, ClaimOptions, Fields, NodeLimits, Pending, Stream,
    StreamId, Trim,
};

const RW_UPDATE: KeySpec = KeySpec::single(1, KeyFlags::RW.with(KeyFlags::UPDATE));
const RW_DELETE: KeySpec = KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE));
const RO_ACCESS: KeySpec = KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS));
const SUB_RO_ACCESS: &[KeySpec] = &[KeySpec::single(2, KeyFlags::RO.with(KeyFlags::ACCESS))];
const SUB_RW_INSERT: &[KeySpec] = &[KeySpec::single(2, KeyFlags::RW.with(KeyFlags::INSERT))];
const SUB_RW_UPDATE: &[KeySpec] = &[KeySpec::single(2, KeyFlags::RW.with(KeyFlags::UPDATE))];
const SUB_RW_DELETE: &[KeySpec] = &[KeySpec::single(2, KeyFlags::RW.with(KeyFlags::DELETE))];

/// Keys after `STREAMS`: the first half of what follows.
const fn streams_keys(start: i32) -> KeySpec {
    KeySpec {
        begin: BeginSearch::Keyword { keyword: "STREAMS", start },
        find: FindKeys::Range { last: -1, step: 1, limit: 2 },
        flags: KeyFlags::RO.with(KeyFlags::ACCESS),
    }
}

/// Redis's default `LIMIT` for `~` trimming: 100 nodes' worth of entries.
const fn default_approx_limit(limits: NodeLimits) -> usize {
    if limits.max_entries == 0 {
        10_000
    } else {
        100 * limits.max_entries
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "xadd",
        group: Group::Stream,
        summary: "Appends a new message to a stream. Creates the key if it doesn't exist.",
        since: "5.0.0",
        complexity: "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
        arity: -5,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[RW_UPDATE],
        exec: write::<XAdd>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xrange",
        group: Group::Stream,
        summary: "Returns the messages from a stream within a range of IDs.",
        since: "5.0.0",
        complexity: "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[RO_ACCESS],
        exec: read::<XRange<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xrevrange",
        group: Group::Stream,
        summary: "Returns the messages from a stream within a range of IDs in reverse order.",
        since: "5.0.0",
        complexity: "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[RO_ACCESS],
        exec: read::<XRange<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xlen",
        group: Group::Stream,
        summary: "Return the number of messages in a stream.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO)],
        exec: read::<XLen>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xread",
        group: Group::Stream,
        summary: "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
        since: "5.0.0",
        complexity: "",
        arity: -4,
        flags: Flags::READONLY.with(Flags::BLOCKING).with(Flags::MOVABLE_KEYS),
        keys: &[streams_keys(1)],
        exec: read::<XRead>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xreadgroup",
        group: Group::Stream,
        summary: "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
        since: "5.0.0",
        complexity: "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.",
        arity: -7,
        flags: Flags::WRITE.with(Flags::BLOCKING).with(Flags::MOVABLE_KEYS),
        keys: &[streams_keys(4)],
        exec: write::<XReadGroup>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xdel",
        group: Group::Stream,
        summary: "Returns the number of messages after removing them from a stream.",
        since: "5.0.0",
        complexity: "O(1) for each single item to delete in the stream, regardless of the stream size.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_DELETE],
        exec: write::<XDel>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xtrim",
        group: Group::Stream,
        summary: "Deletes messages from the beginning of a stream.",
        since: "5.0.0",
        complexity: "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.",
        arity: -4,
        flags: Flags::WRITE,
        keys: &[RW_DELETE],
        exec: write::<XTrim>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xsetid",
        group: Group::Stream,
        summary: "An internal command for replicating stream values.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[RW_UPDATE],
        exec: write::<XSetId>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xack",
        group: Group::Stream,
        summary: "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
        since: "5.0.0",
        complexity: "O(1) for each message ID processed.",
        arity: -4,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_UPDATE],
        exec: write::<XAck>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xpending",
        group: Group::Stream,
        summary: "Returns the information and entries from a stream consumer group's pending entries list.",
        since: "5.0.0",
        complexity: "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.",
        arity: -3,
        flags: Flags::READONLY,
        keys: &[RO_ACCESS],
        exec: read::<XPending>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xclaim",
        group: Group::Stream,
        summary: "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
        since: "5.0.0",
        complexity: "O(log N) with N being the number of messages in the PEL of the consumer group.",
        arity: -6,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_UPDATE],
        exec: write::<XClaim>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xautoclaim",
        group: Group::Stream,
        summary: "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
        since: "6.2.0",
        complexity: "O(1) if COUNT is small.",
        arity: -6,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[RW_DELETE],
        exec: write::<XAutoClaim>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xinfo",
        group: Group::Stream,
        summary: "A container for stream introspection commands.",
        since: "5.0.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: XINFO_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "xgroup",
        group: Group::Stream,
        summary: "A container for consumer groups commands.",
        since: "5.0.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: XGROUP_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
];

/// `XINFO <subcommand>`.
const XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "consumers",
        group: Group::Stream,
        summary: "Returns a list of the consumers in a consumer group.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: 4,
        flags: Flags::READONLY,
        keys: SUB_RO_ACCESS,
        exec: read::<XInfoConsumers>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "groups",
        group: Group::Stream,
        summary: "Returns a list of the consumer groups of a stream.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::READONLY,
        keys: SUB_RO_ACCESS,
        exec: read::<XInfoGroups>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "stream",
        group: Group::Stream,
        summary: "Returns information about a stream.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: -3,
        flags: Flags::READONLY,
        keys: SUB_RO_ACCESS,
        exec: read::<XInfoStream>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "help",
        group: Group::Stream,
        summary: "Returns helpful text about the different subcommands.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::LOADING.with(Flags::STALE),
        exec: read::<Help<{ HELP_XINFO }>>(),
        ..CommandSpec::DEFAULT
    },
];

/// `XGROUP <subcommand>`.
const XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "create",
        group: Group::Stream,
        summary: "Creates a consumer group.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: -5,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: SUB_RW_INSERT,
        exec: write::<XGroupCreate>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "setid",
        group: Group::Stream,
        summary: "Sets the last-delivered ID of a consumer group.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: -5,
        flags: Flags::WRITE,
        keys: SUB_RW_UPDATE,
        exec: write::<XGroupSetId>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "destroy",
        group: Group::Stream,
        summary: "Destroys a consumer group.",
        since: "5.0.0",
        complexity:
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        arity: 4,
        flags: Flags::WRITE,
        keys: SUB_RW_DELETE,
        exec: write::<XGroupDestroy>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "createconsumer",
        group: Group::Stream,
        summary: "Creates a consumer in a consumer group.",
        since: "6.2.0",
        complexity: "O(1)",
        arity: 5,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: SUB_RW_INSERT,
        exec: write::<XGroupCreateConsumer>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "delconsumer",
        group: Group::Stream,
        summary: "Deletes a consumer from a consumer group.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: 5,
        flags: Flags::WRITE,
        keys: SUB_RW_DELETE,
        exec: write::<XGroupDelConsumer>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "help",
        group: Group::Stream,
        summary: "Returns helpful text about the different subcommands.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::LOADING.with(Flags::STALE),
        exec: read::<Help<{ HELP_XGROUP }>>(),
        ..CommandSpec::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------
// Parsing helpers

/// A full ID where `-` and `+` are not allowed (XADD's MINID, XDEL, XACK, XCLAIM, XSETID,
/// XGROUP, XREAD); a missing sequence is 0.
fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    StreamId::parse(arg, 0).ok_or(CmdError::StreamInvalidId)
}

/// An ID where `-` is 0-0 and `+` the largest ID (XGROUP CREATE and SETID).
fn loose_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    match arg {
        b"-" => Ok(StreamId::MIN),
        b"+" => Ok(StreamId::MAX),
        _ => strict_id(arg),
    }
}

/// A range bound: `-`, `+`, `ms[-seq]` (a missing sequence is 0 for a start, the maximum
/// for an end) or `(id` for an exclusive bound.
fn range_bound(arg: &[u8], is_start: bool) -> Result<StreamId, CmdError> {
    if let Some(rest) = arg.strip_prefix(b"(") {
        let id = StreamId::parse(rest, if is_start { 0 } else { u64::MAX })
            .ok_or(CmdError::StreamInvalidId)?;
        return if is_start {
            id.next().ok_or(CmdError::StreamInvalidStart)
        } else {
            id.prev().ok_or(CmdError::StreamInvalidEnd)
        };
    }
    match arg {
        b"-" => Ok(StreamId::MIN),
        b"+" => Ok(StreamId::MAX),
        _ => StreamId::parse(arg, if is_start { 0 } else { u64::MAX })
            .ok_or(CmdError::StreamInvalidId),
    }
}

/// The stream at `key` for a read: `None` when missing, WRONGTYPE for another type.
fn stream_at<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a Stream>, CmdError> {
    match db.get(key, now_ms) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The subcommand name as the client typed it: XGROUP's and XINFO's handlers get it as
/// their first argument (see [`crate::cmd::resolve`]) because Redis echoes it in their
/// syntax errors.
fn typed_subcommand(args: &mut Args<'_>) -> Result<String, CmdError> {
    args.next_slice().map(lossy)
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn fields_reply(fields: &Fields) -> Reply {
    let mut out = Vec::with_capacity(fields.len() * 2);
    for (f, v) in fields {
        out.push(Reply::Bulk(f.clone()));
        out.push(Reply::Bulk(v.clone()));
    }
    Reply::Array(out)
}

fn entry_reply(id: StreamId, fields: &Fields) -> Reply {
    Reply::Array(vec![id_reply(id), fields_reply(fields)])
}

fn entries_reply(entries: Vec<(StreamId, Fields)>) -> Reply {
    Reply::Array(entries.iter().map(|(id, f)| entry_reply(*id, f)).collect())
}

/// The trimming options shared by XADD and XTRIM.
#[derive(Debug, Clone, Copy, Default)]
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: Option<usize>,
}

impl TrimArgs {
    /// Tries to consume one trimming option; returns whether one was there.
    fn parse_option(&mut self, args: &mut Args<'_>) -> Result<bool, CmdError> {
        let more = args.remaining() > 1;
        if more && (args.peek_is("MAXLEN") || args.peek_is("MINID")) {
            let maxlen = args.peek_is("MAXLEN");
            args.next_slice()?;
            if self.how.is_some() {
                return Err(CmdError::StreamTrimConflict);
            }
            if args.remaining() >= 2 && (args.peek_is("~") || args.peek_is("=")) {
                self.approx = args.peek_is("~");
                args.next_slice()?;
            }
            self.how = Some(if maxlen {
                let n = args.next_i64()?;
                Trim::MaxLen(u64::try_from(n).map_err(|_| CmdError::StreamMaxlenNegative)?)
            } else {
                Trim::MinId(strict_id(args.next_slice()?)?)
            });
            return Ok(true);
        }
        if more && args.peek_is("LIMIT") {
            args.next_slice()?;
            let n = args.next_i64()?;
            self.limit = Some(usize::try_from(n).map_err(|_| CmdError::StreamLimitNegative)?);
            return Ok(true);
        }
        Ok(false)
    }

    /// Checks the combination once every option (and XADD's ID) is read; `xtrim` adds
    /// XTRIM's need for a strategy. As in Redis, `LIMIT 0` alone counts as no limit for
    /// the first check, but still needs `~`.
    fn validate(&self, xtrim: bool) -> Result<(), CmdError> {
        if self.limit.is_some_and(|n| n > 0) && self.how.is_none() {
            return Err(CmdError::StreamLimitWithoutTrim);
        }
        if xtrim && self.how.is_none() {
            return Err(CmdError::XtrimNoStrategy);
        }
        if self.limit.is_some() && !self.approx {
            return Err(CmdError::StreamLimitWithoutApprox);
        }
        Ok(())
    }

    /// Trims `s`; returns the number of entries removed.
    fn apply(&self, s: &mut Stream, limits: NodeLimits) -> usize {
        let Some(how) = self.how else { return 0 };
        let limit =
            if self.approx { self.limit.unwrap_or(default_approx_limit(limits)) } else { 0 };
        s.trim(how, self.approx, limit)
    }
}

// ---------------------------------------------------------------------------------------
// XADD, XTRIM, XDEL, XSETID, XLEN, XRANGE

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value
/// [field value ...]`
struct XAdd {
    key: Bytes,
    nomkstream: bool,
    trim: TrimArgs,
    id: AddId,
    fields: Fields,
}

impl Parse for XAdd {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let mut nomkstream = false;
        let mut trim = TrimArgs::default();
        loop {
            if args.peek().is_some_and(|a| &a[..] == b"*") {
                break;
            }
            if trim.parse_option(args)? {
                continue;
            }
            if args.eat("NOMKSTREAM") {
                nomkstream = true;
                continue;
            }
            break;
        }
        // Redis reads the ID as the last option, before checking the combination.
        let id_arg = args.next_slice()?;
        let id = if id_arg == b"*" {
            AddId::Auto
        } else {
            let (ms, seq) = parse_parts(id_arg).ok_or(CmdError::StreamInvalidId)?;
            if seq == Some(&b"*"[..]) {
                AddId::AutoSeq(parse_u64(ms).ok_or(CmdError::StreamInvalidId)?)
            } else {
                AddId::Explicit(strict_id(id_arg)?)
            }
        };
        trim.validate(false)?;
        let rest = args.take_rest();
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return Err(CmdError::WrongArity("xadd".into()));
        }
        if id == AddId::Explicit(StreamId::MIN) {
            return Err(CmdError::XaddIdZero);
        }
        let fields = rest.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
        Ok(XAdd { key, nomkstream, trim, id, fields })
    }
}

/// The node's `stream-node-max-entries` / `stream-node-max-bytes`.
fn node_limits(cx: &ApplyCtx<'_>) -> NodeLimits {
    NodeLimits {
        max_entries: usize::try_from(cx.stream_node_max_entries).unwrap_or(100),
        max_bytes: usize::try_from(cx.stream_node_max_bytes).unwrap_or(4096),
    }
}

impl WriteCommand for XAdd {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let limits = node_limits(cx);
        let mut db = cx.db();
        let exists = match db.get(&self.key, now) {
            None if self.nomkstream => return Ok(Reply::Null),
            None => false,
            Some(Value::Stream(_)) => true,
            Some(_) => return Err(CmdError::WrongType),
        };
        let add = |s: &mut Stream| -> Result<(StreamId, usize), CmdError> {
            let id = s.next_id(self.id, now).map_err(|e| match e {
                AddError::TooSmall => CmdError::XaddIdTooSmall,
                AddError::Exhausted => CmdError::StreamExhausted,
            })?;
            s.append(id, self.fields.clone(), limits);
            Ok((id, self.trim.apply(s, limits)))
        };
        let (id, trimmed) = if exists {
            // Check the ID on the current value before the event is recorded.
            if let Some(Value::Stream(s)) = db.get(&self.key, now) {
                s.next_id(self.id, now).map_err(|e| match e {
                    AddError::TooSmall => CmdError::XaddIdTooSmall,
                    AddError::Exhausted => CmdError::StreamExhausted,
                })?;
            }
            match db.value_mut(&self.key, now, "xadd") {
                Some(Value::Stream(s)) => add(s)?,
                _ => return Err(CmdError::Internal),
            }
        } else {
            let mut s = crate::keyspace::SharedValue::<Stream>::default();
            let r = add(&mut s)?;
            db.set(self.key.clone(), Value::Stream(s), None, "xadd");
            r
        };
        if trimmed > 0 {
            db.event(&self.key, "xtrim");
        }
        Ok(id_reply(id))
    }
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
struct XTrim {
    key: Bytes,
    trim: TrimArgs,
}

impl Parse for XTrim {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let mut trim = TrimArgs::default();
        while !args.is_empty() {
            if !trim.parse_option(args)? {
                return Err(CmdError::Syntax);
            }
        }
        trim.validate(true)?;
        Ok(XTrim { key, trim })
    }
}

impl WriteCommand for XTrim {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let limits = node_limits(cx);
        let mut db = cx.db();
        match db.get(&self.key, now) {
            None => return Ok(Reply::Int(0)),
            Some(Value::Stream(_)) => {}
            Some(_) => return Err(CmdError::WrongType),
        }
        // Trim in place; the event is recorded only if something was removed.
        let Some(Value::Stream(s)) = db.value_mut_silent(&self.key, now) else {
            return Err(CmdError::Internal);
        };
        let removed = self.trim.apply(s, limits);
        if removed > 0 {
            db.event(&self.key, "xtrim");
        }
        Ok(Reply::Int(removed as i64))
    }
}

/// `XDEL key id [id ...]`
struct XDel {
    key: Bytes,
    /// A bad ID is reported only for an existing stream (Redis looks the key up first).
    ids: Result<Vec<StreamId>, CmdError>,
}

/// Parses a list of strict IDs; the first bad one is the error.
fn strict_ids(args: &[Bytes]) -> Result<Vec<StreamId>, CmdError> {
    args.iter().map(|a| strict_id(a)).collect()
}

impl Parse for XDel {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        Ok(XDel { key, ids: strict_ids(args.take_rest()) })
    }
}

impl WriteCommand for XDel {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        match db.get(&self.key, now) {
            None => return Ok(Reply::Int(0)),
            Some(Value::Stream(s)) => {
                let ids = self.ids.as_ref().map_err(Clone::clone)?;
                if !ids.iter().any(|id| s.contains(*id)) {
                    return Ok(Reply::Int(0));
                }
            }
            Some(_) => return Err(CmdError::WrongType),
        }
        let ids = self.ids?;
        let Some(Value::Stream(s)) = db.value_mut(&self.key, now, "xdel") else {
            return Err(CmdError::Internal);
        };
        Ok(Reply::Int(s.delete(&ids) as i64))
    }
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
struct XSetId {
    key: Bytes,
    id: StreamId,
    entries_added: Option<u64>,
    max_deleted: Option<StreamId>,
}

impl Parse for XSetId {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let id = strict_id(args.next_slice()?)?;
        let (mut entries_added, mut max_deleted) = (None, None);
        while !args.is_empty() {
            if args.remaining() >= 2 && args.eat("ENTRIESADDED") {
                let n = args.next_i64()?;
                entries_added =
                    Some(u64::try_from(n).map_err(|_| CmdError::XsetidEntriesAddedNegative)?);
            } else if args.remaining() >= 2 && args.eat("MAXDELETEDID") {
                let m = strict_id(args.next_slice()?)?;
                // Checked as soon as it is read, before any later option.
                if id < m {
                    return Err(CmdError::XsetidBelowGivenMaxDeleted);
                }
                max_deleted = Some(m);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(XSetId { key, id, entries_added, max_deleted })
    }
}

impl WriteCommand for XSetId {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        let s = match db.get(&self.key, now) {
            None => return Err(CmdError::NoSuchKey),
            Some(Value::Stream(s)) => s,
            Some(_) => return Err(CmdError::WrongType),
        };
        // Redis's order: the current max deleted ID (even when MAXDELETEDID is given),
        // the top entry, then the entries-added count.
        if self.id < s.max_deleted_id {
            return Err(CmdError::XsetidBelowMaxDeleted);
        }
        if s.last_entry().is_some_and(|(last, _)| self.id < last) {
            return Err(CmdError::XsetidTooSmall);
        }
        if self.entries_added.is_some_and(|n| n < s.len() as u64) {
            return Err(CmdError::XsetidEntriesAddedTooSmall);
        }
        let Some(Value::Stream(s)) = db.value_mut(&self.key, now, "xsetid") else {
            return Err(CmdError::Internal);
        };
        s.last_id = self.id;
        if let Some(n) = self.entries_added {
            s.entries_added = n;
        }
        if let Some(m) = self.max_deleted {
            s.max_deleted_id = m;
        }
        Ok(Reply::ok())
    }
}

/// `XLEN key`
struct XLen {
    key: Bytes,
}

impl Parse for XLen {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(XLen { key: args.next_bytes()? })
    }
}

impl ReadCommand for XLen {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let n = stream_at(cx.db(), &self.key, cx.now_ms)?.map_or(0, Stream::len);
        Ok(Reply::Int(n as i64))
    }
}

/// `XRANGE key start end [COUNT count]` and `XREVRANGE key end start [COUNT count]`
struct XRange<const REV: bool> {
    key: Bytes,
    start: StreamId,
    end: StreamId,
    /// `None` = no COUNT; `Some(0)` = an explicit count of zero or less.
    count: Option<usize>,
}

impl<const REV: bool> Parse for XRange<REV> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let (a, b) = (args.next_slice()?, args.next_slice()?);
        let (start_arg, end_arg) = if REV { (b, a) } else { (a, b) };
        let start = range_bound(start_arg, true)?;
        let end = range_bound(end_arg, false)?;
        let mut count = None;
        while !args.is_empty() {
            if args.remaining() >= 2 && args.eat("COUNT") {
                count = Some(usize::try_from(args.next_i64()?).unwrap_or(0));
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(XRange { key, start, end, count })
    }
}

impl<const REV: bool> ReadCommand for XRange<REV> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(s) = stream_at(cx.db(), &self.key, cx.now_ms)? else {
            return Ok(Reply::Array(Vec::new()));
        };
        if self.count == Some(0) {
            return Ok(Reply::NullArray);
        }
        Ok(entries_reply(s.range(self.start, self.end, self.count.unwrap_or(0), REV)))
    }
}

// ---------------------------------------------------------------------------------------
// XREAD, XREADGROUP

/// The ID given for one stream of XREAD/XREADGROUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadFrom {
    /// `$`: only entries added from now on.
    Dollar,
    /// `+`: the last entry.
    Last,
    /// `>`: entries never delivered to the group.
    New,
    /// Entries after this ID.
    After(StreamId),
}

/// The arguments shared by XREAD and XREADGROUP.
struct ReadArgs {
    count: usize,
    block_ms: Option<u64>,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    keys: Vec<Bytes>,
    /// Per stream; a bad ID is reported after that stream's key (and group) checks, as
    /// Redis checks each stream in turn.
    from: Vec<Result<ReadFrom, CmdError>>,
    /// The whole argument list (for XREAD's retry argv).
    argv: Vec<Bytes>,
    /// Index in `argv` of the first ID.
    ids_at: usize,
    /// Whether this is XREAD run again for a blocked client (see [`RETRY_MARKER`]).
    retrying: bool,
}

/// Leads the argv XREAD gives for its retries. A blocked XREAD ignores a key that turned
/// into another type (Redis does not wake it), while a first run answers WRONGTYPE; the
/// marker tells the two apart. Clients never send it.
const RETRY_MARKER: &str = "ENGRAM-BLOCKED-RETRY";

impl ReadArgs {
    fn parse(args: &mut Args<'_>, group_cmd: bool) -> Result<ReadArgs, CmdError> {
        let argv = args.rest().to_vec();
        let (mut count, mut block_ms, mut group, mut noack) = (0usize, None, None, false);
        let retrying = !group_cmd && args.eat(RETRY_MARKER);
        let mut streams = None;
        while !args.is_empty() {
            let more = args.remaining() - 1;
            if more >= 1 && args.eat("BLOCK") {
                let t = parse_i64(args.next_slice()?).ok_or(CmdError::StreamTimeoutNotInteger)?;
                block_ms = Some(u64::try_from(t).map_err(|_| CmdError::StreamTimeoutNegative)?);
            } else if more >= 1 && args.eat("COUNT") {
                count = usize::try_from(args.next_i64()?).unwrap_or(0);
            } else if more >= 1 && args.eat("STREAMS") {
                let rest = args.take_rest();
                if !rest.len().is_multiple_of(2) {
                    return Err(if group_cmd {
                        CmdError::StreamUnbalanced("xreadgroup", ">")
                    } else {
                        CmdError::StreamUnbalanced("xread", "$")
                    });
                }
                streams = Some(rest);
            } else if more >= 2 && args.eat("GROUP") {
                if !group_cmd {
                    return Err(CmdError::XreadGroupOption);
                }
                group = Some((args.next_bytes()?, args.next_bytes()?));
            } else if args.eat("NOACK") {
                if !group_cmd {
                    return Err(CmdError::XreadNoackOption);
                }
                noack = true;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        let Some(streams) = streams else { return Err(CmdError::Syntax) };
        if group_cmd && group.is_none() {
            return Err(CmdError::XreadgroupMissingGroup);
        }
        let half = streams.len() / 2;
        let keys = streams[..half].to_vec();
        let from = streams[half..]
            .iter()
            .map(|id| match &id[..] {
                b"$" if group_cmd => Err(CmdError::XreadgroupMeaninglessId('$')),
                b"+" if group_cmd => Err(CmdError::XreadgroupMeaninglessId('+')),
                b">" if !group_cmd => Err(CmdError::XreadGreaterWithoutGroup),
                b"$" => Ok(ReadFrom::Dollar),
                b"+" => Ok(ReadFrom::Last),
                b">" => Ok(ReadFrom::New),
                _ => match strict_id(id)? {
                    // Redis stands for `>` with the largest ID, so spelling it out asks for
                    // new entries too.
                    StreamId::MAX if group_cmd => Ok(ReadFrom::New),
                    id => Ok(ReadFrom::After(id)),
                },
            })
            .collect();
        let ids_at = argv.len() - half;
        Ok(ReadArgs { count, block_ms, group, noack, keys, from, argv, ids_at, retrying })
    }

    fn blocked(&self, retry: Option<Vec<Bytes>>, may_block: bool) -> Reply {
        BlockedOn {
            keys: self.keys.clone(),
            timeout_ms: self.block_ms.unwrap_or(0),
            on_timeout: Box::new(Reply::NullArray),
            retry,
            // XREADGROUP ends with WRONGTYPE when its stream is replaced (its group is
            // gone); XREAD keeps waiting, as Redis.
            wants: if self.group.is_some() { "" } else { "stream" },
            on_nokey: self.group.is_some(),
        }
        .reply(may_block)
    }
}

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]`
struct XRead(ReadArgs);

impl Parse for XRead {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        ReadArgs::parse(args, false).map(XRead)
    }
}

impl ReadCommand for XRead {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let ra = &self.0;
        let db = cx.db();
        let mut streams = Vec::with_capacity(ra.keys.len());
        let mut froms = Vec::with_capacity(ra.keys.len());
        for (key, from) in ra.keys.iter().zip(&ra.from) {
            streams.push(match stream_at(db, key, cx.now_ms) {
                Err(CmdError::WrongType) if ra.retrying => None,
                other => other?,
            });
            froms.push(from.clone()?);
        }
        let mut out = Vec::new();
        for ((key, from), s) in ra.keys.iter().zip(&froms).zip(&streams) {
            let Some(s) = s else { continue };
            let entries = match from {
                // Redis reads from the last generated ID: nothing if that entry is gone.
                ReadFrom::Last => s.get(s.last_id).map(|f| (s.last_id, f)).into_iter().collect(),
                ReadFrom::After(id) => match id.next() {
                    Some(start) => s.range(start, StreamId::MAX, ra.count, false),
                    None => Vec::new(),
                },
                ReadFrom::Dollar | ReadFrom::New => Vec::new(),
            };
            if !entries.is_empty() {
                out.push((Reply::Bulk(key.clone()), entries_reply(entries)));
            }
        }
        if !out.is_empty() {
            return Ok(Reply::KeyedArrays(out));
        }
        if ra.block_ms.is_none() {
            return Ok(Reply::NullArray);
        }
        // `$` becomes the last ID now, so what arrives while blocked is delivered.
        let mut argv = Vec::with_capacity(ra.argv.len() + 2);
        argv.push(Bytes::from_static(b"XREAD"));
        let skip = if ra.retrying {
            0
        } else {
            argv.push(Bytes::from_static(RETRY_MARKER.as_bytes()));
            1
        };
        argv.extend(ra.argv.iter().cloned());
        for (i, (from, s)) in froms.iter().zip(&streams).enumerate() {
            if *from == ReadFrom::Dollar {
                let last = s.map_or(StreamId::MIN, |s| s.last_id);
                argv[1 + skip + ra.ids_at + i] = last.to_bytes();
            }
        }
        Ok(ra.blocked(Some(argv), cx.may_block))
    }
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key
/// [key ...] id [id ...]`
struct XReadGroup(ReadArgs);

impl Parse for XReadGroup {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        ReadArgs::parse(args, true).map(XReadGroup)
    }
}

impl WriteCommand for XReadGroup {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let ra = &self.0;
        let now = cx.now_ms;
        let (group, consumer) = ra.group.clone().ok_or(CmdError::XreadgroupMissingGroup)?;
        let may_block = cx.may_block;
        let mut db = cx.db();
        let mut froms = Vec::with_capacity(ra.keys.len());
        for (key, from) in ra.keys.iter().zip(&ra.from) {
            let ok = match db.get(key, now) {
                None => false,
                Some(Value::Stream(s)) => s.groups.contains_key(&group),
                Some(_) => return Err(CmdError::WrongType),
            };
            if !ok {
                return Err(CmdError::NoGroupRead { key: lossy(key), group: lossy(&group) });
            }
            froms.push(from.clone()?);
        }
        let mut out = Vec::new();
        for (key, from) in ra.keys.iter().zip(&froms) {
            note_new_consumer(&mut db, key, &group, &consumer, now);
            let Some(Value::Stream(s)) = db.value_mut_silent(key, now) else {
                return Err(CmdError::Internal);
            };
            let reply = match from {
                ReadFrom::After(id) => {
                    let served = s.read_history(&group, &consumer, *id, ra.count, now);
                    Some(Reply::Array(
                        served
                            .into_iter()
                            .map(|(id, f)| match f {
                                Some(f) => entry_reply(id, &f),
                                None => Reply::Array(vec![id_reply(id), Reply::NullArray]),
                            })
                            .collect(),
                    ))
                }
                _ => s.read_new(&group, &consumer, ra.count, ra.noack, now).map(entries_reply),
            };
            if let Some(r) = reply {
                out.push((Reply::Bulk(key.clone()), r));
            }
        }
        if !out.is_empty() {
            return Ok(Reply::KeyedArrays(out));
        }
        if ra.block_ms.is_none() {
            return Ok(Reply::NullArray);
        }
        Ok(ra.blocked(None, may_block))
    }
}

// ---------------------------------------------------------------------------------------
// XACK, XPENDING, XCLAIM, XAUTOCLAIM

/// Records `xgroup-createconsumer` when reading or claiming will create `consumer`, as
/// Redis notifies it.
fn note_new_consumer(
    db: &mut crate::keyspace::DbMut<'_>,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    now: u64,
) {
    let missing = match db.read().get(key, now) {
        Some(Value::Stream(s)) => {
            s.groups.get(group).is_some_and(|g| !g.consumers.contains_key(consumer))
        }
        _ => false,
    };
    if missing {
        db.event(key, "xgroup-createconsumer");
    }
}

/// Looks up `key` and `group` for a write, with Redis's NOGROUP error.
fn check_group(db: &Db, key: &Bytes, group: &Bytes, now: u64) -> Result<(), CmdError> {
    match db.get(key, now) {
        Some(Value::Stream(s)) if s.groups.contains_key(group) => Ok(()),
        Some(Value::Stream(_)) | None => {
            Err(CmdError::NoGroup { key: lossy(key), group: lossy(group) })
        }
        Some(_) => Err(CmdError::WrongType),
    }
}

/// `XACK key group id [id ...]`
struct XAck {
    key: Bytes,
    group: Bytes,
    /// A bad ID is reported only when the key and group exist (Redis's order).
    ids: Result<Vec<StreamId>, CmdError>,
}

impl Parse for XAck {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let group = args.next_bytes()?;
        Ok(XAck { key, group, ids: strict_ids(args.take_rest()) })
    }
}

impl WriteCommand for XAck {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        match db.get(&self.key, now) {
            None => return Ok(Reply::Int(0)),
            Some(Value::Stream(s)) => match s.groups.get(&self.group) {
                None => return Ok(Reply::Int(0)),
                Some(g) => {
                    let ids = self.ids.as_ref().map_err(Clone::clone)?;
                    if !ids.iter().any(|id| g.pel.contains_key(id)) {
                        return Ok(Reply::Int(0));
                    }
                }
            },
            Some(_) => return Err(CmdError::WrongType),
        }
        let ids = self.ids?;
        let Some(Value::Stream(s)) = db.value_mut_silent(&self.key, now) else {
            return Err(CmdError::Internal);
        };
        let Some(g) = s.groups.get_mut(&self.group) else { return Ok(Reply::Int(0)) };
        let acked = ids.iter().filter(|id| g.ack(**id)).count();
        Ok(Reply::Int(acked as i64))
    }
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
struct XPending {
    key: Bytes,
    group: Bytes,
    extended: Option<PendingRange>,
}

struct PendingRange {
    min_idle_ms: i64,
    start: StreamId,
    end: StreamId,
    count: usize,
    consumer: Option<Bytes>,
}

impl Parse for XPending {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let group = args.next_bytes()?;
        if args.is_empty() {
            return Ok(XPending { key, group, extended: None });
        }
        // `[IDLE n] start end count [consumer]`, plus at most one ignored argument when
        // IDLE is absent: Redis checks the count of arguments first.
        if !(3..=6).contains(&args.remaining()) {
            return Err(CmdError::Syntax);
        }
        let mut min_idle_ms = 0;
        if args.eat("IDLE") {
            min_idle_ms = args.next_i64()?;
            if args.remaining() < 3 {
                return Err(CmdError::Syntax);
            }
        }
        let start_arg = args.next_slice()?;
        let end_arg = args.next_slice()?;
        let count = usize::try_from(args.next_i64()?).unwrap_or(0);
        let start = range_bound(start_arg, true)?;
        let end = range_bound(end_arg, false)?;
        let consumer = args.peek().cloned();
        // Redis ignores anything after the consumer.
        args.take_rest();
        Ok(XPending {
            key,
            group,
            extended: Some(PendingRange { min_idle_ms, start, end, count, consumer }),
        })
    }
}

impl ReadCommand for XPending {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let nogroup = || CmdError::NoGroup { key: lossy(&self.key), group: lossy(&self.group) };
        let s = stream_at(cx.db(), &self.key, now)?.ok_or_else(nogroup)?;
        let g = s.groups.get(&self.group).ok_or_else(nogroup)?;
        let Some(r) = self.extended else {
            if g.pel.is_empty() {
                return Ok(Reply::Array(vec![
                    Reply::Int(0),
                    Reply::Null,
                    Reply::Null,
                    Reply::NullArray,
                ]));
            }
            let (first, last) = match (g.pel.keys().next(), g.pel.keys().next_back()) {
                (Some(a), Some(b)) => (*a, *b),
                _ => return Err(CmdError::Internal),
            };
            let consumers = g
                .consumers
                .iter()
                .filter(|(_, c)| !c.pending.is_empty())
                .map(|(name, c)| {
                    Reply::Array(vec![
                        Reply::Bulk(name.clone()),
                        Reply::bulk_int(c.pending.len() as i64),
                    ])
                })
                .collect();
            return Ok(Reply::Array(vec![
                Reply::Int(g.pel.len() as i64),
                id_reply(first),
                id_reply(last),
                Reply::Array(consumers),
            ]));
        };
        if r.count == 0 || r.start > r.end {
            return Ok(Reply::Array(Vec::new()));
        }
        let idle_of = |p: &Pending| now.saturating_sub(p.delivery_time_ms) as i64;
        let row = |id: StreamId, p: &Pending| {
            Reply::Array(vec![
                id_reply(id),
                Reply::Bulk(p.consumer.clone()),
                Reply::Int(idle_of(p)),
                Reply::Int(p.delivery_count as i64),
            ])
        };
        let mut out = Vec::new();
        match &r.consumer {
            Some(name) => {
                let Some(c) = g.consumers.get(name) else { return Ok(Reply::Array(out)) };
                for id in c.pending.range(r.start..=r.end) {
                    if out.len() >= r.count {
                        break;
                    }
                    if let Some(p) = g.pel.get(id) {
                        if idle_of(p) >= r.min_idle_ms {
                            out.push(row(*id, p));
                        }
                    }
                }
            }
            None => {
                for (id, p) in g.pel.range(r.start..=r.end) {
                    if out.len() >= r.count {
                        break;
                    }
                    if idle_of(p) >= r.min_idle_ms {
                        out.push(row(*id, p));
                    }
                }
            }
        }
        Ok(Reply::Array(out))
    }
}

/// When XCLAIM says the entry was delivered.
#[derive(Debug, Clone, Copy)]
enum DeliveredAt {
    IdleMs(i64),
    UnixMs(i64),
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]`
struct XClaim {
    key: Bytes,
    group: Bytes,
    consumer: Bytes,
    /// Everything after the consumer; its errors come after the key and group checks, as
    /// in Redis.
    opts: Result<XClaimOpts, CmdError>,
}

/// XCLAIM's arguments after the consumer.
struct XClaimOpts {
    min_idle_ms: u64,
    ids: Vec<StreamId>,
    delivered: Option<DeliveredAt>,
    retry_count: Option<u64>,
    force: bool,
    just_id: bool,
    last_id: Option<StreamId>,
}

impl Parse for XClaim {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let group = args.next_bytes()?;
        let consumer = args.next_bytes()?;
        let opts = XClaimOpts::parse(args);
        // A deferred error leaves arguments unread; they belong to it.
        args.take_rest();
        Ok(XClaim { key, group, consumer, opts })
    }
}

impl XClaimOpts {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let min_idle =
            args.next_i64_or(CmdError::StreamInvalidArgument("min-idle-time", "XCLAIM"))?;
        let mut ids = Vec::new();
        while let Some(id) = args.peek().and_then(|a| StreamId::parse(a, 0)) {
            ids.push(id);
            args.next_slice()?;
        }
        let mut c = XClaimOpts {
            min_idle_ms: u64::try_from(min_idle).unwrap_or(0),
            ids,
            delivered: None,
            retry_count: None,
            force: false,
            just_id: false,
            last_id: None,
        };
        while let Some(opt) = args.peek() {
            let more = args.remaining() > 1;
            if args.eat("FORCE") {
                c.force = true;
            } else if args.eat("JUSTID") {
                c.just_id = true;
            } else if more && args.eat("IDLE") {
                let n =
                    args.next_i64_or(CmdError::StreamInvalidArgument("IDLE option", "XCLAIM"))?;
                c.delivered = Some(DeliveredAt::IdleMs(n));
            } else if more && args.eat("TIME") {
                let n =
                    args.next_i64_or(CmdError::StreamInvalidArgument("TIME option", "XCLAIM"))?;
                c.delivered = Some(DeliveredAt::UnixMs(n));
            } else if more && args.eat("RETRYCOUNT") {
                let n = args
                    .next_i64_or(CmdError::StreamInvalidArgument("RETRYCOUNT option", "XCLAIM"))?;
                c.retry_count =
                    Some(u64::try_from(n).map_err(|_| {
                        CmdError::StreamInvalidArgument("RETRYCOUNT option", "XCLAIM")
                    })?);
            } else if more && args.eat("LASTID") {
                c.last_id = Some(strict_id(args.next_slice()?)?);
            } else {
                return Err(CmdError::XclaimUnknownOption(lossy(opt)));
            }
        }
        Ok(c)
    }
}

impl WriteCommand for XClaim {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        check_group(db.read(), &self.key, &self.group, now)?;
        let opts = self.opts?;
        note_new_consumer(&mut db, &self.key, &self.group, &self.consumer, now);
        let Some(Value::Stream(s)) = db.value_mut_silent(&self.key, now) else {
            return Err(CmdError::Internal);
        };
        let delivery_time = match opts.delivered {
            None => now,
            Some(d) => {
                let t = match d {
                    DeliveredAt::IdleMs(idle) => (now as i128) - i128::from(idle),
                    DeliveredAt::UnixMs(t) => i128::from(t),
                };
                if t < 0 || t > now as i128 {
                    now
                } else {
                    t as u64
                }
            }
        };
        let claim = ClaimOptions {
            min_idle_ms: opts.min_idle_ms,
            delivery_time_ms: delivery_time,
            retry_count: opts.retry_count,
            force: opts.force,
            just_id: opts.just_id,
            last_id: opts.last_id,
        };
        let claimed = s.claim(&self.group, &self.consumer, &opts.ids, &claim, now);
        Ok(Reply::Array(
            claimed
                .into_iter()
                .map(|(id, f)| match (opts.just_id, f) {
                    (false, Some(f)) => entry_reply(id, &f),
                    _ => id_reply(id),
                })
                .collect(),
        ))
    }
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
struct XAutoClaim {
    key: Bytes,
    group: Bytes,
    consumer: Bytes,
    min_idle_ms: u64,
    start: StreamId,
    count: usize,
    just_id: bool,
}

impl Parse for XAutoClaim {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let group = args.next_bytes()?;
        let consumer = args.next_bytes()?;
        let min_idle =
            args.next_i64_or(CmdError::StreamInvalidArgument("min-idle-time", "XAUTOCLAIM"))?;
        let start = range_bound(args.next_slice()?, true)?;
        let (mut count, mut just_id) = (100usize, false);
        while !args.is_empty() {
            if args.remaining() >= 2 && args.eat("COUNT") {
                let n = args.next_i64_or(CmdError::StreamCountNotPositive)?;
                if !(1..=i64::MAX / 10).contains(&n) {
                    return Err(CmdError::StreamCountNotPositive);
                }
                count = usize::try_from(n).map_err(|_| CmdError::StreamCountNotPositive)?;
            } else if args.eat("JUSTID") {
                just_id = true;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(XAutoClaim {
            key,
            group,
            consumer,
            min_idle_ms: u64::try_from(min_idle).unwrap_or(0),
            start,
            count,
            just_id,
        })
    }
}

impl WriteCommand for XAutoClaim {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        check_group(db.read(), &self.key, &self.group, now)?;
        note_new_consumer(&mut db, &self.key, &self.group, &self.consumer, now);
        let Some(Value::Stream(s)) = db.value_mut_silent(&self.key, now) else {
            return Err(CmdError::Internal);
        };
        let r = s.auto_claim(
            &self.group,
            &self.consumer,
            self.min_idle_ms,
            self.start,
            self.count,
            self.just_id,
            now,
        );
        let claimed = r
            .claimed
            .into_iter()
            .map(|(id, f)| match (self.just_id, f) {
                (false, Some(f)) => entry_reply(id, &f),
                _ => id_reply(id),
            })
            .collect();
        Ok(Reply::Array(vec![
            id_reply(r.cursor),
            Reply::Array(claimed),
            Reply::Array(r.deleted.into_iter().map(id_reply).collect()),
        ]))
    }
}

// ---------------------------------------------------------------------------------------
// XINFO

/// `XINFO STREAM key [FULL [COUNT count]]`
struct XInfoStream {
    key: Bytes,
    /// `Some(count)` for FULL (0 = everything); an error in the options is reported after
    /// the key lookup, as in Redis.
    full: Result<Option<usize>, CmdError>,
}

impl Parse for XInfoStream {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let sub = typed_subcommand(args)?;
        let key = args.next_bytes()?;
        let full = Self::parse_full(args, &sub);
        args.take_rest();
        Ok(XInfoStream { key, full })
    }
}

impl XInfoStream {
    /// `[FULL [COUNT count]]`
    fn parse_full(args: &mut Args<'_>, sub: &str) -> Result<Option<usize>, CmdError> {
        let syntax = || CmdError::SubcommandSyntax(sub.to_string(), "XINFO");
        let mut full = None;
        if !args.is_empty() {
            if !args.eat("FULL") {
                return Err(syntax());
            }
            let mut count = 10usize;
            if !args.is_empty() {
                if args.remaining() != 2 || !args.eat("COUNT") {
                    return Err(syntax());
                }
                count = usize::try_from(args.next_i64()?).unwrap_or(0);
            }
            full = Some(count);
        }
        Ok(full)
    }
}

fn int(n: usize) -> Reply {
    Reply::Int(n as i64)
}

fn opt_int(n: Option<i64>) -> Reply {
    n.map_or(Reply::Null, Reply::Int)
}

/// A map entry; XINFO's keys are bulk strings.
fn field(name: &'static str, v: Reply) -> (Reply, Reply) {
    (Reply::Bulk(Bytes::from_static(name.as_bytes())), v)
}

impl ReadCommand for XInfoStream {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let s = stream_at(cx.db(), &self.key, cx.now_ms)?.ok_or(CmdError::NoSuchKey)?;
        let full = self.full?;
        let keys = s.node_count();
        let mut out = vec![
            field("length", int(s.len())),
            field("radix-tree-keys", int(keys)),
            field("radix-tree-nodes", int(keys + 1)),
            field("last-generated-id", id_reply(s.last_id)),
            field("max-deleted-entry-id", id_reply(s.max_deleted_id)),
            field("entries-added", Reply::Int(s.entries_added as i64)),
            field("recorded-first-entry-id", id_reply(s.first_id)),
        ];
        let Some(count) = full else {
            out.push(field("groups", int(s.groups.len())));
            let entry =
                |e: Option<(StreamId, Fields)>| e.map_or(Reply::Null, |(i, f)| entry_reply(i, &f));
            out.push(field("first-entry", entry(s.first_entry())));
            out.push(field("last-entry", entry(s.last_entry())));
            return Ok(Reply::Map(out));
        };
        let limit = if count == 0 { usize::MAX } else { count };
        out.push(field(
            "entries",
            entries_reply(s.range(StreamId::MIN, StreamId::MAX, count, false)),
        ));
        let mut groups = Vec::new();
        for (name, g) in &s.groups {
            let pel = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(p.consumer.clone()),
                        Reply::Int(p.delivery_time_ms as i64),
                        Reply::Int(p.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pending = c
                        .pending
                        .iter()
                        .take(limit)
                        .filter_map(|id| g.pel.get(id).map(|p| (id, p)))
                        .map(|(id, p)| {
                            Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(p.delivery_time_ms as i64),
                                Reply::Int(p.delivery_count as i64),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        field("name", Reply::Bulk(cname.clone())),
                        field("seen-time", Reply::Int(c.seen_time_ms as i64)),
                        field("active-time", Reply::Int(c.active_time_ms.map_or(-1, |t| t as i64))),
                        field("pel-count", int(c.pending.len())),
                        field("pending", Reply::Array(pending)),
                    ])
                })
                .collect();
            groups.push(Reply::Map(vec![
                field("name", Reply::Bulk(name.clone())),
                field("last-delivered-id", id_reply(g.last_id)),
                field("entries-read", opt_int(g.entries_read.map(|n| n as i64))),
                field("lag", opt_int(s.lag(g))),
                field("pel-count", int(g.pel.len())),
                field("pending", Reply::Array(pel)),
                field("consumers", Reply::Array(consumers)),
            ]));
        }
        out.push(field("groups", Reply::Array(groups)));
        Ok(Reply::Map(out))
    }
}

/// `XINFO GROUPS key`
struct XInfoGroups {
    key: Bytes,
}

impl Parse for XInfoGroups {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        typed_subcommand(args)?;
        Ok(XInfoGroups { key: args.next_bytes()? })
    }
}

impl ReadCommand for XInfoGroups {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let s = stream_at(cx.db(), &self.key, cx.now_ms)?.ok_or(CmdError::NoSuchKey)?;
        let groups = s
            .groups
            .iter()
            .map(|(name, g)| {
                Reply::Map(vec![
                    field("name", Reply::Bulk(name.clone())),
                    field("consumers", int(g.consumers.len())),
                    field("pending", int(g.pel.len())),
                    field("last-delivered-id", id_reply(g.last_id)),
                    field("entries-read", opt_int(g.entries_read.map(|n| n as i64))),
                    field("lag", opt_int(s.lag(g))),
                ])
            })
            .collect();
        Ok(Reply::Array(groups))
    }
}

/// `XINFO CONSUMERS key group`
struct XInfoConsumers {
    key: Bytes,
    group: Bytes,
}

impl Parse for XInfoConsumers {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        typed_subcommand(args)?;
        Ok(XInfoConsumers { key: args.next_bytes()?, group: args.next_bytes()? })
    }
}

impl ReadCommand for XInfoConsumers {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let s = stream_at(cx.db(), &self.key, now)?.ok_or(CmdError::NoSuchKey)?;
        let g = s.groups.get(&self.group).ok_or_else(|| CmdError::NoGroupForKey {
            group: lossy(&self.group),
            key: lossy(&self.key),
        })?;
        let consumers = g
            .consumers
            .iter()
            .map(|(name, c)| {
                let inactive = c.active_time_ms.map_or(-1, |t| now.saturating_sub(t) as i64);
                Reply::Map(vec![
                    field("name", Reply::Bulk(name.clone())),
                    field("pending", int(c.pending.len())),
                    field("idle", Reply::Int(now.saturating_sub(c.seen_time_ms) as i64)),
                    field("inactive", Reply::Int(inactive)),
                ])
            })
            .collect();
        Ok(Reply::Array(consumers))
    }
}

const HELP_XINFO: u8 = 0;
const HELP_XGROUP: u8 = 1;

/// `XINFO HELP` and `XGROUP HELP`
struct Help<const WHICH: u8>;

impl<const WHICH: u8> Parse for Help<WHICH> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        typed_subcommand(args)?;
        Ok(Help)
    }
}

impl<const WHICH: u8> ReadCommand for Help<WHICH> {
    fn run(self, _cx: &ReadCtx<'_>) -> CmdResult {
        const XINFO: &[&str] = &[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Print this help.",
        ];
        const XGROUP: &[&str] = &[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Print this help.",
        ];
        let lines = if WHICH == HELP_XINFO { XINFO } else { XGROUP };
        Ok(Reply::Array(lines.iter().map(|l| Reply::status(l)).collect()))
    }
}

// ---------------------------------------------------------------------------------------
// XGROUP

/// A group's start: `$` or an ID.
#[derive(Debug, Clone, Copy)]
enum GroupStart {
    Dollar,
    Id(StreamId),
}

/// CREATE's and SETID's arguments after the group name.
struct GroupStartArgs {
    /// The start, or the error Redis reports for it (a bad ID, too many options) once
    /// the key and group checks have passed.
    start: Result<GroupStart, CmdError>,
    mkstream: bool,
    entries_read: Option<u64>,
}

/// The `ENTRIESREAD` amount: at least -1, which (like no option) means unknown.
fn entries_read_arg(args: &mut Args<'_>) -> Result<Option<u64>, CmdError> {
    let n = args.next_i64()?;
    if n < -1 {
        return Err(CmdError::EntriesReadInvalid);
    }
    Ok(u64::try_from(n).ok())
}

/// Parses `id|$ [MKSTREAM] [ENTRIESREAD n]` of CREATE (`create`) and
/// `id|$ [ENTRIESREAD n]` of SETID; `sub` is the subcommand as typed.
fn parse_group_start(
    args: &mut Args<'_>,
    create: bool,
    sub: &str,
) -> Result<GroupStartArgs, CmdError> {
    let syntax = || CmdError::SubcommandSyntax(sub.to_string(), "XGROUP");
    let id_arg = args.next_slice()?;
    let (mut mkstream, mut entries_read) = (false, None);
    // CREATE reads any number of options but takes at most three option arguments,
    // which Redis checks only after the key.
    let too_many = create && args.remaining() > 3;
    if create {
        while !args.is_empty() {
            if args.eat("MKSTREAM") {
                mkstream = true;
            } else if args.remaining() >= 2 && args.eat("ENTRIESREAD") {
                entries_read = entries_read_arg(args)?;
            } else {
                return Err(syntax());
            }
        }
    } else {
        match args.remaining() {
            0 => {}
            2 if args.eat("ENTRIESREAD") => entries_read = entries_read_arg(args)?,
            _ => return Err(syntax()),
        }
    }
    // CREATE takes a strict ID; SETID also `-` and `+`.
    let start = match id_arg {
        _ if too_many => Err(syntax()),
        b"$" => Ok(GroupStart::Dollar),
        _ if create => strict_id(id_arg).map(GroupStart::Id),
        _ => loose_id(id_arg).map(GroupStart::Id),
    };
    Ok(GroupStartArgs { start, mkstream, entries_read })
}

impl GroupStart {
    fn resolve(self, s: &Stream) -> StreamId {
        match self {
            GroupStart::Dollar => s.last_id,
            GroupStart::Id(id) => id,
        }
    }
}

/// The stream at `key` for an XGROUP subcommand: it must exist.
fn xgroup_stream<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<&'a Stream, CmdError> {
    stream_at(db, key, now)?.ok_or(CmdError::XgroupNoKey)
}

/// `XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]`
struct XGroupCreate {
    key: Bytes,
    group: Bytes,
    opts: GroupStartArgs,
}

impl Parse for XGroupCreate {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let sub = typed_subcommand(args)?;
        let key = args.next_bytes()?;
        let group = args.next_bytes()?;
        let opts = parse_group_start(args, true, &sub)?;
        Ok(XGroupCreate { key, group, opts })
    }
}

impl WriteCommand for XGroupCreate {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        // Redis's order: the key, then the ID, then whether the group exists.
        let has_group = match stream_at(db.read(), &self.key, now)? {
            None if !self.opts.mkstream => return Err(CmdError::XgroupNoKey),
            None => None,
            Some(s) => Some(s.groups.contains_key(&self.group)),
        };
        let start = self.opts.start?;
        let entries_read = self.opts.entries_read;
        let group = |s: &Stream| crate::types::stream::Group::new(start.resolve(s), entries_read);
        match has_group {
            None => {
                let mut s = crate::keyspace::SharedValue::<Stream>::default();
                let g = group(&s);
                s.groups.insert(self.group, g);
                db.set(self.key, Value::Stream(s), None, "xgroup-create");
                return Ok(Reply::ok());
            }
            Some(true) => return Err(CmdError::BusyGroup),
            Some(false) => {}
        }
        let Some(Value::Stream(s)) = db.value_mut(&self.key, now, "xgroup-create") else {
            return Err(CmdError::Internal);
        };
        let g = group(s);
        s.groups.insert(self.group, g);
        Ok(Reply::ok())
    }
}

/// `XGROUP SETID key group id|$ [ENTRIESREAD entries-read]`
struct XGroupSetId {
    key: Bytes,
    group: Bytes,
    opts: GroupStartArgs,
}

impl Parse for XGroupSetId {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let sub = typed_subcommand(args)?;
        let key = args.next_bytes()?;
        let group = args.next_bytes()?;
        let opts = parse_group_start(args, false, &sub)?;
        Ok(XGroupSetId { key, group, opts })
    }
}

impl WriteCommand for XGroupSetId {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        let s = xgroup_stream(db.read(), &self.key, now)?;
        if !s.groups.contains_key(&self.group) {
            return Err(CmdError::NoGroupForKey {
                group: lossy(&self.group),
                key: lossy(&self.key),
            });
        }
        let start = self.opts.start?;
        let Some(Value::Stream(s)) = db.value_mut(&self.key, now, "xgroup-setid") else {
            return Err(CmdError::Internal);
        };
        let id = start.resolve(s);
        if let Some(g) = s.groups.get_mut(&self.group) {
            g.last_id = id;
            g.entries_read = self.opts.entries_read;
        }
        Ok(Reply::ok())
    }
}

/// `XGROUP DESTROY key group`
struct XGroupDestroy {
    key: Bytes,
    group: Bytes,
}

impl Parse for XGroupDestroy {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        typed_subcommand(args)?;
        Ok(XGroupDestroy { key: args.next_bytes()?, group: args.next_bytes()? })
    }
}

impl WriteCommand for XGroupDestroy {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        if !xgroup_stream(db.read(), &self.key, now)?.groups.contains_key(&self.group) {
            return Ok(Reply::Int(0));
        }
        let Some(Value::Stream(s)) = db.value_mut(&self.key, now, "xgroup-destroy") else {
            return Err(CmdError::Internal);
        };
        s.groups.remove(&self.group);
        Ok(Reply::Int(1))
    }
}

/// `XGROUP CREATECONSUMER key group consumer` and `XGROUP DELCONSUMER key group consumer`
struct XGroupConsumer {
    key: Bytes,
    group: Bytes,
    consumer: Bytes,
}

impl Parse for XGroupConsumer {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        typed_subcommand(args)?;
        Ok(XGroupConsumer {
            key: args.next_bytes()?,
            group: args.next_bytes()?,
            consumer: args.next_bytes()?,
        })
    }
}

impl XGroupConsumer {
    /// Checks key and group; returns whether the consumer exists.
    fn check(&self, db: &Db, now: u64) -> Result<bool, CmdError> {
        let s = xgroup_stream(db, &self.key, now)?;
        let g = s.groups.get(&self.group).ok_or_else(|| CmdError::NoGroupForKey {
            group: lossy(&self.group),
            key: lossy(&self.key),
        })?;
        Ok(g.consumers.contains_key(&self.consumer))
    }
}

struct XGroupCreateConsumer(XGroupConsumer);

impl Parse for XGroupCreateConsumer {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        XGroupConsumer::parse(args).map(XGroupCreateConsumer)
    }
}

impl WriteCommand for XGroupCreateConsumer {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let c = self.0;
        let now = cx.now_ms;
        let mut db = cx.db();
        if c.check(db.read(), now)? {
            return Ok(Reply::Int(0));
        }
        let Some(Value::Stream(s)) = db.value_mut(&c.key, now, "xgroup-createconsumer") else {
            return Err(CmdError::Internal);
        };
        if let Some(g) = s.groups.get_mut(&c.group) {
            g.consumer_mut(&c.consumer, now);
        }
        Ok(Reply::Int(1))
    }
}

struct XGroupDelConsumer(XGroupConsumer);

impl Parse for XGroupDelConsumer {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        XGroupConsumer::parse(args).map(XGroupDelConsumer)
    }
}

impl WriteCommand for XGroupDelConsumer {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let c = self.0;
        let now = cx.now_ms;
        let mut db = cx.db();
        if !c.check(db.read(), now)? {
            return Ok(Reply::Int(0));
        }
        let Some(Value::Stream(s)) = db.value_mut(&c.key, now, "xgroup-delconsumer") else {
            return Err(CmdError::Internal);
        };
        let pending = s.groups.get_mut(&c.group).and_then(|g| g.remove_consumer(&c.consumer));
        Ok(Reply::Int(pending.unwrap_or(0) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Exec;
    use crate::keyspace::Keyspace;

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
            may_block: true,
            shared: None,
            in_script: false,
        };
        (fns.apply)(&mut Args::new(&argv[skip..]), &mut cx).unwrap_or_else(Reply::Error)
    }

    fn events(ks: &mut Keyspace) -> Vec<&'static str> {
        ks.take_events().into_iter().map(|e| e.event).collect()
    }

    #[test]
    fn auto_ids_come_from_the_entry_clock() {
        let mut ks = Keyspace::new(1);
        assert_eq!(run(&mut ks, NOW, &["XADD", "s", "*", "f", "v"]), Reply::bulk("1000000-0"));
        assert_eq!(run(&mut ks, NOW, &["XADD", "s", "*", "f", "v"]), Reply::bulk("1000000-1"));
        // A clock that went back still gives increasing IDs.
        assert_eq!(run(&mut ks, NOW - 5, &["XADD", "s", "*", "f", "v"]), Reply::bulk("1000000-2"));
        assert_eq!(events(&mut ks), ["xadd", "xadd", "xadd"]);
    }

    #[test]
    fn failed_writes_record_no_events_and_change_nothing() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["XADD", "s", "5-0", "f", "v"]);
        run(&mut ks, NOW, &["XGROUP", "CREATE", "s", "g", "0"]);
        ks.take_events();
        let cases: &[&[&str]] = &[
            &["XADD", "s", "4-0", "f", "v"],
            &["XSETID", "s", "1-0"],
            &["XGROUP", "CREATE", "s", "g", "$"],
            &["XGROUP", "SETID", "s", "nog", "0"],
            &["XCLAIM", "s", "nog", "c", "0", "5-0"],
            &["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"],
            &["XDEL", "s", "9-0"],
            &["XTRIM", "s", "MAXLEN", "5"],
            &["XGROUP", "DESTROY", "s", "nog"],
        ];
        let before = ks.digest();
        for argv in cases {
            run(&mut ks, NOW, argv);
        }
        assert!(events(&mut ks).is_empty());
        assert_eq!(ks.digest(), before);
    }

    #[test]
    fn trimming_records_xtrim_after_xadd() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["XADD", "s", "1-0", "f", "v"]);
        run(&mut ks, NOW, &["XADD", "s", "MAXLEN", "1", "2-0", "f", "v"]);
        assert_eq!(events(&mut ks), ["xadd", "xadd", "xtrim"]);
        assert_eq!(run(&mut ks, NOW, &["XTRIM", "s", "MAXLEN", "0"]), Reply::Int(1));
        assert_eq!(events(&mut ks), ["xtrim"]);
        assert!(ks.db(0).get(b"s", NOW).is_some(), "an emptied stream stays");
    }

    #[test]
    fn xreadgroup_creates_the_consumer_with_an_event_and_records_delivery_times() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["XADD", "s", "1-0", "f", "v"]);
        run(&mut ks, NOW, &["XGROUP", "CREATE", "s", "g", "0"]);
        ks.take_events();
        run(&mut ks, NOW + 7, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
        assert_eq!(events(&mut ks), ["xgroup-createconsumer"]);
        let Some(Value::Stream(s)) = ks.db(0).get(b"s", NOW) else { panic!() };
        let g = &s.groups[&Bytes::from("g")];
        assert_eq!(g.pel[&StreamId::new(1, 0)].delivery_time_ms, NOW + 7);
        assert_eq!(g.entries_read, Some(1));
    }

    #[test]
    fn blocking_reads_return_blocked_with_the_keys() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, NOW, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let r = run(
            &mut ks,
            NOW,
            &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s", ">"],
        );
        match r {
            Reply::Blocked(b) => {
                assert_eq!(b.keys, vec![Bytes::from("s")]);
                assert_eq!(b.timeout_ms, 10);
                assert_eq!(*b.on_timeout, Reply::NullArray);
            }
            other => panic!("{other:?}"),
        }
    }
}
