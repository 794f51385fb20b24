//! Scripting and functions: EVAL / EVALSHA / FCALL (through the log: one entry, run in
//! apply), their `_RO` forms and `no-writes` scripts (on the read path), SCRIPT and
//! FUNCTION. The engine is `crate::script`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::cmd::spec::{
    read, write, BeginSearch, CmdResult, CommandSpec, Exec, FindKeys, Flags, Group, KeyFlags,
    KeySpec, Parse, ReadCommand, WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx, SessionCtx};
use crate::error::CmdError;
use crate::reply::Reply;
use crate::script::host::{ApplyHost, ReadHost, NO_REPLICAS_REFUSAL, READ_ONLY_REFUSAL};
use crate::script::runtime::RunInfo;
use crate::script::vm::{self, Invocation, Tracking};
use crate::script::{eval_shebang, sha1_hex, ScriptFlags};
use crate::session::Session;
use crate::state::Shared;

const RUN_FLAGS: Flags = Flags::NOSCRIPT
    .with(Flags::STALE)
    .with(Flags::SKIP_MONITOR)
    .with(Flags::NO_MANDATORY_KEYS)
    .with(Flags::MOVABLE_KEYS);

const RW_KEYS: &[KeySpec] = &[KeySpec {
    begin: BeginSearch::Index(2),
    find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 },
    flags: KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE),
}];

const RO_KEYS: &[KeySpec] = &[KeySpec {
    begin: BeginSearch::Index(2),
    find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 },
    flags: KeyFlags::RO.with(KeyFlags::ACCESS),
}];

const fn run_spec(
    name: &'static str,
    summary: &'static str,
    since: &'static str,
    read_only: bool,
    exec: Exec,
) -> CommandSpec {
    CommandSpec {
        name,
        group: Group::Scripting,
        summary,
        since,
        complexity: "Depends on the script that is executed.",
        arity: -3,
        flags: if read_only { RUN_FLAGS.with(Flags::READONLY) } else { RUN_FLAGS },
        keys: if read_only { RO_KEYS } else { RW_KEYS },
        exec,
        ..CommandSpec::DEFAULT
    }
}

