//! JSON.* over a real socket: every command's replies and errors in RESP2 and RESP3 as
//! RedisJSON 2.8 gives them (the table below was recorded from the reference, running each
//! command first on a RESP2 and then on a RESP3 connection), the keyspace commands on JSON
//! keys, keyspace notifications, MULTI/EXEC, and durability across SIGKILL and snapshots.

use std::time::Duration;

use redis::Value;

use crate::harness::{cmd, read_until_suffix, DataDir, TestServer};

/// A reply in the table's notation: `+OK`, `!error text`, `:1`, `"bulk"`, `nil`, `,1.5`,
/// `[a, b]`, `{k: v}`.
fn render(r: &redis::RedisResult<Value>) -> String {
    match r {
        Ok(v) => render_value(v),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("!{code} {detail}"),
            (Some(code), None) => format!("!{code}"),
            _ => format!("!{e}"),
        },
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::Okay => "+OK".into(),
        Value::SimpleString(s) => format!("+{s}"),
        Value::Int(n) => format!(":{n}"),
        Value::BulkString(b) => format!("\"{}\"", String::from_utf8_lossy(b)),
        Value::Nil => "nil".into(),
        Value::Double(d) => format!(",{d:?}"),
        Value::Boolean(b) => if *b { "#t" } else { "#f" }.into(),
        Value::Array(items) | Value::Set(items) => {
            format!("[{}]", items.iter().map(render_value).collect::<Vec<_>>().join(", "))
        }
        Value::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", render_value(k), render_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::ServerError(e) => format!("!{}", e.details().unwrap_or("")),
        other => format!("{other:?}"),
    }
}

