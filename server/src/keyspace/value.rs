//! The value types a key can hold. Each collection type lives in `crate::types` and
//! answers its own encoding, size and digest; this enum only dispatches.

use bytes::Bytes;

use crate::error::CmdError;
use crate::resp::decode::parse_i64;
use crate::types::{hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet};

/// A key's value. Collections are boxed so a string key stays small.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (also bitmaps and HyperLogLogs, which Redis stores as strings).
    Str(Bytes),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name `OBJECT ENCODING` reports, following Redis's rules.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
            Value::List(v) => v.encoding(),
            Value::Hash(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
            Value::Stream(v) => v.encoding(),
        }
    }

    /// Approximate heap bytes, for `MEMORY USAGE` and `used_memory` estimates.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::List(v) => v.heap_bytes(),
            Value::Hash(v) => v.heap_bytes(),
            Value::Set(v) => v.heap_bytes(),
            Value::ZSet(v) => v.heap_bytes(),
            Value::Stream(v) => v.heap_bytes(),
        }
    }

    /// Feeds the content in a canonical order (digests must not depend on history).
    pub fn digest(&self, out: &mut dyn FnMut(&[u8])) {
        out(self.type_name().as_bytes());
        match self {
            Value::Str(s) => out(s),
            Value::List(v) => v.digest(out),
            Value::Hash(v) => v.digest(out),
            Value::Set(v) => v.digest(out),
            Value::ZSet(v) => v.digest(out),
            Value::Stream(v) => v.digest(out),
        }
    }

    /// The string payload, or WRONGTYPE.
    pub fn as_str(&self) -> Result<&Bytes, CmdError> {
        match self {
            Value::Str(s) => Ok(s),
            _ => Err(CmdError::WrongType),
        }
    }
}
