//! Keyspace commands over a real socket: DEL, UNLINK, EXISTS, TOUCH, TYPE, KEYS, SCAN,
//! RENAME, RENAMENX, COPY, MOVE, RANDOMKEY, OBJECT. Replies and errors are Redis 7.4's.

use std::collections::HashSet;

use redis::Value;

use crate::harness::{cmd, TestServer};

/// The wire text of an error reply (`"ERR syntax error"`).
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

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// Sorted strings of an array reply of bulk strings.
fn sorted(v: Value) -> Vec<String> {
    let Value::Array(items) = v else { panic!("expected an array, got {v:?}") };
    let mut out: Vec<String> = items
        .into_iter()
        .map(|i| match i {
            Value::BulkString(b) => String::from_utf8(b).unwrap(),
            other => panic!("expected a bulk string, got {other:?}"),
        })
        .collect();
    out.sort();
    out
}

/// One SCAN call: (next cursor, keys).
fn scan(con: &mut redis::Connection, args: &[&str]) -> (String, Vec<Vec<u8>>) {
    let Value::Array(parts) = ok(con, args) else { panic!("SCAN reply is not an array") };
    let [Value::BulkString(cursor), Value::Array(keys)] = &parts[..] else {
        panic!("bad SCAN reply {parts:?}")
    };
    let keys = keys
        .iter()
        .map(|k| match k {
            Value::BulkString(b) => b.clone(),
            other => panic!("bad key {other:?}"),
        })
        .collect();
    (String::from_utf8(cursor.clone()).unwrap(), keys)
}

#[test]
fn del_unlink_exists_and_touch_count_keys() {
    let server = TestServer::start();
    let mut con = server.client();
    for k in ["a", "b", "c"] {
        ok(&mut con, &["SET", k, "v"]);
    }
    assert_eq!(int(&mut con, &["EXISTS", "a", "a", "nosuch", "b"]), 3);
    assert_eq!(int(&mut con, &["TOUCH", "a", "nosuch", "c"]), 2);
    assert_eq!(int(&mut con, &["DEL", "a", "a", "nosuch"]), 1);
    assert_eq!(int(&mut con, &["UNLINK", "b", "c"]), 2);
    assert_eq!(int(&mut con, &["EXISTS", "a", "b", "c"]), 0);
    for name in ["del", "unlink", "exists", "touch"] {
        assert_eq!(
            err(cmd(&mut con, &[name])),
            format!("ERR wrong number of arguments for '{name}' command")
        );
    }
}

#[test]
fn binary_keys_work_everywhere() {
    let server = TestServer::start();
    let mut con = server.client();
    let key: &[u8] = b"bin\x00\xff\r\nkey";
    let other: &[u8] = b"\x00other";
    let _: () = redis::cmd("SET").arg(key).arg("v").query(&mut con).unwrap();
    let t: String = redis::cmd("TYPE").arg(key).query(&mut con).unwrap();
    assert_eq!(t, "string");
    let n: i64 = redis::cmd("EXPIRE").arg(key).arg(100).query(&mut con).unwrap();
    assert_eq!(n, 1);
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("bin*").query(&mut con).unwrap();
    assert_eq!(keys, vec![key.to_vec()]);
    let (_, scanned) = scan(&mut con, &["SCAN", "0", "COUNT", "1000"]);
    assert_eq!(scanned, vec![key.to_vec()]);
    let _: () = redis::cmd("RENAME").arg(key).arg(other).query(&mut con).unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(other).query(&mut con).unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    let n: i64 = redis::cmd("COPY").arg(other).arg(key).query(&mut con).unwrap();
    assert_eq!(n, 1);
    let random: Vec<u8> = redis::cmd("RANDOMKEY").query(&mut con).unwrap();
    assert!(random == key || random == other);
    let n: i64 = redis::cmd("DEL").arg(key).arg(other).query(&mut con).unwrap();
    assert_eq!(n, 2);
}