const fn sub(
    name: &'static str,
    summary: &'static str,
    arity: i32,
    flags: Flags,
    exec: Exec,
) -> CommandSpec {
    CommandSpec {
        name,
        group: Group::Scripting,
        summary,
        since: "7.0.0",
        complexity: "O(1)",
        arity,
        flags,
        exec,
        ..CommandSpec::DEFAULT
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    run_spec("eval", "Executes a server-side Lua script.", "2.6.0", false, write::<Eval>()),
    run_spec(
        "evalsha",
        "Executes a server-side Lua script by SHA1 digest.",
        "2.6.0",
        false,
        write::<EvalSha>(),
    ),
    run_spec(
        "eval_ro",
        "Executes a read-only server-side Lua script.",
        "7.0.0",
        true,
        read::<EvalRo>(),
    ),
    run_spec(
        "evalsha_ro",
        "Executes a read-only server-side Lua script by SHA1 digest.",
        "7.0.0",
        true,
        read::<EvalShaRo>(),
    ),
    run_spec("fcall", "Invokes a function.", "7.0.0", false, write::<Fcall>()),
    run_spec("fcall_ro", "Invokes a read-only function.", "7.0.0", true, read::<FcallRo>()),
    CommandSpec {
        name: "script",
        group: Group::Scripting,
        summary: "A container for Lua scripts management commands.",
        since: "2.6.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: &[
            CommandSpec {
                since: "3.2.0",
                ..sub(
                    "debug",
                    "Sets the debug mode of server-side Lua scripts.",
                    3,
                    Flags::NOSCRIPT,
                    Exec::Session(script_debug),
                )
            },
            CommandSpec {
                since: "2.6.0",
                complexity: "O(N) with N being the number of scripts in cache",
                ..sub(
                    "flush",
                    "Removes all server-side Lua scripts from the script cache.",
                    -2,
                    Flags::NOSCRIPT,
                    write::<ScriptFlush>(),
                )
            },
            CommandSpec {
                since: "5.0.0",
                ..sub(
                    "help",
                    "Returns helpful text about the different subcommands.",
                    2,
                    Flags::LOADING.with(Flags::STALE),
                    Exec::Session(script_help),
                )
            },
            CommandSpec {
                since: "2.6.0",
                complexity: "O(N) with N being the number of scripts to check (so checking a \
                             single script is an O(1) operation).",
                ..sub(
                    "exists",
                    "Determines whether server-side Lua scripts exist in the script cache.",
                    -3,
                    Flags::NOSCRIPT,
                    read::<ScriptExists>(),
                )
            },
            CommandSpec {
                since: "2.6.0",
                complexity: "O(N) with N being the length in bytes of the script body.",
                ..sub(
                    "load",
                    "Loads a server-side Lua script to the script cache.",
                    3,
                    Flags::NOSCRIPT.with(Flags::STALE),
                    write::<ScriptLoad>(),
                )
            },
            CommandSpec {
                since: "2.6.0",
                ..sub(
                    "kill",
                    "Terminates a server-side Lua script during execution.",
                    2,
                    Flags::NOSCRIPT.with(Flags::ALLOW_BUSY),
                    Exec::Session(script_kill),
                )
            },
        ],
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "function",
        group: Group::Scripting,
        summary: "A container for function commands.",
        since: "7.0.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: &[
            sub(
                "help",
                "Returns helpful text about the different subcommands.",
                2,
                Flags::LOADING.with(Flags::STALE),
                Exec::Session(function_help),
            ),
            CommandSpec {
                complexity: "O(N) where N is the number of functions",
                ..sub(
                    "list",
                    "Returns information about all libraries.",
                    -2,
                    Flags::NOSCRIPT,
                    read::<FunctionList>(),
                )
            },
            sub(
                "delete",
                "Deletes a library and its functions.",
                3,
                Flags::WRITE.with(Flags::NOSCRIPT),
                write::<FunctionDelete>(),
            ),
            CommandSpec {
                complexity: "O(N) where N is the number of functions",
                ..sub(
                    "dump",
                    "Dumps all libraries into a serialized binary payload.",
                    2,
                    Flags::NOSCRIPT,
                    read::<FunctionDump>(),
                )
            },
            CommandSpec {
                complexity: "O(N) where N is the number of functions on the payload",
                ..sub(
                    "restore",
                    "Restores all libraries from a payload.",
                    -3,
                    Flags::WRITE.with(Flags::DENYOOM).with(Flags::NOSCRIPT),
                    write::<FunctionRestore>(),
                )
            },
            CommandSpec {
                complexity: "O(1) (considering compilation time is redundant)",
                ..sub(
                    "load",
                    "Creates a library.",
                    -3,
                    Flags::WRITE.with(Flags::DENYOOM).with(Flags::NOSCRIPT),
                    write::<FunctionLoad>(),
                )
            },
            CommandSpec {
                complexity: "O(N) where N is the number of functions deleted",
                ..sub(
                    "flush",
                    "Deletes all libraries and functions.",
                    -2,
                    Flags::WRITE.with(Flags::NOSCRIPT),
                    write::<FunctionFlush>(),
                )
            },
            sub(
                "kill",
                "Terminates a function during execution.",
                2,
                Flags::NOSCRIPT.with(Flags::ALLOW_BUSY),
                Exec::Session(function_kill),
            ),
            sub(
                "stats",
                "Returns information about a function during execution.",
                2,
                Flags::NOSCRIPT.with(Flags::ALLOW_BUSY),
                Exec::Session(function_stats),
            ),
        ],
        ..CommandSpec::DEFAULT
    },
];

/// Scripting commands that go through the log without Redis's `write` flag (it would
/// make replicas and clients treat every EVAL as a plain write).
pub const LOGGED_WITHOUT_WRITE_FLAG: &[&str] = &["eval", "evalsha", "fcall", "flush", "load"];

/// `<script or name> numkeys key... arg...`, as EVAL and FCALL take them.
struct Call {
    target: Bytes,
    keys: Vec<Bytes>,
    args: Vec<Bytes>,
}

impl Parse for Call {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let target = args.next_bytes()?;
        let numkeys = args.next_i64()?;
        if numkeys < 0 {
            return Err(CmdError::err("Number of keys can't be negative"));
        }
        if numkeys as u64 > args.remaining() as u64 {
            return Err(CmdError::err("Number of keys can't be greater than number of args"));
        }
        let (keys, rest) = args.take_rest().split_at(numkeys as usize);
        Ok(Call { target, keys: keys.to_vec(), args: rest.to_vec() })
    }
}

