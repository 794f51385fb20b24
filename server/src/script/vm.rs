//! The Lua machines: one for EVAL scripts and one for function libraries per thread that
//! runs scripts (the log's apply thread, and connection threads for read-only scripts),
//! created on first use. Each is sandboxed as Redis's: no `io`, `os` beyond `os.clock`,
//! no `loadfile`/`dofile`/`require`/`print`, globals read-only, `math.random` seeded from
//! the log entry so a script draws the same numbers on every replica and on replay.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

use crate::error::CmdError;
use crate::reply::Reply;
use crate::script::convert::{lua_to_reply, reply_to_lua};
use crate::script::functions::{FunctionMeta, Libraries};
use crate::script::host::Host;
use crate::script::runtime::{ScriptRuntime, Stop};

/// Instructions between two checks for SCRIPT KILL and busy-reply-threshold. Small
/// enough that a killed script inside `pcall` loops stops quickly, large enough to cost
/// nothing measurable.
const HOOK_INSTRUCTIONS: u32 = 10_000;

/// Memory one machine may hold: a runaway table fails the script, not the server.
/// Checked by the instruction hook rather than set as an allocator limit, because mlua
/// wraps every table and string operation in a protected call while a limit is set
/// (that alone cost a third of a small script's time).
const MEMORY_LIMIT: usize = 1 << 30;

/// Runs between explicit garbage-collection steps.
const GC_STEP_EVERY: u64 = 50;

/// How long a library's code may run while FUNCTION LOAD registers its functions.
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// The version scripts see in `redis.REDIS_VERSION`.
const REDIS_VERSION: &str = "7.4.1";
const REDIS_VERSION_NUM: i64 = 0x0007_0401;

/// Lua-side wiring: `pcall` hands command errors (raised by `redis.call`) and `{err=}`
/// tables to the script as their text, as Redis 7.4 does; the globals table refuses new
/// names and reports missing ones.
const PRELUDE: &str = r#"
local error_text = ...
local error, type, rawget, tostring, byte = error, type, rawget, tostring, string.byte
local lua_pcall = pcall
local function unwrap(ok, ...)
  if not ok then
    local e = ...
    if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then
      return false, rawget(e, 'err')
    end
    if type(e) == 'userdata' then
      local text = error_text(e)
      if text then return false, text end
    end
  end
  return ok, ...
end
pcall = function(...) return unwrap(lua_pcall(...)) end
local lua_loadstring = loadstring
loadstring = function(s, name)
  if type(s) == 'string' and byte(s, 1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  return lua_loadstring(s, name)
end
local G = _G
local lua_setmetatable, lua_rawset = setmetatable, rawset
local protected, proxied = {}, {}
local function readonly() error('Attempt to modify a readonly table', 2) end
-- pairs/next see through proxies, so scripts can still list a library's functions.
local lua_next = next
next = function(t, k)
  local real = proxied[t]
  if real then return lua_next(real, k) end
  return lua_next(t, k)
end
pairs = function(t)
  local real = proxied[t]
  if real then
    return function(_, k) return lua_next(real, k) end, t, nil
  end
  return lua_next, t, nil
end
-- A table scripts may read but not change: an empty proxy whose metatable (itself
-- readonly when fetched with getmetatable) forwards reads.
local function protect(t)
  local proxy, mt, visible = {}, { __index = t, __newindex = readonly }, {}
  lua_setmetatable(visible, { __index = mt, __newindex = readonly, __metatable = false })
  mt.__metatable = visible
  lua_setmetatable(proxy, mt)
  protected[proxy], protected[visible] = true, true
  proxied[proxy] = t
  return proxy
end
setmetatable = function(t, mt)
  if t == G or protected[t] then error('Attempt to modify a readonly table', 0) end
  return lua_setmetatable(t, mt)
end
rawset = function(t, k, v)
  if t == G or protected[t] then error('Attempt to modify a readonly table', 0) end
  return lua_rawset(t, k, v)
end
for _, name in ipairs({'redis', 'cjson', 'cmsgpack', 'bit', 'struct', 'string', 'math', 'table', 'os', 'coroutine'}) do
  if type(G[name]) == 'table' then lua_rawset(G, name, protect(G[name])) end
end
lua_setmetatable(G, {
  __index = function(_, name)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end,
  __newindex = readonly,
})
local proxy = protect(G)
lua_rawset(G, '_G', proxy)
return proxy
"#;

/// The environment a library's code runs in while FUNCTION LOAD registers it: nothing
/// but a `redis` table with the registration API (any other name reads as a missing
/// global). Returns the environment and a function that, once loading is done, points
/// it at the ordinary (read-only) globals the library's functions use when called.
const LOAD_ENV: &str = r#"
local register, redis, globals = ...
local error, tostring, ipairs = error, tostring, ipairs
local function missing(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
local function readonly() error('Attempt to modify a readonly table', 2) end
local api = { register_function = register }
for _, k in ipairs({'log', 'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING',
                    'REDIS_VERSION', 'REDIS_VERSION_NUM'}) do
  api[k] = redis[k]
end
setmetatable(api, { __index = missing, __newindex = readonly, __metatable = false })
local mt = {
  __index = function(_, name)
    if name == 'redis' then return api end
    -- Not `return missing(...)`: a tail call would hide the script's line.
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end,
  __newindex = readonly,
  __metatable = false,
}
local env = setmetatable({}, mt)
return env, function() mt.__index = globals end
"#;

/// Runs `f` under xpcall with the error handler; returns (ok, first value).
const INVOKE: &str = r#"
local xpcall = xpcall
return function(f, handler, a, b)
  if a == nil then return xpcall(f, handler) end
  return xpcall(function() return f(a, b) end, handler)
end
"#;

/// Memory held by the EVAL and the function machines of the thread that ran last
/// (`INFO memory` `used_memory_lua`, `used_memory_vm_functions`).
pub static EVAL_VM_BYTES: AtomicU64 = AtomicU64::new(0);
pub static FUNCTION_VM_BYTES: AtomicU64 = AtomicU64::new(0);

/// Which of the two machines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eval,
    Function,
}

impl Kind {
    fn chunk_name(self) -> &'static str {
        match self {
            Kind::Eval => "@user_script",
            Kind::Function => "@user_function",
        }
    }
}

