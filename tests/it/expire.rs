//! Expiry over a real socket: EXPIRE and friends, TTL and friends, PERSIST, the instant
//! invisibility of expired keys, and the leader's active expiry.

use std::time::Duration;

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

fn now_ms() -> i64 {
    engram_server::clock::now_ms() as i64
}

/// Polls `f` until it holds or `timeout` passes; returns whether it held.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = engram_server::clock::monotonic() + timeout;
    while engram_server::clock::monotonic() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

#[test]
fn ttl_family_reports_relative_and_absolute_deadlines() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "k", "v"]);
    for c in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut con, &[c, "k"]), -1, "{c} without a TTL");
        assert_eq!(int(&mut con, &[c, "nosuch"]), -2, "{c} of a missing key");
    }
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(int(&mut con, &["TTL", "k"]), 100);
    let pttl = int(&mut con, &["PTTL", "k"]);
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    let at = now_ms() / 1000 + 1000;
    assert_eq!(int(&mut con, &["EXPIREAT", "k", &at.to_string()]), 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "k"]), at);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), at * 1000);
    let ttl = int(&mut con, &["TTL", "k"]);
    assert!((998..=1000).contains(&ttl), "{ttl}");
    let pat = now_ms() + 123_456;
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &pat.to_string()]), 1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), pat);
    assert_eq!(int(&mut con, &["PEXPIRE", "k", "50000"]), 1);
    let pttl = int(&mut con, &["PTTL", "k"]);
    assert!((49_000..=50_000).contains(&pttl), "{pttl}");
    assert_eq!(int(&mut con, &["EXPIRE", "nosuch", "100"]), 0);
    for c in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST"] {
        assert_eq!(
            err(cmd(&mut con, &[c])),
            format!("ERR wrong number of arguments for '{}' command", c.to_lowercase())
        );
    }
}

#[test]
fn persist_removes_the_ttl() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "k", "v", "EX", "100"]);
    ok(&mut con, &["SET", "plain", "v"]);
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 1);
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 0);
    assert_eq!(int(&mut con, &["PERSIST", "plain"]), 0);
    assert_eq!(int(&mut con, &["PERSIST", "nosuch"]), 0);
}

#[test]
fn a_past_deadline_deletes_the_key() {
    let server = TestServer::start();
    let mut con = server.client();
    for k in ["a", "b", "c", "d"] {
        ok(&mut con, &["SET", k, "v"]);
    }
    assert_eq!(int(&mut con, &["EXPIRE", "a", "-100"]), 1);
    assert_eq!(int(&mut con, &["PEXPIRE", "b", "0"]), 1);
    assert_eq!(int(&mut con, &["EXPIREAT", "c", "1"]), 1);
    assert_eq!(int(&mut con, &["PEXPIREAT", "d", "-9223372036854775808"]), 1);
    assert_eq!(int(&mut con, &["EXISTS", "a", "b", "c", "d"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "a", "-100"]), 0);
}

#[test]
fn nx_xx_gt_lt_conditions() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "t", "v", "EX", "100"]);
    ok(&mut con, &["SET", "p", "v"]);
    assert_eq!(int(&mut con, &["EXPIRE", "t", "200", "NX"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "200", "XX"]), 0);
    assert_eq!(int(&mut con, &["TTL", "p"]), -1);
    assert_eq!(int(&mut con, &["EXPIRE", "t", "50", "GT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "t", "200", "GT"]), 1);
    assert_eq!(int(&mut con, &["TTL", "t"]), 200);
    assert_eq!(int(&mut con, &["EXPIRE", "t", "300", "LT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "t", "150", "lt", "xx"]), 1);
    assert_eq!(int(&mut con, &["TTL", "t"]), 150);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "200", "GT"]), 0, "no TTL is infinite for GT");
    assert_eq!(int(&mut con, &["EXPIRE", "p", "200", "LT"]), 1, "no TTL is infinite for LT");
    assert_eq!(int(&mut con, &["TTL", "p"]), 200);
    ok(&mut con, &["SET", "q", "v"]);
    assert_eq!(int(&mut con, &["EXPIRE", "q", "100", "NX"]), 1);
    assert_eq!(int(&mut con, &["TTL", "q"]), 100);
}

#[test]
fn expire_argument_errors() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "k", "v"]);
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    let cases: &[(&[&str], &str)] = &[
        (&["EXPIRE", "k", "10", "NX", "XX"], nx),
        (&["EXPIRE", "k", "10", "NX", "GT"], nx),
        (&["PEXPIRE", "k", "10", "LT", "NX"], nx),
        (
            &["EXPIRE", "k", "10", "GT", "LT"],
            "ERR GT and LT options at the same time are not compatible",
        ),
        (&["EXPIRE", "k", "10", "AB"], "ERR Unsupported option AB"),
        (&["EXPIRE", "k", "10", "XX", "AB"], "ERR Unsupported option AB"),
        (&["EXPIRE", "k", "abc", "NX", "XX"], nx),
        (&["EXPIRE", "k", ""], "ERR value is not an integer or out of range"),
        (&["EXPIRE", "k", "1.5"], "ERR value is not an integer or out of range"),
        (&["EXPIRE", "k", "99999999999999999999"], "ERR value is not an integer or out of range"),
        (&["EXPIRE", "k", "9223372036854775807"], "ERR invalid expire time in 'expire' command"),
        (&["EXPIRE", "k", "-9223372036854775808"], "ERR invalid expire time in 'expire' command"),
        (
            &["EXPIREAT", "k", "9223372036854775807"],
            "ERR invalid expire time in 'expireat' command",
        ),
        (&["PEXPIRE", "k", "9223372036854770000"], "ERR invalid expire time in 'pexpire' command"),
        (&["EXPIRE", "k"], "ERR wrong number of arguments for 'expire' command"),
        (&["PEXPIREAT", "k"], "ERR wrong number of arguments for 'pexpireat' command"),
    ];
    for (args, want) in cases {
        assert_eq!(&err(cmd(&mut con, args)), want, "{args:?}");
    }
    assert_eq!(int(&mut con, &["TTL", "k"]), -1, "errors changed nothing");
    // The largest absolute deadline is fine.
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", "9223372036854775807"]), 1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), i64::MAX);
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 1);
}

