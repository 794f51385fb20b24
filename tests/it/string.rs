//! The string family over a real socket: replies and error texts as Redis 7.4 gives
//! them (checked against the reference server), TTL options, binary values.

use redis::Value;

use crate::harness::{cmd, TestServer};

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

fn bulk(con: &mut redis::Connection, args: &[&str]) -> Option<Vec<u8>> {
    match ok(con, args) {
        Value::BulkString(b) => Some(b),
        Value::Nil => None,
        other => panic!("{args:?}: expected a bulk string, got {other:?}"),
    }
}

fn text(con: &mut redis::Connection, args: &[&str]) -> String {
    String::from_utf8(bulk(con, args).unwrap_or_else(|| panic!("{args:?}: nil"))).unwrap()
}

/// Makes `key` a list if the server has lists yet; returns whether it did.
fn make_list(con: &mut redis::Connection, key: &str) -> bool {
    cmd(con, &["RPUSH", key, "x"]).is_ok()
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn set_options_and_conditions() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["SET", "k", "v", "NX", "GET"]), Value::Nil);
    assert_eq!(text(&mut con, &["SET", "k", "w", "XX", "GET"]), "v");
    assert_eq!(ok(&mut con, &["SET", "k", "z", "NX"]), Value::Nil);
    assert_eq!(ok(&mut con, &["SET", "k", "z", "NX", "nx"]), Value::Nil, "NX may repeat");
    assert_eq!(ok(&mut con, &["SET", "missing", "z", "XX"]), Value::Nil);
    assert_eq!(text(&mut con, &["GET", "k"]), "w");
    assert_eq!(err(cmd(&mut con, &["SET", "k", "v", "NX", "XX"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["SET", "k", "v", "EX", "1", "PX", "1"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["SET", "k", "v", "KEEPTTL", "EX", "1"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["SET", "k", "v", "EX"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["SET", "k", "v", "EX", "0"])),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["SET", "k", "v", "EX", "abc"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(cmd(&mut con, &["SET", "k", "v", "PX", "9223372036854775807"])),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["SET", "k"])),
        "ERR wrong number of arguments for 'set' command"
    );
    // The failed SETs left the value alone.
    assert_eq!(text(&mut con, &["GET", "k"]), "w");

    ok(&mut con, &["SET", "t", "v", "EX", "100", "EX", "200"]);
    let ttl = int(&mut con, &["TTL", "t"]);
    assert!((199..=200).contains(&ttl), "the last EX wins: {ttl}");
    ok(&mut con, &["SET", "t", "w", "KEEPTTL"]);
    assert!(int(&mut con, &["TTL", "t"]) > 100);
    ok(&mut con, &["SET", "t", "x"]);
    assert_eq!(int(&mut con, &["TTL", "t"]), -1, "plain SET clears the TTL");
    ok(&mut con, &["SET", "t", "x", "PXAT", "4102444800000"]);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "t"]), 4102444800000);
    ok(&mut con, &["SET", "t", "x", "EXAT", "4102444800"]);
    assert_eq!(int(&mut con, &["EXPIRETIME", "t"]), 4102444800);

    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["SET", "list", "v", "GET"])), WRONGTYPE);
        assert_eq!(ok(&mut con, &["SET", "list", "v"]), Value::Okay);
    }
}

