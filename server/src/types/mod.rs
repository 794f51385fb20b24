//! Value types with their own encodings, as pure data structures: no keyspace, no
//! protocol, no clock.

pub mod hll;