#[test]
fn type_and_keys() {
    let server = TestServer::start();
    let mut con = server.client();
    for k in ["foo_a", "foo_b", "foo_c", "key_x", "key_y", "key_z"] {
        ok(&mut con, &["SET", k, "hello"]);
    }
    assert_eq!(ok(&mut con, &["TYPE", "foo_a"]), Value::SimpleString("string".into()));
    assert_eq!(ok(&mut con, &["TYPE", "nosuch"]), Value::SimpleString("none".into()));
    assert_eq!(sorted(ok(&mut con, &["KEYS", "foo*"])), ["foo_a", "foo_b", "foo_c"]);
    assert_eq!(sorted(ok(&mut con, &["KEYS", "key_[xy]"])), ["key_x", "key_y"]);
    assert_eq!(sorted(ok(&mut con, &["KEYS", "*"])).len(), 6);
    assert_eq!(sorted(ok(&mut con, &["KEYS", "nomatch*"])), Vec::<String>::new());
    assert_eq!(err(cmd(&mut con, &["KEYS"])), "ERR wrong number of arguments for 'keys' command");
    assert_eq!(
        err(cmd(&mut con, &["TYPE", "a", "b"])),
        "ERR wrong number of arguments for 'type' command"
    );
}

#[test]
fn scan_returns_every_key_present_throughout_while_others_come_and_go() {
    let server = TestServer::start();
    let mut con = server.client();
    let stable: HashSet<Vec<u8>> = (0..500).map(|i| format!("stable:{i}").into_bytes()).collect();
    for k in &stable {
        let _: () = redis::cmd("SET").arg(k).arg("v").query(&mut con).unwrap();
    }
    for i in 0..200 {
        ok(&mut con, &["SET", &format!("churn:{i}"), "v"]);
    }
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, keys) = scan(&mut con, &["SCAN", &cursor, "COUNT", "7"]);
        seen.extend(keys);
        calls += 1;
        // Between calls: delete some churn keys, add new ones.
        ok(&mut con, &["DEL", &format!("churn:{calls}")]);
        for j in 0..3 {
            ok(&mut con, &["SET", &format!("new:{calls}:{j}"), "v"]);
        }
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(calls < 10_000, "SCAN never finished");
    }
    assert!(calls > 10, "COUNT 7 should take many calls, took {calls}");
    let seen_set: HashSet<Vec<u8>> = seen.iter().cloned().collect();
    assert_eq!(seen_set.len(), seen.len(), "a key was returned twice");
    let missing: Vec<_> = stable.difference(&seen_set).collect();
    assert!(missing.is_empty(), "stable keys missed: {}", missing.len());
}

#[test]
fn scan_options_filter_and_validate() {
    let server = TestServer::start();
    let mut con = server.client();
    for i in 0..300 {
        ok(&mut con, &["SET", &format!("key:{i}"), "v"]);
    }
    let full = |con: &mut redis::Connection, extra: &[&str]| {
        let mut cursor = "0".to_string();
        let mut all = Vec::new();
        loop {
            let mut args = vec!["SCAN", cursor.as_str()];
            args.extend_from_slice(extra);
            let (next, keys) = scan(con, &args);
            all.extend(keys);
            if next == "0" {
                return all;
            }
            cursor = next;
        }
    };
    assert_eq!(full(&mut con, &[]).len(), 300);
    assert_eq!(full(&mut con, &["MATCH", "key:1??"]).len(), 100);
    assert_eq!(full(&mut con, &["TYPE", "string", "MATCH", "key:*", "COUNT", "10"]).len(), 300);
    assert_eq!(full(&mut con, &["type", "STRING"]).len(), 300);
    assert_eq!(full(&mut con, &["TYPE", "list"]).len(), 0);
    assert_eq!(full(&mut con, &["TYPE", "nosuchtype"]).len(), 0);
    assert_eq!(full(&mut con, &["COUNT", "100000"]).len(), 300);
    // Cursors Redis accepts: any u64; past the last slot the scan is simply over.
    assert_eq!(scan(&mut con, &["SCAN", "18446744073709551615"]), ("0".into(), vec![]));
    for bad in ["-1", "abc", "1.5", "", "18446744073709551616"] {
        assert_eq!(err(cmd(&mut con, &["SCAN", bad])), "ERR invalid cursor", "{bad:?}");
    }
    let cases: &[(&[&str], &str)] = &[
        (&["SCAN", "0", "COUNT", "0"], "ERR syntax error"),
        (&["SCAN", "0", "COUNT", "-1"], "ERR syntax error"),
        (&["SCAN", "0", "COUNT", "x"], "ERR value is not an integer or out of range"),
        (&["SCAN", "0", "MATCH"], "ERR syntax error"),
        (&["SCAN", "0", "FOO", "bar"], "ERR syntax error"),
        (&["SCAN"], "ERR wrong number of arguments for 'scan' command"),
    ];
    for (args, want) in cases {
        assert_eq!(&err(cmd(&mut con, args)), want, "{args:?}");
    }
}

