//! Blocked clients over real sockets: serving order, hang-ups, CLIENT UNBLOCK, timeouts.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use redis::Value;

use crate::harness::{cmd, read_until_suffix, TestServer};

fn int(con: &mut redis::Connection, args: &[&str]) -> i64 {
    match cmd(con, args).unwrap() {
        Value::Int(n) => n,
        other => panic!("{args:?}: {other:?}"),
    }
}

/// Polls INFO until `blocked_clients` equals `n`.
fn wait_blocked(con: &mut redis::Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let want = format!("blocked_clients:{n}\r\n");
    while Instant::now() < deadline {
        let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
        if info.contains(&want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("blocked_clients never reached {n}");
}

fn send(stream: &mut TcpStream, line: &str) {
    stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
}

#[test]
fn clients_are_served_in_the_order_they_blocked() {
    let server = TestServer::start();
    let mut admin = server.client();
    let mut waiters: Vec<TcpStream> = Vec::new();
    for i in 0..3 {
        let mut s = server.raw();
        send(&mut s, "BLPOP q 0");
        waiters.push(s);
        wait_blocked(&mut admin, i + 1);
    }
    for value in ["a", "b", "c"] {
        int(&mut admin, &["RPUSH", "q", value]);
    }
    for (waiter, value) in waiters.iter_mut().zip(["a", "b", "c"]) {
        let expected = format!("*2\r\n$1\r\nq\r\n$1\r\n{value}\r\n");
        let got = read_until_suffix(waiter, expected.as_bytes(), Duration::from_secs(5));
        assert_eq!(String::from_utf8_lossy(&got), expected);
    }
    assert_eq!(int(&mut admin, &["LLEN", "q"]), 0);
}

#[test]
fn a_client_that_hangs_up_while_blocked_takes_nothing() {
    let server = TestServer::start();
    let mut admin = server.client();
    {
        let mut s = server.raw();
        send(&mut s, "BLPOP gone 0");
        wait_blocked(&mut admin, 1);
    } // dropped: the client hung up
    wait_blocked(&mut admin, 0);
    int(&mut admin, &["RPUSH", "gone", "x"]);
    assert_eq!(int(&mut admin, &["LLEN", "gone"]), 1, "the element must still be there");
}

#[test]
fn a_waiter_that_ends_without_popping_passes_its_turn_on() {
    let server = TestServer::start();
    let mut admin = server.client();
    let mut first = server.raw();
    send(&mut first, "CLIENT ID");
    let id_line = read_until_suffix(&mut first, b"\r\n", Duration::from_secs(5));
    let first_id = String::from_utf8_lossy(&id_line[1..id_line.len() - 2]).to_string();
    send(&mut first, "BLPOP k 0");
    wait_blocked(&mut admin, 1);
    let mut second = server.raw();
    send(&mut second, "BLPOP k 0");
    wait_blocked(&mut admin, 2);
    assert_eq!(int(&mut admin, &["CLIENT", "UNBLOCK", &first_id, "ERROR"]), 1);
    let got = read_until_suffix(&mut first, b"\r\n", Duration::from_secs(5));
    assert!(got.starts_with(b"-UNBLOCKED"), "{}", String::from_utf8_lossy(&got));
    int(&mut admin, &["RPUSH", "k", "v"]);
    let expected = b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n";
    assert_eq!(read_until_suffix(&mut second, expected, Duration::from_secs(5)), expected);
}

#[test]
fn timeouts_and_transactions_do_not_block_forever() {
    let server = TestServer::start();
    let mut con = server.client();
    let started = Instant::now();
    assert_eq!(cmd(&mut con, &["BLPOP", "none", "0.1"]).unwrap(), Value::Nil);
    assert!(started.elapsed() >= Duration::from_millis(90));
    // Inside MULTI a blocking command answers at once.
    let mut raw = server.raw();
    raw.write_all(b"MULTI\r\nBLPOP none 0\r\nEXEC\r\n").unwrap();
    let expected = b"+OK\r\n+QUEUED\r\n*1\r\n*-1\r\n";
    assert_eq!(read_until_suffix(&mut raw, expected, Duration::from_secs(5)), expected);
}

#[test]
fn a_key_turned_into_another_type_keeps_the_client_blocked() {
    let server = TestServer::start();
    let mut admin = server.client();
    let mut waiter = server.raw();
    send(&mut waiter, "BLPOP k 0");
    wait_blocked(&mut admin, 1);
    cmd(&mut admin, &["SET", "k", "string"]).unwrap();
    cmd(&mut admin, &["DEL", "k"]).unwrap();
    wait_blocked(&mut admin, 1);
    int(&mut admin, &["LPUSH", "k", "v"]);
    let expected = b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n";
    assert_eq!(read_until_suffix(&mut waiter, expected, Duration::from_secs(5)), expected);
}

/// INFO counts the keys clients block on, and apart those with a client whose wait also
/// ends when the key is deleted (XREADGROUP, whose group goes with the key), as Redis.
#[test]
fn info_counts_keys_blocked_on_their_deletion_apart() {
    let server = TestServer::start();
    let mut con = server.client();
    let field = |con: &mut redis::Connection, name: &str| -> i64 {
        let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
        let line = info.lines().find_map(|l| l.strip_prefix(&format!("{name}:")));
        line.and_then(|v| v.trim().parse().ok()).unwrap_or(-1)
    };
    let mut list_waiter = server.raw();
    send(&mut list_waiter, "BLPOP l 5");
    wait_blocked(&mut con, 1);
    assert_eq!(field(&mut con, "total_blocking_keys"), 1);
    assert_eq!(field(&mut con, "total_blocking_keys_on_nokey"), 0);
    cmd(&mut con, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]).unwrap();
    let mut group_waiter = server.raw();
    send(&mut group_waiter, "XREADGROUP GROUP g c BLOCK 5000 STREAMS s >");
    wait_blocked(&mut con, 2);
    assert_eq!(field(&mut con, "total_blocking_keys"), 2);
    assert_eq!(field(&mut con, "total_blocking_keys_on_nokey"), 1);
    cmd(&mut con, &["DEL", "s"]).unwrap();
    wait_blocked(&mut con, 1);
    assert_eq!(field(&mut con, "total_blocking_keys_on_nokey"), 0);
}