/// Tracking of a run for SCRIPT KILL and -BUSY.
pub struct Tracking {
    pub runtime: Arc<ScriptRuntime>,
    /// The log index, when running in apply.
    pub index: Option<u64>,
}

/// What `redis.register_function` collected while a library loaded.
type Registered = Vec<(String, Function, FunctionMeta)>;
type Collector = Rc<RefCell<Option<Registered>>>;
/// The runtime, when the run started, and its log index.
type Tracked = (Arc<ScriptRuntime>, Instant, Option<u64>);

/// Per-run state the hook, the error handler and the Rust callbacks share.
#[derive(Default)]
struct RunState {
    /// `script: <sha or function name>` for error suffixes.
    label: RefCell<String>,
    resp3: Cell<bool>,
    /// drand48 state (48 bits), as Redis's `math.random` uses.
    rand48: Cell<u64>,
    tracked: RefCell<Option<Tracked>>,
    stopped: Cell<Option<Stop>>,
    /// While FUNCTION LOAD runs a library's code: when it must have finished.
    load_deadline: Cell<Option<Instant>>,
    /// A read-only run on a connection thread stops here (see `Invocation`), and says so.
    yield_at: Cell<Option<Instant>>,
    yielded: Cell<bool>,
    /// The hook fires at every instruction (a stop is unwinding).
    dense_hook: Cell<bool>,
}

impl RunState {
    /// Names the script for error suffixes (`script: <name>`), reusing the buffer: a
    /// fresh string per run is an allocation on every EVALSHA.
    fn set_label(&self, name: &str) {
        let mut label = self.label.borrow_mut();
        label.clear();
        label.push_str("script: ");
        label.push_str(name);
    }

    /// The hook's (and each write's) check: once a stop is decided, it is recorded and
    /// sticks until the script has unwound.
    fn must_stop(&self) -> Option<Stop> {
        if let Some(stop) = self.stopped.get() {
            return Some(stop);
        }
        let tracked = self.tracked.borrow();
        let (runtime, started, index) = tracked.as_ref()?;
        let stop = runtime.check(*started)?;
        if let Some(index) = index {
            runtime.record_aborted(*index);
        }
        if stop == Stop::Shutdown {
            tracing::warn!("SHUTDOWN NOSAVE while a script runs: exiting without completing it");
            std::process::exit(0);
        }
        self.stopped.set(Some(stop));
        Some(stop)
    }

    /// Before a write: claims the right to write, or (a kill won) stops the script as
    /// the hook would.
    fn before_write(&self) -> Option<Stop> {
        let tracked = self.tracked.borrow();
        let (runtime, _, index) = tracked.as_ref()?;
        if runtime.begin_write() {
            return None;
        }
        if let Some(index) = index {
            runtime.record_aborted(*index);
        }
        self.stopped.set(Some(Stop::Killed));
        Some(Stop::Killed)
    }
}

