//! The set family over a real socket: replies, error texts and RESP3 shapes as Redis 7.4
//! gives them (checked against the reference server), encodings, binary members, SPOP's
//! determinism through the log, and SSCAN's guarantee.

use std::collections::BTreeSet;

use redis::Value;

use crate::harness::{cmd, TestServer};

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

fn status(con: &mut redis::Connection, args: &[&str]) -> String {
    match ok(con, args) {
        Value::SimpleString(s) => s,
        Value::BulkString(b) => String::from_utf8(b).unwrap(),
        other => panic!("{args:?}: expected a string, got {other:?}"),
    }
}

fn strings(v: Vec<Value>) -> Vec<String> {
    v.into_iter()
        .map(|i| match i {
            Value::BulkString(b) => String::from_utf8(b).unwrap(),
            other => panic!("expected a bulk string, got {other:?}"),
        })
        .collect()
}

/// Members of an array (RESP2) or set (RESP3) reply, in reply order.
fn list(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    match ok(con, args) {
        Value::Array(items) | Value::Set(items) => strings(items),
        other => panic!("{args:?}: expected an array, got {other:?}"),
    }
}

fn sorted(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut v = list(con, args);
    v.sort();
    v
}

fn encoding(con: &mut redis::Connection, key: &str) -> String {
    status(con, &["OBJECT", "ENCODING", key])
}

fn sadd_all(con: &mut redis::Connection, key: &str, members: impl IntoIterator<Item = String>) {
    let mut c = redis::cmd("SADD");
    c.arg(key);
    for m in members {
        c.arg(m);
    }
    let _: i64 = c.query(con).unwrap();
}

#[test]
fn basics_and_errors() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["SADD", "s", "a", "b", "a"]), 2);
    assert_eq!(int(&mut con, &["SADD", "s", "A", "a", "B"]), 2);
    assert_eq!(int(&mut con, &["SCARD", "s"]), 4);
    assert_eq!(int(&mut con, &["SISMEMBER", "s", "a"]), 1);
    assert_eq!(int(&mut con, &["SISMEMBER", "s", "z"]), 0);
    assert_eq!(
        ok(&mut con, &["SMISMEMBER", "s", "z", "a"]),
        Value::Array(vec![Value::Int(0), Value::Int(1)])
    );
    assert_eq!(sorted(&mut con, &["SMEMBERS", "s"]), ["A", "B", "a", "b"]);
    assert_eq!(int(&mut con, &["SREM", "s", "A", "B", "zz"]), 2);
    assert_eq!(int(&mut con, &["SREM", "s", "a", "b"]), 2);
    assert_eq!(int(&mut con, &["EXISTS", "s"]), 0, "an emptied set is deleted");
    assert_eq!(int(&mut con, &["SCARD", "s"]), 0);
    assert_eq!(list(&mut con, &["SMEMBERS", "s"]), Vec::<String>::new());
    assert_eq!(
        ok(&mut con, &["SMISMEMBER", "nosuch", "a", "b"]),
        Value::Array(vec![Value::Int(0), Value::Int(0)])
    );

    ok(&mut con, &["SET", "str", "x"]);
    for args in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SCARD", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SMEMBERS", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "0"],
        &["SRANDMEMBER", "str"],
        &["SINTER", "nosuch", "str"],
        &["SUNION", "str"],
        &["SDIFF", "nosuch", "str"],
        &["SINTERCARD", "2", "nosuch", "str"],
        &["SSCAN", "str", "0", "COUNT", "0"],
    ] {
        assert_eq!(err(cmd(&mut con, args)), WRONGTYPE, "{args:?}");
    }
    for name in ["sadd", "srem", "smismember", "sintercard", "sscan"] {
        assert_eq!(
            err(cmd(&mut con, &[name, "k"])),
            format!("ERR wrong number of arguments for '{name}' command")
        );
    }
    assert_eq!(
        err(cmd(&mut con, &["SCARD", "a", "b"])),
        "ERR wrong number of arguments for 'scard' command"
    );
}

