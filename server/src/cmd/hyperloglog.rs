//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! HLLs are plain strings in Redis's representation ([`crate::types::hll`]), so values
//! move between Redis and Engram with GET / SET and count the same.
//!
//! Differences from Redis, by design:
//! - PFCOUNT is a read: it uses a valid cached cardinality but never writes one back
//!   (reads cannot mutate; Redis's PFCOUNT stores the estimate in the header).
//! - Writes use `hll-sparse-max-bytes` = 3000 (Redis's default): apply sees only the
//!   log entry, and the configured value is not part of it, so reading the node's
//!   config there would let replicas diverge.
//! - A write that meets a corrupted HLL changes nothing (Redis may keep the registers
//!   it updated before noticing).
//! - PFDEBUG checks its subcommand before the key (Redis checks the key first).

use crate::keyspace::StrValue;
use std::borrow::Cow;

use bytes::Bytes;

use crate::cmd::spec::{
    read, write, CmdResult, CommandSpec, Flags, Group, KeyFlags, KeySpec, Parse, ReadCommand,
    WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::{DbMut, Value};
use crate::reply::Reply;
use crate::types::hll::{self, Encoding, Hll, HllError, Registers, REGISTERS};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "pfadd",
        group: Group::HyperLogLog,
        summary: "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
        since: "2.8.9",
        complexity: "O(1) to add every element.",
        arity: -2,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::INSERT))],
        exec: write::<PfAdd>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pfcount",
        group: Group::HyperLogLog,
        summary: "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
        since: "2.8.9",
        complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[KeySpec::range(1, -1, 1, KeyFlags::RW.with(KeyFlags::ACCESS))],
        exec: read::<PfCount>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pfmerge",
        group: Group::HyperLogLog,
        summary: "Merges one or more HyperLogLog values into a single key.",
        since: "2.8.9",
        complexity: "O(N) to merge N HyperLogLogs, but with high constant times.",
        arity: -2,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[
            KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::INSERT)),
            KeySpec::range(2, -1, 1, KeyFlags::RO.with(KeyFlags::ACCESS)),
        ],
        exec: write::<PfMerge>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pfdebug",
        group: Group::HyperLogLog,
        summary: "Internal commands for debugging HyperLogLog values.",
        since: "2.8.9",
        complexity: "N/A",
        arity: 3,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::ADMIN),
        keys: &[KeySpec::single(2, KeyFlags::RW.with(KeyFlags::ACCESS))],
        exec: write::<PfDebug>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pfselftest",
        group: Group::HyperLogLog,
        summary: "An internal command for testing HyperLogLog values.",
        since: "2.8.9",
        complexity: "N/A",
        arity: 1,
        flags: Flags::ADMIN,
        exec: read::<PfSelfTest>(),
        ..CommandSpec::DEFAULT
    },
];

/// `hll-sparse-max-bytes` as apply uses it: Redis's default, until the value travels in
/// the entry or in `ApplyCtx` (as `max_bulk_len` does); see the module doc.
fn sparse_max_bytes(cx: &ApplyCtx<'_>) -> usize {
    usize::try_from(cx.hll_sparse_max_bytes).unwrap_or(hll::DEFAULT_SPARSE_MAX_BYTES)
}

fn hll_error(e: HllError) -> CmdError {
    match e {
        HllError::NotHll => CmdError::HllWrongType,
        HllError::Corrupted => CmdError::HllCorrupted,
    }
}

/// The HLL string of a value: WRONGTYPE for other types (Redis's generic text) and for
/// strings that are not HLLs (the HLL text).
fn hll_bytes(v: &Value) -> Result<Bytes, CmdError> {
    let s = v.as_str()?;
    hll::check(s).map_err(hll_error)?;
    Ok(s.to_bytes())
}

/// The HLL at `key` in a writable database, if any (checked).
fn load(db: &mut DbMut<'_>, key: &[u8], now_ms: u64) -> Result<Option<Bytes>, CmdError> {
    db.get(key, now_ms).map(hll_bytes).transpose()
}