fn noscript() -> CmdError {
    CmdError::Custom("NOSCRIPT No matching script. Please use EVAL.".into())
}

fn function_not_found() -> CmdError {
    CmdError::err("Function not found")
}

/// What runs: an EVAL body or a function.
enum Script {
    Eval { sha: String, body: Bytes },
    Function { name: String },
}

impl Script {
    fn label(&self) -> (String, bool) {
        match self {
            Script::Eval { .. } => (String::new(), false),
            Script::Function { name } => (name.clone(), true),
        }
    }
}

/// Tracks a run for -BUSY and SCRIPT KILL; `None` when untracked.
fn track(
    shared: Option<&Arc<Shared>>,
    script: &Script,
    command: &str,
    call: &Call,
    index: Option<u64>,
) -> Option<Tracking> {
    let shared = shared?;
    let runtime = shared.scripts.clone();
    runtime
        .threshold_ms
        .store(shared.config.busy_reply_threshold_ms.load(Ordering::Relaxed), Ordering::Relaxed);
    let (name, is_function) = script.label();
    // Only FUNCTION STATS shows the command, and only a function's: an EVAL script (the
    // hot case) does not pay for copying it.
    let mut argv = Vec::new();
    if is_function {
        argv = vec![Bytes::from(command.to_string()), call.target.clone()];
        argv.push(Bytes::from(call.keys.len().to_string()));
        argv.extend(call.keys.iter().cloned());
        argv.extend(call.args.iter().cloned());
    }
    let info =
        RunInfo { name, command: argv, started: crate::clock::monotonic(), is_function, index };
    runtime.begin(info).then_some(Tracking { runtime, index })
}

fn run(
    script: &Script,
    call: &Call,
    (seed, yield_after): (u64, Option<std::time::Duration>),
    tracking: Option<Tracking>,
    host: &mut dyn crate::script::host::Host,
    libraries: (u64, &crate::script::functions::Libraries),
) -> Reply {
    let runtime = tracking.as_ref().map(|t| t.runtime.clone());
    let (generation, libraries) = libraries;
    let invocation = Invocation { keys: &call.keys, args: &call.args, seed, tracking, yield_after };
    let reply = match script {
        Script::Eval { sha, body } => vm::run_eval(generation, sha, body, invocation, host),
        Script::Function { name } => vm::run_function(libraries, name, invocation, host),
    };
    if let Some(runtime) = runtime {
        runtime.end();
    }
    reply
}

/// Runs `script` in apply (the entry's time and seed).
fn run_in_apply(cx: &mut ApplyCtx<'_>, script: Script, call: &Call, command: &str) -> CmdResult {
    let shared = cx.shared.cloned();
    let generation = cx.ks.scripts.scripts_generation();
    let libraries = cx.ks.scripts.libraries.clone();
    let tracking = track(shared.as_ref(), &script, command, call, Some(cx.index));
    let seed = cx.seed;
    let mut host = ApplyHost::new(cx, shared.as_ref());
    match &script {
        Script::Function { name } => {
            let flags = libraries.function(name).map(|m| m.flags).unwrap_or_default();
            host.read_only = flags.no_writes;
            host.allow_oom = flags.allow_oom;
        }
        Script::Eval { body, .. } => {
            host.allow_oom = eval_shebang(body).is_ok_and(|f| f.allow_oom);
        }
    }
    Ok(run(&script, call, (seed, None), tracking, &mut host, (generation, &libraries)))
}

/// Runs `script` on the read path (no log entry; writes refused as `host` says).
fn run_read(mut host: ReadHost<'_>, script: Script, call: &Call, command: &str) -> Reply {
    // A read-only script may spin until SCRIPT KILL, and with one connection thread (the
    // default) nothing else, SCRIPT KILL included, would be served meanwhile. Moving
    // every script off the thread's scheduler halved EVALSHA_RO throughput, so it first
    // runs here for a few milliseconds; one still running then starts again where it
    // may block (it has no effects: running it twice is running it once).
    let reply = run_read_here(&mut host, &script, call, command, Some(INLINE_READ));
    if !crate::script::vm::last_run_yielded() {
        return reply;
    }
    off_worker(|| run_read_here(&mut host, &script, call, command, None))
}

