//! Bitmap commands over a real socket: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD and BITFIELD_RO, with Redis 7.4's replies and error texts.

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

fn raw(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    match ok(con, &["GET", key]) {
        Value::BulkString(b) => b,
        other => panic!("GET {key}: {other:?}"),
    }
}

fn ints(values: &[Option<i64>]) -> Value {
    Value::Array(values.iter().map(|v| v.map_or(Value::Nil, Value::Int)).collect())
}

/// Makes `key` a list if the server has lists yet; returns whether it did.
fn make_list(con: &mut redis::Connection, key: &str) -> bool {
    cmd(con, &["RPUSH", key, "x"]).is_ok()
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

#[test]
fn setbit_and_getbit() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["SETBIT", "b", "7", "1"]), 0);
    assert_eq!(int(&mut con, &["SETBIT", "b", "7", "1"]), 1);
    assert_eq!(raw(&mut con, "b"), vec![0x01]);
    assert_eq!(int(&mut con, &["SETBIT", "b", "17", "1"]), 0);
    assert_eq!(raw(&mut con, "b"), vec![0x01, 0x00, 0x40], "grown with zero bytes");
    assert_eq!(int(&mut con, &["SETBIT", "b", "7", "0"]), 1);
    assert_eq!(int(&mut con, &["GETBIT", "b", "17"]), 1);
    assert_eq!(int(&mut con, &["GETBIT", "b", "7"]), 0);
    assert_eq!(int(&mut con, &["GETBIT", "b", "1000000"]), 0);
    assert_eq!(int(&mut con, &["GETBIT", "missing", "3"]), 0);
    assert_eq!(int(&mut con, &["SETBIT", "zero", "0", "0"]), 0);
    assert_eq!(raw(&mut con, "zero"), vec![0], "SETBIT to 0 still creates the key");
    for offset in ["-1", "x", "4294967296"] {
        assert_eq!(err(cmd(&mut con, &["SETBIT", "b", offset, "1"])), BAD_OFFSET, "{offset}");
        assert_eq!(err(cmd(&mut con, &["GETBIT", "b", offset])), BAD_OFFSET, "{offset}");
    }
    for bit in ["2", "-1", "01", "x"] {
        assert_eq!(
            err(cmd(&mut con, &["SETBIT", "b", "1", bit])),
            "ERR bit is not an integer or out of range"
        );
    }
    assert_eq!(
        err(cmd(&mut con, &["SETBIT", "b", "1"])),
        "ERR wrong number of arguments for 'setbit' command"
    );
    ok(&mut con, &["SET", "t", "a", "EX", "100"]);
    int(&mut con, &["SETBIT", "t", "100", "1"]);
    assert!(int(&mut con, &["TTL", "t"]) > 0, "SETBIT keeps the TTL");
    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["SETBIT", "list", "0", "1"])), WRONGTYPE);
        assert_eq!(err(cmd(&mut con, &["GETBIT", "list", "0"])), WRONGTYPE);
    }
}

#[test]
fn bitcount_byte_and_bit_ranges() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "s", "foobar"]);
    assert_eq!(int(&mut con, &["BITCOUNT", "s"]), 26);
    assert_eq!(int(&mut con, &["BITCOUNT", "s", "0", "0"]), 4);
    assert_eq!(int(&mut con, &["BITCOUNT", "s", "1", "1"]), 6);
    assert_eq!(int(&mut con, &["BITCOUNT", "s", "1", "1", "BYTE"]), 6);
    assert_eq!(int(&mut con, &["BITCOUNT", "s", "5", "30", "BIT"]), 17);
    assert_eq!(int(&mut con, &["BITCOUNT", "s", "-10", "-3", "bit"]), 4);
    assert_eq!(int(&mut con, &["BITCOUNT", "s", "-2", "-1"]), 7);
    assert_eq!(int(&mut con, &["BITCOUNT", "s", "-1", "-5"]), 0);
    assert_eq!(int(&mut con, &["BITCOUNT", "s", "0", "1000"]), 26);
    assert_eq!(int(&mut con, &["BITCOUNT", "missing"]), 0);
    assert_eq!(int(&mut con, &["BITCOUNT", "missing", "0", "-1"]), 0);
    assert_eq!(err(cmd(&mut con, &["BITCOUNT", "s", "0"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["BITCOUNT", "s", "0", "1", "WORD"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["BITCOUNT", "s", "0", "1", "BIT", "x"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["BITCOUNT", "missing", "0", "x"])),
        "ERR value is not an integer or out of range"
    );
    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["BITCOUNT", "list"])), WRONGTYPE);
    }
}

