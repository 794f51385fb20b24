//! JSON: the RedisJSON 2.8 commands over `Value::Json` documents (the document model and
//! paths are `engram-json`; this file is the keyspace and reply glue).
//!
//! Replies, errors and their order follow RedisJSON 2.8, which checks the key before it
//! parses most arguments: `JSON.SET s $ '{bad'` on a string key answers "Existing key has
//! wrong Redis type", and `JSON.NUMINCRBY k $.str x` answers `[null]` without looking at
//! `x`. Which error wins therefore depends on the keyspace, so writes keep paths and JSON
//! values as bytes in `Parse` (which checks arity and keywords only) and parse them in
//! apply, in RedisJSON's order; a bad argument costs a log entry that applies as an error
//! and changes nothing. JSON.ARRAPPEND is the exception: RedisJSON parses its values
//! first, so `Parse` does too and bad values never reach the log.
//!
//! RESP3 differs from RESP2 for JSON.TYPE (wrapped in one more array) and
//! JSON.NUMINCRBY / JSON.NUMMULTBY (an array of numbers instead of a JSON text, and no
//! error for a legacy path without numbers): those replies are [`Reply::PerProto`].
//!
//! Apply is deterministic: documents keep member order, numbers are formatted by
//! `engram-json`, and nothing iterates a hash map.
//!
//! Keyspace events are RedisJSON's (`json.set`, `json.del`, `json.mset`,
//! `json.numincrby`, `json.nummultby`, `json.strappend`, `json.arrappend`,
//! `json.arrinsert`, `json.arrpop`, `json.arrtrim`, `json.clear`, `json.toggle`,
//! `json.merge`), recorded only when something changed, except that JSON.ARRTRIM notifies
//! whenever an array matched and JSON.MERGE after every successful merge (as RedisJSON);
//! deleting a whole document records `json.del` alone.

use bytes::Bytes;
use engram_json::{
    parse_index, parse_pop_index, resp_double_text, Document, Format, JsonError, NumOp, Output,
    Path, RespValue, SetCond,
};

use crate::cmd::spec::{
    read, write, CmdResult, CommandSpec, Flags, Group, KeyFlags, KeySpec, Parse, ReadCommand,
    WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::{DbMut, SharedValue, Value};
use crate::reply::Reply;

/// The module name clients look for in `MODULE LIST` (redis-py, redis-om, redisvl).
pub const MODULE_NAME: &str = "ReJSON";
/// RedisJSON's version as `MODULE LIST` reports it (the reference's 2.8.3).
pub const MODULE_VERSION: i64 = 20803;

const KEY: &[KeySpec] =
    &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE))];
/// JSON.DEBUG MEMORY's key follows the subcommand.
const DEBUG_KEY: &[KeySpec] =
    &[KeySpec::single(2, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE))];
const MSET_KEYS: &[KeySpec] =
    &[KeySpec::range(1, -1, 3, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE))];

const W: Flags = Flags::WRITE.with(Flags::MODULE);
const W_DENYOOM: Flags = Flags::WRITE.with(Flags::DENYOOM).with(Flags::MODULE);
const R: Flags = Flags::READONLY.with(Flags::MODULE);