#[test]
fn scan_skips_expired_keys() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "live", "v"]);
    ok(&mut con, &["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (_, keys) = scan(&mut con, &["SCAN", "0", "COUNT", "1000"]);
    assert_eq!(keys, vec![b"live".to_vec()]);
    assert_eq!(sorted(ok(&mut con, &["KEYS", "*"])), ["live"]);
}

#[test]
fn rename_and_renamenx() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "a", "1"]);
    ok(&mut con, &["SET", "b", "2", "EX", "100"]);
    assert_eq!(ok(&mut con, &["RENAME", "a", "b"]), Value::Okay);
    assert_eq!(ok(&mut con, &["GET", "b"]), bulk("1"));
    assert_eq!(int(&mut con, &["TTL", "b"]), -1, "the target's TTL is not inherited");
    assert_eq!(int(&mut con, &["EXISTS", "a"]), 0);
    ok(&mut con, &["EXPIRE", "b", "100"]);
    assert_eq!(ok(&mut con, &["RENAME", "b", "c"]), Value::Okay);
    assert!(int(&mut con, &["TTL", "c"]) > 90, "the source's TTL moves with it");
    assert_eq!(err(cmd(&mut con, &["RENAME", "nosuch", "x"])), "ERR no such key");
    assert_eq!(err(cmd(&mut con, &["RENAMENX", "nosuch", "x"])), "ERR no such key");
    assert_eq!(err(cmd(&mut con, &["RENAME", "nosuch", "nosuch"])), "ERR no such key");
    assert_eq!(ok(&mut con, &["RENAME", "c", "c"]), Value::Okay);
    assert_eq!(int(&mut con, &["RENAMENX", "c", "c"]), 0);
    ok(&mut con, &["SET", "d", "4"]);
    assert_eq!(int(&mut con, &["RENAMENX", "c", "d"]), 0);
    assert_eq!(ok(&mut con, &["GET", "d"]), bulk("4"));
    assert_eq!(int(&mut con, &["RENAMENX", "c", "e"]), 1);
    assert_eq!(ok(&mut con, &["GET", "e"]), bulk("1"));
    assert_eq!(
        err(cmd(&mut con, &["RENAME", "e"])),
        "ERR wrong number of arguments for 'rename' command"
    );
}