#[test]
fn binary_members_round_trip() {
    let server = TestServer::start();
    let mut con = server.client();
    let member: &[u8] = b"a\x00b\r\n\xff";
    let added: i64 = redis::cmd("SADD").arg("s").arg(member).arg("x").query(&mut con).unwrap();
    assert_eq!(added, 2);
    let is: i64 = redis::cmd("SISMEMBER").arg("s").arg(member).query(&mut con).unwrap();
    assert_eq!(is, 1);
    let mut members: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg("s").query(&mut con).unwrap();
    members.sort();
    assert_eq!(members, [member.to_vec(), b"x".to_vec()]);
    let removed: i64 = redis::cmd("SREM").arg("s").arg(member).query(&mut con).unwrap();
    assert_eq!(removed, 1);
}

#[test]
fn encodings_follow_redis_thresholds() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SADD", "i", "3", "1", "2"]);
    assert_eq!(encoding(&mut con, "i"), "intset");
    assert_eq!(list(&mut con, &["SMEMBERS", "i"]), ["1", "2", "3"], "an intset is sorted");
    ok(&mut con, &["SADD", "i", "a"]);
    assert_eq!(encoding(&mut con, "i"), "listpack");
    ok(&mut con, &["SREM", "i", "a"]);
    assert_eq!(encoding(&mut con, "i"), "listpack", "conversions never go back");

    sadd_all(&mut con, "big", (0..512).map(|i| i.to_string()));
    assert_eq!(encoding(&mut con, "big"), "intset");
    ok(&mut con, &["SADD", "big", "512"]);
    assert_eq!(encoding(&mut con, "big"), "hashtable");

    sadd_all(&mut con, "lp", (0..128).map(|i| format!("m{i}")));
    assert_eq!(encoding(&mut con, "lp"), "listpack");
    ok(&mut con, &["SADD", "lp", "one-more"]);
    assert_eq!(encoding(&mut con, "lp"), "hashtable");

    ok(&mut con, &["SADD", "long", &"x".repeat(65)]);
    assert_eq!(encoding(&mut con, "long"), "hashtable");
    ok(&mut con, &["SADD", "huge", "213244124402402314402033402"]);
    assert_eq!(encoding(&mut con, "huge"), "listpack");

    ok(&mut con, &["SADD", "l1", "a", "b", "1", "3"]);
    ok(&mut con, &["SADD", "l2", "b", "c", "1", "3"]);
    assert_eq!(int(&mut con, &["SINTERSTORE", "res", "l1", "l2"]), 3);
    assert_eq!(encoding(&mut con, "res"), "listpack");
    ok(&mut con, &["SREM", "l2", "b"]);
    ok(&mut con, &["SINTERSTORE", "res", "l1", "l2"]);
    assert_eq!(encoding(&mut con, "res"), "intset", "a stored result starts as an intset");
}