/// (argv, RESP2 reply, RESP3 reply), run in order on one server, RESP2 first.
const CASES: &[(&[&str], &str, &str)] = &[
    (&["json.set"], "!ERR wrong number of arguments for 'json.set' command", "!ERR wrong number of arguments for 'json.set' command"),
    (&["json.set", "k"], "!ERR wrong number of arguments for 'json.set' command", "!ERR wrong number of arguments for 'json.set' command"),
    (&["json.set", "k", "$"], "!ERR wrong number of arguments for 'json.set' command", "!ERR wrong number of arguments for 'json.set' command"),
    (&["json.set", "k", "$", "{\"a\":1,\"b\":[1,2.5,\"x\"],\"c\":{\"d\":true}}"], "+OK", "+OK"),
    (&["json.set", "k", "$", "1", "NX", "XX"], "!ERR syntax error", "!ERR syntax error"),
    (&["json.set", "k", "$", "1", "FOO"], "!ERR syntax error", "!ERR syntax error"),
    (&["json.set", "k", "$", "{bad"], "!key must be a string at line 1 column 2", "!key must be a string at line 1 column 2"),
    (&["json.set", "k", "$[", "1"], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.set", "k2", ".a", "1"], "!ERR new objects must be created at the root", "!ERR new objects must be created at the root"),
    (&["json.set", "k2", "$", "1", "XX"], "nil", "nil"),
    (&["json.set", "k", "$.zz", "1", "XX"], "nil", "nil"),
    (&["json.get", "k"], "\"{\"a\":1,\"b\":[1,2.5,\"x\"],\"c\":{\"d\":true}}\"", "\"{\"a\":1,\"b\":[1,2.5,\"x\"],\"c\":{\"d\":true}}\""),
    (&["json.get", "k", "$"], "\"[{\"a\":1,\"b\":[1,2.5,\"x\"],\"c\":{\"d\":true}}]\"", "\"[{\"a\":1,\"b\":[1,2.5,\"x\"],\"c\":{\"d\":true}}]\""),
    (&["json.get", "k", ".a"], "\"1\"", "\"1\""),
    (&["json.get", "k", "$.a"], "\"[1]\"", "\"[1]\""),
    (&["json.get", "k", "$.zz"], "\"[]\"", "\"[]\""),
    (&["json.get", "k", ".zz"], "!ERR Path '$.zz' does not exist", "!ERR Path '$.zz' does not exist"),
    (&["json.get", "k", "INDENT"], "!ERR wrong number of arguments for 'json.get' command", "!ERR wrong number of arguments for 'json.get' command"),
    (&["json.get", "nokey"], "nil", "nil"),
    (&["json.get", "nokey", "$"], "nil", "nil"),
    (&["json.get"], "!ERR wrong number of arguments for 'json.get' command", "!ERR wrong number of arguments for 'json.get' command"),
    (&["set", "s", "v"], "+OK", "+OK"),
    (&["json.get", "s"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.set", "s", "$", "1"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.set", "s", "$", "{bad"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.type", "k"], "\"object\"", "[\"object\"]"),
    (&["json.type", "k", "$"], "[\"object\"]", "[[\"object\"]]"),
    (&["json.type", "k", "$..*"], "[\"integer\", \"array\", \"object\", \"integer\", \"number\", \"string\", \"boolean\"]", "[[\"integer\", \"array\", \"object\", \"integer\", \"number\", \"string\", \"boolean\"]]"),
    (&["json.type", "k", ".zz"], "nil", "[nil]"),
    (&["json.type", "nokey"], "nil", "[nil]"),
    (&["json.type", "nokey", "$"], "nil", "[nil]"),
    (&["json.numincrby", "k", ".a", "2"], "\"3\"", "[:5]"),
    (&["json.numincrby", "k", "$.a", "2"], "\"[7]\"", "[:9]"),
    (&["json.numincrby", "k", "$..*", "2"], "\"[11,null,null,3,4.5,null,null]\"", "[:13, nil, nil, :5, ,6.5, nil, nil]"),
    (&["json.numincrby", "k", ".a", "x"], "!ERR expected value at line 1 column 1", "!ERR expected value at line 1 column 1"),
    (&["json.numincrby", "k", ".a"], "!ERR wrong number of arguments for 'json.numincrby' command", "!ERR wrong number of arguments for 'json.numincrby' command"),
    (&["json.numincrby", "nokey", ".a", "1"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.numincrby", "k", "$.a", "1.5"], "\"[14.5]\"", "[,16.0]"),
    (&["json.nummultby", "k", "$.a", "2"], "\"[32.0]\"", "[,64.0]"),
    (&["json.nummultby", "k", ".a", "2"], "\"128.0\"", "[,256.0]"),
    (&["json.numincrby", "k", "$.c", "x"], "\"[null]\"", "[nil]"),
    (&["json.numincrby", "k", ".c", "x"], "!ERR Path '$.c' does not exist or does not contains a number", "[nil]"),
    (&["json.strappend", "k", "$.b[2]", "\"yz\""], "[:3]", "[:5]"),
    (&["json.strappend", "k", ".b[2]", "\"yz\""], ":7", ":9"),
    (&["json.strappend", "k", "\"q\""], "!ERR Path '$' does not exist or not a string", "!ERR Path '$' does not exist or not a string"),
    (&["json.strappend", "k", "$.b[2]", "yz"], "!ERR expected value at line 1 column 1", "!ERR expected value at line 1 column 1"),
    (&["json.strappend", "k", "$.zz", "yz"], "[]", "[]"),
    (&["json.strappend", "nokey", "$", "\"a\""], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.strappend", "k", ".b[2]", "1"], "!WRONGTYPE wrong type of path value - expected string but found 1", "!WRONGTYPE wrong type of path value - expected string but found 1"),
    (&["json.strlen", "k", "$.b[2]"], "[:9]", "[:9]"),
    (&["json.strlen", "k", ".b[2]"], ":9", ":9"),
    (&["json.strlen", "k", "$..*"], "[nil, nil, nil, nil, nil, :9, nil]", "[nil, nil, nil, nil, nil, :9, nil]"),
    (&["json.strlen", "k", ".a"], "!WRONGTYPE wrong type of path value - expected string but found number", "!WRONGTYPE wrong type of path value - expected string but found number"),
    (&["json.strlen", "k", ".zz"], "!ERR Path '$.zz' does not exist", "!ERR Path '$.zz' does not exist"),
    (&["json.strlen", "nokey"], "nil", "nil"),
    (&["json.strlen", "nokey", "$"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.arrappend", "k", "$.b", "1", "\"z\""], "[:5]", "[:7]"),
    (&["json.arrappend", "k", ".b", "1"], ":8", ":9"),
    (&["json.arrappend", "k", "$.b"], "!ERR wrong number of arguments for 'json.arrappend' command", "!ERR wrong number of arguments for 'json.arrappend' command"),
    (&["json.arrappend", "k", "$.b", "x"], "!expected value at line 1 column 1", "!expected value at line 1 column 1"),
    (&["json.arrappend", "nokey", "$", "1"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.arrappend", "s", "$", "bad"], "!expected value at line 1 column 1", "!expected value at line 1 column 1"),
    (&["json.arrappend", "k", ".a", "1"], "!ERR Path '.a' does not exist or not an array", "!ERR Path '.a' does not exist or not an array"),
    (&["json.arrlen", "k", "$.b"], "[:9]", "[:9]"),
    (&["json.arrlen", "k", ".b"], ":9", ":9"),
    (&["json.arrlen", "k"], "!ERR Path '.' does not exist or not an array", "!ERR Path '.' does not exist or not an array"),
    (&["json.arrlen", "k", ".zz"], "!ERR Path '.zz' does not exist", "!ERR Path '.zz' does not exist"),
    (&["json.arrlen", "nokey"], "nil", "nil"),
    (&["json.arrlen", "nokey", "$"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.objkeys", "k"], "[\"a\", \"b\", \"c\"]", "[\"a\", \"b\", \"c\"]"),
    (&["json.objkeys", "k", "$"], "[[\"a\", \"b\", \"c\"]]", "[[\"a\", \"b\", \"c\"]]"),
    (&["json.objkeys", "k", "$..*"], "[nil, nil, [\"d\"], nil, nil, nil, nil, nil, nil, nil, nil, nil, nil]", "[nil, nil, [\"d\"], nil, nil, nil, nil, nil, nil, nil, nil, nil, nil]"),
    (&["json.objkeys", "k", ".a"], "!ERR Path '$.a' does not exist or not an object", "!ERR Path '$.a' does not exist or not an object"),
    (&["json.objkeys", "nokey"], "nil", "nil"),
    (&["json.objkeys", "nokey", "$"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.objlen", "k"], ":3", ":3"),
    (&["json.objlen", "k", "$..*"], "[nil, nil, :1, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil]", "[nil, nil, :1, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil]"),
    (&["json.objlen", "k", ".a"], "!WRONGTYPE wrong type of path value - expected object but found number", "!WRONGTYPE wrong type of path value - expected object but found number"),
    (&["json.objlen", "nokey"], "nil", "nil"),
    (&["json.objlen", "nokey", "$"], "!ERR Path '$' does not exist or not an object", "!ERR Path '$' does not exist or not an object"),
    (&["json.mget", "k", "nokey", "s", "$.a"], "[\"[256.0]\", nil, nil]", "[\"[256.0]\", nil, nil]"),
    (&["json.mget", "k", "nokey", "s", ".a"], "[\"256.0\", nil, nil]", "[\"256.0\", nil, nil]"),
    (&["json.mget", "k"], "!ERR wrong number of arguments for 'json.mget' command", "!ERR wrong number of arguments for 'json.mget' command"),
    (&["json.mget", "k", "$["], "[nil]", "[nil]"),
    (&["json.mset", "a", "$", "1", "b", "$", "\"x\""], "+OK", "+OK"),
    (&["json.mset", "a", "$", "1", "b", "$"], "!ERR wrong number of arguments for 'json.mset' command", "!ERR wrong number of arguments for 'json.mset' command"),
    (&["json.mset", "a", "$", "1", "b", "$", "bad"], "!expected value at line 1 column 1", "!expected value at line 1 column 1"),
    (&["json.mset", "a", "$.x", "1"], "+OK", "+OK"),
    (&["json.mset", "s", "$", "1", "nk", "$", "1"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.get", "nk"], "nil", "nil"),
    (&["json.mset", "a", "$", "5", "a", "$", "6"], "+OK", "+OK"),
    (&["json.get", "a"], "\"6\"", "\"6\""),
    (&["json.del", "k", "$.b[0]"], ":1", ":1"),
    (&["json.del", "k", ".zz"], ":0", ":0"),
    (&["json.get", "k"], "\"{\"a\":256.0,\"b\":[\"xyzyzyzyz\",1,\"z\",1,\"z\",1,1],\"c\":{\"d\":true}}\"", "\"{\"a\":256.0,\"b\":[\"xyzyzyzyz\",1,\"z\",1,\"z\",1,1],\"c\":{\"d\":true}}\""),
    (&["json.del", "k", "$..*"], ":3", ":0"),
    (&["json.get", "k"], "\"{}\"", "\"{}\""),
    (&["json.del", "k"], ":1", ":0"),
    (&["json.del", "nokey"], ":0", ":0"),
    (&["json.forget", "a"], ":1", ":0"),
    (&["json.del", "s"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.type", "s"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.del", "b", "$", "extra"], ":1", ":0"),
    (&["json.get", "k", "INDENT", "  ", "NEWLINE", "\\n", "SPACE", " ", "$"], "nil", "nil"),
    (&["json.set", "j", "$", "{\"a\":[1,{\"b\":2}],\"c\":{}}"], "+OK", "+OK"),
    (&["json.get", "j", "INDENT", "  ", "NEWLINE", "\\n", "SPACE", " "], "\"{\\n  \"a\": [\\n    1,\\n    {\\n      \"b\": 2\\n    }\\n  ],\\n  \"c\": {}\\n}\"", "\"{\\n  \"a\": [\\n    1,\\n    {\\n      \"b\": 2\\n    }\\n  ],\\n  \"c\": {}\\n}\""),
    (&["json.get", "j", "NOESCAPE", ".a"], "\"[1,{\"b\":2}]\"", "\"[1,{\"b\":2}]\""),
    (&["json.get", "j", ".a", ".c"], "\"{\".a\":[1,{\"b\":2}],\".c\":{}}\"", "\"{\".a\":[1,{\"b\":2}],\".c\":{}}\""),
    (&["json.get", "j", ".zz", ".c"], "!ERR Path '.zz' does not exist", "!ERR Path '.zz' does not exist"),
    (&["json.get", "j", "$", "$"], "\"{\"$\":[{\"a\":[1,{\"b\":2}],\"c\":{}}]}\"", "\"{\"$\":[{\"a\":[1,{\"b\":2}],\"c\":{}}]}\""),
    (&["json.set", "f", "$", "{\"i\":1,\"f\":1.0,\"e\":1e300,\"m\":-0.5}"], "+OK", "+OK"),
    (&["json.get", "f"], "\"{\"i\":1,\"f\":1.0,\"e\":1e300,\"m\":-0.5}\"", "\"{\"i\":1,\"f\":1.0,\"e\":1e300,\"m\":-0.5}\""),
    (&["json.numincrby", "f", "$.f", "1"], "\"[2.0]\"", "[,3.0]"),
    (&["json.numincrby", "f", ".i", "0.5"], "\"1.5\"", "[,2.0]"),
    (&["json.nummultby", "f", "$.e", "1e10"], "!ERR result is not a number", "!ERR result is not a number"),
    (&["json.numincrby", "f", "$.m", "9223372036854775807"], "\"[9.223372036854776e18]\"", "[,1.8446744073709552e19]"),
    (&["json.numincrby", "f", ".i", "1e400"], "!ERR number out of range at line 1 column 5", "!ERR number out of range at line 1 column 5"),
    (&["json.numincrby", "f", ".i", "\"x\""], "!bad input number", "!bad input number"),
    (&["json.set", "f", "$.new", "[]"], "+OK", "+OK"),
    (&["json.set", "f", "$.new[5]", "1"], "!ERR array index out of range", "!ERR array index out of range"),
    (&["json.set", "f", "$.x.y", "1"], "nil", "nil"),
    (&["json.get", "f"], "\"{\"i\":2.0,\"f\":3.0,\"e\":1e300,\"m\":1.8446744073709552e19,\"new\":[]}\"", "\"{\"i\":2.0,\"f\":3.0,\"e\":1e300,\"m\":1.8446744073709552e19,\"new\":[]}\""),
];

#[test]
fn every_command_replies_like_redisjson_in_resp2_and_resp3() {
    let server = TestServer::start();
    let mut r2 = server.client();
    let mut r3 = server.client_resp3();
    let mut failures = Vec::new();
    for (argv, want2, want3) in CASES {
        let got2 = render(&cmd(&mut r2, argv));
        let got3 = render(&cmd(&mut r3, argv));
        if got2 != *want2 {
            failures.push(format!("{argv:?} RESP2\n  want {want2}\n  got  {got2}"));
        }
        if got3 != *want3 {
            failures.push(format!("{argv:?} RESP3\n  want {want3}\n  got  {got3}"));
        }
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}

fn ok(con: &mut redis::Connection, args: &[&str]) -> String {
    render(&cmd(con, args))
}

#[test]
fn keyspace_commands_work_on_json_keys() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["JSON.SET", "doc", "$", r#"{"a":[1,2],"b":"x"}"#]), "+OK");
    assert_eq!(ok(&mut con, &["TYPE", "doc"]), "+ReJSON-RL");
    assert_eq!(ok(&mut con, &["OBJECT", "ENCODING", "doc"]), "\"raw\"");
    assert_eq!(ok(&mut con, &["EXISTS", "doc"]), ":1");
    let usage = ok(&mut con, &["MEMORY", "USAGE", "doc"]);
    assert!(usage.starts_with(':') && usage != ":0", "{usage}");
    // A TTL survives changes to the document, as in RedisJSON.
    assert_eq!(ok(&mut con, &["EXPIRE", "doc", "1000"]), ":1");
    assert_eq!(ok(&mut con, &["JSON.SET", "doc", "$.b", r#""y""#]), "+OK");
    assert_eq!(ok(&mut con, &["JSON.SET", "doc", "$", r#"{"a":[1,2],"b":"z"}"#]), "+OK");
    assert_eq!(ok(&mut con, &["JSON.MSET", "doc", "$.c", "1"]), "+OK");
    assert_eq!(ok(&mut con, &["TTL", "doc"]), ":1000");
    assert_eq!(ok(&mut con, &["RENAME", "doc", "doc2"]), "+OK");
    assert_eq!(ok(&mut con, &["JSON.GET", "doc2"]), r#""{"a":[1,2],"b":"z","c":1}""#);
    assert_eq!(ok(&mut con, &["COPY", "doc2", "doc3"]), ":1");
    // The copy is independent of the original.
    assert_eq!(ok(&mut con, &["JSON.ARRAPPEND", "doc3", "$.a", "3"]), "[:3]");
    assert_eq!(ok(&mut con, &["JSON.ARRLEN", "doc2", "$.a"]), "[:2]");
    assert_eq!(ok(&mut con, &["SET", "str", "v"]), "+OK");
    let scanned = ok(&mut con, &["SCAN", "0", "TYPE", "ReJSON-RL", "COUNT", "1000"]);
    assert!(scanned.contains("\"doc2\"") && scanned.contains("\"doc3\""), "{scanned}");
    assert!(!scanned.contains("\"str\""), "{scanned}");
    assert_eq!(
        ok(&mut con, &["GET", "doc2"]),
        "!WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(ok(&mut con, &["DEL", "doc2", "doc3"]), ":2");
    assert_eq!(ok(&mut con, &["JSON.GET", "doc2"]), "nil");
    // A string key overwritten by SET is no longer JSON.
    assert_eq!(ok(&mut con, &["JSON.SET", "j", "$", "1"]), "+OK");
    assert_eq!(ok(&mut con, &["SET", "j", "v"]), "+OK");
    assert_eq!(ok(&mut con, &["JSON.GET", "j"]), "!Existing key has wrong Redis type");
}

#[test]
fn transactions_run_json_commands_in_order() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["MULTI"]), "+OK");
    assert_eq!(ok(&mut con, &["JSON.SET", "t", "$", r#"{"n":1,"s":"a"}"#]), "+QUEUED");
    assert_eq!(ok(&mut con, &["JSON.NUMINCRBY", "t", "$.n", "2"]), "+QUEUED");
    assert_eq!(ok(&mut con, &["JSON.STRAPPEND", "t", "$.s", r#""b""#]), "+QUEUED");
    assert_eq!(ok(&mut con, &["JSON.GET", "t"]), "+QUEUED");
    assert_eq!(ok(&mut con, &["EXEC"]), r#"[+OK, "[3]", [:2], "{"n":3,"s":"ab"}"]"#);
    // WATCH sees a JSON change.
    assert_eq!(ok(&mut con, &["WATCH", "t"]), "+OK");
    let mut other = server.client();
    assert_eq!(ok(&mut other, &["JSON.NUMINCRBY", "t", "$.n", "1"]), r#""[4]""#);
    assert_eq!(ok(&mut con, &["MULTI"]), "+OK");
    assert_eq!(ok(&mut con, &["JSON.SET", "t", "$.n", "0"]), "+QUEUED");
    assert_eq!(ok(&mut con, &["EXEC"]), "nil");
    assert_eq!(ok(&mut con, &["JSON.GET", "t", "$.n"]), r#""[4]""#);
}

#[test]
fn changes_are_notified_as_module_events() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Ed"]), "+OK");
    let mut sub = server.raw();
    use std::io::Write;
    sub.write_all(b"PSUBSCRIBE __keyevent@0__:*\r\n").unwrap();
    read_until_suffix(&mut sub, b":1\r\n", Duration::from_secs(5));
    for argv in [
        &["JSON.SET", "k", "$", r#"{"a":1,"s":"x","r":[]}"#][..],
        &["JSON.SET", "k", "$.zz", "1", "XX"], // nothing changes: no event
        &["JSON.NUMINCRBY", "k", "$.a", "1"],
        &["JSON.NUMINCRBY", "k", "$.s", "1"], // no number there: no event
        &["JSON.NUMMULTBY", "k", "$.a", "2"],
        &["JSON.STRAPPEND", "k", "$.s", r#""y""#],
        &["JSON.ARRAPPEND", "k", "$.r", "1"],
        &["JSON.DEL", "k", "$.zz"], // nothing deleted: no event
        &["JSON.DEL", "k", "$.a"],
        &["JSON.MSET", "k", "$.b", "2", "k2", "$", "3"],
        &["JSON.FORGET", "k"],
        &["SET", "last", "v"],
    ] {
        cmd(&mut con, argv).unwrap();
    }
    // SET is not a module event: subscribe to it through the keyspace channel instead.
    assert_eq!(ok(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "E$d"]), "+OK");
    cmd(&mut con, &["SET", "last", "v"]).unwrap();
    let out = read_until_suffix(&mut sub, b"$4\r\nlast\r\n", Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out);
    let events: Vec<&str> = text
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("__keyevent@0__:"))
        .filter(|e| *e != "*")
        .collect();
    assert_eq!(
        events,
        [
            "json.set",
            "json.numincrby",
            "json.nummultby",
            "json.strappend",
            "json.arrappend",
            "json.del",
            "json.mset",
            "json.mset",
            "json.del",
            "set"
        ],
        "{text}"
    );
}

#[test]
fn command_metadata_and_module_list_match_redisjson() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(
        ok(&mut con, &["COMMAND", "INFO", "json.mset"]),
        r#"[["json.mset", :-1, [+write, +denyoom, +module], :1, :-1, :3, [], [], [["flags", [+RW, +access, +update], "begin_search", ["type", "index", "spec", ["index", :1]], "find_keys", ["type", "range", "spec", ["lastkey", :-1, "keystep", :3, "limit", :0]]]], []]]"#
    );
    assert_eq!(
        ok(&mut con, &["COMMAND", "DOCS", "json.get"]),
        r#"["json.get", ["group", "module", "module", "ReJSON"]]"#
    );
    assert_eq!(
        ok(&mut con, &["MODULE", "LIST"]),
        r#"[["name", "ReJSON", "ver", :20803, "path", "builtin", "args", []]]"#
    );
    let listed = ok(&mut con, &["COMMAND", "LIST", "FILTERBY", "MODULE", "ReJSON"]);
    assert!(listed.contains("\"json.set\"") && !listed.contains("\"get\""), "{listed}");
    let info = ok(&mut con, &["INFO", "modules"]);
    assert!(info.contains("module:name=ReJSON,ver=20803"), "{info}");
}

#[test]
fn acknowledged_json_writes_survive_sigkill_and_snapshots() {
    let dir = DataDir::new("json-crash");
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    let doc = r#"{"f":0.1,"big":1.7976931348623157e308,"tiny":5e-324,"i":-9223372036854775808,"u":18446744073709551615,"s":"\u00e9\n\"","nested":{"k-1":[true,null,{}]}}"#;
    assert_eq!(ok(&mut con, &["JSON.SET", "d", "$", doc]), "+OK");
    assert_eq!(ok(&mut con, &["JSON.NUMINCRBY", "d", "$.f", "0.2"]), r#""[0.30000000000000004]""#);
    assert_eq!(ok(&mut con, &["PEXPIRE", "d", "100000000"]), ":1");
    let before = ok(&mut con, &["JSON.GET", "d"]);
    // A document deeper than JSON text may be: built by setting values at depth.
    let mut deep = String::from("$");
    assert_eq!(ok(&mut con, &["JSON.SET", "deep", "$", "{}"]), "+OK");
    for i in 0..150 {
        assert_eq!(ok(&mut con, &["JSON.SET", "deep", &deep, r#"{"x":{}}"#]), "+OK", "{i}");
        deep.push_str(".x");
    }
    let deep_before = ok(&mut con, &["JSON.GET", "deep"]);
    server.kill9();

    // Recovery from the log.
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["JSON.GET", "d"]), before);
    assert_eq!(ok(&mut con, &["TYPE", "d"]), "+ReJSON-RL");
    assert_eq!(ok(&mut con, &["JSON.GET", "deep"]), deep_before);
    // Recovery from a snapshot (the rewrite's JSON.SET commands).
    assert_eq!(ok(&mut con, &["SAVE"]), "+OK");
    server.kill9();
    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["JSON.GET", "d"]), before);
    assert_eq!(ok(&mut con, &["JSON.GET", "deep"]), deep_before);
    let ttl = ok(&mut con, &["PTTL", "d"]);
    assert!(ttl.starts_with(':') && ttl != ":-1", "{ttl}");
}
