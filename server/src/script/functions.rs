//! Function libraries (`FUNCTION LOAD`): their code and what each registered, as part of
//! the replicated state. Loading runs the code in a throwaway Lua machine to learn its
//! functions; the machines that run FCALL load every library again when the set changes.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use mlua::{Function, MultiValue, Table, Value};

use crate::error::CmdError;
use crate::script::ScriptFlags;

/// What FUNCTION LIST shows about one function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionMeta {
    pub flags: ScriptFlags,
    pub description: Option<String>,
}

/// One library.
#[derive(Debug, Clone)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: BTreeMap<String, FunctionMeta>,
}

/// Every library, and which library holds each function. Both are keyed by lowercase
/// name: Redis finds libraries and functions case-insensitively (`FCALL TEST` calls
/// `test`), while listings keep the names as declared.
#[derive(Debug, Clone)]
pub struct Libraries {
    libraries: BTreeMap<String, Library>,
    owner: HashMap<String, String>,
    generation: u64,
}

impl Default for Libraries {
    fn default() -> Self {
        Self {
            libraries: BTreeMap::new(),
            owner: HashMap::new(),
            generation: super::next_generation(),
        }
    }
}

fn custom(text: impl Into<String>) -> CmdError {
    CmdError::Custom(text.into())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The library name declared by `code`'s `#!lua name=...` line.
pub fn library_name(code: &[u8]) -> Result<String, CmdError> {
    if !code.starts_with(b"#!") {
        return Err(custom("ERR Missing library metadata"));
    }
    let line = code.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(&line[2..]).into_owned();
    // The engine is what follows `#!` up to the first space (`#! name=x` names none).
    let (engine, rest) = line.split_once(' ').unwrap_or((&line, ""));
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(custom(format!("ERR Engine '{engine}' not found")));
    }
    let mut name = None;
    for part in rest.split(' ').filter(|p| !p.is_empty()) {
        let Some(value) = part.strip_prefix("name=") else {
            return Err(custom(format!("ERR Invalid metadata value given: {part}")));
        };
        if name.is_some() {
            return Err(custom(
                "ERR Invalid metadata value, name argument was given multiple times",
            ));
        }
        // Redis splits the line as it splits arguments: quotes group and are dropped.
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        name = Some(value.to_string());
    }
    let name = name.ok_or_else(|| custom("ERR Library name was not given"))?;
    if !valid_name(&name) {
        return Err(custom(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be \
             at least one character long",
        ));
    }
    Ok(name)
}

/// A registration error: Redis reports these without a script position.
fn reg_err(text: &str) -> mlua::Error {
    mlua::Error::external(crate::script::vm::ReplyError(format!("ERR {text}"), false))
}

/// Parses `redis.register_function`'s arguments: `(name, callback)` or a table of named
/// arguments (`function_name`, `callback`, `flags`, `description`).
pub fn registration(args: MultiValue) -> mlua::Result<(String, Function, FunctionMeta)> {
    let mut meta = FunctionMeta::default();
    let (name, callback) = match args.len() {
        2 => {
            let name = match &args[0] {
                Value::String(s) => s.to_str()?.to_string(),
                _ => {
                    return Err(reg_err(
                        "first argument to redis.register_function must be a string",
                    ))
                }
            };
            let callback = match &args[1] {
                Value::Function(f) => f.clone(),
                _ => {
                    return Err(reg_err(
                        "second argument to redis.register_function must be a function",
                    ))
                }
            };
            (name, callback)
        }
        1 => {
            let Value::Table(t) = &args[0] else {
                return Err(reg_err(
                    "calling redis.register_function with a single argument is only applicable to \
                     Lua table (representing named arguments).",
                ));
            };
            named_registration(t, &mut meta)?
        }
        _ => return Err(reg_err("wrong number of arguments to redis.register_function")),
    };
    if !valid_name(&name) {
        // Redis's wording, "Library" included.
        return Err(reg_err(
            "Library names can only contain letters, numbers, or underscores(_) and must be at \
             least one character long",
        ));
    }
    Ok((name, callback, meta))
}