#[test]
fn bitpos_finds_set_and_clear_bits() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "s", "\x00\x0f\x00"]);
    assert_eq!(int(&mut con, &["BITPOS", "s", "1"]), 12);
    assert_eq!(int(&mut con, &["BITPOS", "s", "0"]), 0);
    assert_eq!(int(&mut con, &["BITPOS", "s", "1", "2"]), -1);
    assert_eq!(int(&mut con, &["BITPOS", "s", "1", "0", "-1"]), 12);
    assert_eq!(int(&mut con, &["BITPOS", "s", "1", "13", "20", "BIT"]), 13);
    assert_eq!(int(&mut con, &["BITPOS", "s", "0", "12", "15", "BIT"]), -1);
    assert_eq!(int(&mut con, &["BITPOS", "s", "1", "-1"]), -1);
    assert_eq!(int(&mut con, &["BITPOS", "missing", "1"]), -1);
    assert_eq!(int(&mut con, &["BITPOS", "missing", "0"]), 0);

    // All ones: a clear bit is found "after the end" only without an explicit end.
    let ones = "\u{7f}\u{7f}";
    ok(&mut con, &["SETRANGE", "ones", "0", ones]);
    int(&mut con, &["SETBIT", "ones", "0", "1"]);
    int(&mut con, &["SETBIT", "ones", "8", "1"]);
    assert_eq!(raw(&mut con, "ones"), vec![0xFF, 0xFF]);
    assert_eq!(int(&mut con, &["BITPOS", "ones", "0"]), 16);
    assert_eq!(int(&mut con, &["BITPOS", "ones", "0", "1"]), 16);
    assert_eq!(int(&mut con, &["BITPOS", "ones", "0", "0", "-1"]), -1);

    assert_eq!(err(cmd(&mut con, &["BITPOS", "s", "2"])), "ERR The bit argument must be 1 or 0.");
    assert_eq!(
        err(cmd(&mut con, &["BITPOS", "s", "a"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(cmd(&mut con, &["BITPOS", "s", "0", "1", "hello", "hello2"])),
        "ERR syntax error"
    );
    assert_eq!(err(cmd(&mut con, &["BITPOS", "s", "0", "0", "1", "hello"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["BITPOS", "missing", "0", "a", "b"])),
        "ERR value is not an integer or out of range"
    );
    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["BITPOS", "list", "0"])), WRONGTYPE);
    }
}

#[test]
fn bitop_combines_strings() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["MSET", "a", "abc", "b", "ab"]);
    assert_eq!(int(&mut con, &["BITOP", "AND", "d", "a", "b"]), 3);
    assert_eq!(raw(&mut con, "d"), b"ab\0");
    assert_eq!(int(&mut con, &["BITOP", "or", "d", "a", "b", "missing"]), 3);
    assert_eq!(raw(&mut con, "d"), b"abc");
    assert_eq!(int(&mut con, &["BITOP", "XOR", "d", "a", "b"]), 3);
    assert_eq!(raw(&mut con, "d"), b"\0\0c");
    assert_eq!(int(&mut con, &["BITOP", "NOT", "d", "a"]), 3);
    assert_eq!(raw(&mut con, "d"), vec![!b'a', !b'b', !b'c']);
    assert_eq!(
        err(cmd(&mut con, &["BITOP", "NOT", "d", "a", "b"])),
        "ERR BITOP NOT must be called with a single source key."
    );
    assert_eq!(err(cmd(&mut con, &["BITOP", "NAND", "d", "a"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["BITOP", "AND", "d"])),
        "ERR wrong number of arguments for 'bitop' command"
    );
    // Only empty sources: the destination is deleted.
    assert_eq!(int(&mut con, &["BITOP", "AND", "d", "missing", "missing2"]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "d"]), 0);
    ok(&mut con, &["SET", "t", "x", "EX", "100"]);
    int(&mut con, &["BITOP", "OR", "t", "a"]);
    assert_eq!(int(&mut con, &["TTL", "t"]), -1, "BITOP replaces the destination");
    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["BITOP", "AND", "d", "a", "list"])), WRONGTYPE);
    }
}