/// A RedisJSON command: arity -1 (RedisJSON checks its own arity), one key at 1.
const fn json(
    name: &'static str,
    summary: &'static str,
    flags: Flags,
    exec: crate::cmd::Exec,
) -> CommandSpec {
    CommandSpec {
        name,
        group: Group::Json,
        summary,
        since: "1.0.0",
        complexity: "O(N)",
        arity: -1,
        flags,
        keys: KEY,
        exec,
        ..CommandSpec::DEFAULT
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    json("json.set", "Sets or updates the JSON value at a path.", W_DENYOOM, write::<JsonSet>()),
    json("json.get", "Gets the value at one or more paths in JSON.", R, read::<JsonGet>()),
    json("json.mget", "Returns the values at a path from one or more keys.", R, read::<JsonMGet>()),
    CommandSpec {
        keys: MSET_KEYS,
        ..json(
            "json.mset",
            "Sets or updates the JSON value of one or more keys.",
            W_DENYOOM,
            write::<JsonMSet>(),
        )
    },
    json("json.del", "Deletes a value.", W, write::<JsonDel<false>>()),
    json("json.forget", "Deletes a value.", W, write::<JsonDel<true>>()),
    json("json.type", "Returns the type of the JSON value at path.", R, read::<JsonType>()),
    json(
        "json.numincrby",
        "Increments the numeric value at path by a value.",
        W,
        write::<JsonNum<{ NUM_INCR }>>(),
    ),
    json(
        "json.nummultby",
        "Multiplies the numeric value at path by a value.",
        W,
        write::<JsonNum<{ NUM_MULT }>>(),
    ),
    json(
        "json.strappend",
        "Appends a string to a JSON string value at path.",
        W_DENYOOM,
        write::<JsonStrAppend>(),
    ),
    json("json.strlen", "Returns the length of the JSON String at path.", R, read::<JsonStrLen>()),
    json(
        "json.arrappend",
        "Appends one or more JSON values into the array at path.",
        W_DENYOOM,
        write::<JsonArrAppend>(),
    ),
    json("json.arrlen", "Returns the length of the array at path.", R, read::<JsonArrLen>()),
    json("json.objkeys", "Returns the JSON keys of the object at path.", R, read::<JsonObjKeys>()),
    json(
        "json.objlen",
        "Returns the number of keys of the object at path.",
        R,
        read::<JsonObjLen>(),
    ),
    json(
        "json.arrindex",
        "Returns the index of the first occurrence of a JSON scalar value in the array at path",
        R,
        read::<JsonArrIndex>(),
    ),
    json(
        "json.arrinsert",
        "Inserts the JSON scalar(s) value at the specified index in the array at path",
        W_DENYOOM,
        write::<JsonArrInsert>(),
    ),
    json(
        "json.arrpop",
        "Removes and returns the element at the specified index in the array at path",
        W,
        write::<JsonArrPop>(),
    ),
    json(
        "json.arrtrim",
        "Trims the array at path to contain only the specified inclusive range of indices",
        W,
        write::<JsonArrTrim>(),
    ),
    json(
        "json.clear",
        "Clears all values from an array or an object and sets numeric values to `0`",
        W,
        write::<JsonClear>(),
    ),
    json("json.toggle", "Toggles a boolean value", W_DENYOOM, write::<JsonToggle>()),
    json(
        "json.merge",
        "Merges a given JSON value into matching paths.",
        W_DENYOOM,
        write::<JsonMerge>(),
    ),
    json(
        "json.resp",
        "Returns the JSON value at path in Redis Serialization Protocol (RESP)",
        R,
        read::<JsonResp>(),
    ),
    // Arity -1 with the key at 2, as RedisJSON reports it.
    CommandSpec {
        keys: DEBUG_KEY,
        arity: -1,
        ..json("json.debug", "Debugging container command", R, read::<JsonDebug>())
    },
];

// ---------------------------------------------------------------------------------------
// Shared helpers

fn wrong_key_type() -> CmdError {
    CmdError::Custom("Existing key has wrong Redis type".into())
}

fn no_key() -> CmdError {
    CmdError::err("could not perform this operation on a key that doesn't exist")
}

fn jerr(e: JsonError) -> CmdError {
    CmdError::Custom(e.to_string())
}

fn arity(name: &str) -> CmdError {
    CmdError::WrongArity(name.to_string())
}

fn text(b: &[u8]) -> Result<&str, CmdError> {
    std::str::from_utf8(b).map_err(|_| CmdError::Custom("Couldn't parse as UTF-8 string".into()))
}

/// The path argument, or the legacy root `.` when it is absent.
fn path_of(arg: Option<&Bytes>) -> Result<Path, CmdError> {
    match arg {
        Some(p) => Path::parse(text(p)?).map_err(jerr),
        None => Ok(Path::root_legacy()),
    }
}

/// The path argument for JSON.TYPE, JSON.OBJKEYS and JSON.OBJLEN, which answer null for a
/// legacy path that does not parse (`None`) and the syntax error only for a `$` path.
fn lenient_path(arg: Option<&Bytes>) -> Result<Option<Path>, CmdError> {
    match path_of(arg) {
        Ok(p) => Ok(Some(p)),
        Err(_) if !is_dollar(arg) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a path argument is a `$` path (RedisJSON decides this from the text before
/// parsing it, so it also answers for paths that do not parse).
fn is_dollar(arg: Option<&Bytes>) -> bool {
    arg.is_some_and(|p| p.first() == Some(&b'$') && matches!(p.get(1), None | Some(b'.' | b'[')))
}

/// The same selection as a `$` path: every match, not only the first.
fn all_matches(path: &Path) -> Result<Path, CmdError> {
    if path.is_legacy() {
        Path::parse(path.text()).map_err(jerr)
    } else {
        Ok(path.clone())
    }
}

fn parse_value(b: &[u8]) -> Result<Document, CmdError> {
    Document::parse(text(b)?).map_err(jerr)
}

/// The document at `key` for a read (`None`: no key).
fn read_doc<'a>(cx: &'a ReadCtx<'_>, key: &[u8]) -> Result<Option<&'a Document>, CmdError> {
    match cx.db().get(key, cx.now_ms) {
        None => Ok(None),
        Some(Value::Json(d)) => Ok(Some(&**d)),
        Some(_) => Err(wrong_key_type()),
    }
}

/// The document at `key` for a write, read-only (`None`: no key).
fn peek_doc<'a>(
    db: &'a mut DbMut<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a Document>, CmdError> {
    match db.get(key, now_ms) {
        None => Ok(None),
        Some(Value::Json(d)) => Ok(Some(&**d)),
        Some(_) => Err(wrong_key_type()),
    }
}

/// The document at `key` for a change, after [`peek_doc`] found it. Records no event
/// (the caller records one if something changed).
fn doc_mut<'a>(
    db: &'a mut DbMut<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<&'a mut Document, CmdError> {
    match db.value_mut_silent(key, now_ms) {
        Some(Value::Json(d)) => Ok(&mut **d),
        _ => Err(CmdError::Internal),
    }
}

fn usize_reply(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A per-path result as a reply: the value itself for a legacy path, an array with a
/// null per non-matching location for a `$` path.
fn output<T>(o: Output<Option<T>>, f: impl Fn(T) -> Reply) -> Reply {
    match o {
        Output::Legacy(x) => x.map_or(Reply::Null, f),
        Output::Each(v) => Reply::Array(v.into_iter().map(|x| x.map_or(Reply::Null, &f)).collect()),
    }
}

/// Whether any location of an [`Output`] had the right type (then the command changed it).
fn any_some<T>(o: &Output<Option<T>>) -> bool {
    match o {
        Output::Legacy(x) => x.is_some(),
        Output::Each(v) => v.iter().any(Option::is_some),
    }
}

/// The type names of every location `every` (a path from [`all_matches`]) selects.
fn types_of(doc: &Document, every: &Path) -> Vec<&'static str> {
    match doc.type_of(every) {
        Output::Each(v) => v.into_iter().flatten().collect(),
        Output::Legacy(t) => t.into_iter().collect(),
    }
}

/// Takes optional arguments RedisJSON ignores after the ones a command reads.
fn ignore_rest(args: &mut Args<'_>) {
    args.take_rest();
}

// ---------------------------------------------------------------------------------------
// JSON.SET / JSON.MSET

/// `JSON.SET key path value [NX | XX]`
struct JsonSet {
    key: Bytes,
    path: Bytes,
    value: Bytes,
    cond: SetCond,
}

impl Parse for JsonSet {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() < 3 {
            return Err(arity("json.set"));
        }
        let (key, path, value) = (args.next_bytes()?, args.next_bytes()?, args.next_bytes()?);
        let cond = if args.eat("NX") {
            SetCond::Nx
        } else if args.eat("XX") {
            SetCond::Xx
        } else {
            SetCond::Always
        };
        args.finish()?;
        Ok(JsonSet { key, path, value, cond })
    }
}

impl WriteCommand for JsonSet {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        let exists = peek_doc(&mut db, &self.key, now)?.is_some();
        let value = parse_value(&self.value)?;
        if !exists {
            // XX on a missing key is nil whatever the path (even one that does not parse).
            if self.cond == SetCond::Xx {
                return Ok(Reply::Null);
            }
            let root = text(&self.path).ok().and_then(|p| Path::parse(p).ok());
            let Some(path) = root.filter(Path::is_root) else {
                return Err(CmdError::err("new objects must be created at the root"));
            };
            return match Document::new_at(&path, value, self.cond).map_err(jerr)? {
                Some(doc) => {
                    db.set(self.key, Value::Json(SharedValue::new(doc)), None, "json.set");
                    Ok(Reply::ok())
                }
                None => Ok(Reply::Null),
            };
        }
        let path = path_of(Some(&self.path))?;
        let doc = doc_mut(&mut db, &self.key, now)?;
        if doc.set(&path, value, self.cond).map_err(jerr)? {
            db.event(&self.key, "json.set");
            Ok(Reply::ok())
        } else {
            Ok(Reply::Null)
        }
    }
}

/// `JSON.MSET key path value [key path value ...]`: all or nothing, applied in order.
struct JsonMSet {
    triples: Vec<(Bytes, Bytes, Bytes)>,
}

impl Parse for JsonMSet {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let rest = args.take_rest();
        if rest.is_empty() || !rest.len().is_multiple_of(3) {
            return Err(arity("json.mset"));
        }
        let triples =
            rest.chunks_exact(3).map(|t| (t[0].clone(), t[1].clone(), t[2].clone())).collect();
        Ok(JsonMSet { triples })
    }
}

