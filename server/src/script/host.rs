//! What `redis.call` reaches: the keyspace, through the same handlers clients use. In
//! apply ([`ApplyHost`]) writes run as log-applied writes with the entry's time and a
//! seed per call; on the read path ([`ReadHost`]) only reads are allowed.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::cmd::{self, ApplyCtx, Args, CommandSpec, Exec, Flags, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::state::Shared;

/// The keyspace as a script sees it.
pub trait Host {
    /// Runs one command for `redis.call` / `redis.pcall`; errors are error replies.
    /// `may_write` is asked right before a write runs; false (the script was killed
    /// meanwhile) refuses it.
    fn call(&mut self, argv: &[Bytes], may_write: &mut dyn FnMut() -> bool) -> Reply;
}

fn custom(text: &str) -> Reply {
    Reply::Error(CmdError::Custom(text.to_string()))
}

/// The checks Redis makes before a script's command runs, in its order: the command
/// (spec, stats id, name arguments), or the refusal and the refused command's id.
#[allow(clippy::type_complexity)]
fn resolve(
    argv: &[Bytes],
    refuse_writes: Option<&str>,
) -> Result<(&'static CommandSpec, usize, usize), (Reply, Option<usize>)> {
    let (spec, id, skip) = cmd::resolve(argv).map_err(|e| match e {
        CmdError::WrongArity(_) => {
            (custom("ERR Wrong number of args calling Redis command from script"), None)
        }
        _ => (custom("ERR Unknown Redis command called from script"), None),
    })?;
    if spec.flags.has(Flags::NOSCRIPT) {
        return Err((custom("ERR This Redis command is not allowed from script"), Some(id)));
    }
    if let (Some(text), true) = (refuse_writes, spec.is_write()) {
        return Err((custom(text), Some(id)));
    }
    Ok((spec, id, skip))
}