#[test]
fn bitfield_get_set_incrby_and_overflow() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(
        ok(
            &mut con,
            &[
                "BITFIELD", "k", "SET", "u8", "0", "255", "GET", "u8", "0", "INCRBY", "u8", "0",
                "10"
            ]
        ),
        ints(&[Some(0), Some(255), Some(9)])
    );
    assert_eq!(
        ok(
            &mut con,
            &[
                "BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "300", "OVERFLOW", "FAIL",
                "INCRBY", "u8", "0", "1", "OVERFLOW", "WRAP", "INCRBY", "u8", "0", "1"
            ]
        ),
        ints(&[Some(255), None, Some(0)])
    );
    assert_eq!(
        ok(
            &mut con,
            &["BITFIELD", "k", "SET", "i8", "0", "-1", "GET", "i8", "0", "GET", "u4", "#1"]
        ),
        ints(&[Some(0), Some(-1), Some(15)])
    );
    assert_eq!(
        ok(
            &mut con,
            &[
                "BITFIELD",
                "k",
                "SET",
                "i64",
                "8",
                "-1",
                "INCRBY",
                "i64",
                "8",
                "1",
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "i64",
                "8",
                "-9223372036854775808",
                "INCRBY",
                "i64",
                "8",
                "-1"
            ]
        ),
        ints(&[Some(0), Some(0), Some(i64::MIN), Some(i64::MIN)])
    );
    assert_eq!(
        ok(
            &mut con,
            &[
                "BITFIELD", "k", "SET", "u8", "#2", "-1", "OVERFLOW", "SAT", "SET", "u8", "#3",
                "-1", "OVERFLOW", "FAIL", "SET", "i4", "#10", "100"
            ]
        ),
        ints(&[Some(0), Some(0), None])
    );
    assert_eq!(&raw(&mut con, "k")[1..4], &[0x80, 0xFF, 0xFF][..]);
    assert_eq!(ok(&mut con, &["BITFIELD", "k"]), Value::Array(vec![]));

    // A refused write on a missing key still creates it, grown to hold the field.
    assert_eq!(
        ok(&mut con, &["BITFIELD", "new", "OVERFLOW", "FAIL", "INCRBY", "u8", "100", "300"]),
        ints(&[None])
    );
    assert_eq!(raw(&mut con, "new"), vec![0; 14]);
    // Reads alone create nothing.
    assert_eq!(ok(&mut con, &["BITFIELD", "none", "GET", "u8", "0"]), ints(&[Some(0)]));
    assert_eq!(int(&mut con, &["EXISTS", "none"]), 0);

    let bad_type =
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    for t in ["u64", "i65", "i0", "x8", "u"] {
        assert_eq!(err(cmd(&mut con, &["BITFIELD", "k", "GET", t, "0"])), bad_type, "{t}");
    }
    for offset in ["-1", "a", "4294967296", "#536870912"] {
        assert_eq!(
            err(cmd(&mut con, &["BITFIELD", "k", "GET", "u8", offset])),
            BAD_OFFSET,
            "{offset}"
        );
    }
    assert_eq!(err(cmd(&mut con, &["BITFIELD", "k", "SET", "u8", "0"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["BITFIELD", "k", "FOO"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["BITFIELD", "k", "SET", "u8", "0", "a"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(cmd(&mut con, &["BITFIELD", "k", "OVERFLOW", "WAT"])),
        "ERR Invalid OVERFLOW type specified"
    );
    if make_list(&mut con, "list") {
        assert_eq!(err(cmd(&mut con, &["BITFIELD", "list", "GET", "u8", "0"])), WRONGTYPE);
        assert_eq!(err(cmd(&mut con, &["BITFIELD_RO", "list", "GET", "u8", "0"])), WRONGTYPE);
    }
}

#[test]
fn bitfield_ro_only_reads() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "k", "\u{1}\u{2}"]);
    assert_eq!(
        ok(
            &mut con,
            &["BITFIELD_RO", "k", "GET", "u8", "0", "GET", "i16", "#0", "GET", "u8", "#5"]
        ),
        ints(&[Some(1), Some(258), Some(0)])
    );
    assert_eq!(
        err(cmd(&mut con, &["BITFIELD_RO", "k", "SET", "u8", "0", "1"])),
        "ERR BITFIELD_RO only supports the GET subcommand"
    );
    assert_eq!(
        err(cmd(&mut con, &["BITFIELD_RO", "k", "INCRBY", "u8", "0", "1"])),
        "ERR BITFIELD_RO only supports the GET subcommand"
    );
    assert_eq!(raw(&mut con, "k"), vec![1, 2]);
    assert_eq!(ok(&mut con, &["BITFIELD_RO", "missing", "GET", "u8", "0"]), ints(&[Some(0)]));
    assert_eq!(ok(&mut con, &["BITFIELD_RO", "k"]), Value::Array(vec![]));
}