/// The read path's host for a read-only command's script.
fn read_host<'a>(cx: &ReadCtx<'a>) -> ReadHost<'a> {
    ReadHost {
        ks: cx.ks,
        db: cx.db,
        now_ms: cx.now_ms,
        shared: cx.shared,
        write_refusal: READ_ONLY_REFUSAL,
    }
}

/// How long a read-only script runs on a connection thread before moving off it.
const INLINE_READ: std::time::Duration = std::time::Duration::from_millis(5);

/// Runs `f` where it may block: tokio moves this worker's other connections to another
/// thread first (multi-threaded runtime only; elsewhere `f` just runs).
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

fn run_read_here(
    host: &mut ReadHost<'_>,
    script: &Script,
    call: &Call,
    command: &str,
    yield_after: Option<std::time::Duration>,
) -> Reply {
    let tracking = track(Some(host.shared), script, command, call, None);
    let seed = crate::clock::now_us();
    let ks = host.ks;
    let libraries = (ks.scripts.scripts_generation(), &*ks.scripts.libraries);
    run(script, call, (seed, yield_after), tracking, host, libraries)
}

/// `EVAL script numkeys [key ...] [arg ...]`
struct Eval(Call);

impl Parse for Eval {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let call = Call::parse(args)?;
        eval_shebang(&call.target)?;
        Ok(Eval(call))
    }
}

impl WriteCommand for Eval {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let body = self.0.target.clone();
        let sha = cx.ks.scripts.add_script(body.clone());
        run_in_apply(cx, Script::Eval { sha, body }, &self.0, "eval")
    }
}

/// `EVALSHA sha1 numkeys [key ...] [arg ...]`
struct EvalSha(Call);

impl Parse for EvalSha {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Call::parse(args).map(EvalSha)
    }
}

impl WriteCommand for EvalSha {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let body = cx.ks.scripts.script(&self.0.target).cloned().ok_or_else(noscript)?;
        let sha = String::from_utf8_lossy(&self.0.target).to_ascii_lowercase();
        run_in_apply(cx, Script::Eval { sha, body }, &self.0, "evalsha")
    }
}

/// `EVAL_RO script numkeys [key ...] [arg ...]`
struct EvalRo(Call);

impl Parse for EvalRo {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let call = Call::parse(args)?;
        eval_shebang(&call.target)?;
        Ok(EvalRo(call))
    }
}

impl ReadCommand for EvalRo {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let body = self.0.target.clone();
        let script = Script::Eval { sha: sha1_hex(&body), body };
        Ok(run_read(read_host(cx), script, &self.0, "eval_ro"))
    }
}

/// `EVALSHA_RO sha1 numkeys [key ...] [arg ...]`
struct EvalShaRo(Call);

impl Parse for EvalShaRo {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Call::parse(args).map(EvalShaRo)
    }
}

impl ReadCommand for EvalShaRo {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let body = cx.ks.scripts.script(&self.0.target).cloned().ok_or_else(noscript)?;
        let sha = String::from_utf8_lossy(&self.0.target).to_ascii_lowercase();
        Ok(run_read(read_host(cx), Script::Eval { sha, body }, &self.0, "evalsha_ro"))
    }
}

/// `FCALL function numkeys [key ...] [arg ...]`
struct Fcall(Call);

/// FCALL words a numkeys that is not a number its own way.
fn parse_fcall(args: &mut Args<'_>) -> Result<Call, CmdError> {
    Call::parse(args).map_err(|e| match e {
        CmdError::NotAnInteger => CmdError::err("Bad number of keys provided"),
        other => other,
    })
}

impl Parse for Fcall {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        parse_fcall(args).map(Fcall)
    }
}

impl WriteCommand for Fcall {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let name = String::from_utf8_lossy(&self.0.target).into_owned();
        if cx.ks.scripts.libraries.function(&name).is_none() {
            return Err(function_not_found());
        }
        run_in_apply(cx, Script::Function { name }, &self.0, "fcall")
    }
}

/// `FCALL_RO function numkeys [key ...] [arg ...]`
struct FcallRo(Call);