scoped_tls_hkt::scoped_thread_local!(
    /// The host of the script running on this thread, lent to `redis.call` and
    /// `redis.pcall` for the run. They are created once per machine: created per run in
    /// an mlua scope (the other safe way to reach a borrowed host) they cost a fifth of
    /// a small script's time, in callback userdata and its garbage collection.
    static mut HOST: for<'a> &'a mut (dyn Host + 'a)
);

/// Lua functions by name, kept in a Lua table that Rust holds once. Each `Function`
/// held from Rust takes a slot of mlua's reference stack, which has room for about 8,000:
/// a machine that held every compiled script or registered function that way refused
/// every script once it had seen that many.
struct FunctionTable {
    table: Table,
    len: usize,
}

impl FunctionTable {
    fn new(lua: &Lua) -> mlua::Result<Self> {
        Ok(Self { table: lua.create_table()?, len: 0 })
    }

    fn get(&self, name: &str) -> Option<Function> {
        self.table.raw_get::<Option<Function>>(name).ok().flatten()
    }

    fn insert(&mut self, name: &str, f: &Function) {
        let added = self.get(name).is_none();
        if self.table.raw_set(name, f).is_ok() && added {
            self.len += 1;
        }
    }

    fn remove(&mut self, name: &str) {
        if self.get(name).is_some() && self.table.raw_set(name, Value::Nil).is_ok() {
            self.len -= 1;
        }
    }

    /// Empties the table (a fresh one: the old one's functions become garbage).
    fn clear(&mut self, lua: &Lua) {
        if let Ok(fresh) = Self::new(lua) {
            *self = fresh;
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One sandboxed Lua state.
pub struct Vm {
    lua: Lua,
    kind: Kind,
    state: Rc<RunState>,
    /// The real globals (scripts see a read-only proxy): KEYS and ARGV go here.
    globals: Table,
    redis: Table,
    /// "KEYS" and "ARGV" as Lua strings, made once rather than interned on every run.
    keys_argv_names: (mlua::LuaString, mlua::LuaString),
    invoke: Function,
    handler: Function,
    /// LOAD_ENV, compiled once: it makes each library's load environment.
    load_env: Function,
    /// EVAL scripts compiled in this machine, by SHA-1, for one cache generation.
    compiled: FunctionTable,
    compiled_generation: u64,
    /// Functions registered in this machine (by lowercase name), for one libraries
    /// generation.
    functions: FunctionTable,
    functions_generation: u64,
    /// Runs since the machine was created (for the periodic GC step).
    runs: u64,
    /// What the last successful library load in this machine registered, so FUNCTION
    /// LOAD can keep the machine current instead of reloading every library.
    last_loaded: Registered,
    /// `redis.register_function`'s collector while a library loads.
    registering: Collector,
}

fn lua_err(text: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(text.into())
}

/// Redis's `redisLrand48` step: the top 31 bits of the next 48-bit state.
fn lrand48(state: &Cell<u64>) -> u64 {
    let next = (0x5_DEEC_E66D_u64.wrapping_mul(state.get()).wrapping_add(0xB)) & ((1 << 48) - 1);
    state.set(next);
    next >> 17
}

fn srand48(seed: i32) -> u64 {
    (u64::from(seed as u32) << 16) | 0x330E
}

/// Installs the instruction hook: memory, the read path's time slice, FUNCTION LOAD's
/// timeout, SCRIPT KILL. Once it stops a script it fires at every instruction until the
/// script has unwound: a script catching the error with `pcall` in a loop would
/// otherwise always be inside the `pcall` when a sparse hook fires.
fn install_hook(lua: &Lua, state: &Rc<RunState>, every: u32) -> mlua::Result<()> {
    let state = state.clone();
    state.dense_hook.set(every == 1);
    lua.set_hook(HookTriggers::new().every_nth_instruction(every), move |lua, debug| {
        let stop = |lua: &Lua, message: &str| {
            if !state.dense_hook.get() {
                let _ = install_hook(lua, &state, 1);
            }
            // Raised only in the script's own code: raised in our wrappers (pcall's, the
            // invoker's) it would escape the error handler that words it.
            let source = debug.source().source;
            let in_script =
                source.as_deref().is_some_and(|s| s == "@user_script" || s == "@user_function");
            if !in_script {
                return Ok(mlua::VmState::Continue);
            }
            Err(lua_err(message))
        };
        if lua.used_memory() > MEMORY_LIMIT {
            let _ = lua.gc_collect();
            if lua.used_memory() > MEMORY_LIMIT {
                return stop(lua, "ERR script used more than 1 GiB of memory");
            }
        }
        if state.yielded.get()
            || state.yield_at.get().is_some_and(|at| crate::clock::monotonic() > at)
        {
            state.yielded.set(true);
            return stop(lua, "the script moves off the connection thread");
        }
        if state.load_deadline.get().is_some_and(|d| crate::clock::monotonic() > d) {
            return stop(lua, "FUNCTION LOAD timeout");
        }
        match state.must_stop() {
            Some(_) => stop(lua, "ERR Script killed by user with SCRIPT KILL..."),
            None => Ok(mlua::VmState::Continue),
        }
    })
}

/// A command's error reply raised by `redis.call`: its text is the script's error as is;
/// the flag says the command already counted it in `INFO errorstats`.
#[derive(Debug)]
pub(crate) struct ReplyError(pub(crate) String, pub(crate) bool);

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplyError {}

/// The text of a [`ReplyError`] inside a Lua error, if it is one.
fn reply_error(e: &mlua::Error) -> Option<&str> {
    match e {
        mlua::Error::CallbackError { cause, .. } => reply_error(cause),
        mlua::Error::ExternalError(inner) => {
            inner.downcast_ref::<ReplyError>().map(|r| r.0.as_str())
        }
        _ => None,
    }
}

/// Whether `e` is a command's error that the command already counted.
fn counted_reply_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } => counted_reply_error(cause),
        mlua::Error::ExternalError(inner) => {
            inner.downcast_ref::<ReplyError>().is_some_and(|r| r.1)
        }
        _ => false,
    }
}

/// The message of a Lua error value as Redis words it, before the `script:` suffix.
fn error_text(value: &Value, line: Option<usize>, chunk: &str) -> String {
    match value {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            _ => "ERR unknown error".into(),
        },
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        Value::Error(e) if reply_error(e).is_some() => {
            reply_error(e).unwrap_or_default().to_string()
        }
        // The helper libraries word their errors as Lua's C libraries would, position
        // included.
        Value::Error(e) if crate::script::libs::lib_error_text(e).is_some() => {
            format!("ERR {}", crate::script::libs::lib_error_text(e).unwrap_or_default())
        }
        Value::Error(e) => {
            // Errors from Rust callbacks carry no position; Lua's C functions would.
            let mut cause: &mlua::Error = e;
            while let mlua::Error::CallbackError { cause: inner, .. } = cause {
                cause = inner;
            }
            let text = match cause {
                mlua::Error::RuntimeError(m) => m.clone(),
                other => other.to_string(),
            };
            match line {
                Some(line) => format!("ERR {}:{line}: {text}", &chunk[1..]),
                None => format!("ERR {text}"),
            }
        }
        other => format!("ERR {}", other.type_name()),
    }
}