impl WriteCommand for JsonMSet {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        // The documents as they will be, in first-touched order; later triples on the
        // same key see the earlier ones' changes.
        let mut staged: Vec<(Bytes, Document)> = Vec::new();
        for (key, path, value) in &self.triples {
            let at = match staged.iter().position(|(k, _)| k == key) {
                Some(i) => Some(i),
                None => match peek_doc(&mut db, key, now)? {
                    Some(d) => {
                        staged.push((key.clone(), d.clone()));
                        Some(staged.len() - 1)
                    }
                    None => None,
                },
            };
            match at {
                None => {
                    let root = text(path).ok().and_then(|p| Path::parse(p).ok());
                    if !root.as_ref().is_some_and(Path::is_root) {
                        return Err(CmdError::err("new objects must be created at the root"));
                    }
                    staged.push((key.clone(), parse_value(value)?));
                }
                Some(i) => {
                    let path = path_of(Some(path))?;
                    let value = parse_value(value)?;
                    staged[i].1.set(&path, value, SetCond::Always).map_err(jerr)?;
                }
            }
        }
        for (key, doc) in staged {
            db.set_keep_ttl(key, Value::Json(SharedValue::new(doc)), now, "json.mset");
        }
        Ok(Reply::ok())
    }
}

// ---------------------------------------------------------------------------------------
// JSON.GET / JSON.MGET

/// `JSON.GET key [INDENT s] [NEWLINE s] [SPACE s] [NOESCAPE] [path ...]`
struct JsonGet {
    key: Bytes,
    format: Format,
    paths: Vec<Bytes>,
}

impl Parse for JsonGet {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.is_empty() {
            return Err(arity("json.get"));
        }
        let key = args.next_bytes()?;
        let mut format = Format::default();
        let mut paths = Vec::new();
        while !args.is_empty() {
            let slot = if args.eat("INDENT") {
                &mut format.indent
            } else if args.eat("NEWLINE") {
                &mut format.newline
            } else if args.eat("SPACE") {
                &mut format.space
            } else if args.eat("NOESCAPE") {
                continue;
            } else {
                paths.push(args.next_bytes()?);
                continue;
            };
            let v = args.next_bytes().map_err(|_| arity("json.get"))?;
            *slot = String::from_utf8_lossy(&v).into_owned();
        }
        Ok(JsonGet { key, format, paths })
    }
}