#[test]
fn setnx_setex_psetex_getset_getdel() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["SETNX", "k", "a"]), 1);
    assert_eq!(int(&mut con, &["SETNX", "k", "b"]), 0);
    assert_eq!(text(&mut con, &["GET", "k"]), "a");

    ok(&mut con, &["SETEX", "e", "100", "v"]);
    assert!((99..=100).contains(&int(&mut con, &["TTL", "e"])));
    ok(&mut con, &["PSETEX", "p", "100000", "v"]);
    assert!((99_000..=100_000).contains(&int(&mut con, &["PTTL", "p"])));
    for (c, amount) in [("setex", "0"), ("setex", "-1"), ("psetex", "0")] {
        assert_eq!(
            err(cmd(&mut con, &[c, "x", amount, "v"])),
            format!("ERR invalid expire time in '{c}' command")
        );
    }
    assert_eq!(
        err(cmd(&mut con, &["SETEX", "x", "9223372036854775807", "v"])),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["PSETEX", "x", "9223372036854775807", "v"])),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["SETEX", "x", "ten", "v"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(int(&mut con, &["EXISTS", "x"]), 0);

    assert_eq!(text(&mut con, &["GETSET", "e", "new"]), "v");
    assert_eq!(int(&mut con, &["TTL", "e"]), -1, "GETSET clears the TTL");
    assert_eq!(bulk(&mut con, &["GETSET", "fresh", "1"]), None);
    assert_eq!(text(&mut con, &["GETDEL", "fresh"]), "1");
    assert_eq!(bulk(&mut con, &["GETDEL", "fresh"]), None);
    assert_eq!(int(&mut con, &["EXISTS", "fresh"]), 0);

    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["GETSET", "list", "v"])), WRONGTYPE);
        assert_eq!(err(cmd(&mut con, &["GETDEL", "list"])), WRONGTYPE);
        assert_eq!(int(&mut con, &["SETNX", "list", "v"]), 0);
    }
}

#[test]
fn getex_changes_only_the_ttl() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(bulk(&mut con, &["GETEX", "missing", "EX", "10"]), None);
    // As Redis: a bad amount is only reported for an existing key.
    assert_eq!(bulk(&mut con, &["GETEX", "missing", "EX", "0"]), None);
    ok(&mut con, &["SET", "k", "v"]);
    assert_eq!(text(&mut con, &["GETEX", "k"]), "v");
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);
    assert_eq!(text(&mut con, &["GETEX", "k", "EX", "100"]), "v");
    assert!((99..=100).contains(&int(&mut con, &["TTL", "k"])));
    assert_eq!(text(&mut con, &["GETEX", "k", "PERSIST"]), "v");
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);
    assert_eq!(text(&mut con, &["GETEX", "k", "PXAT", "4102444800000"]), "v");
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), 4102444800000);
    assert_eq!(text(&mut con, &["GETEX", "k", "PX", "100000"]), "v");
    assert!(int(&mut con, &["PTTL", "k"]) > 90_000);
    assert_eq!(
        err(cmd(&mut con, &["GETEX", "k", "EX", "0"])),
        "ERR invalid expire time in 'getex' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["GETEX", "k", "EX", "x"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(cmd(&mut con, &["GETEX", "k", "EX", "1", "PX", "1"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["GETEX", "k", "PX", "1", "PERSIST"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["GETEX", "k", "NX"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["GETEX", "k", "EX"])), "ERR syntax error");
    // An absolute time in the past deletes the key, and the reply is still the value.
    assert_eq!(text(&mut con, &["GETEX", "k", "PXAT", "1"]), "v");
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0);
}

#[test]
fn mget_mset_msetnx() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["MSET", "a", "1", "b", "2", "a", "3"]);
    assert_eq!(
        ok(&mut con, &["MGET", "a", "b", "c"]),
        Value::Array(vec![
            Value::BulkString(b"3".to_vec()),
            Value::BulkString(b"2".to_vec()),
            Value::Nil
        ])
    );
    assert_eq!(
        err(cmd(&mut con, &["MSET", "a", "1", "b"])),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        err(cmd(&mut con, &["MSETNX", "a"])),
        "ERR wrong number of arguments for 'msetnx' command"
    );
    assert_eq!(int(&mut con, &["MSETNX", "c", "1", "a", "9"]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "c"]), 0, "MSETNX is all or nothing");
    assert_eq!(int(&mut con, &["MSETNX", "c", "1", "d", "2"]), 1);
    assert_eq!(text(&mut con, &["GET", "d"]), "2");
    if make_list(&mut con, "list") {
        let v = ok(&mut con, &["MGET", "list", "a"]);
        assert_eq!(v, Value::Array(vec![Value::Nil, Value::BulkString(b"3".to_vec())]));
        assert_eq!(int(&mut con, &["MSETNX", "list", "v"]), 0);
    }
}

