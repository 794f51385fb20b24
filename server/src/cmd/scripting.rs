//! Scripting and functions. Only `FUNCTION FLUSH` exists until the scripting issue: with
//! no function libraries in the state there is nothing to flush, and Redis's own test
//! harness calls it before every unit.

use crate::cmd::spec::{write, CmdResult, CommandSpec, Flags, Group, Parse, WriteCommand};
use crate::cmd::{ApplyCtx, Args};
use crate::error::CmdError;
use crate::reply::Reply;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "function",
    group: Group::Scripting,
    summary: "A container for function commands.",
    since: "7.0.0",
    complexity: "Depends on subcommand.",
    arity: -2,
    subcommands: &[CommandSpec {
        name: "flush",
        group: Group::Scripting,
        summary: "Deletes all libraries and functions.",
        since: "7.0.0",
        complexity: "O(N) where N is the number of functions deleted",
        arity: -2,
        flags: Flags::WRITE.with(Flags::NOSCRIPT),
        exec: write::<FunctionFlush>(),
        ..CommandSpec::DEFAULT
    }],
    ..CommandSpec::DEFAULT
}];

/// `FUNCTION FLUSH [ASYNC | SYNC]`
struct FunctionFlush;

impl Parse for FunctionFlush {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if !args.is_empty() && !args.eat("ASYNC") && !args.eat("SYNC") || args.remaining() > 0 {
            return Err(CmdError::err("FUNCTION FLUSH only supports SYNC|ASYNC option"));
        }
        Ok(FunctionFlush)
    }
}

impl WriteCommand for FunctionFlush {
    fn apply(self, _cx: &mut ApplyCtx<'_>) -> CmdResult {
        Ok(Reply::ok())
    }
}