impl Vm {
    fn new(kind: Kind) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS,
            LuaOptions::default(),
        )?;
        let state = Rc::new(RunState::default());
        let registering = Rc::new(RefCell::new(None));
        let globals = lua.globals();
        let os: Table = globals.get("os")?;
        let only_clock = lua.create_table()?;
        only_clock.set("clock", os.get::<Value>("clock")?)?;
        globals.set("os", only_clock)?;
        for name in ["print", "dofile", "loadfile", "require", "module", "package", "io", "debug"] {
            globals.raw_set(name, Value::Nil)?;
        }
        crate::script::libs::register_all(&lua)?;
        Self::install_random(&lua, &state)?;
        Self::install_redis(&lua, &state, kind, &registering)?;
        let redis: Table = lua.globals().get("redis")?;
        install_call(&lua, &redis, &state)?;
        let error_text_fn = lua.create_function(|_, e: Value| {
            Ok(match &e {
                Value::Error(err) => reply_error(err)
                    .map(str::to_string)
                    .or_else(|| crate::script::libs::lib_error_text(err)),
                _ => None,
            })
        })?;
        let proxy: Table = lua.load(PRELUDE).set_name("=prelude").call(error_text_fn)?;
        lua.set_globals(proxy)?;
        let invoke: Function = lua.load(INVOKE).set_name("=invoke").call(())?;
        let handler = {
            let state = state.clone();
            lua.create_function(move |lua, err: Value| {
                let chunk = kind.chunk_name();
                let line = (0..64).find_map(|level| {
                    lua.inspect_stack(level, |d| {
                        let source = d.source().source.map(|s| s.to_string());
                        (source.as_deref() == Some(chunk)).then(|| d.current_line()).flatten()
                    })
                    .flatten()
                });
                let text = if state.stopped.get().is_some() {
                    "ERR Script killed by user with SCRIPT KILL...".to_string()
                } else {
                    error_text(&err, line, chunk)
                };
                let line = line.map_or_else(|| "?".to_string(), |l| l.to_string());
                let full = format!("{text} {}, on {chunk}:{line}.", state.label.borrow());
                let t = lua.create_table()?;
                t.raw_set("err", full)?;
                // A command's error raised by redis.call was counted when it happened.
                if matches!(&err, Value::Error(e) if counted_reply_error(e)) {
                    t.raw_set("ignore_err_stats_update", true)?;
                }
                Ok(t)
            })?
        };
        install_hook(&lua, &state, HOOK_INSTRUCTIONS)?;
        let (compiled, functions) = (FunctionTable::new(&lua)?, FunctionTable::new(&lua)?);
        let load_env = lua.load(LOAD_ENV).set_name("=load_env").into_function()?;
        Ok(Vm {
            keys_argv_names: (lua.create_string("KEYS")?, lua.create_string("ARGV")?),
            lua,
            kind,
            state,
            globals,
            redis,
            invoke,
            handler,
            load_env,
            compiled,
            compiled_generation: 0,
            functions,
            functions_generation: 0,
            last_loaded: Vec::new(),
            runs: 0,
            registering,
        })
    }

    fn install_random(lua: &Lua, state: &Rc<RunState>) -> mlua::Result<()> {
        let math: Table = lua.globals().get("math")?;
        let st = state.clone();
        let random = lua.create_function(move |_, args: MultiValue| {
            const MAX: u64 = i32::MAX as u64;
            let r = (lrand48(&st.rand48) % MAX) as f64 / MAX as f64;
            let int = |v: &Value| match v {
                Value::Number(n) => Ok(n.floor()),
                Value::Integer(n) => Ok(*n as f64),
                Value::String(s) => {
                    s.to_str()?.trim().parse::<f64>().map(f64::floor).map_err(|_| {
                        lua_err("bad argument #1 to 'random' (number expected, got string)")
                    })
                }
                other => Err(lua_err(format!(
                    "bad argument #1 to 'random' (number expected, got {})",
                    other.type_name()
                ))),
            };
            match args.len() {
                0 => Ok(r),
                1 => {
                    let m = int(&args[0])?;
                    if m < 1.0 {
                        return Err(lua_err("bad argument #1 to 'random' (interval is empty)"));
                    }
                    Ok((r * m).floor() + 1.0)
                }
                2 => {
                    let (m, n) = (int(&args[0])?, int(&args[1])?);
                    if m > n {
                        return Err(lua_err("bad argument #2 to 'random' (interval is empty)"));
                    }
                    Ok((r * (n - m + 1.0)).floor() + m)
                }
                _ => Err(lua_err("wrong number of arguments")),
            }
        })?;
        let st = state.clone();
        let randomseed = lua.create_function(move |_, seed: f64| {
            st.rand48.set(srand48(seed as i64 as i32));
            Ok(())
        })?;
        math.set("random", random)?;
        math.set("randomseed", randomseed)?;
        Ok(())
    }

    fn install_redis(
        lua: &Lua,
        state: &Rc<RunState>,
        kind: Kind,
        registering: &Collector,
    ) -> mlua::Result<()> {
        let redis = lua.create_table()?;
        redis.set(
            "sha1hex",
            lua.create_function(|lua, args: MultiValue| {
                if args.len() != 1 {
                    return Err(lua_err("wrong number of arguments"));
                }
                let text = lua.coerce_string(args[0].clone())?.map(|s| s.as_bytes().to_vec());
                Ok(crate::script::sha1_hex(&text.unwrap_or_default()))
            })?,
        )?;
        redis.set(
            "error_reply",
            lua.create_function(|lua, msg: mlua::LuaString| {
                let t = lua.create_table()?;
                t.raw_set("err", msg)?;
                Ok(t)
            })?,
        )?;
        redis.set(
            "status_reply",
            lua.create_function(|lua, msg: mlua::LuaString| {
                let t = lua.create_table()?;
                t.raw_set("ok", msg)?;
                Ok(t)
            })?,
        )?;
        redis.set(
            "log",
            lua.create_function(|lua, args: MultiValue| {
                if args.len() < 2 {
                    return Err(lua_err("redis.log() requires two arguments or more."));
                }
                let level = match &args[0] {
                    Value::Number(n) => *n as i64,
                    Value::Integer(n) => *n,
                    _ => return Err(lua_err("First argument must be a number (log level).")),
                };
                let mut message = String::new();
                for (i, v) in args.iter().skip(1).enumerate() {
                    if i > 0 {
                        message.push(' ');
                    }
                    if let Some(s) = lua.coerce_string(v.clone())? {
                        message.push_str(&s.to_string_lossy());
                    }
                }
                match level {
                    0 => tracing::debug!(target: "engram::script", "{message}"),
                    1 | 2 => tracing::info!(target: "engram::script", "{message}"),
                    3 => tracing::warn!(target: "engram::script", "{message}"),
                    _ => return Err(lua_err("Invalid debug level.")),
                }
                Ok(())
            })?,
        )?;
        let st = state.clone();
        redis.set(
            "setresp",
            lua.create_function(move |_, version: i64| match version {
                2 | 3 => {
                    st.resp3.set(version == 3);
                    Ok(())
                }
                _ => Err(lua_err("RESP version must be 2 or 3.")),
            })?,
        )?;
        redis.set("set_repl", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        redis.set("replicate_commands", lua.create_function(|_, _: MultiValue| Ok(true))?)?;
        redis.set("breakpoint", lua.create_function(|_, _: MultiValue| Ok(false))?)?;
        redis.set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        redis.set(
            "acl_check_cmd",
            lua.create_function(|_, args: MultiValue| {
                let name = match args.front() {
                    Some(Value::String(s)) => s.as_bytes().to_vec(),
                    _ => {
                        return Err(lua_err(
                            "Please specify at least one argument for this redis lib call",
                        ))
                    }
                };
                if crate::cmd::lookup(&name).is_none() {
                    return Err(lua_err("Invalid command passed to redis.acl_check_cmd()"));
                }
                Ok(true)
            })?,
        )?;
        for (name, value) in [
            ("LOG_DEBUG", 0),
            ("LOG_VERBOSE", 1),
            ("LOG_NOTICE", 2),
            ("LOG_WARNING", 3),
            ("REPL_NONE", 0),
            ("REPL_AOF", 1),
            ("REPL_SLAVE", 2),
            ("REPL_REPLICA", 2),
            ("REPL_ALL", 3),
        ] {
            redis.set(name, value)?;
        }
        redis.set("REDIS_VERSION", REDIS_VERSION)?;
        redis.set("REDIS_VERSION_NUM", REDIS_VERSION_NUM)?;
        if kind == Kind::Function {
            // Not on `redis` itself: only the load environment offers it (a function that
            // calls it at run time finds nothing there, as in Redis).
            let registering = registering.clone();
            let register = lua.create_function(move |_, args: MultiValue| {
                let mut slot = registering.borrow_mut();
                let Some(collected) = slot.as_mut() else {
                    return Err(lua_err(
                        "redis.register_function can only be called on FUNCTION LOAD command",
                    ));
                };
                let (name, callback, meta) = crate::script::functions::registration(args)?;
                if collected.iter().any(|(n, _, _)| n.eq_ignore_ascii_case(&name)) {
                    return Err(mlua::Error::external(ReplyError(
                        "ERR Function already exists in the library".into(),
                        false,
                    )));
                }
                collected.push((name, callback, meta));
                Ok(())
            })?;
            lua.set_named_registry_value("engram.register_function", register)?;
        }
        lua.globals().set("redis", redis)?;
        Ok(())
    }

    /// Compiles an EVAL body (cached by SHA-1 for this cache generation).
    fn eval_function(
        &mut self,
        generation: u64,
        sha: &str,
        body: &[u8],
    ) -> Result<Function, CmdError> {
        if self.compiled_generation != generation {
            self.compiled.clear(&self.lua);
            self.compiled_generation = generation;
            // SCRIPT FLUSH: what the dropped scripts held goes now, as Redis's VM reset.
            let _ = self.lua.gc_collect();
        }
        if let Some(f) = self.compiled.get(sha) {
            return Ok(f);
        }
        let f = compile(&self.lua, self.kind, body, EVAL_COMPILE_ERROR)?;
        self.compiled.insert(sha, &f);
        Ok(f)
    }

    /// Loads every library into this (function) machine if they changed since.
    fn sync_functions(&mut self, libraries: &Libraries) {
        if self.functions_generation == libraries.generation() {
            return;
        }
        self.functions.clear(&self.lua);
        for library in libraries.iter() {
            match self.load_library(&library.code) {
                Ok(found) => {
                    for (name, f, _) in found {
                        self.functions.insert(&name.to_ascii_lowercase(), &f);
                    }
                }
                // It loaded when FUNCTION LOAD applied it; a machine that cannot load it
                // now leaves its functions missing rather than failing every FCALL.
                Err(e) => {
                    tracing::error!(library = %library.name, error = %e, "cannot load library")
                }
            }
        }
        self.functions_generation = libraries.generation();
    }

    /// Runs a library's code, returning what it registered.
    fn load_library(
        &mut self,
        code: &[u8],
    ) -> Result<Vec<(String, Function, FunctionMeta)>, CmdError> {
        let chunk = compile(&self.lua, self.kind, code, "Error compiling function")?;
        let fail = |e: mlua::Error| CmdError::Custom(format!("ERR {e}"));
        let register: Function =
            self.lua.named_registry_value("engram.register_function").map_err(fail)?;
        let (env, finish): (Table, Function) =
            self.load_env.call((register, self.redis.clone(), self.lua.globals())).map_err(fail)?;
        chunk.set_environment(env).map_err(fail)?;
        *self.registering.borrow_mut() = Some(Vec::new());
        // A previous run's kill must not end this load.
        self.state.stopped.set(None);
        self.state.yielded.set(false);
        if self.state.dense_hook.get() {
            let _ = install_hook(&self.lua, &self.state, HOOK_INSTRUCTIONS);
        }
        *self.state.tracked.borrow_mut() = None;
        self.state.set_label("library");
        // A library's top level only registers functions; one that spins must not hold
        // apply forever (Redis allows it 500 ms too).
        self.state.load_deadline.set(Some(crate::clock::monotonic() + LOAD_TIMEOUT));
        let result = self.invoke.call::<MultiValue>((chunk, self.handler.clone()));
        self.state.load_deadline.set(None);
        let _ = finish.call::<()>(());
        let collected = self.registering.borrow_mut().take().unwrap_or_default();
        // The registered functions see the shared read-only globals directly, as the
        // load environment forwards them there anyway: the environment (a few tables and
        // closures, most of a small library's memory) then goes with the load.
        let globals = self.lua.globals();
        for (_, f, _) in &collected {
            let _ = f.set_environment(globals.clone());
        }
        // A load leaves its environment (a few tables and closures) as garbage, more
        // than a run does, and loads are rare: a collector step after each keeps the
        // heap of many loaded libraries nearer its live size than a step every 50th.
        let _ = self.lua.gc_step();
        let values = result
            .map_err(|e| CmdError::Custom(format!("ERR Error registering functions: {e}")))?;
        if let Some(Value::Boolean(false)) = values.front() {
            let text = match values.get(1) {
                Some(Value::Table(t)) => t.raw_get::<String>("err").unwrap_or_default(),
                _ => String::new(),
            };
            // The suffix names the library run, not a script: Redis words it without.
            let text = text.split(" script: library").next().unwrap_or_default().to_string();
            return Err(CmdError::Custom(format!("ERR Error registering functions: {text}")));
        }
        Ok(collected)
    }

    /// Runs `f` with the command callback wired to `host`.
    fn run(
        &mut self,
        f: Function,
        args: Option<(Table, Table)>,
        (seed, yield_after): (u64, Option<std::time::Duration>),
        tracking: Option<Tracking>,
        host: &mut dyn Host,
    ) -> Reply {
        self.state.resp3.set(false);
        self.state.stopped.set(None);
        self.state.yielded.set(false);
        self.state.yield_at.set(yield_after.map(|d| crate::clock::monotonic() + d));
        if self.state.dense_hook.get() {
            let _ = install_hook(&self.lua, &self.state, HOOK_INSTRUCTIONS);
        }
        self.state.rand48.set(srand48(seed as i32));
        *self.state.tracked.borrow_mut() =
            tracking.map(|t| (t.runtime, crate::clock::monotonic(), t.index));
        let (a, b) = match args {
            Some((keys, argv)) => (Value::Table(keys), Value::Table(argv)),
            None => (Value::Nil, Value::Nil),
        };
        let result = HOST.set(host, || self.invoke.call::<MultiValue>((f, &self.handler, a, b)));
        *self.state.tracked.borrow_mut() = None;
        self.state.yield_at.set(None);
        YIELDED.with(|y| y.set(self.state.yielded.get()));
        // Garbage is collected as Lua allocates; a step every few runs as well keeps the
        // heap near its live size between bursts (Redis steps every 50 calls).
        self.runs = self.runs.wrapping_add(1);
        if self.runs.is_multiple_of(GC_STEP_EVERY) {
            let _ = self.lua.gc_step();
        }
        match result {
            // (ok, value) from xpcall; on failure the value is the handler's `{err=}`.
            Ok(values) => {
                lua_to_reply(values.get(1).unwrap_or(&Value::Nil), self.state.resp3.get())
            }
            Err(e) => Reply::Error(CmdError::Custom(format!("ERR {e}"))),
        }
    }
}