#[test]
fn copy_within_and_across_databases() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "src", "v", "EX", "100"]);
    ok(&mut con, &["SET", "dst", "old"]);
    assert_eq!(int(&mut con, &["COPY", "src", "dst"]), 0);
    assert_eq!(int(&mut con, &["COPY", "src", "dst", "REPLACE"]), 1);
    assert_eq!(ok(&mut con, &["GET", "dst"]), bulk("v"));
    assert!(int(&mut con, &["TTL", "dst"]) > 90);
    assert_eq!(int(&mut con, &["COPY", "nosuch", "x"]), 0);
    assert_eq!(int(&mut con, &["COPY", "src", "src", "DB", "3"]), 1);
    ok(&mut con, &["PERSIST", "src"]);
    ok(&mut con, &["SET", "src", "changed"]);
    ok(&mut con, &["SELECT", "3"]);
    assert_eq!(ok(&mut con, &["GET", "src"]), bulk("v"), "the copy is independent");
    assert!(int(&mut con, &["TTL", "src"]) > 90);
    ok(&mut con, &["SELECT", "0"]);
    let cases: &[(&[&str], &str)] = &[
        (&["COPY", "src", "src"], "ERR source and destination objects are the same"),
        (&["COPY", "src", "src", "DB", "0"], "ERR source and destination objects are the same"),
        (&["COPY", "src", "x", "DB", "16"], "ERR DB index is out of range"),
        (&["COPY", "src", "x", "DB", "-1"], "ERR DB index is out of range"),
        (&["COPY", "src", "x", "DB", "abc"], "ERR value is not an integer or out of range"),
        (&["COPY", "src", "x", "DB"], "ERR syntax error"),
        (&["COPY", "src", "x", "FOO"], "ERR syntax error"),
        (&["COPY", "src"], "ERR wrong number of arguments for 'copy' command"),
    ];
    for (args, want) in cases {
        assert_eq!(&err(cmd(&mut con, args)), want, "{args:?}");
    }
    assert_eq!(int(&mut con, &["EXISTS", "x"]), 0);
}

#[test]
fn move_between_databases() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "k", "v", "EX", "100"]);
    ok(&mut con, &["SET", "taken", "here"]);
    ok(&mut con, &["SELECT", "9"]);
    ok(&mut con, &["SET", "taken", "there"]);
    ok(&mut con, &["SELECT", "0"]);
    assert_eq!(int(&mut con, &["MOVE", "taken", "9"]), 0);
    assert_eq!(int(&mut con, &["MOVE", "nosuch", "9"]), 0);
    let cases: &[(&[&str], &str)] = &[
        (&["MOVE", "k", "0"], "ERR source and destination objects are the same"),
        (&["MOVE", "k", "16"], "ERR DB index is out of range"),
        (&["MOVE", "k", "-1"], "ERR DB index is out of range"),
        (&["MOVE", "k", "abc"], "ERR value is not an integer or out of range"),
        (
            &["MOVE", "k", "4294967296"],
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ),
        (&["MOVE", "k"], "ERR wrong number of arguments for 'move' command"),
    ];
    for (args, want) in cases {
        assert_eq!(&err(cmd(&mut con, args)), want, "{args:?}");
    }
    assert_eq!(int(&mut con, &["MOVE", "k", "9"]), 1);
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0);
    ok(&mut con, &["SELECT", "9"]);
    assert_eq!(ok(&mut con, &["GET", "k"]), bulk("v"));
    assert!(int(&mut con, &["TTL", "k"]) > 90, "the TTL moves with the key");
    assert_eq!(ok(&mut con, &["GET", "taken"]), bulk("there"));
}