/// `INFO commandstats` / `errorstats` for a command a script called, as Redis counts
/// them: a refused command is a rejected call, a run one a call (failed if it erred),
/// and its error is counted here, once (the script's reply does not count it again).
fn count(shared: Option<&Arc<Shared>>, id: Option<usize>, reply: &Reply, rejected: bool) {
    let Some(shared) = shared else { return };
    if let Reply::Error(e) = reply {
        shared.stats.error(e.code());
    }
    let Some(cmd) = id.and_then(|id| shared.stats.commands.get(id)) else { return };
    if rejected {
        cmd.rejected_calls.fetch_add(1, Ordering::Relaxed);
        return;
    }
    cmd.calls.fetch_add(1, Ordering::Relaxed);
    if reply.is_error() {
        cmd.failed_calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// Session commands a script may call; what they mean inside a script.
enum ScriptSession {
    Select(usize),
    Reply(Reply),
}

fn session_command(
    spec: &CommandSpec,
    args: &[Bytes],
    databases: usize,
    now_ms: u64,
) -> Result<ScriptSession, Reply> {
    match spec.name {
        "select" => crate::cmd::transactions::select_target(spec, args, databases)
            .map(ScriptSession::Select)
            .ok_or(Reply::Error(CmdError::DbIndexOutOfRange)),
        "ping" => Ok(ScriptSession::Reply(match args.first() {
            None => Reply::status("PONG"),
            Some(msg) => Reply::Bulk(msg.clone()),
        })),
        "echo" => Ok(ScriptSession::Reply(Reply::Bulk(args.first().cloned().unwrap_or_default()))),
        // Never blocks inside a script; nothing to wait for on a single node.
        "wait" => Ok(ScriptSession::Reply(Reply::Int(0))),
        "waitaof" => Ok(ScriptSession::Reply(Reply::Array(vec![Reply::Int(0), Reply::Int(0)]))),
        // The entry's time: a script's TIME is the same on every replica and on replay.
        "time" => Ok(ScriptSession::Reply(Reply::Array(vec![
            Reply::bulk_int((now_ms / 1000) as i64),
            Reply::bulk_int(((now_ms % 1000) * 1000) as i64),
        ]))),
        _ => Err(custom("ERR This Redis command is not allowed from script")),
    }
}

/// What a read-only script's write gets.
pub const READ_ONLY_REFUSAL: &str = "ERR Write commands are not allowed from read-only scripts.";

/// What a script's write gets while `min-replicas-to-write` is not met (the script runs
/// on the read path then, so the write never reaches the log).
pub const NO_REPLICAS_REFUSAL: &str = "NOREPLICAS Not enough good replicas to write.";

/// Whether a command that may grow memory must be refused (`maxmemory`, noeviction).
fn refused_for_memory(spec: &CommandSpec, shared: Option<&Arc<Shared>>, allow_oom: bool) -> bool {
    !allow_oom
        && spec.flags.has(Flags::DENYOOM)
        && shared.is_some_and(|s| crate::dispatch::over_maxmemory(s))
}

/// A script running in apply (EVAL, EVALSHA, FCALL through the log).
pub struct ApplyHost<'a, 'b> {
    pub cx: &'a mut ApplyCtx<'b>,
    pub shared: Option<&'a Arc<Shared>>,
    /// Function declared `no-writes` but reached through the log (inside MULTI).
    pub read_only: bool,
    pub allow_oom: bool,
    calls: u64,
    base_seed: u64,
}

impl<'a, 'b> ApplyHost<'a, 'b> {
    /// A host over `cx`.
    pub fn new(cx: &'a mut ApplyCtx<'b>, shared: Option<&'a Arc<Shared>>) -> Self {
        let base_seed = cx.seed;
        cx.in_script = true;
        Self { cx, shared, read_only: false, allow_oom: false, calls: 0, base_seed }
    }
}

impl Host for ApplyHost<'_, '_> {
    fn call(&mut self, argv: &[Bytes], may_write: &mut dyn FnMut() -> bool) -> Reply {
        let (spec, id, skip) = match resolve(argv, self.read_only.then_some(READ_ONLY_REFUSAL)) {
            Ok(found) => found,
            Err((reply, id)) => {
                count(self.shared, id, &reply, true);
                return reply;
            }
        };
        if refused_for_memory(spec, self.shared, self.allow_oom) {
            let reply = Reply::Error(CmdError::Oom);
            count(self.shared, Some(id), &reply, true);
            return reply;
        }
        let reply = self.run(spec, skip, argv, may_write);
        count(self.shared, Some(id), &reply, false);
        reply
    }
}

impl ApplyHost<'_, '_> {
    fn run(
        &mut self,
        spec: &'static CommandSpec,
        skip: usize,
        argv: &[Bytes],
        may_write: &mut dyn FnMut() -> bool,
    ) -> Reply {
        self.calls += 1;
        // SPOP / SRANDMEMBER in one script must not repeat the same draw.
        self.cx.seed = self.base_seed ^ crate::rng::Rng::new(self.calls).next_u64();
        match spec.exec {
            Exec::Write(fns) => {
                if !may_write() {
                    return custom("ERR Script killed by user with SCRIPT KILL...");
                }
                let reply = (fns.apply)(&mut Args::new(&argv[skip..]), self.cx)
                    .unwrap_or_else(Reply::Error);
                let now_ms = self.cx.now_ms;
                self.cx.ks.sync_search(now_ms);
                reply
            }
            Exec::Read(f) => {
                let Some(shared) = self.shared else { return Reply::Error(CmdError::Internal) };
                let cx = ReadCtx {
                    ks: self.cx.ks,
                    db: self.cx.db,
                    now_ms: self.cx.now_ms,
                    shared,
                    may_block: false,
                    // Later writes may depend on what a random read drew.
                    seed: Some(self.cx.seed),
                    in_script: true,
                };
                f(&mut Args::new(&argv[skip..]), &cx).unwrap_or_else(Reply::Error)
            }
            Exec::Session(_) => {
                match session_command(spec, &argv[skip..], self.cx.ks.len(), self.cx.now_ms) {
                    Ok(ScriptSession::Select(db)) => {
                        self.cx.db = db;
                        Reply::ok()
                    }
                    Ok(ScriptSession::Reply(r)) | Err(r) => r,
                }
            }
            Exec::Container => Reply::Error(CmdError::Internal),
        }
    }
}

/// A read-only script on the read path (EVAL_RO, FCALL_RO, `no-writes`).
pub struct ReadHost<'a> {
    pub ks: &'a Keyspace,
    pub db: usize,
    pub now_ms: u64,
    pub shared: &'a Arc<Shared>,
    /// The error a write gets ([`READ_ONLY_REFUSAL`] or [`NO_REPLICAS_REFUSAL`]).
    pub write_refusal: &'static str,
}

impl Host for ReadHost<'_> {
    fn call(&mut self, argv: &[Bytes], _may_write: &mut dyn FnMut() -> bool) -> Reply {
        let (spec, id, skip) = match resolve(argv, Some(self.write_refusal)) {
            Ok(found) => found,
            Err((reply, id)) => {
                count(Some(self.shared), id, &reply, true);
                return reply;
            }
        };
        let reply = self.run(spec, skip, argv);
        count(Some(self.shared), Some(id), &reply, false);
        reply
    }
}

impl ReadHost<'_> {
    fn run(&mut self, spec: &'static CommandSpec, skip: usize, argv: &[Bytes]) -> Reply {
        match spec.exec {
            Exec::Read(f) => {
                let cx = ReadCtx {
                    ks: self.ks,
                    db: self.db,
                    now_ms: self.now_ms,
                    shared: self.shared,
                    may_block: false,
                    seed: None,
                    in_script: true,
                };
                f(&mut Args::new(&argv[skip..]), &cx).unwrap_or_else(Reply::Error)
            }
            Exec::Session(_) => {
                match session_command(spec, &argv[skip..], self.ks.len(), self.now_ms) {
                    Ok(ScriptSession::Select(db)) => {
                        self.db = db;
                        Reply::ok()
                    }
                    Ok(ScriptSession::Reply(r)) | Err(r) => r,
                }
            }
            Exec::Write(_) | Exec::Container => Reply::Error(CmdError::Internal),
        }
    }
}