impl Parse for FcallRo {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        parse_fcall(args).map(FcallRo)
    }
}

impl ReadCommand for FcallRo {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let name = String::from_utf8_lossy(&self.0.target).into_owned();
        let meta = cx.ks.scripts.libraries.function(&name).ok_or_else(function_not_found)?;
        if !meta.flags.no_writes {
            return Err(CmdError::err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
        Ok(run_read(read_host(cx), Script::Function { name }, &self.0, "fcall_ro"))
    }
}

/// Whether this EVAL / EVALSHA / FCALL will run on the read path (`no-writes`): the
/// connection then lets its in-flight writes apply first, as for any read, so a
/// pipelined script sees the writes sent before it. Errs toward true when unsure.
pub fn runs_as_read(
    shared: &Shared,
    known: &crate::script::KnownFlags,
    spec: &CommandSpec,
    argv: &[Bytes],
) -> bool {
    if spec.group != Group::Scripting || !matches!(spec.name, "eval" | "evalsha" | "fcall") {
        return false;
    }
    let Some(target) = argv.get(1) else { return false };
    // Without enough replicas a script that may write runs on the read path too (`route`).
    if crate::dispatch::too_few_replicas(shared) {
        return true;
    }
    if spec.name == "evalsha" {
        if let Some(flags) = known.get(target) {
            return flags.no_writes;
        }
    }
    match spec.name {
        "eval" => eval_shebang(target).is_ok_and(|f| f.no_writes),
        _ => {
            let Some(ks) = shared.keyspace.try_read() else { return true };
            if spec.name == "evalsha" {
                ks.scripts
                    .script(target)
                    .is_some_and(|b| eval_shebang(b).is_ok_and(|f| f.no_writes))
            } else {
                let name = String::from_utf8_lossy(target);
                ks.scripts.libraries.function(&name).is_some_and(|m| m.flags.no_writes)
            }
        }
    }
}

/// Before proposing EVAL / EVALSHA / FCALL (in place of their syntax check: this parses
/// the call): an unknown script or function is refused without a log entry, and a
/// `no-writes` one runs here, on the read path. `None`: propose.
pub fn route(
    shared: &Arc<Shared>,
    session: &mut Session,
    spec: &CommandSpec,
    argv: &[Bytes],
    skip: usize,
) -> Result<Option<Reply>, CmdError> {
    if !matches!(spec.name, "eval" | "evalsha" | "fcall") || spec.group != Group::Scripting {
        return Ok(None);
    }
    let call = if spec.name == "fcall" {
        parse_fcall(&mut Args::new(&argv[skip..]))?
    } else {
        Call::parse(&mut Args::new(&argv[skip..]))?
    };
    // The hot case, EVALSHA of a script this connection ran before, goes to the log
    // without the keyspace lock (taking it here contended with apply on every call).
    if spec.name == "evalsha" {
        if let Some(flags) = session.script_flags.get(&call.target) {
            if !flags.no_writes
                && !refused_for_memory(shared, flags)
                && !crate::dispatch::too_few_replicas(shared)
            {
                return Ok(None);
            }
        }
    }
    let ks = shared.read_keyspace()?;
    let (script, flags) = match spec.name {
        "eval" => {
            let flags = eval_shebang(&call.target)?;
            (Script::Eval { sha: sha1_hex(&call.target), body: call.target.clone() }, flags)
        }
        "evalsha" => {
            let body = ks.scripts.script(&call.target).ok_or_else(noscript)?;
            let flags = eval_shebang(body).unwrap_or_default();
            session.script_flags.remember(&call.target, flags);
            let sha = String::from_utf8_lossy(&call.target).to_ascii_lowercase();
            (Script::Eval { sha, body: body.clone() }, flags)
        }
        _ => {
            let name = String::from_utf8_lossy(&call.target).into_owned();
            let meta = ks.scripts.libraries.function(&name).ok_or_else(function_not_found)?;
            // A function always declares its flags, none being a declaration too.
            let flags = ScriptFlags { declared: true, ..meta.flags };
            (Script::Function { name }, flags)
        }
    };
    if refused_for_memory(shared, flags) {
        return Err(CmdError::Oom);
    }
    let mut refusal = READ_ONLY_REFUSAL;
    if !flags.no_writes && crate::dispatch::too_few_replicas(shared) {
        // As Redis: a script that declares it may write is refused whole; one without a
        // shebang runs, and its first write is refused (on the read path, so nothing
        // it does reaches the log).
        if flags.declared {
            return Err(CmdError::NoReplicas);
        }
        refusal = NO_REPLICAS_REFUSAL;
    } else if !flags.no_writes {
        return Ok(None);
    }
    let host = ReadHost {
        ks: &ks,
        db: session.db,
        now_ms: session.now_ms,
        shared,
        write_refusal: refusal,
    };
    Ok(Some(run_read(host, script, &call, spec.name)))
}

/// Scripts that declare flags are refused whole when memory is over the limit, unless
/// they may not write or say they may run anyway (Redis 7); others only fail at a
/// command that would grow memory.
fn refused_for_memory(shared: &Shared, flags: ScriptFlags) -> bool {
    flags.declared
        && !flags.allow_oom
        && !flags.no_writes
        && crate::dispatch::over_maxmemory(shared)
}

/// `SCRIPT LOAD script`
struct ScriptLoad(Bytes);

impl Parse for ScriptLoad {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(ScriptLoad(args.next_bytes()?))
    }
}

