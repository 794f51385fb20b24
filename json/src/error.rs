//! Errors, carrying RedisJSON's exact reply text.

use std::fmt;

/// An error whose `Display` is the full RESP error line RedisJSON sends (without the `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// A path that does not parse (`Error occurred on position ...`).
    PathSyntax(String),
    /// Invalid JSON text; the serde_json message (RedisJSON replies it without a prefix).
    InvalidJson(String),
    /// Any other error, the full text including its prefix (`ERR ...`, `WRONGTYPE ...`).
    Other(String),
}

impl JsonError {
    pub(crate) fn err(msg: impl fmt::Display) -> JsonError {
        JsonError::Other(format!("ERR {msg}"))
    }

    pub(crate) fn no_path(text: &str) -> JsonError {
        JsonError::err(format_args!("Path '{text}' does not exist"))
    }

    pub(crate) fn wrong_type(expected: &str, found: &str) -> JsonError {
        JsonError::Other(format!(
            "WRONGTYPE wrong type of path value - expected {expected} but found {found}"
        ))
    }

    /// `ERR could not perform this operation on a key that doesn't exist`: what JSON.ARRINSERT,
    /// ARRPOP, ARRTRIM, CLEAR, TOGGLE (and NUMINCRBY, STRAPPEND, ARRAPPEND) reply for a
    /// missing key.
    pub fn no_such_key() -> JsonError {
        JsonError::err("could not perform this operation on a key that doesn't exist")
    }

    /// `ERR Path '<path as written>' does not exist`: JSON.ARRINDEX's reply for a missing key.
    pub fn no_such_key_path(path: &crate::Path) -> JsonError {
        JsonError::no_path(path.original())
    }

    /// `Couldn't parse as integer` (no `ERR` prefix, as RedisJSON sends it).
    pub fn not_an_integer() -> JsonError {
        JsonError::Other("Couldn't parse as integer".into())
    }

    /// The reply text (without the leading `-`).
    pub fn text(&self) -> &str {
        match self {
            JsonError::PathSyntax(s) | JsonError::InvalidJson(s) | JsonError::Other(s) => s,
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for JsonError {}