impl ReadCommand for JsonGet {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(doc) = read_doc(cx, &self.key)? else { return Ok(Reply::Null) };
        match self.paths.as_slice() {
            [] => doc.get(&Path::root_legacy(), &self.format).map(bulk).map_err(jerr),
            [one] => doc.get(&path_of(Some(one))?, &self.format).map(bulk).map_err(jerr),
            many => get_many(doc, many, &self.format).map(bulk),
        }
    }
}

/// JSON.GET with several paths: an object keyed by each path as written. Paths that do
/// not parse are left out (as RedisJSON does); if any path is a `$` path every member is
/// an array of matches, otherwise a single value and a missing path is an error.
fn get_many(doc: &Document, paths: &[Bytes], f: &Format) -> Result<String, CmdError> {
    let legacy = !paths.iter().any(|p| is_dollar(Some(p)));
    let mut members = serde_json::Map::new();
    for raw in paths {
        let Ok(path) = text(raw).and_then(|t| Path::parse(t).map_err(jerr)) else { continue };
        let found = doc.query(&path);
        let v = if legacy {
            let Some(first) = found.first() else {
                return Err(CmdError::Custom(format!(
                    "ERR Path '{}' does not exist",
                    path.original()
                )));
            };
            reparse(first)
        } else {
            serde_json::Value::Array(found.iter().map(|s| reparse(s)).collect())
        };
        members.insert(path.original().to_string(), v);
    }
    Ok(Document::from_value(serde_json::Value::Object(members)).to_json(f))
}

/// Reads back a value `engram-json` serialised (exact: float_roundtrip is on).
fn reparse(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or(serde_json::Value::Null)
}

/// A bulk reply holding `s`.
fn bulk(s: String) -> Reply {
    Reply::Bulk(Bytes::from(s))
}

/// `JSON.MGET key [key ...] path`
struct JsonMGet {
    keys: Vec<Bytes>,
    path: Bytes,
}

impl Parse for JsonMGet {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let rest = args.take_rest();
        let Some((path, keys)) = rest.split_last().filter(|(_, k)| !k.is_empty()) else {
            return Err(arity("json.mget"));
        };
        Ok(JsonMGet { keys: keys.to_vec(), path: path.clone() })
    }
}

impl ReadCommand for JsonMGet {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let path = path_of(Some(&self.path)).ok();
        let f = Format::default();
        let items = self
            .keys
            .iter()
            .map(|key| match (cx.db().get(key, cx.now_ms), &path) {
                (Some(Value::Json(d)), Some(p)) => d.get(p, &f).map_or(Reply::Null, bulk),
                _ => Reply::Null,
            })
            .collect();
        Ok(Reply::Array(items))
    }
}

// ---------------------------------------------------------------------------------------
// JSON.DEL / JSON.FORGET / JSON.TYPE

/// `JSON.DEL key [path]` (`JSON.FORGET` is the same command)
struct JsonDel<const FORGET: bool> {
    key: Bytes,
    path: Option<Bytes>,
}

impl<const FORGET: bool> Parse for JsonDel<FORGET> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.is_empty() {
            return Err(arity(if FORGET { "json.forget" } else { "json.del" }));
        }
        let key = args.next_bytes()?;
        let path = args.next_bytes().ok();
        ignore_rest(args);
        Ok(JsonDel { key, path })
    }
}

impl<const FORGET: bool> WriteCommand for JsonDel<FORGET> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        if peek_doc(&mut db, &self.key, now)?.is_none() {
            return Ok(Reply::Int(0));
        }
        let path = path_of(self.path.as_ref())?;
        if path.is_root() {
            db.remove(&self.key, now, "json.del");
            return Ok(Reply::Int(1));
        }
        let deleted = doc_mut(&mut db, &self.key, now)?.del(&path);
        if deleted > 0 {
            db.event(&self.key, "json.del");
        }
        Ok(usize_reply(deleted))
    }
}

/// `JSON.TYPE key [path]`
struct JsonType {
    key: Bytes,
    path: Option<Bytes>,
}

impl Parse for JsonType {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.is_empty() {
            return Err(arity("json.type"));
        }
        let key = args.next_bytes()?;
        let path = args.next_bytes().ok();
        ignore_rest(args);
        Ok(JsonType { key, path })
    }
}

impl ReadCommand for JsonType {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let resp2 = match read_doc(cx, &self.key)? {
            None => Reply::Null,
            Some(doc) => match lenient_path(self.path.as_ref())? {
                Some(path) => output(doc.type_of(&path), Reply::bulk),
                None => Reply::Null,
            },
        };
        // RESP3 wraps the RESP2 reply in one more array (a null too).
        let resp3 = Reply::Array(vec![resp2.clone()]);
        Ok(Reply::PerProto(Box::new((resp2, resp3))))
    }
}

// ---------------------------------------------------------------------------------------
// JSON.NUMINCRBY / JSON.NUMMULTBY

const NUM_INCR: u8 = 0;
const NUM_MULT: u8 = 1;