fn named_registration(t: &Table, meta: &mut FunctionMeta) -> mlua::Result<(String, Function)> {
    let (mut name, mut callback) = (None, None);
    for pair in t.pairs::<Value, Value>() {
        let (key, value) = pair?;
        let Value::String(key) = key else {
            return Err(reg_err(
                "named argument key given to redis.register_function is not a string",
            ));
        };
        match key.to_str()?.as_ref() {
            "function_name" => {
                match value {
                    Value::String(s) => name = Some(s.to_str()?.to_string()),
                    _ => return Err(reg_err(
                        "function_name argument given to redis.register_function must be a string",
                    )),
                }
            }
            "callback" => match value {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return Err(reg_err(
                        "callback argument given to redis.register_function must be a function",
                    ))
                }
            },
            "description" => {
                match value {
                    Value::String(s) => meta.description = Some(s.to_str()?.to_string()),
                    _ => return Err(reg_err(
                        "description argument given to redis.register_function must be a string",
                    )),
                }
            }
            "flags" => {
                let Value::Table(flags) = value else {
                    return Err(reg_err("flags argument to redis.register_function must be a table representing function flags"));
                };
                for flag in flags.sequence_values::<Value>() {
                    let ok = match flag? {
                        Value::String(s) => meta.flags.set(&s.as_bytes()),
                        _ => false,
                    };
                    if !ok {
                        return Err(reg_err("unknown flag given"));
                    }
                }
            }
            _ => return Err(reg_err("unknown argument given to redis.register_function")),
        }
    }
    let name =
        name.ok_or_else(|| reg_err("redis.register_function must get a function name argument"))?;
    let callback =
        callback.ok_or_else(|| reg_err("redis.register_function must get a callback argument"))?;
    Ok((name, callback))
}

impl Libraries {
    /// Changes whenever a library is added, replaced or removed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Libraries in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// Number of libraries and of functions (FUNCTION STATS).
    pub fn counts(&self) -> (usize, usize) {
        (self.libraries.len(), self.owner.len())
    }

    /// A library by name (any case).
    pub fn library(&self, name: &str) -> Option<&Library> {
        self.libraries.get(&name.to_ascii_lowercase())
    }

    /// A function's metadata (any case).
    pub fn function(&self, name: &str) -> Option<&FunctionMeta> {
        let library = self.libraries.get(self.owner.get(&name.to_ascii_lowercase())?)?;
        library.functions.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, m)| m)
    }

    /// FUNCTION LOAD: checks and adds (or replaces) the library `code` declares.
    pub fn load(&mut self, code: Bytes, replace: bool) -> Result<String, CmdError> {
        let name = library_name(&code)?;
        let key = name.to_ascii_lowercase();
        if self.libraries.contains_key(&key) && !replace {
            return Err(custom(format!("ERR Library '{name}' already exists")));
        }
        let found = crate::script::vm::check_library(&code)?;
        if found.is_empty() {
            return Err(custom("ERR No functions registered"));
        }
        let mut functions = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for (function, meta) in found {
            let lower = function.to_ascii_lowercase();
            if self.owner.get(&lower).is_some_and(|owner| *owner != key) || !seen.insert(lower) {
                return Err(custom(format!("ERR Function {function} already exists")));
            }
            functions.insert(function, meta);
        }
        self.delete(&key);
        for function in functions.keys() {
            self.owner.insert(function.to_ascii_lowercase(), key.clone());
        }
        self.libraries.insert(key, Library { name: name.clone(), code, functions });
        self.generation = super::next_generation();
        Ok(name)
    }

    /// FUNCTION DELETE; false if there is no such library.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(library) = self.libraries.remove(&name.to_ascii_lowercase()) else {
            return false;
        };
        for function in library.functions.keys() {
            self.owner.remove(&function.to_ascii_lowercase());
        }
        self.generation = super::next_generation();
        true
    }

    /// FUNCTION FLUSH.
    pub fn flush(&mut self) {
        self.libraries.clear();
        self.owner.clear();
        self.generation = super::next_generation();
    }
}

/// FUNCTION DUMP's payload: a magic, each library's code with its length, and a CRC so
/// RESTORE refuses damaged input.
const DUMP_MAGIC: &[u8] = b"ENGRAMFN1";

/// Serializes every library.
pub fn dump(libraries: &Libraries) -> Bytes {
    let mut out = DUMP_MAGIC.to_vec();
    for library in libraries.iter() {
        out.extend_from_slice(&(library.code.len() as u32).to_le_bytes());
        out.extend_from_slice(&library.code);
    }
    let crc = crc32c_of(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(out)
}

fn crc32c_of(bytes: &[u8]) -> u32 {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    CRC.checksum(bytes)
}

/// The library codes in a FUNCTION DUMP payload.
pub fn undump(payload: &[u8]) -> Result<Vec<Bytes>, CmdError> {
    let bad = || custom("ERR DUMP payload version or checksum are wrong");
    if payload.len() < DUMP_MAGIC.len() + 4 || !payload.starts_with(DUMP_MAGIC) {
        return Err(bad());
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    if crc32c_of(body).to_le_bytes() != crc {
        return Err(bad());
    }
    let mut rest = &body[DUMP_MAGIC.len()..];
    let mut codes = Vec::new();
    while !rest.is_empty() {
        let len_bytes: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        let code = rest.get(4..4 + len).ok_or_else(bad)?;
        codes.push(Bytes::copy_from_slice(code));
        rest = &rest[4 + len..];
    }
    Ok(codes)
}
