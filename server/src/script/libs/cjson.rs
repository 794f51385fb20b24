//! `cjson`: JSON encode/decode with the behaviour of lua-cjson 2.1.0 as built into Redis 7.4.
//!
//! Owns: array-vs-object detection (positive integer keys only, with the sparse-array policy),
//! `%.14g` number formatting, lua-cjson's escaping (`/` becomes `\/`), `cjson.null` (a NULL
//! lightuserdata, so it compares equal across instances), the decoder's token-level error texts
//! ("Expected value but found invalid token at character 1") and the configuration functions.
//!
//! Configuration is per module table (`cjson.new()` makes a fresh one) and, as in Redis, persists
//! for the life of the Lua state. Object key order follows Lua's table iteration (`lua_next`),
//! which is deterministic for a given sequence of table operations.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::{arg_error, as_number, float_to_i64, format_g, lua_error, type_name, Args};

/// What `encode` does with NaN and +/-Inf (`encode_invalid_numbers`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum InvalidNumbers {
    Refuse,
    Allow,
    AsNull,
}

#[derive(Clone)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    precision: usize,
    encode_invalid: InvalidNumbers,
    decode_invalid: bool,
    keep_buffer: bool,
}

impl Default for Config {
    /// lua-cjson's compiled-in defaults, as the reference reports them.
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            precision: 14,
            encode_invalid: InvalidNumbers::Refuse,
            decode_invalid: true,
            keep_buffer: true,
        }
    }
}

type Shared = Rc<RefCell<Config>>;