#[test]
fn append_strlen_getrange_setrange() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["APPEND", "k", "hello"]), 5);
    assert_eq!(int(&mut con, &["APPEND", "k", " world"]), 11);
    assert_eq!(int(&mut con, &["STRLEN", "k"]), 11);
    assert_eq!(int(&mut con, &["STRLEN", "missing"]), 0);
    assert_eq!(text(&mut con, &["GETRANGE", "k", "0", "4"]), "hello");
    assert_eq!(text(&mut con, &["GETRANGE", "k", "-5", "-1"]), "world");
    assert_eq!(text(&mut con, &["GETRANGE", "k", "-1", "-5"]), "");
    assert_eq!(text(&mut con, &["GETRANGE", "k", "-100", "-50"]), "h");
    assert_eq!(text(&mut con, &["GETRANGE", "k", "5", "1"]), "");
    assert_eq!(text(&mut con, &["GETRANGE", "k", "9", "100"]), "ld");
    assert_eq!(text(&mut con, &["GETRANGE", "missing", "0", "10"]), "");
    assert_eq!(text(&mut con, &["SUBSTR", "k", "1", "3"]), "ell");
    assert_eq!(
        err(cmd(&mut con, &["GETRANGE", "k", "a", "1"])),
        "ERR value is not an integer or out of range"
    );

    assert_eq!(int(&mut con, &["SETRANGE", "k", "6", "WORLD"]), 11);
    assert_eq!(text(&mut con, &["GET", "k"]), "hello WORLD");
    assert_eq!(int(&mut con, &["SETRANGE", "pad", "3", "x"]), 4);
    assert_eq!(bulk(&mut con, &["GET", "pad"]).unwrap(), b"\0\0\0x");
    assert_eq!(int(&mut con, &["SETRANGE", "none", "0", ""]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "none"]), 0, "an empty SETRANGE creates nothing");
    assert_eq!(int(&mut con, &["SETRANGE", "k", "100", ""]), 11);
    assert_eq!(err(cmd(&mut con, &["SETRANGE", "k", "-1", "x"])), "ERR offset is out of range");
    assert_eq!(
        err(cmd(&mut con, &["SETRANGE", "k", "536870912", "x"])),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(int(&mut con, &["STRLEN", "k"]), 11);

    // APPEND and SETRANGE keep the TTL.
    ok(&mut con, &["SET", "t", "a", "EX", "100"]);
    int(&mut con, &["APPEND", "t", "b"]);
    int(&mut con, &["SETRANGE", "t", "0", "c"]);
    assert!(int(&mut con, &["TTL", "t"]) > 0);
    assert_eq!(text(&mut con, &["GET", "t"]), "cb");

    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["APPEND", "list", "x"])), WRONGTYPE);
        assert_eq!(err(cmd(&mut con, &["STRLEN", "list"])), WRONGTYPE);
        assert_eq!(err(cmd(&mut con, &["GETRANGE", "list", "0", "1"])), WRONGTYPE);
        assert_eq!(err(cmd(&mut con, &["SETRANGE", "list", "0", "x"])), WRONGTYPE);
    }
}

#[test]
fn binary_values_round_trip() {
    let server = TestServer::start();
    let mut con = server.client();
    let value = "a\0b\r\nc\n";
    ok(&mut con, &["SET", "bin\0key", value]);
    assert_eq!(bulk(&mut con, &["GET", "bin\0key"]).unwrap(), value.as_bytes());
    assert_eq!(int(&mut con, &["STRLEN", "bin\0key"]), 7);
    assert_eq!(bulk(&mut con, &["GETRANGE", "bin\0key", "1", "4"]).unwrap(), b"\0b\r\n");
    assert_eq!(int(&mut con, &["APPEND", "bin\0key", "\r\n\0"]), 10);
    assert_eq!(bulk(&mut con, &["GET", "bin\0key"]).unwrap(), b"a\0b\r\nc\n\r\n\0");
    int(&mut con, &["SETRANGE", "bin\0key", "0", "\0"]);
    assert_eq!(bulk(&mut con, &["GETDEL", "bin\0key"]).unwrap(), b"\0\0b\r\nc\n\r\n\0");
    ok(&mut con, &["MSET", "x\r\n", "\r\n", "y", ""]);
    assert_eq!(
        ok(&mut con, &["MGET", "x\r\n", "y"]),
        Value::Array(vec![Value::BulkString(b"\r\n".to_vec()), Value::BulkString(vec![])])
    );
    assert_eq!(int(&mut con, &["STRLEN", "y"]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "y"]), 1, "an empty string is a value");
}