/// `JSON.NUMINCRBY key path value` / `JSON.NUMMULTBY key path value`
struct JsonNum<const OP: u8> {
    key: Bytes,
    path: Bytes,
    by: Bytes,
}

impl<const OP: u8> JsonNum<OP> {
    fn op() -> (NumOp, &'static str) {
        if OP == NUM_INCR {
            (NumOp::Incr, "json.numincrby")
        } else {
            (NumOp::Mult, "json.nummultby")
        }
    }
}

impl<const OP: u8> Parse for JsonNum<OP> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() < 3 {
            return Err(arity(Self::op().1));
        }
        let (key, path, by) = (args.next_bytes()?, args.next_bytes()?, args.next_bytes()?);
        ignore_rest(args);
        Ok(JsonNum { key, path, by })
    }
}

impl<const OP: u8> WriteCommand for JsonNum<OP> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let (op, event) = Self::op();
        let now = cx.now_ms;
        let mut db = cx.db();
        let doc = peek_doc(&mut db, &self.key, now)?.ok_or_else(no_key)?;
        let path = path_of(Some(&self.path))?;
        let every = all_matches(&path)?;
        let types = types_of(doc, &every);
        let numeric = |t: &str| t == "integer" || t == "number";
        if !types.iter().any(|t| numeric(t)) {
            // Nothing to change; RedisJSON does not even parse the number then.
            let resp2 = if path.is_legacy() {
                Reply::Error(CmdError::Custom(format!(
                    "ERR Path '{}' does not exist or does not contains a number",
                    path.text()
                )))
            } else {
                bulk(format!("[{}]", vec!["null"; types.len()].join(",")))
            };
            let resp3 = Reply::Array(vec![Reply::Null; types.len()]);
            return Ok(Reply::PerProto(Box::new((resp2, resp3))));
        }
        let by = text(&self.by)?;
        let results = doc_mut(&mut db, &self.key, now)?.num_op(&every, op, by).map_err(jerr)?;
        db.event(&self.key, event);
        let values = match reparse(&results) {
            serde_json::Value::Array(v) => v,
            _ => Vec::new(),
        };
        let resp2 = if path.is_legacy() {
            // The last number changed, as RedisJSON reports a legacy path.
            let last = values.iter().rev().find(|v| v.is_number()).cloned();
            let last = last.unwrap_or(serde_json::Value::Null);
            bulk(Document::from_value(last).to_json(&Format::default()))
        } else {
            bulk(results)
        };
        let resp3 = Reply::Array(
            values
                .iter()
                .map(|v| match v.as_i64() {
                    Some(i) => Reply::Int(i),
                    // As Redis writes a module's double (`2e-9`, `9223372036854776000`).
                    None => {
                        v.as_f64().map_or(Reply::Null, |d| Reply::DoubleText(resp_double_text(d)))
                    }
                })
                .collect(),
        );
        Ok(Reply::PerProto(Box::new((resp2, resp3))))
    }
}

// ---------------------------------------------------------------------------------------
// Strings

/// `JSON.STRAPPEND key [path] value`
struct JsonStrAppend {
    key: Bytes,
    path: Option<Bytes>,
    value: Bytes,
}

impl Parse for JsonStrAppend {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() < 2 {
            return Err(arity("json.strappend"));
        }
        let key = args.next_bytes()?;
        let (path, value) = if args.remaining() == 1 {
            (None, args.next_bytes()?)
        } else {
            (Some(args.next_bytes()?), args.next_bytes()?)
        };
        ignore_rest(args);
        Ok(JsonStrAppend { key, path, value })
    }
}

impl WriteCommand for JsonStrAppend {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        let doc = peek_doc(&mut db, &self.key, now)?.ok_or_else(no_key)?;
        let path = path_of(self.path.as_ref())?;
        let types = types_of(doc, &all_matches(&path)?);
        if !types.contains(&"string") {
            // RedisJSON reads the value only when there is a string to append to.
            return if path.is_legacy() {
                Err(CmdError::Custom(format!(
                    "ERR Path '{}' does not exist or not a string",
                    path.text()
                )))
            } else {
                Ok(Reply::Array(vec![Reply::Null; types.len()]))
            };
        }
        let value = Document::parse(text(&self.value)?)
            .map_err(|e| CmdError::Custom(format!("ERR {e}")))?;
        let out = doc_mut(&mut db, &self.key, now)?.str_append(&path, &value).map_err(jerr)?;
        if any_some(&out) {
            db.event(&self.key, "json.strappend");
        }
        Ok(output(out, usize_reply))
    }
}

/// The read commands' common shape: `JSON.X key [path]`, further arguments ignored.
struct KeyPath {
    key: Bytes,
    path: Option<Bytes>,
}

fn key_path(args: &mut Args<'_>, name: &str) -> Result<KeyPath, CmdError> {
    if args.is_empty() {
        return Err(arity(name));
    }
    let key = args.next_bytes()?;
    let path = args.next_bytes().ok();
    ignore_rest(args);
    Ok(KeyPath { key, path })
}

/// A missing key: null for a legacy path, an error for a `$` path.
fn missing(kp: &KeyPath, dollar_error: CmdError) -> CmdResult {
    if is_dollar(kp.path.as_ref()) {
        Err(dollar_error)
    } else {
        Ok(Reply::Null)
    }
}

