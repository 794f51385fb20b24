//! The list family over a real socket: replies, RESP2/RESP3 null shapes and error texts as
//! Redis 7.4 gives them (checked against the reference server), binary elements, and
//! blocking pops served by another client.

use std::time::{Duration, Instant};

use redis::Value;

use crate::harness::{cmd, raw_exchange, read_until_suffix, TestServer};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn err(result: redis::RedisResult<Value>) -> String {
    let e = result.expect_err("expected an error reply");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn ok(con: &mut redis::Connection, args: &[&str]) -> Value {
    cmd(con, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn int(con: &mut redis::Connection, args: &[&str]) -> i64 {
    match ok(con, args) {
        Value::Int(n) => n,
        other => panic!("{args:?}: expected an integer, got {other:?}"),
    }
}

fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::BulkString(s.as_bytes().to_vec())).collect())
}

fn range(con: &mut redis::Connection, key: &str) -> Value {
    ok(con, &["LRANGE", key, "0", "-1"])
}

/// Sends `argv` as a RESP array on a raw socket and returns the raw reply bytes.
fn raw(stream: &mut std::net::TcpStream, argv: &[&str]) -> String {
    let mut req = format!("*{}\r\n", argv.len());
    for a in argv {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    use std::io::Write;
    stream.write_all(req.as_bytes()).unwrap();
    String::from_utf8(read_until_suffix(stream, b"\r\n", Duration::from_secs(5))).unwrap()
}

/// Polls `f` until it holds or `timeout` passes; returns whether it held.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn blocked_clients(con: &mut redis::Connection) -> i64 {
    let Value::BulkString(info) = ok(con, &["INFO", "clients"]) else { panic!("INFO") };
    String::from_utf8(info)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn push_pop_index_and_range() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["RPUSH", "l", "b", "c"]), 2);
    assert_eq!(int(&mut con, &["LPUSH", "l", "a", "z"]), 4);
    assert_eq!(range(&mut con, "l"), bulks(&["z", "a", "b", "c"]));
    assert_eq!(int(&mut con, &["LPUSHX", "nol", "x"]), 0);
    assert_eq!(int(&mut con, &["RPUSHX", "l", "d"]), 5);
    assert_eq!(int(&mut con, &["LLEN", "l"]), 5);
    assert_eq!(int(&mut con, &["LLEN", "nol"]), 0);
    assert_eq!(ok(&mut con, &["LINDEX", "l", "-1"]), Value::BulkString(b"d".to_vec()));
    assert_eq!(ok(&mut con, &["LINDEX", "l", "5"]), Value::Nil);
    assert_eq!(ok(&mut con, &["LRANGE", "l", "-100", "1"]), bulks(&["z", "a"]));
    assert_eq!(ok(&mut con, &["LRANGE", "l", "3", "1"]), bulks(&[]));
    assert_eq!(ok(&mut con, &["LRANGE", "nol", "0", "-1"]), bulks(&[]));
    assert_eq!(ok(&mut con, &["LPOP", "l"]), Value::BulkString(b"z".to_vec()));
    assert_eq!(ok(&mut con, &["RPOP", "l", "2"]), bulks(&["d", "c"]));
    assert_eq!(ok(&mut con, &["LPOP", "l", "0"]), bulks(&[]));
    assert_eq!(ok(&mut con, &["LPOP", "l", "10"]), bulks(&["a", "b"]));
    assert_eq!(int(&mut con, &["EXISTS", "l"]), 0, "an emptied list is deleted");
}

#[test]
fn binary_elements_round_trip() {
    let server = TestServer::start();
    let mut con = server.client();
    let element: Vec<u8> = (0u8..=255).collect();
    let n: i64 =
        redis::cmd("RPUSH").arg("b").arg(&element[..]).arg(b"\r\n\0").query(&mut con).unwrap();
    assert_eq!(n, 2);
    let got: Vec<Vec<u8>> = redis::cmd("LRANGE").arg("b").arg(0).arg(-1).query(&mut con).unwrap();
    assert_eq!(got, vec![element.clone(), b"\r\n\0".to_vec()]);
    let pos: i64 = redis::cmd("LPOS").arg("b").arg(b"\r\n\0").query(&mut con).unwrap();
    assert_eq!(pos, 1);
    let moved: Vec<u8> =
        redis::cmd("LMOVE").arg("b").arg("c").arg("LEFT").arg("LEFT").query(&mut con).unwrap();
    assert_eq!(moved, element);
}

