//! Black-box tests: each starts a real `engram-server` process and talks to it with the
//! `redis` crate or raw sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// test code: a panic is the assertion
// Black-box tests measure real time (deadlines, TTLs) against a real process.
#![allow(clippy::disallowed_methods)]

mod bitmap;
mod blocking;
mod connection;
mod durability;
mod expire;
mod geo;
#[allow(dead_code)] // helpers shared by modules; not every one is used by all
mod harness;
mod hash;
mod hyperloglog;
mod json;
mod keyspace;
mod linearizable;
mod list;
mod protocol;
mod pubsub;
mod replication;
mod scripting;
mod search;
mod server;
mod set;
mod sort;
mod stream;
mod string;
mod tracking;
mod zset;
