//! SORT and SORT_RO over a real socket, on lists, sets and sorted sets: BY (keys, hash
//! fields, nosort), LIMIT, GET, ASC/DESC, ALPHA, STORE; replies and errors as Redis 7.4.

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

/// An array reply of bulk strings or nils (nil as `None`).
fn rows(con: &mut redis::Connection, args: &[&str]) -> Vec<Option<String>> {
    match ok(con, args) {
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::BulkString(b) => Some(String::from_utf8(b).unwrap()),
                Value::Nil => None,
                other => panic!("{args:?}: unexpected {other:?}"),
            })
            .collect(),
        other => panic!("{args:?}: expected an array, got {other:?}"),
    }
}

fn strs(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    rows(con, args).into_iter().map(|r| r.expect("no nil")).collect()
}

#[test]
fn sorts_lists_numerically_and_alphabetically() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["RPUSH", "l", "3", "10", "2", "1.5", "-inf"]);
    assert_eq!(strs(&mut con, &["SORT", "l"]), ["-inf", "1.5", "2", "3", "10"]);
    assert_eq!(strs(&mut con, &["SORT", "l", "DESC", "LIMIT", "0", "2"]), ["10", "3"]);
    assert_eq!(strs(&mut con, &["SORT", "l", "ALPHA"]), ["-inf", "1.5", "10", "2", "3"]);
    assert_eq!(strs(&mut con, &["SORT_RO", "l", "LIMIT", "-5", "-1"]).len(), 5);
    assert_eq!(strs(&mut con, &["SORT", "l", "BY", "nosort"]), ["3", "10", "2", "1.5", "-inf"]);
    assert_eq!(
        strs(&mut con, &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]),
        ["1.5", "2"]
    );
    assert_eq!(strs(&mut con, &["SORT", "nosuch"]), Vec::<String>::new());
    ok(&mut con, &["RPUSH", "bad", "1", "x"]);
    assert_eq!(
        err(cmd(&mut con, &["SORT", "bad"])),
        "ERR One or more scores can't be converted into double"
    );
    assert_eq!(strs(&mut con, &["SORT", "bad", "BY", "nosort"]), ["1", "x"]);
}

#[test]
fn sorts_sets_and_sorted_sets() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SADD", "s", "c", "a", "b"]);
    assert_eq!(strs(&mut con, &["SORT", "s", "ALPHA"]), ["a", "b", "c"]);
    assert_eq!(strs(&mut con, &["SORT_RO", "s", "ALPHA", "DESC"]), ["c", "b", "a"]);
    ok(&mut con, &["ZADD", "z", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e"]);
    assert_eq!(strs(&mut con, &["SORT", "z", "ALPHA", "DESC"]), ["e", "d", "c", "b", "a"]);
    assert_eq!(strs(&mut con, &["SORT", "z", "BY", "nosort"]), ["a", "c", "e", "b", "d"]);
    assert_eq!(
        strs(&mut con, &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]),
        ["d", "b"]
    );
    ok(&mut con, &["SET", "str", "x"]);
    assert_eq!(
        err(cmd(&mut con, &["SORT", "str"])),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn by_and_get_patterns() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["RPUSH", "l", "1", "2", "3"]);
    ok(&mut con, &["MSET", "w_1", "30", "w_2", "10", "w_3", "20"]);
    ok(&mut con, &["HSET", "h_1", "f", "c", "n", "3"]);
    ok(&mut con, &["HSET", "h_2", "f", "a", "n", "1"]);
    ok(&mut con, &["HSET", "h_3", "f", "b", "n", "2"]);
    assert_eq!(strs(&mut con, &["SORT", "l", "BY", "w_*"]), ["2", "3", "1"]);
    assert_eq!(strs(&mut con, &["SORT", "l", "BY", "h_*->n", "DESC"]), ["1", "3", "2"]);
    assert_eq!(strs(&mut con, &["SORT", "l", "BY", "h_*->f", "ALPHA"]), ["2", "3", "1"]);
    assert_eq!(
        rows(&mut con, &["SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->f", "GET", "nope_*"]),
        [
            Some("2".into()),
            Some("a".into()),
            None,
            Some("3".into()),
            Some("b".into()),
            None,
            Some("1".into()),
            Some("c".into()),
            None
        ]
    );
    assert_eq!(rows(&mut con, &["SORT_RO", "l", "GET", "constant"]), [None, None, None]);
    ok(&mut con, &["SET", "w_2", "not-a-double"]);
    assert_eq!(
        err(cmd(&mut con, &["SORT", "l", "BY", "w_*"])),
        "ERR One or more scores can't be converted into double"
    );
}

#[test]
fn store_writes_a_list_or_deletes_the_destination() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SADD", "s", "b", "c", "a"]);
    ok(&mut con, &["SET", "dst", "old"]);
    ok(&mut con, &["EXPIRE", "dst", "100"]);
    assert_eq!(int(&mut con, &["SORT", "s", "BY", "nosort", "STORE", "dst"]), 3);
    assert_eq!(strs(&mut con, &["LRANGE", "dst", "0", "-1"]), ["a", "b", "c"]);
    assert_eq!(int(&mut con, &["TTL", "dst"]), -1);
    assert_eq!(int(&mut con, &["SORT", "s", "ALPHA", "GET", "nope_*", "STORE", "dst"]), 3);
    assert_eq!(strs(&mut con, &["LRANGE", "dst", "0", "-1"]), ["", "", ""]);
    assert_eq!(int(&mut con, &["SORT", "s", "ALPHA", "LIMIT", "10", "10", "STORE", "dst"]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "dst"]), 0);
    assert_eq!(err(cmd(&mut con, &["SORT_RO", "s", "STORE", "dst"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["SORT", "s", "LIMIT", "1"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["SORT", "s", "LIMIT", "a", "1"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(cmd(&mut con, &["SORT", "s", "BY"])), "ERR syntax error");
    assert_eq!(
        ok(&mut con, &["COMMAND", "GETKEYS", "SORT", "abc", "STORE", "x", "STORE", "def"]),
        Value::Array(vec![Value::BulkString(b"abc".to_vec()), Value::BulkString(b"def".to_vec())])
    );
}
