//! Protocol edges over a raw socket: inline commands, pipelining order, protocol errors.

use crate::harness::{raw_exchange, TestServer};

#[test]
fn inline_and_multibulk_commands_pipeline_in_order() {
    let server = TestServer::start();
    let mut s = server.raw();
    let out = raw_exchange(
        &mut s,
        b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        "+PONG\r\n+OK\r\n$1\r\nv\r\n".len(),
    );
    assert_eq!(out, b"+PONG\r\n+OK\r\n$1\r\nv\r\n");
}

#[test]
fn malformed_multibulk_gets_protocol_error_and_close() {
    let server = TestServer::start();
    let mut s = server.raw();
    let out = raw_exchange(&mut s, b"*1\r\nfoo\r\n", 1000);
    assert_eq!(out, b"-ERR Protocol error: expected '$', got 'f'\r\n");
    // The server closed the connection but is still serving others.
    let mut con = server.client();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}