impl WriteCommand for ScriptLoad {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        eval_shebang(&self.0)?;
        // Compile now, so a broken script is refused here rather than at EVALSHA.
        let sha = sha1_hex(&self.0);
        crate::script::vm::compile_check(&self.0)?;
        cx.ks.scripts.add_script(self.0);
        Ok(Reply::Bulk(Bytes::from(sha)))
    }
}

/// `SCRIPT FLUSH [ASYNC | SYNC]`
struct ScriptFlush;

impl Parse for ScriptFlush {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if !args.is_empty() && !args.eat("ASYNC") && !args.eat("SYNC") || args.remaining() > 0 {
            return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
        }
        Ok(ScriptFlush)
    }
}

impl WriteCommand for ScriptFlush {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        cx.ks.scripts.flush_scripts();
        Ok(Reply::ok())
    }
}

/// `SCRIPT EXISTS sha1 [sha1 ...]`
struct ScriptExists(Vec<Bytes>);

impl Parse for ScriptExists {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(ScriptExists(args.take_rest().to_vec()))
    }
}

impl ReadCommand for ScriptExists {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let found =
            self.0.iter().map(|sha| Reply::Int(i64::from(cx.ks.scripts.script(sha).is_some())));
        Ok(Reply::Array(found.collect()))
    }
}

fn script_kill(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    cx.shared.scripts.kill(false).map(|()| Reply::ok())
}

fn function_kill(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    cx.shared.scripts.kill(true).map(|()| Reply::ok())
}

fn script_debug(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    let mode = args.next_bytes()?;
    if mode.eq_ignore_ascii_case(b"no") {
        return Ok(Reply::ok());
    }
    if mode.eq_ignore_ascii_case(b"yes") || mode.eq_ignore_ascii_case(b"sync") {
        return Err(CmdError::err("SCRIPT DEBUG (the Lua debugger) is not supported"));
    }
    Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO"))
}

fn help(lines: &[&str]) -> CmdResult {
    Ok(Reply::Array(lines.iter().map(|l| Reply::Status((*l).to_string().into())).collect()))
}

fn script_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    help(&[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Print this help.",
    ])
}

fn function_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    help(&[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Print this help.",
    ])
}

fn function_stats(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let running = match cx.shared.scripts.running() {
        Some(info) if info.is_function => Reply::Map(vec![
            (Reply::bulk("name"), Reply::bulk(info.name)),
            (
                Reply::bulk("command"),
                Reply::Array(info.command.into_iter().map(Reply::Bulk).collect()),
            ),
            (Reply::bulk("duration_ms"), Reply::Int(info.started.elapsed().as_millis() as i64)),
        ]),
        _ => Reply::Null,
    };
    // Allowed while a script is busy, which holds the keyspace: the counts then come
    // from the last FUNCTION change applied.
    let (libraries, functions) = match cx.shared.keyspace.try_read() {
        Some(ks) => ks.scripts.libraries.counts(),
        None => cx.shared.scripts.library_counts(),
    };
    let lua = Reply::Map(vec![
        (Reply::bulk("libraries_count"), Reply::Int(libraries as i64)),
        (Reply::bulk("functions_count"), Reply::Int(functions as i64)),
    ]);
    Ok(Reply::Map(vec![
        (Reply::bulk("running_script"), running),
        (Reply::bulk("engines"), Reply::Map(vec![(Reply::bulk("LUA"), lua)])),
    ]))
}

