//! engram-json: the JSON document model and JSONPath for the `JSON.*` commands.
//!
//! Pure and synchronous: no sockets, no RESP, no keyspace. The server calls into it from
//! apply. This crate is a placeholder until the JSON issue lands; it owns nothing yet.
#![warn(missing_docs)]