#[test]
fn null_shapes_follow_redis_in_resp2_and_resp3() {
    let server = TestServer::start();
    let mut s = server.raw();
    assert_eq!(raw(&mut s, &["LPOP", "nol"]), "$-1\r\n");
    assert_eq!(raw(&mut s, &["LPOP", "nol", "1"]), "*-1\r\n");
    assert_eq!(raw(&mut s, &["LMPOP", "1", "nol", "LEFT"]), "*-1\r\n");
    assert_eq!(raw(&mut s, &["BLPOP", "nol", "0.01"]), "*-1\r\n");
    assert_eq!(raw(&mut s, &["BLMOVE", "nol", "d", "LEFT", "LEFT", "0.01"]), "*-1\r\n");
    assert_eq!(raw(&mut s, &["LPOS", "nol", "x"]), "$-1\r\n");
    assert_eq!(raw(&mut s, &["LPOS", "nol", "x", "COUNT", "0"]), "*0\r\n");
    assert_eq!(raw(&mut s, &["RPUSH", "l", "a"]), ":1\r\n");
    assert_eq!(raw(&mut s, &["LPOP", "l", "0"]), "*0\r\n");
    // Switch to RESP3; the PING marks the end of the HELLO map.
    {
        use std::io::Write;
        s.write_all(b"HELLO 3\r\nPING\r\n").unwrap();
        let hello = read_until_suffix(&mut s, b"+PONG\r\n", Duration::from_secs(5));
        assert!(hello.starts_with(b"%"), "{}", String::from_utf8_lossy(&hello));
    }
    assert_eq!(raw(&mut s, &["LPOP", "nol"]), "_\r\n");
    assert_eq!(raw(&mut s, &["LPOP", "nol", "1"]), "_\r\n");
    assert_eq!(raw(&mut s, &["BLPOP", "nol", "0.01"]), "_\r\n");
}

#[test]
fn edits_insert_set_remove_and_trim() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(int(&mut con, &["LINSERT", "l", "BEFORE", "b", "x"]), 6);
    assert_eq!(int(&mut con, &["LINSERT", "l", "after", "c", "y"]), 7);
    assert_eq!(int(&mut con, &["LINSERT", "l", "AFTER", "nope", "y"]), -1);
    assert_eq!(int(&mut con, &["LINSERT", "nol", "AFTER", "a", "y"]), 0);
    assert_eq!(range(&mut con, "l"), bulks(&["a", "x", "b", "a", "c", "y", "a"]));
    assert_eq!(ok(&mut con, &["LSET", "l", "-2", "Y"]), Value::Okay);
    assert_eq!(int(&mut con, &["LREM", "l", "-2", "a"]), 2);
    assert_eq!(range(&mut con, "l"), bulks(&["a", "x", "b", "c", "Y"]));
    assert_eq!(int(&mut con, &["LREM", "l", "0", "zz"]), 0);
    assert_eq!(ok(&mut con, &["LTRIM", "l", "1", "-2"]), Value::Okay);
    assert_eq!(range(&mut con, "l"), bulks(&["x", "b", "c"]));
    assert_eq!(ok(&mut con, &["LTRIM", "l", "5", "1"]), Value::Okay);
    assert_eq!(int(&mut con, &["EXISTS", "l"]), 0);
    assert_eq!(ok(&mut con, &["LTRIM", "nol", "0", "1"]), Value::Okay);
    ok(&mut con, &["RPUSH", "l", "a"]);
    assert_eq!(err(cmd(&mut con, &["LSET", "l", "1", "x"])), "ERR index out of range");
    assert_eq!(err(cmd(&mut con, &["LSET", "nol", "0", "x"])), "ERR no such key");
    assert_eq!(err(cmd(&mut con, &["LINSERT", "l", "MIDDLE", "a", "x"])), "ERR syntax error");
}

