//! engram-index: search indexes (vector, TAG, NUMERIC, TEXT) and the FT query language.
//!
//! Knows nothing of sockets, RESP or the keyspace: the server feeds it document changes
//! (already extracted into field values by schema) and asks it which documents match a
//! query. Mutated only by the apply thread; searched concurrently by readers.
#![warn(missing_docs)]

/// A dense document number inside one index (reused after removal).
pub type DocId = u32;

pub mod aggregate;
pub mod codec;
pub mod index;
pub mod query;
pub mod schema;
pub mod text;
pub mod vector;

pub use index::{ExecError, Hit, Index, SearchParams, SearchResult};
pub use schema::{Field, FieldType, FieldValue};
