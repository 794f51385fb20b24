//! Value types with their own encodings, as pure data structures: no keyspace, no
//! protocol, no clock.

pub mod hash;
pub mod hll;
pub mod list;
pub mod set;
pub mod stream;
pub mod zset;