#[test]
fn randomkey_picks_live_keys() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["RANDOMKEY"]), Value::Nil);
    for k in ["a", "b", "c"] {
        ok(&mut con, &["SET", k, "v"]);
    }
    let mut seen = HashSet::new();
    for _ in 0..200 {
        match ok(&mut con, &["RANDOMKEY"]) {
            Value::BulkString(k) => seen.insert(String::from_utf8(k).unwrap()),
            other => panic!("{other:?}"),
        };
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    ok(&mut con, &["DEL", "a", "b", "c"]);
    ok(&mut con, &["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(ok(&mut con, &["RANDOMKEY"]), Value::Nil);
    assert_eq!(
        err(cmd(&mut con, &["RANDOMKEY", "x"])),
        "ERR wrong number of arguments for 'randomkey' command"
    );
}

#[test]
fn object_subcommands() {
    let server = TestServer::start();
    let mut con = server.client();
    ok(&mut con, &["SET", "int", "12345"]);
    ok(&mut con, &["SET", "small", "100"]);
    ok(&mut con, &["SET", "emb", "hello"]);
    ok(&mut con, &["SET", "raw", &"x".repeat(45)]);
    assert_eq!(ok(&mut con, &["OBJECT", "ENCODING", "int"]), bulk("int"));
    assert_eq!(ok(&mut con, &["object", "encoding", "emb"]), bulk("embstr"));
    assert_eq!(ok(&mut con, &["OBJECT", "ENCODING", "raw"]), bulk("raw"));
    assert_eq!(ok(&mut con, &["OBJECT", "ENCODING", "nosuch"]), Value::Nil);
    assert_eq!(int(&mut con, &["OBJECT", "REFCOUNT", "emb"]), 1);
    assert_eq!(int(&mut con, &["OBJECT", "REFCOUNT", "small"]), 2147483647);
    assert_eq!(int(&mut con, &["OBJECT", "IDLETIME", "emb"]), 0);
    assert_eq!(
        err(cmd(&mut con, &["OBJECT", "FREQ", "emb"])),
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
    let Value::Array(help) = ok(&mut con, &["OBJECT", "HELP"]) else { panic!() };
    assert_eq!(help.len(), 15);
    assert_eq!(
        help[0],
        Value::SimpleString(
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()
        )
    );
    let cases: &[(&[&str], &str)] = &[
        (&["OBJECT"], "ERR wrong number of arguments for 'object' command"),
        (&["OBJECT", "foo"], "ERR unknown subcommand 'foo'. Try OBJECT HELP."),
        (&["OBJECT", "ENCODING"], "ERR wrong number of arguments for 'object|encoding' command"),
        (&["OBJECT", "HELP", "x"], "ERR wrong number of arguments for 'object|help' command"),
    ];
    for (args, want) in cases {
        assert_eq!(&err(cmd(&mut con, args)), want, "{args:?}");
    }
}

/// One pipeline, sent in one write, that reads keys it also writes, deletes and expires,
/// across two databases and more keys than a lookahead batch: every reply is the one a
/// command-by-command run gives (the connection looks ahead at a pipeline's keys before
/// running it, and apply at a batch's; neither may change what a command sees).
#[test]
fn a_pipeline_reads_its_own_writes_in_order() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut model: [std::collections::HashMap<String, String>; 2] = Default::default();
    let mut pipe = redis::pipe();
    let mut want = Vec::new();
    let mut db = 0usize;
    for i in 0..600u32 {
        let key = format!("k{}", (i * 7) % 97);
        match i % 6 {
            0 | 3 => {
                let value = format!("v{i}");
                pipe.cmd("SET").arg(&key).arg(&value);
                model[db].insert(key, value);
                want.push(Value::Okay);
            }
            1 => {
                pipe.cmd("GET").arg(&key);
                want.push(model[db].get(&key).map_or(Value::Nil, |v| bulk(v)));
            }
            2 => {
                pipe.cmd("DEL").arg(&key);
                want.push(Value::Int(i64::from(model[db].remove(&key).is_some())));
            }
            4 => {
                let other = format!("k{}", (i * 13) % 97);
                pipe.cmd("MGET").arg(&key).arg(&other);
                want.push(Value::Array(vec![
                    model[db].get(&key).map_or(Value::Nil, |v| bulk(v)),
                    model[db].get(&other).map_or(Value::Nil, |v| bulk(v)),
                ]));
            }
            _ => {
                db = 1 - db;
                pipe.cmd("SELECT").arg(db);
                want.push(Value::Okay);
            }
        }
    }
    let got: Vec<Value> = pipe.query(&mut con).expect("the pipeline runs");
    assert_eq!(got.len(), want.len());
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "reply {i}");
    }
    // A deadline set in the past deletes the key for the reads after it.
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg("gone").arg("x");
    pipe.cmd("GET").arg("gone");
    pipe.cmd("PEXPIREAT").arg("gone").arg(1);
    pipe.cmd("EXISTS").arg("gone");
    pipe.cmd("GET").arg("gone");
    let got: Vec<Value> = pipe.query(&mut con).expect("the pipeline runs");
    assert_eq!(got, vec![Value::Okay, bulk("x"), Value::Int(1), Value::Int(0), Value::Nil]);
}