/// Writes `hll` to `key`: a new key has no TTL, an existing one keeps its own.
fn store(db: &mut DbMut<'_>, key: &Bytes, hll: Hll, exists: bool, now_ms: u64) {
    let value = Value::Str(StrValue::from(hll.into_bytes()));
    if exists {
        if let Some(slot) = db.value_mut(key, now_ms, "pfadd") {
            *slot = value;
        }
    } else {
        db.set(key.clone(), value, None, "pfadd");
    }
}

/// `PFADD key [element [element ...]]`
struct PfAdd {
    key: Bytes,
    elements: Vec<Bytes>,
}

impl Parse for PfAdd {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        Ok(PfAdd { key, elements: args.take_rest().to_vec() })
    }
}

impl WriteCommand for PfAdd {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let (now_ms, max_sparse) = (cx.now_ms, sparse_max_bytes(cx));
        let mut db = cx.db();
        let old = load(&mut db, &self.key, now_ms)?;
        let mut hll = match &old {
            Some(s) => Hll::from_bytes(s).map_err(hll_error)?,
            None => Hll::new(),
        };
        let mut updated = old.is_none();
        for e in &self.elements {
            updated |= hll.add(e, max_sparse).map_err(hll_error)?;
        }
        if updated {
            hll.invalidate_cache();
        }
        // Unchanged bytes (nothing new, no promotion) are not a write.
        if old.as_deref() != Some(hll.as_bytes()) {
            store(&mut db, &self.key, hll, old.is_some(), now_ms);
        }
        Ok(Reply::Int(i64::from(updated)))
    }
}

/// `PFCOUNT key [key ...]`
struct PfCount {
    keys: Vec<Bytes>,
}

impl Parse for PfCount {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(PfCount { keys: args.take_rest().to_vec() })
    }
}

impl ReadCommand for PfCount {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let db = cx.db();
        if let [key] = self.keys.as_slice() {
            let Some(v) = db.get(key, cx.now_ms) else { return Ok(Reply::Int(0)) };
            let s = hll_bytes(v)?;
            let card = match hll::cached_count(&s) {
                Some(card) => card,
                None => hll::count(&s).map_err(hll_error)?,
            };
            return Ok(Reply::Int(card as i64));
        }
        // Several keys: the union goes into a temporary and is never cached.
        let mut union = Registers::default();
        for key in &self.keys {
            if let Some(v) = db.get(key, cx.now_ms) {
                union.merge(&hll_bytes(v)?).map_err(hll_error)?;
            }
        }
        Ok(Reply::Int(union.count() as i64))
    }
}

/// `PFMERGE destkey [sourcekey [sourcekey ...]]`
struct PfMerge {
    dest: Bytes,
    sources: Vec<Bytes>,
}

impl Parse for PfMerge {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let dest = args.next_bytes()?;
        Ok(PfMerge { dest, sources: args.take_rest().to_vec() })
    }
}