#[test]
fn expired_keys_are_invisible_at_once_even_before_active_expiry() {
    // hz 1: active expiry runs once a second, so reads must hide the key on their own.
    let server = TestServer::start_with(&["--hz", "1"]);
    let mut con = server.client();
    ok(&mut con, &["SET", "k", "v", "PX", "100"]);
    ok(&mut con, &["SET", "other", "v"]);
    let expired =
        eventually(Duration::from_secs(2), || cmd(&mut con, &["GET", "k"]).unwrap() == Value::Nil);
    assert!(expired);
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(int(&mut con, &["TTL", "k"]), -2);
    assert_eq!(int(&mut con, &["PTTL", "k"]), -2);
    assert_eq!(ok(&mut con, &["TYPE", "k"]), Value::SimpleString("none".into()));
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100"]), 0);
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 0);
    assert_eq!(err(cmd(&mut con, &["RENAME", "k", "x"])), "ERR no such key");
    assert_eq!(
        ok(&mut con, &["KEYS", "*"]),
        Value::Array(vec![Value::BulkString(b"other".to_vec())])
    );
    assert_eq!(ok(&mut con, &["SET", "k", "new", "NX"]), Value::Okay, "write sees it gone too");
    assert_eq!(int(&mut con, &["TTL", "k"]), -1, "no TTL resurrected");
}

#[test]
fn ttl_counts_down() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "k", "v", "PX", "1500"]);
    let first = int(&mut con, &["PTTL", "k"]);
    assert!(first <= 1500 && first > 1000, "{first}");
    let lower = eventually(
        Duration::from_secs(2),
        || matches!(cmd(&mut con, &["PTTL", "k"]).unwrap(), Value::Int(n) if n < first - 100),
    );
    assert!(lower, "PTTL does not count down");
    let gone = eventually(Duration::from_secs(3), || {
        cmd(&mut con, &["TTL", "k"]).unwrap() == Value::Int(-2)
    });
    assert!(gone);
}

/// DBSIZE counts keys including expired ones not yet deleted, so it drops only when the
/// leader's expiry cycle has deleted them through the log.
#[test]
fn active_expiry_deletes_untouched_keys() {
    let server = TestServer::start();
    let mut con = server.client();
    for i in 0..600 {
        ok(&mut con, &["SET", &format!("vol:{i}"), "v", "PX", "50"]);
    }
    ok(&mut con, &["SET", "keep", "v", "EX", "100"]);
    ok(&mut con, &["SET", "kttl", "v", "PX", "60"]);
    // Same deadline kept by KEEPTTL: must still be actively expired.
    ok(&mut con, &["SET", "kttl", "w", "XX", "KEEPTTL"]);
    ok(&mut con, &["SET", "plain", "v"]);
    let dbsize = |con: &mut redis::Connection| int(con, &["DBSIZE"]);
    assert!(dbsize(&mut con) > 2);
    let drained = eventually(Duration::from_secs(5), || dbsize(&mut con) == 2);
    assert!(drained, "DBSIZE is {}, want 2", dbsize(&mut con));
    assert_eq!(int(&mut con, &["EXISTS", "keep", "plain"]), 2);
}

#[test]
fn reading_an_expired_key_deletes_it_through_the_log() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut con, &["SET", "gone", "v", "PX", "1"]);
    ok(&mut con, &["SET", "kept", "v"]);
    // Wait until the deadline has passed for the server too, then touch the key.
    assert!(eventually(Duration::from_secs(5), || {
        matches!(ok(&mut con, &["GET", "gone"]), Value::Nil)
    }));
    assert_eq!(int(&mut con, &["DBSIZE"]), 1, "the read proposed the deletion");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    assert!(info.contains("expired_keys:1"), "{info}");
}
