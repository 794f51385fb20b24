//! The value types a key can hold. Collection types arrive with the collections issue;
//! every type answers `TYPE` and `OBJECT ENCODING` here.

use bytes::Bytes;

use crate::resp::decode::parse_i64;

/// A key's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (also bitmaps and HyperLogLogs, which Redis stores as strings).
    Str(Bytes),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// The name `OBJECT ENCODING` reports, following Redis's rules for strings.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
        }
    }

    /// Approximate heap bytes, for `MEMORY USAGE` and `used_memory` estimates.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
        }
    }

    /// The string payload, or WRONGTYPE.
    pub fn as_str(&self) -> Result<&Bytes, crate::error::CmdError> {
        match self {
            Value::Str(s) => Ok(s),
            #[allow(unreachable_patterns)]
            _ => Err(crate::error::CmdError::WrongType),
        }
    }
}