/// `JSON.STRLEN key [path]`
struct JsonStrLen(KeyPath);

impl Parse for JsonStrLen {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        key_path(args, "json.strlen").map(JsonStrLen)
    }
}

impl ReadCommand for JsonStrLen {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(doc) = read_doc(cx, &self.0.key)? else { return missing(&self.0, no_key()) };
        let out = doc.str_len(&path_of(self.0.path.as_ref())?).map_err(jerr)?;
        Ok(output(out, usize_reply))
    }
}

// ---------------------------------------------------------------------------------------
// Arrays

/// `JSON.ARRAPPEND key path value [value ...]`
struct JsonArrAppend {
    key: Bytes,
    path: Bytes,
    values: Vec<Document>,
}

impl Parse for JsonArrAppend {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() < 3 {
            return Err(arity("json.arrappend"));
        }
        let (key, path) = (args.next_bytes()?, args.next_bytes()?);
        // RedisJSON parses the values before it looks at the key.
        let values = args.take_rest().iter().map(|v| parse_value(v)).collect::<Result<_, _>>()?;
        Ok(JsonArrAppend { key, path, values })
    }
}

impl WriteCommand for JsonArrAppend {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        peek_doc(&mut db, &self.key, now)?.ok_or_else(no_key)?;
        let path = path_of(Some(&self.path))?;
        let out =
            doc_mut(&mut db, &self.key, now)?.arr_append(&path, &self.values).map_err(jerr)?;
        if any_some(&out) {
            db.event(&self.key, "json.arrappend");
        }
        Ok(output(out, usize_reply))
    }
}

/// `JSON.ARRLEN key [path]`
struct JsonArrLen(KeyPath);

impl Parse for JsonArrLen {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        key_path(args, "json.arrlen").map(JsonArrLen)
    }
}

impl ReadCommand for JsonArrLen {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(doc) = read_doc(cx, &self.0.key)? else { return missing(&self.0, no_key()) };
        let out = doc.arr_len(&path_of(self.0.path.as_ref())?).map_err(jerr)?;
        Ok(output(out, usize_reply))
    }
}

// ---------------------------------------------------------------------------------------
// Objects

/// `JSON.OBJKEYS key [path]`
struct JsonObjKeys(KeyPath);

impl Parse for JsonObjKeys {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        key_path(args, "json.objkeys").map(JsonObjKeys)
    }
}

impl ReadCommand for JsonObjKeys {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(doc) = read_doc(cx, &self.0.key)? else { return missing(&self.0, no_key()) };
        let Some(path) = lenient_path(self.0.path.as_ref())? else { return Ok(Reply::Null) };
        let out = doc.obj_keys(&path).map_err(jerr)?;
        Ok(output(out, |keys| Reply::Array(keys.into_iter().map(bulk).collect())))
    }
}

/// `JSON.OBJLEN key [path]`
struct JsonObjLen(KeyPath);

impl Parse for JsonObjLen {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        key_path(args, "json.objlen").map(JsonObjLen)
    }
}

impl ReadCommand for JsonObjLen {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(doc) = read_doc(cx, &self.0.key)? else {
            let shown = self.0.path.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let err =
                CmdError::Custom(format!("ERR Path '{shown}' does not exist or not an object"));
            return missing(&self.0, err);
        };
        let Some(path) = lenient_path(self.0.path.as_ref())? else { return Ok(Reply::Null) };
        let out = doc.obj_len(&path).map_err(jerr)?;
        Ok(output(out, usize_reply))
    }
}

// ---------------------------------------------------------------------------------------
// JSON.ARRINDEX / JSON.ARRINSERT / JSON.ARRPOP / JSON.ARRTRIM

/// An integer argument as RedisJSON reads it (`Couldn't parse as integer`).
fn index_arg(b: &[u8]) -> Result<i64, CmdError> {
    let t = std::str::from_utf8(b).map_err(|_| jerr(JsonError::not_an_integer()))?;
    parse_index(t).map_err(jerr)
}

/// `JSON.ARRINDEX key path value [start [stop]]`: the value, start and stop are checked
/// before the key, as RedisJSON does.
struct JsonArrIndex {
    key: Bytes,
    path: Bytes,
    value: Document,
    start: i64,
    stop: i64,
}

impl Parse for JsonArrIndex {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if !(3..=5).contains(&args.remaining()) {
            return Err(arity("json.arrindex"));
        }
        let (key, path, value) = (args.next_bytes()?, args.next_bytes()?, args.next_bytes()?);
        let value = Document::parse_exact(text(&value)?).map_err(jerr)?;
        let start = match args.next_bytes() {
            Ok(b) => index_arg(&b)?,
            Err(_) => 0,
        };
        let stop = match args.next_bytes() {
            Ok(b) => index_arg(&b)?,
            Err(_) => 0,
        };
        Ok(JsonArrIndex { key, path, value, start, stop })
    }
}

impl ReadCommand for JsonArrIndex {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(doc) = read_doc(cx, &self.key)? else {
            // The path as written, parsed or not.
            return Err(CmdError::Custom(format!(
                "ERR Path '{}' does not exist",
                String::from_utf8_lossy(&self.path)
            )));
        };
        let path = path_of(Some(&self.path))?;
        let out = doc.arr_index(&path, &self.value, self.start, self.stop).map_err(jerr)?;
        Ok(output(out, Reply::Int))
    }
}