#[test]
fn integer_counters() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["INCR", "n"]), 1);
    assert_eq!(int(&mut con, &["INCRBY", "n", "41"]), 42);
    assert_eq!(int(&mut con, &["DECR", "n"]), 41);
    assert_eq!(int(&mut con, &["DECRBY", "n", "-9"]), 50);
    assert_eq!(text(&mut con, &["GET", "n"]), "50");
    let not_int = "ERR value is not an integer or out of range";
    for v in ["abc", " 1", "1 ", "01", "1.5", "", "99999999999999999999"] {
        ok(&mut con, &["SET", "s", v]);
        assert_eq!(err(cmd(&mut con, &["INCR", "s"])), not_int, "{v:?}");
    }
    assert_eq!(err(cmd(&mut con, &["INCRBY", "n", "x"])), not_int);
    assert_eq!(err(cmd(&mut con, &["INCRBY", "n", "1.0"])), not_int);
    ok(&mut con, &["SET", "big", "9223372036854775807"]);
    assert_eq!(err(cmd(&mut con, &["INCR", "big"])), "ERR increment or decrement would overflow");
    ok(&mut con, &["SET", "small", "-9223372036854775808"]);
    assert_eq!(err(cmd(&mut con, &["DECR", "small"])), "ERR increment or decrement would overflow");
    assert_eq!(
        err(cmd(&mut con, &["DECRBY", "n", "-9223372036854775808"])),
        "ERR decrement would overflow"
    );
    assert_eq!(text(&mut con, &["GET", "big"]), "9223372036854775807");
    assert_eq!(err(cmd(&mut con, &["INCR"])), "ERR wrong number of arguments for 'incr' command");
    // INCR keeps the TTL.
    ok(&mut con, &["SET", "t", "1", "EX", "100"]);
    assert_eq!(int(&mut con, &["INCR", "t"]), 2);
    assert!(int(&mut con, &["TTL", "t"]) > 0);
    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["INCR", "list"])), WRONGTYPE);
    }
}

#[test]
fn incrbyfloat_formats_like_redis() {
    let server = TestServer::start();
    let mut con = server.client();
    // (start, increment, Redis 7.4's reply)
    let cases = [
        ("10.5", "0.1", "10.6"),
        ("0.1", "0.2", "0.3"),
        ("1000", "0.1", "1000.09999999999999998"),
        ("17179869184", "1.5", "17179869185.5"),
        ("3.0e3", "1.0e2", "3100"),
        ("5", "-5", "0"),
        ("-5", "2.5", "-2.5"),
        ("1e20", "1", "100000000000000000000"),
    ];
    for (start, by, want) in cases {
        ok(&mut con, &["SET", "f", start]);
        assert_eq!(text(&mut con, &["INCRBYFLOAT", "f", by]), want, "{start} + {by}");
        assert_eq!(text(&mut con, &["GET", "f"]), want);
    }
    assert_eq!(text(&mut con, &["INCRBYFLOAT", "new", "0.25"]), "0.25");
    ok(&mut con, &["SET", "f", "1"]);
    let not_float = "ERR value is not a valid float";
    assert_eq!(err(cmd(&mut con, &["INCRBYFLOAT", "f", "abc"])), not_float);
    assert_eq!(err(cmd(&mut con, &["INCRBYFLOAT", "f", " 1"])), not_float);
    assert_eq!(err(cmd(&mut con, &["INCRBYFLOAT", "f", "nan"])), not_float);
    assert_eq!(
        err(cmd(&mut con, &["INCRBYFLOAT", "f", "+inf"])),
        "ERR increment would produce NaN or Infinity"
    );
    ok(&mut con, &["SET", "s", "1 "]);
    assert_eq!(err(cmd(&mut con, &["INCRBYFLOAT", "s", "1"])), not_float);
    ok(&mut con, &["SET", "s", "1\x002"]);
    assert_eq!(err(cmd(&mut con, &["INCRBYFLOAT", "s", "1"])), not_float);
    assert_eq!(text(&mut con, &["GET", "f"]), "1", "failed increments change nothing");
    ok(&mut con, &["SET", "t", "1", "PX", "100000"]);
    assert_eq!(text(&mut con, &["INCRBYFLOAT", "t", "1.5"]), "2.5");
    assert!(int(&mut con, &["PTTL", "t"]) > 0, "INCRBYFLOAT keeps the TTL");
    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["INCRBYFLOAT", "list", "1"])), WRONGTYPE);
    }
}