/// DUMP then RESTORE rebuilds every type under another key (field TTLs, stream groups
/// and consumer pending entries included), with the TTL RESTORE is given; the restored
/// keys are written through the log, so they survive a SIGKILL and restart. Errors are
/// Redis's.
#[test]
fn dump_and_restore_rebuild_every_type_and_survive_a_restart() {
    let dir = crate::harness::DataDir::new("dump");
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    let setup: &[&[&str]] = &[
        &["SET", "str", "hello"],
        &["SET", "long", &"x".repeat(300)],
        &["RPUSH", "list", "a", "b", "c"],
        &["HSET", "hash", "f1", "v1", "f2", "v2"],
        &["HPEXPIRE", "hash", "100000", "FIELDS", "1", "f2"],
        &["SADD", "set", "1", "2", "x"],
        &["ZADD", "zset", "1", "a", "2.5", "b", "-7", "c"],
        &["XADD", "stream", "1-1", "f", "v"],
        &["XADD", "stream", "2-1", "g", "w"],
        &["XGROUP", "CREATE", "stream", "grp", "0"],
        &["XREADGROUP", "GROUP", "grp", "alice", "COUNT", "1", "STREAMS", "stream", ">"],
        &["JSON.SET", "doc", "$", r#"{"a":[1,2,{"b":null}],"c":"d"}"#],
    ];
    for argv in setup {
        cmd(&mut con, argv).unwrap();
    }
    let keys = ["str", "long", "list", "hash", "set", "zset", "stream", "doc"];
    let digest = |con: &mut redis::Connection, key: &str| -> Value {
        cmd(con, &["DEBUG", "DIGEST-VALUE", key]).unwrap()
    };
    for key in keys {
        let payload: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut con).unwrap();
        let copy = format!("{key}:copy");
        let ok: String =
            redis::cmd("RESTORE").arg(&copy).arg(0).arg(&payload).query(&mut con).unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(digest(&mut con, key), digest(&mut con, &copy), "{key}");
        let volatile = format!("{key}:ttl");
        let ok: String =
            redis::cmd("RESTORE").arg(&volatile).arg(60_000).arg(&payload).query(&mut con).unwrap();
        assert_eq!(ok, "OK");
        let pttl: i64 = redis::cmd("PTTL").arg(&volatile).query(&mut con).unwrap();
        assert!((50_000..=60_000).contains(&pttl), "{key}: {pttl}");
        let busy = redis::cmd("RESTORE").arg(&copy).arg(0).arg(&payload).query::<String>(&mut con);
        assert_eq!(busy.unwrap_err().code(), Some("BUSYKEY"));
    }
    let pending: Value = cmd(&mut con, &["XPENDING", "stream:copy", "grp"]).unwrap();
    assert_eq!(pending, cmd(&mut con, &["XPENDING", "stream", "grp"]).unwrap());
    let field_ttl: Vec<i64> = redis::cmd("HPTTL")
        .arg("hash:copy")
        .arg("FIELDS")
        .arg(2)
        .arg("f1")
        .arg("f2")
        .query(&mut con)
        .unwrap();
    assert_eq!(field_ttl[0], -1);
    assert!(field_ttl[1] > 0, "{field_ttl:?}");
    let bad = redis::cmd("RESTORE").arg("k").arg(0).arg("\x00\x05hello").query::<String>(&mut con);
    let bad = bad.unwrap_err();
    assert_eq!(bad.detail(), Some("DUMP payload version or checksum are wrong"), "{bad}");
    let both = cmd(&mut con, &["RESTORE", "k", "0", "x", "IDLETIME", "1", "FREQ", "1"]);
    assert_eq!(both.unwrap_err().detail(), Some("syntax error"), "they exclude each other");
    let nil: Option<Vec<u8>> = redis::cmd("DUMP").arg("nosuch").query(&mut con).unwrap();
    assert_eq!(nil, None);
    let digests: Vec<Value> = keys.iter().map(|k| digest(&mut con, &format!("{k}:copy"))).collect();
    server.kill9();
    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    let after: Vec<Value> = keys.iter().map(|k| digest(&mut con, &format!("{k}:copy"))).collect();
    assert_eq!(after, digests);
}