/// `JSON.ARRINSERT key path index value [value ...]`: the index and the values are
/// checked before the key.
struct JsonArrInsert {
    key: Bytes,
    path: Bytes,
    index: i64,
    values: Vec<Document>,
}

impl Parse for JsonArrInsert {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() < 4 {
            return Err(arity("json.arrinsert"));
        }
        let (key, path) = (args.next_bytes()?, args.next_bytes()?);
        let index = index_arg(&args.next_bytes()?)?;
        let values = args.take_rest().iter().map(|v| parse_value(v)).collect::<Result<_, _>>()?;
        Ok(JsonArrInsert { key, path, index, values })
    }
}

impl WriteCommand for JsonArrInsert {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        peek_doc(&mut db, &self.key, now)?.ok_or_else(|| jerr(JsonError::no_such_key()))?;
        let path = path_of(Some(&self.path))?;
        let out = doc_mut(&mut db, &self.key, now)?
            .arr_insert(&path, self.index, &self.values)
            .map_err(jerr)?;
        if any_some(&out) {
            db.event(&self.key, "json.arrinsert");
        }
        Ok(output(out, usize_reply))
    }
}

/// `JSON.ARRPOP key [path [index]]`: an index that is not an integer means -1 (the last
/// element), as in RedisJSON; further arguments are ignored.
struct JsonArrPop {
    key: Bytes,
    path: Option<Bytes>,
    index: i64,
}

impl Parse for JsonArrPop {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.is_empty() {
            return Err(arity("json.arrpop"));
        }
        let key = args.next_bytes()?;
        let path = args.next_bytes().ok();
        let index = match args.next_bytes() {
            Ok(b) => std::str::from_utf8(&b).map_or(-1, parse_pop_index),
            Err(_) => -1,
        };
        ignore_rest(args);
        Ok(JsonArrPop { key, path, index })
    }
}

impl WriteCommand for JsonArrPop {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        peek_doc(&mut db, &self.key, now)?.ok_or_else(|| jerr(JsonError::no_such_key()))?;
        let path = path_of(self.path.as_ref())?;
        let out = doc_mut(&mut db, &self.key, now)?.arr_pop(&path, self.index).map_err(jerr)?;
        if any_some(&out) {
            db.event(&self.key, "json.arrpop");
        }
        Ok(output(out, bulk))
    }
}

/// `JSON.ARRTRIM key path start stop`: start and stop are checked before the key; further
/// arguments are ignored.
struct JsonArrTrim {
    key: Bytes,
    path: Bytes,
    start: i64,
    stop: i64,
}

impl Parse for JsonArrTrim {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() < 4 {
            return Err(arity("json.arrtrim"));
        }
        let (key, path) = (args.next_bytes()?, args.next_bytes()?);
        let start = index_arg(&args.next_bytes()?)?;
        let stop = index_arg(&args.next_bytes()?)?;
        ignore_rest(args);
        Ok(JsonArrTrim { key, path, start, stop })
    }
}

impl WriteCommand for JsonArrTrim {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        peek_doc(&mut db, &self.key, now)?.ok_or_else(|| jerr(JsonError::no_such_key()))?;
        let path = path_of(Some(&self.path))?;
        let out = doc_mut(&mut db, &self.key, now)?
            .arr_trim(&path, self.start, self.stop)
            .map_err(jerr)?;
        // RedisJSON notifies whenever an array matched, changed or not.
        if any_some(&out) {
            db.event(&self.key, "json.arrtrim");
        }
        Ok(output(out, usize_reply))
    }
}

// ---------------------------------------------------------------------------------------
// JSON.CLEAR / JSON.TOGGLE / JSON.MERGE

/// `JSON.CLEAR key [path]`
struct JsonClear(KeyPath);

impl Parse for JsonClear {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        key_path(args, "json.clear").map(JsonClear)
    }
}

impl WriteCommand for JsonClear {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        let key = &self.0.key;
        peek_doc(&mut db, key, now)?.ok_or_else(|| jerr(JsonError::no_such_key()))?;
        let path = path_of(self.0.path.as_ref())?;
        let cleared = doc_mut(&mut db, key, now)?.clear(&path);
        if cleared > 0 {
            db.event(key, "json.clear");
        }
        Ok(usize_reply(cleared))
    }
}

/// `JSON.TOGGLE key path` (the path is required; further arguments are ignored)
struct JsonToggle {
    key: Bytes,
    path: Bytes,
}

impl Parse for JsonToggle {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() < 2 {
            return Err(arity("json.toggle"));
        }
        let (key, path) = (args.next_bytes()?, args.next_bytes()?);
        ignore_rest(args);
        Ok(JsonToggle { key, path })
    }
}

impl WriteCommand for JsonToggle {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        peek_doc(&mut db, &self.key, now)?.ok_or_else(|| jerr(JsonError::no_such_key()))?;
        let path = path_of(Some(&self.path))?;
        let out = doc_mut(&mut db, &self.key, now)?.toggle(&path).map_err(jerr)?;
        if any_some(&out) {
            db.event(&self.key, "json.toggle");
        }
        // A legacy path answers the new value as text, a `$` path 1 / 0 per match.
        Ok(match out {
            Output::Legacy(b) => b.map_or(Reply::Null, |b| bulk(b.to_string())),
            Output::Each(v) => Reply::Array(
                v.into_iter()
                    .map(|b| b.map_or(Reply::Null, |b| Reply::Int(i64::from(b))))
                    .collect(),
            ),
        })
    }
}