impl WriteCommand for PfMerge {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let (now_ms, max_sparse) = (cx.now_ms, sparse_max_bytes(cx));
        let mut db = cx.db();
        // The destination takes part in the union, as in Redis.
        let mut union = Registers::default();
        let mut use_dense = false;
        for key in std::iter::once(&self.dest).chain(&self.sources) {
            if let Some(s) = load(&mut db, key, now_ms)? {
                use_dense |= hll::check(&s) == Ok(Encoding::Dense);
                union.merge(&s).map_err(hll_error)?;
            }
        }
        let old = load(&mut db, &self.dest, now_ms)?;
        let mut hll = match &old {
            Some(s) => Hll::from_bytes(s).map_err(hll_error)?,
            None => Hll::new(),
        };
        if use_dense {
            hll.to_dense().map_err(hll_error)?;
        }
        // In register order, so a sparse result grows (and maybe turns dense) as
        // Redis's does.
        for (i, &v) in union.0.iter().enumerate().take(REGISTERS) {
            if v != 0 {
                hll.set(i, v, max_sparse).map_err(hll_error)?;
            }
        }
        hll.invalidate_cache();
        store(&mut db, &self.dest, hll, old.is_some(), now_ms);
        Ok(Reply::ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DebugSub {
    GetReg,
    Decode,
    Encoding,
    ToDense,
}

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`
struct PfDebug {
    sub: DebugSub,
    key: Bytes,
}

impl Parse for PfDebug {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let sub = if args.eat("GETREG") {
            DebugSub::GetReg
        } else if args.eat("DECODE") {
            DebugSub::Decode
        } else if args.eat("ENCODING") {
            DebugSub::Encoding
        } else if args.eat("TODENSE") {
            DebugSub::ToDense
        } else {
            let name = args.next_slice()?;
            let name = String::from_utf8_lossy(&name[..name.len().min(128)]).into_owned();
            return Err(CmdError::HllUnknownDebug(name));
        };
        Ok(PfDebug { sub, key: args.next_bytes()? })
    }
}

impl WriteCommand for PfDebug {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let s = load(&mut db, &self.key, now_ms)?.ok_or(CmdError::HllNoSuchKey)?;
        match self.sub {
            DebugSub::Encoding => {
                let enc = hll::check(&s).map_err(hll_error)?;
                Ok(Reply::status(enc.name()))
            }
            DebugSub::Decode => {
                if hll::check(&s) != Ok(Encoding::Sparse) {
                    return Err(CmdError::HllNotSparse);
                }
                Ok(Reply::Status(Cow::Owned(hll::decode_sparse(&s))))
            }
            DebugSub::GetReg | DebugSub::ToDense => {
                // Both leave the key dense, as in Redis.
                let mut hll = Hll::from_bytes(&s).map_err(hll_error)?;
                let converted = hll.to_dense().map_err(hll_error)?;
                let reply = if self.sub == DebugSub::GetReg {
                    let regs = hll::registers(hll.as_bytes()).map_err(hll_error)?;
                    Reply::Array(regs.0.iter().map(|&r| Reply::Int(i64::from(r))).collect())
                } else {
                    Reply::Int(i64::from(converted))
                };
                if converted {
                    store(&mut db, &self.key, hll, true, now_ms);
                }
                Ok(reply)
            }
        }
    }
}

/// `PFSELFTEST`
struct PfSelfTest;

impl Parse for PfSelfTest {
    fn parse(_args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(PfSelfTest)
    }
}

impl ReadCommand for PfSelfTest {
    fn run(self, _cx: &ReadCtx<'_>) -> CmdResult {
        hll::self_test(0x5eed).map_err(CmdError::HllSelfTest)?;
        Ok(Reply::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Keyspace;

    fn argv(args: &[&str]) -> Vec<Bytes> {
        args.iter().map(|a| Bytes::from(a.to_string())).collect()
    }

    fn apply<C: WriteCommand>(ks: &mut Keyspace, args: &[&str]) -> CmdResult {
        let argv = argv(args);
        let mut a = Args::new(&argv);
        let cmd = C::parse(&mut a)?;
        a.finish()?;
        let mut cx = ApplyCtx {
            ks,
            db: 0,
            now_ms: 1000,
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
        cmd.apply(&mut cx)
    }

    fn value(ks: &Keyspace, key: &str) -> Bytes {
        ks.db(0).get(key.as_bytes(), 1000).unwrap().as_str().unwrap().to_bytes()
    }

    fn set(ks: &mut Keyspace, key: &str, v: &[u8]) {
        ks.db_mut(0).set(Bytes::from(key.to_string()), Value::Str(StrValue::new(v)), None, "set");
        ks.take_events();
    }

    #[test]
    fn pfadd_reports_changes_and_creates_empty_hlls() {
        let mut ks = Keyspace::new(1);
        assert_eq!(apply::<PfAdd>(&mut ks, &["h"]), Ok(Reply::Int(1)));
        assert_eq!(apply::<PfAdd>(&mut ks, &["h"]), Ok(Reply::Int(0)));
        assert_eq!(apply::<PfAdd>(&mut ks, &["h", "a", "b", "c"]), Ok(Reply::Int(1)));
        ks.take_events();
        assert_eq!(apply::<PfAdd>(&mut ks, &["h", "a", "b", "c"]), Ok(Reply::Int(0)));
        assert!(ks.take_events().is_empty(), "no change, no event");
        assert_eq!(hll::count(&value(&ks, "h")), Ok(3));
    }

    #[test]
    fn errors_change_nothing() {
        let mut ks = Keyspace::new(1);
        set(&mut ks, "s", b"not an hll");
        assert_eq!(apply::<PfAdd>(&mut ks, &["s", "x"]), Err(CmdError::HllWrongType));
        apply::<PfAdd>(&mut ks, &["h", "a"]).unwrap();
        let mut corrupt = value(&ks, "h").to_vec();
        corrupt.extend_from_slice(b"hello");
        set(&mut ks, "c", &corrupt);
        for args in [&["d", "h", "s"][..], &["d", "h", "c"], &["s", "h"]] {
            let e = apply::<PfMerge>(&mut ks, args).unwrap_err();
            assert!(matches!(e, CmdError::HllWrongType | CmdError::HllCorrupted), "{e}");
            assert!(ks.take_events().is_empty(), "{args:?}");
        }
        assert!(ks.db(0).get(b"d", 1000).is_none());
        assert_eq!(apply::<PfDebug>(&mut ks, &["todense", "c"]), Err(CmdError::HllCorrupted));
        assert_eq!(apply::<PfDebug>(&mut ks, &["getreg", "nokey"]), Err(CmdError::HllNoSuchKey));
        assert_eq!(
            apply::<PfDebug>(&mut ks, &["foo", "h"]),
            Err(CmdError::HllUnknownDebug("foo".into()))
        );
        assert!(ks.take_events().is_empty());
    }

    #[test]
    fn pfmerge_unions_sparse_and_dense_into_the_destination() {
        let mut ks = Keyspace::new(1);
        apply::<PfAdd>(&mut ks, &["a", "1", "2", "3"]).unwrap();
        apply::<PfAdd>(&mut ks, &["b", "3", "4", "5"]).unwrap();
        apply::<PfDebug>(&mut ks, &["todense", "b"]).unwrap();
        apply::<PfAdd>(&mut ks, &["d", "6"]).unwrap();
        assert_eq!(apply::<PfMerge>(&mut ks, &["d", "a", "b", "missing"]), Ok(Reply::ok()));
        let d = value(&ks, "d");
        assert_eq!(hll::check(&d), Ok(Encoding::Dense));
        assert_eq!(hll::count(&d), Ok(6));
        assert_eq!(apply::<PfMerge>(&mut ks, &["e", "a"]), Ok(Reply::ok()));
        assert_eq!(hll::check(&value(&ks, "e")), Ok(Encoding::Sparse));
        assert_eq!(value(&ks, "e")[16..], value(&ks, "a")[16..]);
        assert_eq!(apply::<PfMerge>(&mut ks, &["empty"]), Ok(Reply::ok()));
        assert_eq!(hll::count(&value(&ks, "empty")), Ok(0));
    }

    #[test]
    fn pfdebug_reports_and_converts() {
        let mut ks = Keyspace::new(1);
        apply::<PfAdd>(&mut ks, &["h", "a", "b", "c"]).unwrap();
        assert_eq!(apply::<PfDebug>(&mut ks, &["ENCODING", "h"]), Ok(Reply::status("sparse")));
        assert_eq!(
            apply::<PfDebug>(&mut ks, &["decode", "h"]),
            Ok(Reply::Status("Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603".into()))
        );
        let Ok(Reply::Array(regs)) = apply::<PfDebug>(&mut ks, &["getreg", "h"]) else {
            panic!("getreg")
        };
        assert_eq!(regs.len(), REGISTERS);
        assert_eq!(regs[8436], Reply::Int(1));
        assert_eq!(apply::<PfDebug>(&mut ks, &["encoding", "h"]), Ok(Reply::status("dense")));
        assert_eq!(apply::<PfDebug>(&mut ks, &["todense", "h"]), Ok(Reply::Int(0)));
        assert_eq!(apply::<PfDebug>(&mut ks, &["decode", "h"]), Err(CmdError::HllNotSparse));
    }
}