#[test]
fn spop_and_srandmember() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["SPOP", "nosuch"]), Value::Nil);
    assert_eq!(ok(&mut con, &["SPOP", "nosuch", "3"]), Value::Array(vec![]));
    assert_eq!(ok(&mut con, &["SRANDMEMBER", "nosuch"]), Value::Nil);
    assert_eq!(ok(&mut con, &["SRANDMEMBER", "nosuch", "3"]), Value::Array(vec![]));
    let all: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    sadd_all(&mut con, "s", all.clone());

    let picked = list(&mut con, &["SRANDMEMBER", "s", "5"]);
    assert_eq!(picked.iter().collect::<BTreeSet<_>>().len(), 5, "a positive count is distinct");
    assert_eq!(list(&mut con, &["SRANDMEMBER", "s", "-50"]).len(), 50);
    assert_eq!(sorted(&mut con, &["SRANDMEMBER", "s", "100"]).len(), 20);
    assert_eq!(list(&mut con, &["SRANDMEMBER", "s", "0"]), Vec::<String>::new());
    assert_eq!(
        err(cmd(&mut con, &["SRANDMEMBER", "s", "-9223372036854775808"])),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        err(cmd(&mut con, &["SRANDMEMBER", "s", "x"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(cmd(&mut con, &["SRANDMEMBER", "s", "1", "2"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["SPOP", "s", "-1"])),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(err(cmd(&mut con, &["SPOP", "s", "1", "2"])), "ERR syntax error");
    assert_eq!(int(&mut con, &["SCARD", "s"]), 20, "errors change nothing");

    let mut popped = list(&mut con, &["SPOP", "s", "7"]);
    assert_eq!(popped.len(), 7);
    popped.extend(list(&mut con, &["SPOP", "s", "0"]));
    let Value::BulkString(one) = ok(&mut con, &["SPOP", "s"]) else { panic!("SPOP") };
    popped.push(String::from_utf8(one).unwrap());
    popped.extend(list(&mut con, &["SPOP", "s", "100"]));
    popped.sort();
    let mut expected = all;
    expected.sort();
    assert_eq!(popped, expected, "every member popped exactly once");
    assert_eq!(int(&mut con, &["EXISTS", "s"]), 0);
}

#[test]
fn smove_semantics() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SADD", "src", "1", "a", "b"]);
    ok(&mut con, &["SADD", "dst", "2", "3"]);
    ok(&mut con, &["SET", "str", "x"]);
    assert_eq!(int(&mut con, &["SMOVE", "src", "dst", "a"]), 1);
    assert_eq!(sorted(&mut con, &["SMEMBERS", "dst"]), ["2", "3", "a"]);
    assert_eq!(encoding(&mut con, "dst"), "listpack");
    assert_eq!(int(&mut con, &["SMOVE", "src", "dst", "nope"]), 0);
    assert_eq!(int(&mut con, &["SMOVE", "src", "src", "b"]), 1);
    assert_eq!(int(&mut con, &["SMOVE", "src", "src", "nope"]), 0);
    assert_eq!(int(&mut con, &["SMOVE", "nosuch", "str", "a"]), 0);
    assert_eq!(err(cmd(&mut con, &["SMOVE", "src", "str", "b"])), WRONGTYPE);
    assert_eq!(err(cmd(&mut con, &["SMOVE", "str", "src", "b"])), WRONGTYPE);
    assert_eq!(sorted(&mut con, &["SMEMBERS", "src"]), ["1", "b"], "errors change nothing");
    assert_eq!(int(&mut con, &["SMOVE", "src", "new", "1"]), 1);
    assert_eq!(encoding(&mut con, "new"), "intset");
    assert_eq!(int(&mut con, &["SMOVE", "src", "new", "b"]), 1);
    assert_eq!(int(&mut con, &["EXISTS", "src"]), 0);
}

#[test]
fn algebra_and_store() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SADD", "a", "1", "2", "3", "x"]);
    ok(&mut con, &["SADD", "b", "2", "3", "4"]);
    ok(&mut con, &["SADD", "c", "3", "x"]);
    assert_eq!(sorted(&mut con, &["SINTER", "a", "b"]), ["2", "3"]);
    assert_eq!(sorted(&mut con, &["SINTER", "a", "b", "c"]), ["3"]);
    assert_eq!(list(&mut con, &["SINTER", "a", "nosuch"]), Vec::<String>::new());
    assert_eq!(sorted(&mut con, &["SUNION", "a", "nosuch", "b"]), ["1", "2", "3", "4", "x"]);
    assert_eq!(sorted(&mut con, &["SDIFF", "a", "b", "c"]), ["1"]);
    assert_eq!(list(&mut con, &["SDIFF", "nosuch", "a"]), Vec::<String>::new());
    assert_eq!(int(&mut con, &["SINTERCARD", "2", "a", "b"]), 2);
    assert_eq!(int(&mut con, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), 1);
    assert_eq!(int(&mut con, &["SINTERCARD", "1", "nosuch", "LIMIT", "0"]), 0);
    assert_eq!(
        err(cmd(&mut con, &["SINTERCARD", "0", "a"])),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(cmd(&mut con, &["SINTERCARD", "3", "a", "b"])),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(err(cmd(&mut con, &["SINTERCARD", "1", "a", "b"])), "ERR syntax error");
    assert_eq!(
        err(cmd(&mut con, &["SINTERCARD", "1", "a", "LIMIT", "-1"])),
        "ERR LIMIT can't be negative"
    );

    ok(&mut con, &["SET", "dst", "old"]);
    ok(&mut con, &["EXPIRE", "dst", "100"]);
    assert_eq!(int(&mut con, &["SUNIONSTORE", "dst", "a", "b"]), 5);
    assert_eq!(int(&mut con, &["TTL", "dst"]), -1, "the destination is replaced with its TTL");
    assert_eq!(int(&mut con, &["SDIFFSTORE", "dst", "a", "b"]), 2);
    assert_eq!(sorted(&mut con, &["SMEMBERS", "dst"]), ["1", "x"]);
    assert_eq!(int(&mut con, &["SINTERSTORE", "dst", "dst", "c"]), 1);
    assert_eq!(sorted(&mut con, &["SMEMBERS", "dst"]), ["x"]);
    ok(&mut con, &["SET", "str", "x"]);
    assert_eq!(err(cmd(&mut con, &["SINTERSTORE", "dst", "nosuch", "str"])), WRONGTYPE);
    assert_eq!(sorted(&mut con, &["SMEMBERS", "dst"]), ["x"], "an error changes nothing");
    assert_eq!(int(&mut con, &["SINTERSTORE", "dst", "a", "nosuch"]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "dst"]), 0, "an empty result deletes the destination");
}

#[test]
fn resp3_uses_the_set_type_where_redis_does() {
    let server = TestServer::start();
    let mut con = server.client_resp3();
    ok(&mut con, &["SADD", "s", "a", "b"]);
    for args in [
        &["SMEMBERS", "s"][..],
        &["SINTER", "s"],
        &["SUNION", "s"],
        &["SDIFF", "s"],
        &["SPOP", "nosuch", "1"],
    ] {
        assert!(matches!(ok(&mut con, args), Value::Set(_)), "{args:?}");
    }
    assert!(matches!(ok(&mut con, &["SRANDMEMBER", "s", "2"]), Value::Array(_)));
    assert!(matches!(ok(&mut con, &["SPOP", "s", "1"]), Value::Set(ref v) if v.len() == 1));
    assert_eq!(ok(&mut con, &["SPOP", "nosuch"]), Value::Nil);
}

#[test]
fn sscan_returns_every_member_present_throughout() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(err(cmd(&mut con, &["SSCAN", "s", "abc"])), "ERR invalid cursor");
    assert_eq!(
        ok(&mut con, &["SSCAN", "nosuch", "0", "COUNT", "0"]),
        Value::Array(vec![Value::BulkString(b"0".to_vec()), Value::Array(vec![])])
    );
    sadd_all(&mut con, "s", (0..1000).map(|i| format!("m{i}")));
    assert_eq!(err(cmd(&mut con, &["SSCAN", "s", "0", "COUNT", "0"])), "ERR syntax error");
    assert_eq!(err(cmd(&mut con, &["SSCAN", "s", "0", "TYPE", "set"])), "ERR syntax error");
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let Value::Array(parts) = ok(&mut con, &["SSCAN", "s", &cursor, "COUNT", "25"]) else {
            panic!("SSCAN reply")
        };
        let [Value::BulkString(next), Value::Array(items)] = &parts[..] else { panic!() };
        seen.extend(strings(items.clone()));
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
        // Churn between calls: remove and add members that are not "present throughout".
        round += 1;
        ok(&mut con, &["SREM", "s", &format!("m{}", 500 + round)]);
        ok(&mut con, &["SADD", "s", &format!("new{round}")]);
    }
    assert!(round < 100);
    for i in (0..500).chain(601..1000) {
        assert!(seen.contains(&format!("m{i}")), "m{i} missing");
    }
    ok(&mut con, &["SADD", "small", "foo", "fab", "foobar", "1"]);
    let Value::Array(parts) = ok(&mut con, &["SSCAN", "small", "0", "MATCH", "foo*"]) else {
        panic!()
    };
    let Value::Array(items) = &parts[1] else { panic!() };
    let mut items = strings(items.clone());
    items.sort();
    assert_eq!(items, ["foo", "foobar"]);
}