/// The `cjson` table (also what `cjson.new()` returns, with its own configuration).
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Rc::new(RefCell::new(Config::default()));
    let t = lua.create_table()?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    t.set("null", null())?;

    let c = cfg.clone();
    t.set(
        "encode",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            if args.len() != 1 {
                return Err(args.error(1, "expected 1 argument"));
            }
            let cfg = c.borrow().clone();
            let mut out = Vec::new();
            encode_root(lua, &cfg, args.get(1), &mut out)?;
            lua.create_string(&out)
        })?,
    )?;

    let c = cfg.clone();
    t.set(
        "decode",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            if args.len() != 1 {
                return Err(args.error(1, "expected 1 argument"));
            }
            let text = args.bytes(1)?;
            let cfg = c.borrow().clone();
            Decoder::new(lua, &cfg, &text).decode()
        })?,
    )?;

    let c = cfg.clone();
    t.set(
        "encode_sparse_array",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            check_count(&args, 3)?;
            let convert = bool_option(&args, 1, false)?;
            let ratio = int_option(&args, 2, 0)?;
            let safe = int_option(&args, 3, 0)?;
            let mut cfg = c.borrow_mut();
            if let Some(convert) = convert {
                cfg.sparse_convert = convert == Toggle::On;
            }
            if let Some(ratio) = ratio {
                cfg.sparse_ratio = ratio;
            }
            if let Some(safe) = safe {
                cfg.sparse_safe = safe;
            }
            Ok((cfg.sparse_convert, cfg.sparse_ratio, cfg.sparse_safe))
        })?,
    )?;

    let c = cfg.clone();
    t.set(
        "encode_max_depth",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            check_count(&args, 1)?;
            let mut cfg = c.borrow_mut();
            if let Some(depth) = int_option(&args, 1, 1)? {
                cfg.encode_max_depth = depth;
            }
            Ok(cfg.encode_max_depth)
        })?,
    )?;

    let c = cfg.clone();
    t.set(
        "decode_max_depth",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            check_count(&args, 1)?;
            let mut cfg = c.borrow_mut();
            if let Some(depth) = int_option(&args, 1, 1)? {
                cfg.decode_max_depth = depth;
            }
            Ok(cfg.decode_max_depth)
        })?,
    )?;

    let c = cfg.clone();
    t.set(
        "encode_number_precision",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            check_count(&args, 1)?;
            let precision = match args.is_none_or_nil(1) {
                true => None,
                false => {
                    let n = float_to_i64(args.number(1)?);
                    if !(1..=14).contains(&n) {
                        return Err(args.error(1, "expected integer between 1 and 14"));
                    }
                    Some(n as usize)
                }
            };
            let mut cfg = c.borrow_mut();
            if let Some(p) = precision {
                cfg.precision = p;
            }
            Ok(cfg.precision)
        })?,
    )?;

    let c = cfg.clone();
    t.set(
        "encode_keep_buffer",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            check_count(&args, 1)?;
            let mut cfg = c.borrow_mut();
            if let Some(keep) = bool_option(&args, 1, false)? {
                cfg.keep_buffer = keep == Toggle::On;
            }
            Ok(cfg.keep_buffer)
        })?,
    )?;

    let c = cfg.clone();
    t.set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            check_count(&args, 1)?;
            let mut cfg = c.borrow_mut();
            if let Some(choice) = bool_option(&args, 1, true)? {
                cfg.encode_invalid = match choice {
                    Toggle::On => InvalidNumbers::Allow,
                    Toggle::Off => InvalidNumbers::Refuse,
                    Toggle::Null => InvalidNumbers::AsNull,
                };
            }
            Ok(match cfg.encode_invalid {
                InvalidNumbers::Refuse => Value::Boolean(false),
                InvalidNumbers::Allow => Value::Boolean(true),
                InvalidNumbers::AsNull => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;

    let c = cfg;
    t.set(
        "decode_invalid_numbers",
        lua.create_function(move |lua, args: MultiValue| {
            let args = Args::new(lua, args);
            check_count(&args, 1)?;
            let mut cfg = c.borrow_mut();
            if let Some(choice) = bool_option(&args, 1, false)? {
                cfg.decode_invalid = choice == Toggle::On;
            }
            Ok(cfg.decode_invalid)
        })?,
    )?;

    t.set("new", lua.create_function(|lua, ()| module(lua))?)?;
    Ok(t)
}

/// `cjson.null`: a NULL lightuserdata (prints as "userdata: (nil)" and equals every other one).
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn is_null(value: &Value) -> bool {
    matches!(value, Value::LightUserData(p) if p.0.is_null())
}

fn check_count(args: &Args, max: usize) -> mlua::Result<()> {
    if args.len() > max {
        return Err(args.error(max + 1, "found too many arguments"));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Toggle {
    On,
    Off,
    Null,
}

/// A boolean setting: true/false or "on"/"off" (and "null" where allowed); nil leaves it alone.
fn bool_option(args: &Args, n: usize, allow_null: bool) -> mlua::Result<Option<Toggle>> {
    match args.get(n) {
        Value::Nil => Ok(None),
        Value::Boolean(b) => Ok(Some(if b { Toggle::On } else { Toggle::Off })),
        _ => {
            let text = args.bytes(n)?;
            match text.as_slice() {
                b"on" => Ok(Some(Toggle::On)),
                b"off" => Ok(Some(Toggle::Off)),
                b"null" if allow_null => Ok(Some(Toggle::Null)),
                _ => {
                    Err(args
                        .error(n, format!("invalid option '{}'", String::from_utf8_lossy(&text))))
                }
            }
        }
    }
}

/// An integer setting in [min, INT_MAX]; nil leaves it alone. The reference reports range errors
/// against argument #1 whatever the position, so this does too.
fn int_option(args: &Args, n: usize, min: i64) -> mlua::Result<Option<i64>> {
    if args.is_none_or_nil(n) {
        return Ok(None);
    }
    let value = float_to_i64(args.number(n)?);
    if value < min || value > i64::from(i32::MAX) {
        return Err(arg_error(
            args.lua,
            1,
            format!("expected integer between {min} and 2147483647"),
        ));
    }
    Ok(Some(value))
}

/// One table being written; the encoder keeps these on an explicit stack rather than
/// recursing, so 1000 levels of nesting cannot exhaust a small thread stack.
enum Frame {
    Array {
        table: Table,
        next: f64,
        len: f64,
    },
    /// Keys are held as Rust data, values fetched one at a time: every live Lua value
    /// takes a slot of mlua's reference stack, which holds only a few thousand.
    Object {
        table: Table,
        keys: Vec<ObjectKey>,
        next: usize,
    },
}

/// An object member's key, without holding a Lua reference for string and number keys.
enum ObjectKey {
    Str(Vec<u8>),
    Num(f64),
    Other(Value),
}

impl ObjectKey {
    fn of(key: Value) -> Self {
        match key {
            Value::String(s) => ObjectKey::Str(s.as_bytes().to_vec()),
            Value::Number(n) => ObjectKey::Num(n),
            Value::Integer(n) => ObjectKey::Num(n as f64),
            other => ObjectKey::Other(other),
        }
    }

    fn to_value(&self, lua: &Lua) -> mlua::Result<Value> {
        Ok(match self {
            ObjectKey::Str(s) => Value::String(lua.create_string(s)?),
            ObjectKey::Num(n) => Value::Number(*n),
            ObjectKey::Other(v) => v.clone(),
        })
    }
}

fn encode_root(lua: &Lua, cfg: &Config, root: Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut pending = Some(root);
    loop {
        if let Some(value) = pending.take() {
            match value {
                Value::Table(t) => stack.push(open_table(lua, cfg, t, stack.len() + 1, out)?),
                scalar => encode_scalar(lua, cfg, &scalar, out)?,
            }
        }
        let Some(frame) = stack.last_mut() else {
            return Ok(());
        };
        match frame {
            Frame::Array { table, next, len } => {
                if *next <= *len {
                    if *next > 1.0 {
                        out.push(b',');
                    }
                    pending = Some(table.raw_get(*next)?);
                    *next += 1.0;
                } else {
                    out.push(b']');
                    stack.pop();
                }
            }
            Frame::Object { table, keys, next } => {
                if let Some(key) = keys.get(*next) {
                    if *next > 0 {
                        out.push(b',');
                    }
                    let key = key.to_value(lua)?;
                    encode_key(lua, cfg, &key, out)?;
                    out.push(b':');
                    pending = Some(table.raw_get::<Value>(key)?);
                    *next += 1;
                } else {
                    out.push(b'}');
                    stack.pop();
                }
            }
        }
    }
}

fn encode_scalar(lua: &Lua, cfg: &Config, value: &Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Integer(_) | Value::Number(_) => {
            let n = as_number(value).unwrap_or(0.0);
            encode_number(lua, cfg, n, out)?;
        }
        Value::String(s) => encode_string(&s.as_bytes(), out),
        v if is_null(v) => out.extend_from_slice(b"null"),
        other => {
            return Err(lua_error(
                lua,
                format!("Cannot serialise {}: type not supported", type_name(other)),
            ))
        }
    }
    Ok(())
}

fn encode_key(lua: &Lua, cfg: &Config, key: &Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    match key {
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Integer(_) | Value::Number(_) => {
            let n = as_number(key).unwrap_or(0.0);
            out.push(b'"');
            out.extend_from_slice(format_g(n, cfg.precision).as_bytes());
            out.push(b'"');
        }
        other => {
            return Err(lua_error(
                lua,
                format!(
                    "Cannot serialise {}: table key must be a number or string",
                    type_name(other)
                ),
            ))
        }
    }
    Ok(())
}

fn encode_number(lua: &Lua, cfg: &Config, n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        match cfg.encode_invalid {
            InvalidNumbers::Refuse => {
                return Err(lua_error(lua, "Cannot serialise number: must not be NaN or Inf"))
            }
            InvalidNumbers::AsNull => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            // The reference prints every NaN as "nan", whatever its sign bit.
            InvalidNumbers::Allow if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            InvalidNumbers::Allow => {}
        }
    }
    out.extend_from_slice(format_g(n, cfg.precision).as_bytes());
    Ok(())
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The array length lua-cjson would use: `Some(max)` when every key is a positive integer (and
/// the array is not excessively sparse), `None` to encode as an object.
fn array_length(lua: &Lua, cfg: &Config, t: &Table) -> mlua::Result<Option<f64>> {
    let mut max = 0.0f64;
    let mut items = 0.0f64;
    for pair in t.pairs::<Value, Value>() {
        let (key, _) = pair?;
        match as_number(&key) {
            Some(k) if k >= 1.0 && k.floor() == k => {
                max = max.max(k);
                items += 1.0;
            }
            _ => return Ok(None),
        }
    }
    let ratio = cfg.sparse_ratio as f64;
    if cfg.sparse_ratio > 0 && max > items * ratio && max > cfg.sparse_safe as f64 {
        if cfg.sparse_convert {
            return Ok(None);
        }
        return Err(lua_error(lua, "Cannot serialise table: excessively sparse array"));
    }
    Ok(Some(max))
}

/// Writes a table's opening bracket and returns the frame that writes the rest.
fn open_table(
    lua: &Lua,
    cfg: &Config,
    table: Table,
    depth: usize,
    out: &mut Vec<u8>,
) -> mlua::Result<Frame> {
    if depth as i64 > cfg.encode_max_depth {
        return Err(lua_error(lua, format!("Cannot serialise, excessive nesting ({depth})")));
    }
    match array_length(lua, cfg, &table)? {
        Some(len) if len > 0.0 => {
            out.push(b'[');
            Ok(Frame::Array { table, next: 1.0, len })
        }
        _ => {
            out.push(b'{');
            let mut keys = Vec::new();
            for pair in table.pairs::<Value, Value>() {
                keys.push(ObjectKey::of(pair?.0));
            }
            Ok(Frame::Object { table, keys, next: 0 })
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A lexing failure; the text replaces the token name in the error message.
    Error(&'static str),
}

impl Token {
    fn describe(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(msg) => msg,
        }
    }
}

/// A container the decoder has opened and not yet closed.
enum Open {
    Array {
        table: Table,
        next: i64,
    },
    /// `key` is the member whose value is being parsed.
    Object {
        table: Table,
        key: Vec<u8>,
    },
}

struct Decoder<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    text: &'a [u8],
    pos: usize,
    depth: i64,
}

impl<'a> Decoder<'a> {
    fn new(lua: &'a Lua, cfg: &'a Config, text: &'a [u8]) -> Self {
        Decoder { lua, cfg, text, pos: 0, depth: 0 }
    }

    /// Parses the whole text. Open containers live on an explicit stack (no recursion), so the
    /// nesting limit, not the thread's stack size, bounds the depth.
    fn decode(mut self) -> mlua::Result<Value> {
        let mut stack: Vec<Open> = Vec::new();
        let (mut tok, mut at) = self.next_token();
        loop {
            // Parse one value starting at `tok`; containers with content are pushed and their
            // first element parsed next.
            let mut value = match tok {
                Token::Str(s) => Value::String(self.lua.create_string(&s)?),
                Token::Num(n) => Value::Number(n),
                Token::Bool(b) => Value::Boolean(b),
                Token::Null => null(),
                Token::ObjBegin => {
                    self.enter(at)?;
                    let table = self.lua.create_table()?;
                    let (first, first_at) = self.next_token();
                    if first == Token::ObjEnd {
                        self.depth -= 1;
                        Value::Table(table)
                    } else {
                        let key = self.key_and_colon(first, first_at)?;
                        stack.push(Open::Object { table, key });
                        (tok, at) = self.next_token();
                        continue;
                    }
                }
                Token::ArrBegin => {
                    self.enter(at)?;
                    let table = self.lua.create_table()?;
                    let (first, first_at) = self.next_token();
                    if first == Token::ArrEnd {
                        self.depth -= 1;
                        Value::Table(table)
                    } else {
                        stack.push(Open::Array { table, next: 1 });
                        (tok, at) = (first, first_at);
                        continue;
                    }
                }
                other => return Err(self.unexpected("value", &other, at)),
            };
            // Store the finished value in its container; a closing bracket finishes that one too.
            loop {
                let Some(open) = stack.last_mut() else {
                    let (end, end_at) = self.next_token();
                    if end != Token::End {
                        return Err(self.unexpected("the end", &end, end_at));
                    }
                    return Ok(value);
                };
                let (sep, sep_at) = self.next_token();
                match open {
                    Open::Array { table, next } => {
                        table.raw_set(*next, value)?;
                        *next += 1;
                        match sep {
                            Token::Comma => {
                                (tok, at) = self.next_token();
                                break;
                            }
                            Token::ArrEnd => {}
                            other => {
                                return Err(self.unexpected("comma or array end", &other, sep_at))
                            }
                        }
                    }
                    Open::Object { table, key } => {
                        table.raw_set(self.lua.create_string(&*key)?, value)?;
                        match sep {
                            Token::Comma => {
                                let (ktok, kat) = self.next_token();
                                *key = self.key_and_colon(ktok, kat)?;
                                (tok, at) = self.next_token();
                                break;
                            }
                            Token::ObjEnd => {}
                            other => {
                                return Err(self.unexpected("comma or object end", &other, sep_at))
                            }
                        }
                    }
                }
                self.depth -= 1;
                value = match stack.pop() {
                    Some(Open::Array { table, .. }) | Some(Open::Object { table, .. }) => {
                        Value::Table(table)
                    }
                    None => Value::Nil,
                };
            }
        }
    }

    /// An object member's key string and the colon after it.
    fn key_and_colon(&mut self, tok: Token, at: usize) -> mlua::Result<Vec<u8>> {
        let Token::Str(key) = tok else {
            return Err(self.unexpected("object key string", &tok, at));
        };
        let (colon, colon_at) = self.next_token();
        if colon != Token::Colon {
            return Err(self.unexpected("colon", &colon, colon_at));
        }
        Ok(key)
    }

    fn unexpected(&self, expected: &str, found: &Token, at: usize) -> mlua::Error {
        lua_error(
            self.lua,
            format!("Expected {expected} but found {} at character {}", found.describe(), at + 1),
        )
    }

    fn enter(&mut self, at: usize) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth {
            return Err(lua_error(
                self.lua,
                format!(
                    "Found too many nested data structures ({}) at character {}",
                    self.depth,
                    at + 1
                ),
            ));
        }
        Ok(())
    }

    /// The next token and the index it is reported at (its start, or where lexing failed).
    fn next_token(&mut self) -> (Token, usize) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.pos) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.text.get(start) else {
            return (Token::End, start);
        };
        let single = match c {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            self.pos += 1;
            return (tok, start);
        }
        let rest = &self.text[start..];
        if c == b'"' {
            return self.string_token(start);
        }
        if c == b'-' || c.is_ascii_digit() {
            if !self.cfg.decode_invalid && non_json_number(rest) {
                return (Token::Error("invalid number"), start);
            }
            return self.number_token(start);
        }
        for (word, tok) in [
            (&b"true"[..], Token::Bool(true)),
            (&b"false"[..], Token::Bool(false)),
            (&b"null"[..], Token::Null),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return (tok, start);
            }
        }
        if self.cfg.decode_invalid && non_json_number(rest) {
            return self.number_token(start);
        }
        (Token::Error("invalid token"), start)
    }

    fn number_token(&mut self, start: usize) -> (Token, usize) {
        match strtod(&self.text[start..]) {
            Some((n, used)) => {
                self.pos = start + used;
                (Token::Num(n), start)
            }
            None => (Token::Error("invalid number"), start),
        }
    }

    fn string_token(&mut self, start: usize) -> (Token, usize) {
        let text = self.text;
        let mut out = Vec::new();
        let mut i = start + 1;
        loop {
            let Some(&b) = text.get(i) else {
                return (Token::Error("unexpected end of string"), i);
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let escaped = match text.get(i + 1) {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0c,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => match unicode_escape(&text[i..]) {
                            Some((ch, used)) => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                i += used;
                                continue;
                            }
                            None => return (Token::Error("invalid unicode escape code"), i),
                        },
                        Some(_) => return (Token::Error("invalid escape code"), i),
                        None => return (Token::Error("unexpected end of string"), i + 1),
                    };
                    out.push(escaped);
                    i += 2;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        self.pos = i + 1;
        (Token::Str(out), start)
    }
}

/// Decodes `\uXXXX` (or a `\uD8xx\uDCxx` surrogate pair) at the start of `s`; lone or
/// mismatched surrogates are invalid, as in lua-cjson.
fn unicode_escape(s: &[u8]) -> Option<(char, usize)> {
    let hex4 = |s: &[u8]| -> Option<u32> {
        let digits = s.get(..4)?;
        let text = std::str::from_utf8(digits).ok()?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    };
    let first = hex4(s.get(2..)?)?;
    match first {
        0xD800..=0xDBFF => {
            if s.get(6..8)? != b"\\u" {
                return None;
            }
            let second = hex4(s.get(8..)?)?;
            if !(0xDC00..=0xDFFF).contains(&second) {
                return None;
            }
            let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            Some((char::from_u32(code)?, 12))
        }
        0xDC00..=0xDFFF => None,
        _ => Some((char::from_u32(first)?, 6)),
    }
}

/// Whether the text at a number position is something strtod accepts but JSON does not (a `+`
/// sign, hex, a leading zero, inf or nan): refused when `decode_invalid_numbers` is off, and
/// the only way a token not starting with `-` or a digit can be a number when it is on.
fn non_json_number(s: &[u8]) -> bool {
    if s.first() == Some(&b'+') {
        return true;
    }
    let t = s.strip_prefix(b"-").unwrap_or(s);
    let lower: Vec<u8> = t.iter().take(3).map(u8::to_ascii_lowercase).collect();
    if lower.starts_with(b"0x") || lower == b"inf" || lower == b"nan" {
        return true;
    }
    t.first() == Some(&b'0') && t.get(1).is_some_and(u8::is_ascii_digit)
}

/// C's `strtod` on the start of `s` (C locale): the value and the bytes it consumed, or `None`
/// when no number starts there. Accepts inf/infinity/nan(...) and hexadecimal floats.
pub(super) fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let negative = match s.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if negative { -v } else { v };
    let rest = &s[i..];
    let starts_ci =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts_ci(b"infinity") {
        return Some((sign(f64::INFINITY), i + 8));
    }
    if starts_ci(b"inf") {
        return Some((sign(f64::INFINITY), i + 3));
    }
    if starts_ci(b"nan") {
        let mut end = i + 3;
        if s.get(end) == Some(&b'(') {
            let mut j = end + 1;
            while s.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                j += 1;
            }
            if s.get(j) == Some(&b')') {
                end = j + 1;
            }
        }
        return Some((sign(f64::NAN), end));
    }
    if rest.len() > 2
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (rest[2].is_ascii_hexdigit()
            || (rest[2] == b'.' && rest.get(3).is_some_and(u8::is_ascii_hexdigit)))
    {
        let (v, used) = hex_float(&rest[2..]);
        return Some((sign(v), i + 2 + used));
    }
    let mut j = i;
    let mut digits = 0;
    while s.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
        digits += 1;
    }
    if s.get(j) == Some(&b'.') {
        j += 1;
        while s.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(s.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if s.get(k).is_some_and(u8::is_ascii_digit) {
            while s.get(k).is_some_and(u8::is_ascii_digit) {
                k += 1;
            }
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[i..j]).ok()?;
    let v: f64 = text.parse().ok()?;
    Some((sign(v), j))
}

/// The hexadecimal significand (and optional `p` exponent) after "0x".
fn hex_float(s: &[u8]) -> (f64, usize) {
    let mut value = 0.0f64;
    let mut exp: i32 = 0;
    let mut i = 0;
    while let Some(d) = s.get(i).and_then(|c| (*c as char).to_digit(16)) {
        value = value * 16.0 + f64::from(d);
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = s.get(i).and_then(|c| (*c as char).to_digit(16)) {
            value = value * 16.0 + f64::from(d);
            exp = exp.saturating_sub(4);
            i += 1;
        }
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut k = i + 1;
        let negative = s.get(k) == Some(&b'-');
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if s.get(k).is_some_and(u8::is_ascii_digit) {
            let mut e: i32 = 0;
            while let Some(d) = s.get(k).filter(|c| c.is_ascii_digit()) {
                e = e.saturating_mul(10).saturating_add(i32::from(d - b'0'));
                k += 1;
            }
            exp = exp.saturating_add(if negative { -e } else { e });
            i = k;
        }
    }
    (value * 2f64.powi(exp), i)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, eval_err};

    // Every expected value below was recorded from the reference Redis 7.4 (port 16379) with
    // `rcli 16379 eval "<same Lua>" 0`.

    fn enc(lua_expr: &str) -> String {
        eval(&format!("return cjson.encode({lua_expr})"))
    }

    /// Decodes `json` and re-describes the result the way the probes did.
    fn dec(json: &str) -> String {
        let code = format!(
            "local ok, r = pcall(cjson.decode, {json:?}) \
             if not ok then return 'ERR' end \
             if type(r) == 'table' then return 'T:'..cjson.encode(r) end \
             return type(r)..':'..tostring(r)"
        );
        eval(&code)
    }

    fn dec_err(json: &str) -> String {
        eval_err(&format!("return cjson.decode({json:?})"))
    }

    #[test]
    fn encode_arrays_objects_and_sparse_arrays_like_lua_cjson() {
        assert_eq!(enc("{1,2,{a=1}}"), r#"[1,2,{"a":1}]"#);
        assert_eq!(enc("{[1]=1,[2]=2,[4]=4}"), "[1,2,null,4]");
        assert_eq!(enc("{[1]=1,[10]=4}"), "[1,null,null,null,null,null,null,null,null,4]");
        assert_eq!(enc("{[3]=1}"), "[null,null,1]");
        assert_eq!(enc("{[0]=1}"), r#"{"0":1}"#);
        assert_eq!(enc("{[1.5]=1}"), r#"{"1.5":1}"#);
        assert_eq!(enc("{}"), "{}");
        assert_eq!(enc("{1,2,x=3}"), r#"{"1":1,"2":2,"x":3}"#);
        assert_eq!(enc("{a={}, b={{}}}"), r#"{"a":{},"b":[{}]}"#);
        assert_eq!(enc("{[2]=1,[1]=5}"), "[5,1]");
        assert_eq!(
            eval_err("return cjson.encode({[1]=1,[11]=4})"),
            "user_script:1: Cannot serialise table: excessively sparse array"
        );
        assert_eq!(
            eval_err("return cjson.encode({[true]=1})"),
            "user_script:1: Cannot serialise boolean: table key must be a number or string"
        );
    }

    #[test]
    fn encode_numbers_with_14_significant_digits() {
        assert_eq!(enc("3.14159265358979"), "3.1415926535898");
        assert_eq!(enc("100000000000000"), "1e+14");
        assert_eq!(enc("123456789012345678"), "1.2345678901235e+17");
        assert_eq!(enc("2^53"), "9.007199254741e+15");
        assert_eq!(enc("-0.0"), "-0");
        assert_eq!(enc("1e-5"), "1e-05");
        assert_eq!(enc("{[1e20]=1, [-3]=2, [0.1]=3}"), r#"{"1e+20":1,"-3":2,"0.1":3}"#);
        assert_eq!(
            eval_err("return cjson.encode(0/0)"),
            "user_script:1: Cannot serialise number: must not be NaN or Inf"
        );
    }

    #[test]
    fn encode_scalars_escapes_and_unsupported_types() {
        assert_eq!(
            enc(r#"'a/b"c\\d\n\r\t\b\f\1\31\127 é'"#),
            r#""a\/b\"c\\d\n\r\t\b\f\u0001\u001f\u007f é""#
        );
        assert_eq!(enc("nil"), "null");
        assert_eq!(enc("true"), "true");
        assert_eq!(enc("cjson.null"), "null");
        assert_eq!(enc("{a=cjson.null}"), r#"{"a":null}"#);
        assert_eq!(
            eval_err("return cjson.encode({f=string.len})"),
            "user_script:1: Cannot serialise function: type not supported"
        );
        assert_eq!(
            eval_err("return cjson.encode(1,2)"),
            "user_script:1: bad argument #1 to 'encode' (expected 1 argument)"
        );
    }

    #[test]
    fn encode_depth_is_limited_and_catches_cycles() {
        assert_eq!(
            eval_err("local t={} t[1]=t return cjson.encode(t)"),
            "user_script:1: Cannot serialise, excessive nesting (1001)"
        );
        let len: i64 =
            eval("local t={} local c=t for i=1,999 do c[1]={} c=c[1] end return #cjson.encode(t)");
        assert_eq!(len, 2000);
    }

    #[test]
    fn config_functions_report_and_validate_like_the_reference() {
        let r: String = eval(
            "local c=cjson.new() local a,b,d = c.encode_sparse_array() \
             return tostring(a)..b..d..c.encode_max_depth()..c.decode_max_depth()\
             ..c.encode_number_precision()..tostring(c.encode_invalid_numbers())\
             ..tostring(c.decode_invalid_numbers())..tostring(c.encode_keep_buffer())",
        );
        assert_eq!(r, "false2101000100014falsetruetrue");
        assert_eq!(
            eval::<String>(
                "local c=cjson.new() c.encode_sparse_array(true) return c.encode({[1]=1,[20]=2})"
            ),
            r#"{"1":1,"20":2}"#
        );
        assert_eq!(
            eval::<String>(
                "local c=cjson.new() c.encode_number_precision(3) return c.encode(3.14159)"
            ),
            "3.14"
        );
        assert_eq!(
            eval::<String>(
                "local c=cjson.new() c.encode_invalid_numbers('null') return c.encode({1/0,-1/0,0/0})"
            ),
            "[null,null,null]"
        );
        assert_eq!(
            eval::<String>(
                "local c=cjson.new() c.encode_invalid_numbers(true) return c.encode({1/0,-1/0,0/0})"
            ),
            "[inf,-inf,nan]"
        );
        assert_eq!(
            eval_err("return cjson.encode_number_precision(15)"),
            "user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"
        );
        assert_eq!(
            eval_err("local c=cjson.new() return {c.encode_sparse_array(nil, 1, -1)}"),
            "user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"
        );
        assert_eq!(
            eval_err("local c=cjson.new() return {c.encode_sparse_array(1)}"),
            "user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option '1')"
        );
        assert_eq!(
            eval_err("local c=cjson.new() return {c.encode_sparse_array(true, 2, 10, 4)}"),
            "user_script:1: bad argument #4 to 'encode_sparse_array' (found too many arguments)"
        );
        let nested: String = eval(
            "local c=cjson.new() c.decode_max_depth(2) local ok, e = pcall(c.decode, '[[[1]]]') \
             return tostring(ok)",
        );
        assert_eq!(nested, "false");
        assert_eq!(
            eval_err("local c=cjson.new() c.decode_max_depth(2) return c.decode('[[[1]]]')"),
            "user_script:1: Found too many nested data structures (3) at character 3"
        );
        // A new instance shares null but not settings.
        let same: bool = eval("local c=cjson.new() return c.null == cjson.null and c ~= cjson");
        assert!(same);
    }

    #[test]
    fn decode_values_numbers_and_unicode() {
        assert_eq!(dec("1e3"), "number:1000");
        assert_eq!(dec("-0"), "number:-0");
        assert_eq!(dec("01"), "number:1");
        assert_eq!(dec("+1"), "number:1");
        assert_eq!(dec("0x10"), "number:16");
        assert_eq!(dec("-Infinity"), "number:-inf");
        assert_eq!(dec("nan(123)"), "number:nan");
        assert_eq!(dec("123456789012345678901"), "number:1.2345678901235e+20");
        assert_eq!(dec("\"a\\/b\\u00e9\\ud83d\\ude00\""), "string:a/bé😀");
        assert_eq!(dec("null"), "userdata:userdata: (nil)");
        assert_eq!(dec("true"), "boolean:true");
        assert_eq!(dec(r#"{"a":[1,{"b":null}]}"#), r#"T:{"a":[1,{"b":null}]}"#);
        assert_eq!(dec(r#"{"a":1,"a":2}"#), r#"T:{"a":2}"#);
        assert_eq!(dec("[[],{}]"), "T:[{},{}]");
        let hex: String = eval(
            r#"local s = cjson.decode('"\\u0000x\\u0080\\u07ff\\u0800\\uffff"')
               return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end))"#,
        );
        assert_eq!(hex, "0078c280dfbfe0a080efbfbf");
    }

    #[test]
    fn decode_errors_name_the_token_and_position() {
        let cases = [
            ("", "Expected value but found T_END at character 1"),
            ("x", "Expected value but found invalid token at character 1"),
            (".5", "Expected value but found invalid token at character 1"),
            ("-", "Expected value but found invalid number at character 1"),
            ("1e", "Expected the end but found invalid token at character 2"),
            ("infin", "Expected the end but found invalid token at character 4"),
            ("null2", "Expected the end but found T_NUMBER at character 5"),
            ("[1,2", "Expected comma or array end but found T_END at character 5"),
            ("[1,2,]", "Expected value but found T_ARR_END at character 6"),
            ("{\"a\":1,}", "Expected object key string but found T_OBJ_END at character 8"),
            ("{\"a\" 1}", "Expected colon but found T_NUMBER at character 6"),
            ("{\"a\":1 \"b\":2}", "Expected comma or object end but found T_STRING at character 8"),
            ("[] []", "Expected the end but found T_ARR_BEGIN at character 4"),
            ("\"ab\\x\"", "Expected value but found invalid escape code at character 4"),
            (
                "[\"ab\\ud800x\"]",
                "Expected value but found invalid unicode escape code at character 5",
            ),
            ("\"\\ude00\"", "Expected value but found invalid unicode escape code at character 2"),
            ("  \"ab", "Expected value but found unexpected end of string at character 6"),
        ];
        for (json, want) in cases {
            assert_eq!(dec_err(json), format!("user_script:1: {want}"), "decoding {json:?}");
        }
        assert_eq!(
            eval_err("return cjson.decode({})"),
            "user_script:1: bad argument #1 to 'decode' (string expected, got table)"
        );
        assert_eq!(eval::<f64>("return cjson.decode(123)"), 123.0);
    }

    #[test]
    fn decode_nests_to_the_limit_without_recursion() {
        let ok: String = eval(
            "return cjson.encode(cjson.decode(string.rep('[', 1000)..string.rep(']', 1000))):sub(1, 3)",
        );
        assert_eq!(ok, "[[[");
        // Same text as the reference for 1001 levels.
        assert_eq!(
            eval_err("return cjson.decode(string.rep('[', 1001)..string.rep(']', 1001))"),
            "user_script:1: Found too many nested data structures (1001) at character 1001"
        );
    }

    #[test]
    fn strict_numbers_when_decode_invalid_numbers_is_off() {
        let strict = |json: &str| -> String {
            eval_err(&format!(
                "local c=cjson.new() c.decode_invalid_numbers(false) return c.decode({json:?})"
            ))
        };
        assert_eq!(
            strict("+1"),
            "user_script:1: Expected value but found invalid token at character 1"
        );
        assert_eq!(
            strict("01"),
            "user_script:1: Expected value but found invalid number at character 1"
        );
        assert_eq!(
            strict("-Infinity"),
            "user_script:1: Expected value but found invalid number at character 1"
        );
        assert_eq!(
            strict("NaN"),
            "user_script:1: Expected value but found invalid token at character 1"
        );
    }
}
