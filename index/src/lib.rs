//! engram-index: search indexes (vector, TAG, NUMERIC, TEXT) and the FT query language.
//!
//! Knows nothing of sockets or the keyspace: it is fed document changes. This crate is a
//! placeholder until the vector-search issue lands; it owns nothing yet.
#![warn(missing_docs)]