/// `redis.call` and `redis.pcall`: C functions, not Lua wrappers, because `return
/// redis.call(...)` is a tail call and only a C callee leaves the script's frame (and
/// line) on the stack.
fn install_call(lua: &Lua, redis: &Table, state: &Rc<RunState>) -> mlua::Result<()> {
    let st = state.clone();
    let call = lua.create_function(move |lua, args: MultiValue| {
        let (reply, failed) = call_from_script(lua, &st, args)?;
        if failed {
            let (text, counted) = match &reply {
                Value::Table(t) => (
                    t.raw_get::<String>("err").unwrap_or_default(),
                    t.raw_get::<bool>("ignore_err_stats_update").unwrap_or(false),
                ),
                _ => (String::new(), false),
            };
            return Err(mlua::Error::external(ReplyError(text, counted)));
        }
        Ok(reply)
    })?;
    let st = state.clone();
    let pcall =
        lua.create_function(move |lua, args: MultiValue| Ok(call_from_script(lua, &st, args)?.0))?;
    redis.raw_set("call", call)?;
    redis.raw_set("pcall", pcall)
}

/// The Rust side of `redis.call` / `redis.pcall`: (reply, whether it is an error).
fn call_from_script(lua: &Lua, state: &RunState, args: MultiValue) -> mlua::Result<(Value, bool)> {
    let fail = |text: &str| -> mlua::Result<(Value, bool)> {
        let t = lua.create_table()?;
        t.raw_set("err", text)?;
        Ok((Value::Table(t), true))
    };
    if args.is_empty() {
        return fail("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in &args {
        match arg {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Number(n) => {
                argv.push(Bytes::from(crate::script::convert::format_number_arg(*n)))
            }
            Value::Integer(n) => argv.push(Bytes::from(n.to_string())),
            _ => return fail("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    if state.must_stop().is_some() {
        return Err(lua_err("ERR Script killed by user with SCRIPT KILL..."));
    }
    // Unset outside a run, and while a command runs (a command never calls back into a
    // script: those that could are refused as NOSCRIPT).
    if !HOST.is_set() {
        return Err(lua_err("redis.call is only available while a script runs"));
    }
    let reply = HOST.with(|host| host.call(&argv, &mut || state.before_write().is_none()));
    if state.stopped.get().is_some() {
        return Err(lua_err("ERR Script killed by user with SCRIPT KILL..."));
    }
    let failed = reply.is_error();
    Ok((reply_to_lua(lua, reply, state.resp3.get())?, failed))
}

thread_local! {
    static EVAL_VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    static FUNCTION_VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

fn with_vm<R>(kind: Kind, f: impl FnOnce(&mut Vm) -> R) -> Result<R, CmdError> {
    let cell = match kind {
        Kind::Eval => &EVAL_VM,
        Kind::Function => &FUNCTION_VM,
    };
    cell.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            let vm = Vm::new(kind).map_err(|e| {
                tracing::error!(error = %e, "cannot create the Lua machine");
                CmdError::Custom(format!("ERR cannot create the Lua machine: {e}"))
            })?;
            *slot = Some(vm);
        }
        let vm = slot.as_mut().ok_or(CmdError::Internal)?;
        let out = f(vm);
        let gauge = match kind {
            Kind::Eval => &EVAL_VM_BYTES,
            Kind::Function => &FUNCTION_VM_BYTES,
        };
        gauge.store(vm.lua.used_memory() as u64, Ordering::Relaxed);
        Ok(out)
    })
}

/// Drops this thread's function machine (FUNCTION FLUSH): the next function call builds
/// a fresh one from the libraries then current.
pub fn reset_function_vm() {
    FUNCTION_VM.with(|slot| slot.borrow_mut().take());
    FUNCTION_VM_BYTES.store(0, Ordering::Relaxed);
}

/// Builds the KEYS / ARGV tables.
fn string_table(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// Runs an EVAL script.
/// One call of a script: its KEYS and ARGV, the seed of its `math.random`, and how it
/// is tracked for -BUSY / SCRIPT KILL.
pub struct Invocation<'a> {
    pub keys: &'a [Bytes],
    pub args: &'a [Bytes],
    pub seed: u64,
    pub tracking: Option<Tracking>,
    /// Read-only scripts on a connection thread: stop after this long, so the caller
    /// can run the script again where it may block ([`last_run_yielded`]).
    pub yield_after: Option<std::time::Duration>,
}

thread_local! {
    static YIELDED: Cell<bool> = const { Cell::new(false) };
}

/// Whether the last run on this thread stopped at its `yield_after` (its reply is
/// meaningless; a read-only script can simply run again).
pub fn last_run_yielded() -> bool {
    YIELDED.with(Cell::get)
}

pub fn run_eval(
    generation: u64,
    sha: &str,
    body: &[u8],
    call: Invocation<'_>,
    host: &mut dyn Host,
) -> Reply {
    let Invocation { keys, args: argv, seed, tracking, yield_after } = call;
    let outcome = with_vm(Kind::Eval, |vm| -> Result<Reply, CmdError> {
        let f = vm.eval_function(generation, sha, body)?;
        let (globals, names) = (&vm.globals, &vm.keys_argv_names);
        string_table(&vm.lua, keys)
            .and_then(|t| globals.raw_set(&names.0, t))
            .and_then(|()| globals.raw_set(&names.1, string_table(&vm.lua, argv)?))
            .map_err(|e| CmdError::Custom(format!("ERR {e}")))?;
        vm.state.set_label(sha);
        Ok(vm.run(f, None, (seed, yield_after), tracking, host))
    });
    match outcome {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) | Err(e) => Reply::Error(e),
    }
}