#[test]
fn lcs_replies() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["MSET", "a", "ohmytext", "b", "mynewtext"]);
    assert_eq!(text(&mut con, &["LCS", "a", "b"]), "mytext");
    assert_eq!(int(&mut con, &["LCS", "a", "b", "LEN"]), 6);
    assert_eq!(text(&mut con, &["LCS", "a", "missing"]), "");
    let ints = |a: i64, b: i64| Value::Array(vec![Value::Int(a), Value::Int(b)]);
    let v = ok(&mut con, &["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]);
    let want = Value::Array(vec![
        Value::BulkString(b"matches".to_vec()),
        Value::Array(vec![Value::Array(vec![ints(4, 7), ints(5, 8), Value::Int(4)])]),
        Value::BulkString(b"len".to_vec()),
        Value::Int(6),
    ]);
    assert_eq!(v, want);
    let v = ok(&mut con, &["LCS", "a", "b", "IDX"]);
    let Value::Array(items) = v else { panic!("{v:?}") };
    assert_eq!(
        items[1],
        Value::Array(vec![
            Value::Array(vec![ints(4, 7), ints(5, 8)]),
            Value::Array(vec![ints(2, 3), ints(0, 1)]),
        ])
    );
    assert_eq!(
        err(cmd(&mut con, &["LCS", "a", "b", "LEN", "IDX"])),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    assert_eq!(err(cmd(&mut con, &["LCS", "a", "b", "MINMATCHLEN"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["LCS", "a", "b", "FOO"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["LCS", "a", "b", "MINMATCHLEN", "x"])),
        "ERR value is not an integer or out of range"
    );
    if make_list(&mut con, "list") {
        assert_eq!(
            err(cmd(&mut con, &["LCS", "a", "list"])),
            "ERR The specified keys must contain string values"
        );
    }
}

#[test]
fn resp3_lcs_idx_is_a_map() {
    let server = TestServer::start();
    let mut con = server.client_resp3();
    ok(&mut con, &["MSET", "a", "abc", "b", "abc"]);
    let v = ok(&mut con, &["LCS", "a", "b", "IDX"]);
    let Value::Map(pairs) = v else { panic!("expected a map, got {v:?}") };
    assert_eq!(pairs[1], (Value::BulkString(b"len".to_vec()), Value::Int(3)));
}

#[test]
fn incrbyfloat_checks_the_type_before_the_increment() {
    let server = TestServer::start();
    let mut c = server.client();
    ok(&mut c, &["XADD", "st", "1", "f", "v"]);
    assert_eq!(
        err(cmd(&mut c, &["INCRBYFLOAT", "st", "abc"])),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    ok(&mut c, &["SET", "s", "abc"]);
    assert_eq!(err(cmd(&mut c, &["INCRBYFLOAT", "s", "1"])), "ERR value is not a valid float");
    assert_eq!(
        err(cmd(&mut c, &["INCRBYFLOAT", "nokey", "abc"])),
        "ERR value is not a valid float"
    );
    assert_eq!(int(&mut c, &["EXISTS", "nokey"]), 0);
}

#[test]
fn unknown_commands_echo_arguments_as_redis_prints_them() {
    let server = TestServer::start();
    let mut c = server.client();
    // Each piece stops at a NUL; the arguments share a 128-byte budget.
    let r = cmd(&mut c, &["f\0oo", "a\0b", "c"]);
    assert_eq!(err(r), "ERR unknown command 'f', with args beginning with: 'a' 'c' ");
    let (x, y) = ("x".repeat(100), "y".repeat(100));
    let r = cmd(&mut c, &["foo", &x, &y, "z"]);
    assert_eq!(
        err(r),
        format!("ERR unknown command 'foo', with args beginning with: '{x}' '{}' ", &y[..25])
    );
    assert_eq!(
        err(cmd(&mut c, &["XGROUP", "no\0pe"])),
        "ERR unknown subcommand 'no'. Try XGROUP HELP."
    );
}
