//! engram-json: the JSON document model and JSONPath for the `JSON.*` commands.
//!
//! Pure and synchronous: no sockets, no RESP, no keyspace. The server calls into it from
//! apply. The spec for every result is RedisJSON 2.8 (with Redis 7.4).
//!
//! - [`Path::parse`] parses RedisJSON's JSONPath dialect and its legacy syntax.
//! - [`Document`] is one JSON value (a whole document, or a value given as an argument) and
//!   has one method per command operation. Results are [`Output`]s: `Legacy(x)` for a legacy
//!   path (reply with `x` itself) or `Each(v)` for a `$` path (reply with an array, one entry
//!   per match, `None` as null).
//! - Errors are [`JsonError`]s whose text is RedisJSON's reply text.
#![warn(missing_docs)]

mod array;
mod edit;
mod error;
mod eval;
mod format;
mod ops;
mod path;
mod resp;

pub use array::{parse_index, parse_pop_index};
pub use error::JsonError;
pub use eval::{Loc, Step};
pub use format::Format;
pub use ops::{type_name, NumOp, Output, SetCond};
pub use path::{CmpOp, Expr, Operand, Path, Segment, Selector};
pub use resp::{resp_double_text, RespValue};

/// Gives back the growth slack parsing left in every container (maps and vectors grow
/// by doubling): a stored document lives long, its parse is over.
fn shrink(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Array(items) => {
            items.shrink_to_fit();
            items.iter_mut().for_each(shrink);
        }
        serde_json::Value::Object(map) => {
            // serde_json's Map has no shrink_to_fit; collecting a known number of entries
            // allocates exactly that many.
            *map = std::mem::take(map).into_iter().collect();
            map.values_mut().for_each(shrink);
        }
        serde_json::Value::String(s) => s.shrink_to_fit(),
        _ => {}
    }
}

/// RedisJSON's nesting limit: JSON text nested this deep is rejected by the parser
/// (`recursion limit exceeded at line 1 column N`, serde_json's limit, as in RedisJSON).
/// Values may still end up deeper by setting nested values at depth, as in RedisJSON.
pub const MAX_DEPTH: usize = 128;

/// A JSON value. Today a `serde_json::Value` with insertion-ordered objects; the tree is
/// private so the representation can become a compact one without changing callers.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    root: serde_json::Value,
}

impl Document {
    /// Parses JSON text as RedisJSON does (serde_json's error messages, depth limit 128).
    pub fn parse(text: &str) -> Result<Document, JsonError> {
        // RedisJSON reads the first value and ignores what follows (`1 2` sets 1).
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
        let first = match stream.next() {
            Some(r) => r,
            None => serde_json::from_str::<serde_json::Value>(text),
        };
        let mut root = first.map_err(|e| JsonError::InvalidJson(e.to_string()))?;
        shrink(&mut root);
        Ok(Document { root })
    }

    /// Serialises the whole value.
    pub fn to_json(&self, f: &Format) -> String {
        let mut s = String::new();
        format::write_value(&mut s, &self.root, f);
        s
    }

    /// The underlying tree (read-only). Prefer the operation methods; this exists for
    /// snapshots and tests and may change with the representation.
    pub fn as_value(&self) -> &serde_json::Value {
        &self.root
    }

    /// Builds a document from a `serde_json::Value`.
    pub fn from_value(root: serde_json::Value) -> Document {
        Document { root }
    }

    /// The values a path selects, in order (search indexes read fields through this).
    pub fn select(&self, path: &Path) -> Vec<&serde_json::Value> {
        eval::query(&self.root, path.segments())
    }

    /// The values a path selects, serialised, in order (for tests and diagnostics).
    pub fn query(&self, path: &Path) -> Vec<String> {
        eval::query(&self.root, path.segments())
            .into_iter()
            .map(|v| {
                let mut s = String::new();
                format::write_value(&mut s, v, &Format::default());
                s
            })
            .collect()
    }
}