/// `FUNCTION LOAD [REPLACE] function-code`
struct FunctionLoad {
    replace: bool,
    code: Bytes,
}

impl Parse for FunctionLoad {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let mut replace = false;
        while args.remaining() > 1 {
            let option = args.next_bytes()?;
            if option.eq_ignore_ascii_case(b"replace") {
                replace = true;
            } else {
                return Err(CmdError::Custom(format!(
                    "ERR Unknown option given: {}",
                    String::from_utf8_lossy(&option)
                )));
            }
        }
        let code = args.next_bytes()?;
        crate::script::functions::library_name(&code)?;
        Ok(FunctionLoad { replace, code })
    }
}

impl WriteCommand for FunctionLoad {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let before = cx.ks.scripts.libraries.generation();
        let before_empty = cx.ks.scripts.libraries.counts().0 == 0;
        let replaced: Vec<String> = crate::script::functions::library_name(&self.code)
            .ok()
            .and_then(|name| cx.ks.scripts.libraries.library(&name))
            .map(|library| library.functions.keys().cloned().collect())
            .unwrap_or_default();
        // `load` changes nothing unless it succeeds.
        let name = Arc::make_mut(&mut cx.ks.scripts.libraries).load(self.code, self.replace)?;
        let after = cx.ks.scripts.libraries.generation();
        crate::script::vm::adopt_loaded(before, before_empty, after, &replaced);
        note_counts(cx);
        Ok(Reply::Bulk(Bytes::from(name)))
    }
}

/// Keeps FUNCTION STATS' fallback counts current (see `ScriptRuntime`).
fn note_counts(cx: &ApplyCtx<'_>) {
    if let Some(shared) = cx.shared {
        shared.scripts.set_library_counts(cx.ks.scripts.libraries.counts());
    }
}

/// `FUNCTION DELETE library-name`
struct FunctionDelete(String);

impl Parse for FunctionDelete {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(FunctionDelete(String::from_utf8_lossy(&args.next_bytes()?).into_owned()))
    }
}

impl WriteCommand for FunctionDelete {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        if cx.ks.scripts.libraries.library(&self.0).is_none() {
            return Err(CmdError::err("Library not found"));
        }
        Arc::make_mut(&mut cx.ks.scripts.libraries).delete(&self.0);
        note_counts(cx);
        Ok(Reply::ok())
    }
}

/// `FUNCTION FLUSH [ASYNC | SYNC]`
/// `Some(true)` for ASYNC, `Some(false)` for SYNC, `None` for the
/// `lazyfree-lazy-user-flush` default.
struct FunctionFlush(Option<bool>);

impl Parse for FunctionFlush {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() > 1 {
            return Err(CmdError::err(
                "unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.",
            ));
        }
        if args.is_empty() {
            return Ok(FunctionFlush(None));
        }
        if args.eat("ASYNC") {
            return Ok(FunctionFlush(Some(true)));
        }
        if args.eat("SYNC") {
            return Ok(FunctionFlush(Some(false)));
        }
        Err(CmdError::err("FUNCTION FLUSH only supports SYNC|ASYNC option"))
    }
}

/// Functions below this many are freed in place even by FUNCTION FLUSH ASYNC (Redis's
/// LAZYFREE_THRESHOLD).
const LAZY_FLUSH_MIN_FUNCTIONS: usize = 64;

impl WriteCommand for FunctionFlush {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let flushed = std::mem::take(&mut cx.ks.scripts.libraries);
        // This thread's function machine goes too (Redis starts a new Lua engine): it
        // holds every flushed function. It is thread-bound, so it is dropped here.
        vm::reset_function_vm();
        let lazy = crate::cmd::server::flush_asks_async(self.0, cx);
        let functions = flushed.counts().1;
        if lazy && functions > LAZY_FLUSH_MIN_FUNCTIONS {
            // The functions and the engine, as Redis counts an asynchronous flush.
            crate::keyspace::lazyfree::drop_later(Box::new(flushed), functions as u64 + 1);
        }
        note_counts(cx);
        Ok(Reply::ok())
    }
}

