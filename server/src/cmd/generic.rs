//! Keyspace commands: DEL, EXISTS, EXPIRE and friends, SCAN, RENAME, ...

use bytes::Bytes;

use crate::cmd::spec::{
    read, write, CmdResult, CommandSpec, Flags, Group, KeyFlags, KeySpec, Parse, ReadCommand,
    WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::reply::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        group: Group::Generic,
        summary: "Deletes one or more keys.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys that will be removed.",
        arity: -2,
        flags: Flags::WRITE,
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
];

/// `DEL key [key ...]`
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
        let n = self.keys.iter().filter(|k| db.remove(k, now_ms, "del").is_some()).count();
        Ok(Reply::Int(n as i64))
    }
}

/// `EXISTS key [key ...]`
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