#[test]
fn lpos_rank_count_and_maxlen() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
    assert_eq!(int(&mut con, &["LPOS", "l", "c"]), 2);
    assert_eq!(int(&mut con, &["LPOS", "l", "c", "RANK", "2"]), 6);
    assert_eq!(int(&mut con, &["LPOS", "l", "c", "RANK", "-1"]), 7);
    let ints = |v: &[i64]| Value::Array(v.iter().map(|n| Value::Int(*n)).collect());
    assert_eq!(ok(&mut con, &["LPOS", "l", "c", "COUNT", "0"]), ints(&[2, 6, 7]));
    assert_eq!(ok(&mut con, &["LPOS", "l", "c", "COUNT", "2", "RANK", "-1"]), ints(&[7, 6]));
    assert_eq!(ok(&mut con, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"]), ints(&[2, 6]));
    assert_eq!(ok(&mut con, &["LPOS", "l", "c", "RANK", "-1", "MAXLEN", "1"]), Value::Int(7));
    assert_eq!(ok(&mut con, &["LPOS", "l", "zz"]), Value::Nil);
    assert_eq!(ok(&mut con, &["LPOS", "l", "zz", "COUNT", "1"]), ints(&[]));
    assert_eq!(
        err(cmd(&mut con, &["LPOS", "l", "c", "RANK", "0"])),
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    );
    assert_eq!(
        err(cmd(&mut con, &["LPOS", "l", "c", "RANK", "-9223372036854775808"])),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        err(cmd(&mut con, &["LPOS", "l", "c", "COUNT", "-1"])),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        err(cmd(&mut con, &["LPOS", "l", "c", "COUNT", "x"])),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        err(cmd(&mut con, &["LPOS", "l", "c", "MAXLEN", "-1"])),
        "ERR MAXLEN can't be negative"
    );
    assert_eq!(err(cmd(&mut con, &["LPOS", "l", "c", "COUNT"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["LPOS", "l", "c", "FOO", "1"])), "ERR syntax error");
}

#[test]
fn lmove_rotates_moves_and_checks_types() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(
        ok(&mut con, &["LMOVE", "l", "l", "LEFT", "RIGHT"]),
        Value::BulkString(b"a".to_vec())
    );
    assert_eq!(range(&mut con, "l"), bulks(&["b", "c", "a"]));
    assert_eq!(ok(&mut con, &["RPOPLPUSH", "l", "d"]), Value::BulkString(b"a".to_vec()));
    assert_eq!(
        ok(&mut con, &["LMOVE", "l", "d", "left", "right"]),
        Value::BulkString(b"b".to_vec())
    );
    assert_eq!(range(&mut con, "d"), bulks(&["a", "b"]));
    assert_eq!(ok(&mut con, &["LMOVE", "nol", "d", "LEFT", "LEFT"]), Value::Nil);
    ok(&mut con, &["SET", "s", "x"]);
    assert_eq!(
        ok(&mut con, &["LMOVE", "nol", "s", "LEFT", "LEFT"]),
        Value::Nil,
        "no source, no type check"
    );
    assert_eq!(err(cmd(&mut con, &["LMOVE", "l", "s", "LEFT", "LEFT"])), WRONGTYPE);
    assert_eq!(range(&mut con, "l"), bulks(&["c"]), "a failed move changes nothing");
    assert_eq!(err(cmd(&mut con, &["LMOVE", "l", "d", "UP", "LEFT"])), "ERR syntax error");
    assert_eq!(
        ok(&mut con, &["LMOVE", "l", "d", "RIGHT", "LEFT"]),
        Value::BulkString(b"c".to_vec())
    );
    assert_eq!(int(&mut con, &["EXISTS", "l"]), 0);
}

#[test]
fn lmpop_pops_from_the_first_non_empty_list() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["RPUSH", "b", "1", "2", "3"]);
    let reply = |key: &str, items: &[&str]| {
        Value::Array(vec![Value::BulkString(key.as_bytes().to_vec()), bulks(items)])
    };
    assert_eq!(ok(&mut con, &["LMPOP", "2", "a", "b", "LEFT"]), reply("b", &["1"]));
    assert_eq!(
        ok(&mut con, &["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "10"]),
        reply("b", &["3", "2"])
    );
    assert_eq!(ok(&mut con, &["LMPOP", "2", "a", "b", "RIGHT"]), Value::Nil);
    assert_eq!(
        err(cmd(&mut con, &["LMPOP", "0", "a", "LEFT"])),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(cmd(&mut con, &["LMPOP", "x", "a", "LEFT"])),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(err(cmd(&mut con, &["LMPOP", "2", "a", "LEFT"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["LMPOP", "1", "a", "MIDDLE"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["LMPOP", "1", "a", "LEFT", "COUNT", "0"])),
        "ERR count should be greater than 0"
    );
    assert_eq!(
        err(cmd(&mut con, &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"])),
        "ERR syntax error"
    );
    assert_eq!(
        err(cmd(&mut con, &["BLMPOP", "x", "1", "a", "LEFT"])),
        "ERR timeout is not a float or out of range"
    );
}

#[test]
fn wrong_types_arity_and_bad_numbers() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "s", "x"]);
    ok(&mut con, &["RPUSH", "l", "a"]);
    for args in [
        &["LPUSH", "s", "a"][..],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["LPOP", "s", "0"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "a"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["RPOPLPUSH", "s", "l"],
        &["LMPOP", "2", "nol", "s", "LEFT"],
        &["BLPOP", "nol", "s", "0"],
    ] {
        assert_eq!(err(cmd(&mut con, args)), WRONGTYPE, "{args:?}");
    }
    assert_eq!(
        err(cmd(&mut con, &["LPUSH", "l"])),
        "ERR wrong number of arguments for 'lpush' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["LPOP", "l", "1", "2"])),
        "ERR wrong number of arguments for 'lpop' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["BLPOP", "l"])),
        "ERR wrong number of arguments for 'blpop' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["LPOP", "l", "-1"])),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(cmd(&mut con, &["LPOP", "l", "x"])),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(cmd(&mut con, &["LRANGE", "l", "0", "x"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(cmd(&mut con, &["LINDEX", "l", "1.5"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(cmd(&mut con, &["BLPOP", "l", "x"])),
        "ERR timeout is not a float or out of range"
    );
    assert_eq!(err(cmd(&mut con, &["BLPOP", "l", "-1"])), "ERR timeout is negative");
    assert_eq!(err(cmd(&mut con, &["BRPOP", "l", "inf"])), "ERR timeout is out of range");
    assert_eq!(
        err(cmd(&mut con, &["BLMOVE", "l", "d", "LEFT", "LEFT", "0x7FFFFFFFFFFFFF"])),
        "ERR timeout is out of range"
    );
    assert_eq!(range(&mut con, "l"), bulks(&["a"]), "errors change nothing");
}

#[test]
fn object_encoding_turns_quicklist_for_big_lists() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["RPUSH", "l", "a", "1"]);
    assert_eq!(ok(&mut con, &["OBJECT", "ENCODING", "l"]), Value::BulkString(b"listpack".to_vec()));
    let big = "x".repeat(9000);
    ok(&mut con, &["RPUSH", "l", &big]);
    assert_eq!(
        ok(&mut con, &["OBJECT", "ENCODING", "l"]),
        Value::BulkString(b"quicklist".to_vec())
    );
    ok(&mut con, &["RPOP", "l"]);
    assert_eq!(ok(&mut con, &["OBJECT", "ENCODING", "l"]), Value::BulkString(b"listpack".to_vec()));
}

#[test]
fn blocking_pops_serve_at_once_or_when_another_client_pushes() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["RPUSH", "b", "x", "y"]);
    assert_eq!(ok(&mut con, &["BRPOP", "a", "b", "0"]), bulks(&["b", "y"]));
    assert_eq!(
        ok(&mut con, &["BLMOVE", "b", "c", "LEFT", "RIGHT", "0"]),
        Value::BulkString(b"x".to_vec())
    );
    let started = Instant::now();
    assert_eq!(ok(&mut con, &["BLPOP", "empty", "0.05"]), Value::Nil);
    assert!(started.elapsed() >= Duration::from_millis(40), "waited for the timeout");

    let mut waiter = server.client();
    let handle = std::thread::spawn(move || cmd(&mut waiter, &["BLPOP", "q1", "q2", "5"]).unwrap());
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&mut con) == 1));
    ok(&mut con, &["RPUSH", "q2", "hello"]);
    assert_eq!(handle.join().unwrap(), bulks(&["q2", "hello"]));
    assert_eq!(int(&mut con, &["EXISTS", "q2"]), 0);
}

