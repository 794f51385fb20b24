//! The value types a key can hold. Each collection type lives in `crate::types` and
//! answers its own encoding, size and digest; this enum only dispatches.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::error::CmdError;
use crate::resp::decode::parse_i64;
use crate::types::{hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet};

/// A collection value, shared with any snapshot in progress (streams and JSON documents;
/// hashes, lists, sets and sorted sets share their large forms themselves and sit in the
/// value unboxed).
///
/// Cloning is a reference count; the first write through a shared one copies it. A
/// snapshot freezes the keyspace by sharing its slot tables, and a write that then copies
/// a table copies only references to its collections: the copy-on-write is per value
/// touched, not per slot (`keyspace::db::owned`).
#[derive(Debug, PartialEq, Default)]
pub struct SharedValue<T>(Arc<T>);

impl<T> SharedValue<T> {
    /// A collection owned by nobody else yet.
    pub fn new(value: T) -> Self {
        SharedValue(Arc::new(value))
    }
}

impl<T> SharedValue<T> {
    /// Whether both are the same allocation (nothing was copied).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<T: Clone> SharedValue<T> {
    /// The collection itself (copied only if a snapshot still shares it).
    pub fn into_inner(self) -> T {
        Arc::unwrap_or_clone(self.0)
    }
}

impl<T> Clone for SharedValue<T> {
    fn clone(&self) -> Self {
        SharedValue(self.0.clone())
    }
}

impl<T> Deref for SharedValue<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone> DerefMut for SharedValue<T> {
    fn deref_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }
}

/// A key's value, in 32 bytes: every variant takes 24 (see `StrValue`, `PackedBuf`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (also bitmaps and HyperLogLogs, which Redis stores as strings).
    Str(super::StrValue),
    /// Held unboxed, as a hash: see `types::list::List`.
    List(List),
    /// A hash holds its storage itself: its packed form is one shared buffer.
    Hash(Hash),
    /// Held unboxed, as a hash: see `types::set::Set`.
    Set(Set),
    /// Held unboxed, as a hash: see `types::zset::ZSet`.
    ZSet(ZSet),
    Stream(SharedValue<Stream>),
    /// A RedisJSON document (`JSON.*` commands).
    Json(SharedValue<engram_json::Document>),
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
            Value::Json(_) => "ReJSON-RL",
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
            // Redis reports a module value's encoding as `raw`.
            Value::Json(_) => "raw",
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
            Value::Json(v) => v.heap_bytes(),
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
            // Compact JSON in the document's own member order, which is part of its value.
            Value::Json(v) => out(v.to_json(&engram_json::Format::default()).as_bytes()),
        }
    }

    /// The JSON document, or WRONGTYPE.
    pub fn as_json(&self) -> Result<&engram_json::Document, CmdError> {
        match self {
            Value::Json(d) => Ok(d),
            _ => Err(CmdError::WrongType),
        }
    }

    /// The string payload, or WRONGTYPE.
    pub fn as_str(&self) -> Result<&super::StrValue, CmdError> {
        match self {
            Value::Str(s) => Ok(s),
            _ => Err(CmdError::WrongType),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_value_takes_32_bytes() {
        // Every key's entry holds a `Value`: strings and the unboxed hash, list, set and
        // sorted set each take 24 bytes, and the tag 8 more.
        assert_eq!(std::mem::size_of::<super::Value>(), 32);
    }
}
