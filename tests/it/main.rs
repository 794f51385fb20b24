//! Black-box tests: each starts a real `engram-server` process and talks to it with the
//! `redis` crate or raw sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the assertion

mod bitmap;
mod connection;
mod expire;
mod harness;
mod hyperloglog;
mod keyspace;
mod protocol;
mod server;
mod string;