/// `JSON.MERGE key path value`
struct JsonMerge {
    key: Bytes,
    path: Bytes,
    value: Bytes,
}

impl Parse for JsonMerge {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.remaining() < 3 {
            return Err(arity("json.merge"));
        }
        let (key, path, value) = (args.next_bytes()?, args.next_bytes()?, args.next_bytes()?);
        args.finish()?;
        Ok(JsonMerge { key, path, value })
    }
}

impl WriteCommand for JsonMerge {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now = cx.now_ms;
        let mut db = cx.db();
        // RedisJSON's order: the key's type, the value, then the path.
        let exists = peek_doc(&mut db, &self.key, now)?.is_some();
        let patch = parse_value(&self.value)?;
        if !exists {
            let root = text(&self.path).ok().and_then(|p| Path::parse(p).ok());
            let Some(path) = root.filter(Path::is_root) else {
                return Err(CmdError::err("new objects must be created at the root"));
            };
            // A new key holds the patch as given, nulls included (as RedisJSON does).
            let Some(doc) = Document::new_at(&path, patch, SetCond::Always).map_err(jerr)? else {
                return Ok(Reply::Null);
            };
            db.set(self.key, Value::Json(SharedValue::new(doc)), None, "json.merge");
            return Ok(Reply::ok());
        }
        let path = path_of(Some(&self.path))?;
        let doc = doc_mut(&mut db, &self.key, now)?;
        // Where the path selects nothing, the patch is set as given (nil if its parent is
        // missing too).
        if !doc.merge(&path, &patch).map_err(jerr)? {
            return Ok(Reply::Null);
        }
        // RedisJSON notifies every successful merge, changed or not.
        db.event(&self.key, "json.merge");
        Ok(Reply::ok())
    }
}

// ---------------------------------------------------------------------------------------
// JSON.RESP / JSON.DEBUG

/// `JSON.RESP key [path]` (further arguments are ignored)
struct JsonResp(KeyPath);

impl Parse for JsonResp {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        key_path(args, "json.resp").map(JsonResp)
    }
}

/// A JSON value as JSON.RESP encodes it: containers are arrays led by the simple string
/// `[` or `{`, booleans simple strings, doubles as Redis writes a module's double.
fn resp_reply(v: RespValue) -> Reply {
    match v {
        RespValue::Null => Reply::Null,
        RespValue::Bool(b) => Reply::Status(if b { "true" } else { "false" }.into()),
        RespValue::Int(i) => Reply::Int(i),
        RespValue::Double(d) => Reply::DoubleText(resp_double_text(d)),
        RespValue::Str(s) => bulk(s),
        RespValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len() + 1);
            out.push(Reply::Status("[".into()));
            out.extend(items.into_iter().map(resp_reply));
            Reply::Array(out)
        }
        RespValue::Object(members) => {
            let mut out = Vec::with_capacity(2 * members.len() + 1);
            out.push(Reply::Status("{".into()));
            for (k, v) in members {
                out.push(bulk(k));
                out.push(resp_reply(v));
            }
            Reply::Array(out)
        }
    }
}

impl ReadCommand for JsonResp {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(doc) = read_doc(cx, &self.0.key)? else { return Ok(Reply::Null) };
        let out = doc.resp(&path_of(self.0.path.as_ref())?).map_err(jerr)?;
        Ok(match out {
            Output::Legacy(v) => resp_reply(v),
            Output::Each(vs) => Reply::Array(vs.into_iter().map(resp_reply).collect()),
        })
    }
}

/// `JSON.DEBUG MEMORY key [path]` / `JSON.DEBUG HELP` (further arguments are ignored)
enum JsonDebug {
    Memory(KeyPath),
    Help,
}

impl Parse for JsonDebug {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        if args.is_empty() {
            return Err(arity("json.debug"));
        }
        if args.eat("MEMORY") {
            return key_path(args, "json.debug").map(JsonDebug::Memory);
        }
        if args.eat("HELP") {
            ignore_rest(args);
            return Ok(JsonDebug::Help);
        }
        Err(CmdError::Custom("ERR unknown subcommand - try `JSON.DEBUG HELP`".into()))
    }
}

impl ReadCommand for JsonDebug {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let kp = match self {
            JsonDebug::Help => {
                return Ok(Reply::Array(vec![
                    Reply::bulk("MEMORY <key> [path] - reports memory usage"),
                    Reply::bulk("HELP                - this message"),
                ]))
            }
            JsonDebug::Memory(kp) => kp,
        };
        let Some(doc) = read_doc(cx, &kp.key)? else {
            // The path is not even parsed.
            return Ok(if is_dollar(kp.path.as_ref()) {
                Reply::Array(Vec::new())
            } else {
                Reply::Int(0)
            });
        };
        let out = doc.debug_memory(&path_of(kp.path.as_ref())?).map_err(jerr)?;
        Ok(match out {
            Output::Legacy(n) => usize_reply(n),
            Output::Each(v) => Reply::Array(v.into_iter().map(usize_reply).collect()),
        })
    }
}