/// Runs a function; `None` if no such function exists.
pub fn run_function(
    libraries: &Libraries,
    name: &str,
    call: Invocation<'_>,
    host: &mut dyn Host,
) -> Reply {
    let Invocation { keys, args: argv, seed, tracking, yield_after } = call;
    let outcome = with_vm(Kind::Function, |vm| -> Result<Reply, CmdError> {
        vm.sync_functions(libraries);
        let Some(f) = vm.functions.get(&name.to_ascii_lowercase()) else {
            return Err(CmdError::Custom("ERR Function not found".into()));
        };
        let tables = string_table(&vm.lua, keys)
            .and_then(|k| Ok((k, string_table(&vm.lua, argv)?)))
            .map_err(|e| CmdError::Custom(format!("ERR {e}")))?;
        vm.state.set_label(name);
        Ok(vm.run(f, Some(tables), (seed, yield_after), tracking, host))
    });
    match outcome {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) | Err(e) => Reply::Error(e),
    }
}

/// Compiles `code` (its `#!` line blanked) as a chunk of `kind`; a syntax error is
/// worded `ERR <what>: <Lua's message>`.
fn compile(lua: &Lua, kind: Kind, code: &[u8], what: &str) -> Result<Function, CmdError> {
    let source = crate::script::blank_shebang(code);
    lua.load(&*source).set_name(kind.chunk_name()).into_function().map_err(|e| {
        let message = match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        };
        CmdError::Custom(format!("ERR {what}: {message}"))
    })
}