#[test]
fn blocking_commands_inside_multi_answer_at_once() {
    let server = TestServer::start();
    let mut s = server.raw();
    let replies = raw_exchange(
        &mut s,
        b"MULTI\r\nBLPOP nol 0\r\nBRPOPLPUSH nol d 0\r\nBLMPOP 0 1 nol LEFT\r\nEXEC\r\n",
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n*-1\r\n$-1\r\n*-1\r\n".len(),
    );
    assert_eq!(
        String::from_utf8(replies).unwrap(),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n*-1\r\n$-1\r\n*-1\r\n"
    );
}

#[test]
fn index_errors_come_after_the_key_checks() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["LINDEX", "nokey", "abc"]), Value::Nil);
    assert_eq!(ok(&mut con, &["LINDEX", "nokey", "+1"]), Value::Nil);
    assert_eq!(err(cmd(&mut con, &["LSET", "nokey", "1e3", "a"])), "ERR no such key");
    ok(&mut con, &["SET", "s", "x"]);
    assert_eq!(err(cmd(&mut con, &["LINDEX", "s", "abc"])), WRONGTYPE);
    assert_eq!(err(cmd(&mut con, &["LSET", "s", "1e3", "a"])), WRONGTYPE);
    ok(&mut con, &["RPUSH", "l", "a"]);
    assert_eq!(
        err(cmd(&mut con, &["LINDEX", "l", "abc"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(cmd(&mut con, &["LSET", "l", "1e3", "a"])),
        "ERR value is not an integer or out of range"
    );
}