/// `FUNCTION RESTORE payload [FLUSH | APPEND | REPLACE]`
struct FunctionRestore {
    payload: Bytes,
    policy: RestorePolicy,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

impl Parse for FunctionRestore {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let payload = args.next_bytes()?;
        let policy =
            match args.remaining() {
                0 => RestorePolicy::Append,
                1 if args.eat("FLUSH") => RestorePolicy::Flush,
                1 if args.eat("APPEND") => RestorePolicy::Append,
                1 if args.eat("REPLACE") => RestorePolicy::Replace,
                1 => return Err(CmdError::err(
                    "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                )),
                _ => {
                    return Err(CmdError::err(
                        "unknown subcommand or wrong number of arguments for 'restore'. Try \
                         FUNCTION HELP.",
                    ))
                }
            };
        crate::script::functions::undump(&payload)?;
        Ok(FunctionRestore { payload, policy })
    }
}

impl WriteCommand for FunctionRestore {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let codes = crate::script::functions::undump(&self.payload)?;
        let mut libraries = match self.policy {
            RestorePolicy::Flush => crate::script::functions::Libraries::default(),
            _ => (*cx.ks.scripts.libraries).clone(),
        };
        for code in codes {
            let name = crate::script::functions::library_name(&code)?;
            if self.policy == RestorePolicy::Append && libraries.library(&name).is_some() {
                // Unlike FUNCTION LOAD, Redis does not quote the name here.
                return Err(CmdError::Custom(format!("ERR Library {name} already exists")));
            }
            libraries.load(code, self.policy == RestorePolicy::Replace)?;
        }
        cx.ks.scripts.libraries = Arc::new(libraries);
        note_counts(cx);
        Ok(Reply::ok())
    }
}

/// `FUNCTION DUMP`
struct FunctionDump;

impl Parse for FunctionDump {
    fn parse(_args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(FunctionDump)
    }
}

impl ReadCommand for FunctionDump {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        Ok(Reply::Bulk(crate::script::functions::dump(&cx.ks.scripts.libraries)))
    }
}

/// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`
struct FunctionList {
    pattern: Option<Bytes>,
    with_code: bool,
}

impl Parse for FunctionList {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let mut list = FunctionList { pattern: None, with_code: false };
        while !args.is_empty() {
            if args.eat("WITHCODE") {
                if list.with_code {
                    return Err(CmdError::err("Unknown argument withcode"));
                }
                list.with_code = true;
            } else if list.pattern.is_none() && args.eat("LIBRARYNAME") {
                if args.is_empty() {
                    return Err(CmdError::err("library name argument was not given"));
                }
                list.pattern = Some(args.next_bytes()?);
            } else {
                let unknown = args.next_bytes()?;
                return Err(CmdError::Custom(format!(
                    "ERR Unknown argument {}",
                    String::from_utf8_lossy(&unknown)
                )));
            }
        }
        Ok(list)
    }
}

impl ReadCommand for FunctionList {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let mut out = Vec::new();
        for library in cx.ks.scripts.libraries.iter() {
            if let Some(pattern) = &self.pattern {
                if !crate::glob::matches(pattern, library.name.as_bytes(), false) {
                    continue;
                }
            }
            let functions = library
                .functions
                .iter()
                .map(|(name, meta)| {
                    Reply::Map(vec![
                        (Reply::bulk("name"), Reply::bulk(name)),
                        (
                            Reply::bulk("description"),
                            meta.description.as_ref().map_or(Reply::Null, Reply::bulk),
                        ),
                        (
                            Reply::bulk("flags"),
                            Reply::Set(meta.flags.names().into_iter().map(Reply::bulk).collect()),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (Reply::bulk("library_name"), Reply::bulk(&library.name)),
                (Reply::bulk("engine"), Reply::bulk("LUA")),
                (Reply::bulk("functions"), Reply::Array(functions)),
            ];
            if self.with_code {
                fields.push((Reply::bulk("library_code"), Reply::Bulk(library.code.clone())));
            }
            out.push(Reply::Map(fields));
        }
        Ok(Reply::Array(out))
    }
}