/// What Redis calls a failed EVAL compilation.
const EVAL_COMPILE_ERROR: &str = "Error compiling script (new function)";

/// Compiles an EVAL body without running it (SCRIPT LOAD refuses what cannot compile).
pub fn compile_check(body: &[u8]) -> Result<(), CmdError> {
    with_vm(Kind::Eval, |vm| compile(&vm.lua, Kind::Eval, body, EVAL_COMPILE_ERROR).map(|_| ()))?
}

/// Loads `code` into a throwaway machine: what it registers, or why it cannot load.
pub fn check_library(code: &[u8]) -> Result<Vec<(String, FunctionMeta)>, CmdError> {
    // The thread's function machine: its globals are read-only, so a library's code
    // cannot leave anything behind, and a new machine per load would cost far more.
    let found = with_vm(Kind::Function, |vm| {
        let found = vm.load_library(code)?;
        let listed = found.iter().map(|(name, _, meta)| (name.clone(), meta.clone())).collect();
        vm.last_loaded = found;
        Ok::<_, CmdError>(listed)
    })??;
    Ok(found)
}

/// After FUNCTION LOAD applied the library [`check_library`] just loaded here: if this
/// thread's machine was current before (`before`), it takes that library's functions in
/// place of `replaced` and is current for `after`, without reloading every library.
/// A machine with no functions is current for an empty set of libraries whatever
/// generation it last saw (`before_empty`).
pub fn adopt_loaded(before: u64, before_empty: bool, after: u64, replaced: &[String]) {
    let _ = with_vm(Kind::Function, |vm| {
        let loaded = std::mem::take(&mut vm.last_loaded);
        let empty_and_current = before_empty && vm.functions.is_empty();
        if vm.functions_generation != before && !empty_and_current {
            return;
        }
        for name in replaced {
            vm.functions.remove(&name.to_ascii_lowercase());
        }
        for (name, f, _) in loaded {
            vm.functions.insert(&name.to_ascii_lowercase(), &f);
        }
        vm.functions_generation = after;
    });
}
