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
    (&["json.set", "k2", "$..t", "1", "XX"], "nil", "nil"),
    (&["json.set", "k2", "$[", "1", "XX"], "nil", "nil"),
    (&["json.set", "k2", "$..t", "bad", "XX"], "!expected value at line 1 column 1", "!expected value at line 1 column 1"),
    (&["json.set", "k2", "$..t", "1", "NX"], "!ERR new objects must be created at the root", "!ERR new objects must be created at the root"),
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
    (&["json.get", "f"], "\"{\"i\":2.0,\"f\":3.0,\"e\":1e300,\"m\":1.8446744073709552e19,\"new\":[]}\"", "\"{\"i\":2.0,\"f\":3.0,\"e\":1e300,\"m\":1.8446744073709552e19,\"new\":[]}\""),    (&["json.set", "ar", "$", "{\"a\":[1,2,3,1,\"x\",[1],{\"k\":1},1.0,null],\"b\":{\"a\":[1]},\"t\":true,\"n\":1.5}"], "+OK", "+OK"),
    (&["json.arrindex", "ar", "$.a", "1"], "[:0]", "[:0]"),
    (&["json.arrindex", "ar", ".a", "1", "1"], ":3", ":3"),
    (&["json.arrindex", "ar", "$..a", "1", "-2"], "[:-1, :0]", "[:-1, :0]"),
    (&["json.arrindex", "ar", ".a", "1", "1", "3"], ":-1", ":-1"),
    (&["json.arrindex", "ar", ".a", "1", "-100", "0"], ":0", ":0"),
    (&["json.arrindex", "ar", ".a", "1.0"], ":7", ":7"),
    (&["json.arrindex", "ar", ".a", "[1]"], ":5", ":5"),
    (&["json.arrindex", "ar", ".a", "{\"k\":1}"], ":6", ":6"),
    (&["json.arrindex", "ar", ".a", "null"], ":8", ":8"),
    (&["json.arrindex", "ar", ".a", "\"x\""], ":4", ":4"),
    (&["json.arrindex", "ar", "$.*", "1"], "[:0, nil, nil, nil]", "[:0, nil, nil, nil]"),
    (&["json.arrindex", "ar", ".t", "1"], "!WRONGTYPE wrong type of path value - expected array but found boolean", "!WRONGTYPE wrong type of path value - expected array but found boolean"),
    (&["json.arrindex", "ar", ".zz", "1"], "!ERR Path '$.zz' does not exist", "!ERR Path '$.zz' does not exist"),
    (&["json.arrindex", "ar", "$.zz", "1"], "[]", "[]"),
    (&["json.arrindex", "ar", ".a", "x"], "!ERR expected value at line 1 column 1", "!ERR expected value at line 1 column 1"),
    (&["json.arrindex", "ar", ".a", "1 2"], "!ERR trailing characters at line 1 column 3", "!ERR trailing characters at line 1 column 3"),
    (&["json.arrindex", "ar", ".a", "1", "x"], "!Couldn't parse as integer", "!Couldn't parse as integer"),
    (&["json.arrindex", "ar", ".a", "1", "0", "01"], "!Couldn't parse as integer", "!Couldn't parse as integer"),
    (&["json.arrindex", "ar", ".a", "1", "0", "9", "9"], "!ERR wrong number of arguments for 'json.arrindex' command", "!ERR wrong number of arguments for 'json.arrindex' command"),
    (&["json.arrindex", "ar", "$.a"], "!ERR wrong number of arguments for 'json.arrindex' command", "!ERR wrong number of arguments for 'json.arrindex' command"),
    (&["json.arrindex", "ar", "$[", "1"], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.arrindex", "nokey", ".a", "1"], "!ERR Path '.a' does not exist", "!ERR Path '.a' does not exist"),
    (&["json.arrindex", "nokey", "$[", "1"], "!ERR Path '$[' does not exist", "!ERR Path '$[' does not exist"),
    (&["json.arrindex", "nokey", "$", "bad"], "!ERR expected value at line 1 column 1", "!ERR expected value at line 1 column 1"),
    (&["json.arrindex", "s", "$", "1"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.arrinsert", "ar", "$.a", "0", "\"new\"", "0"], "[:11]", "[:13]"),
    (&["json.arrinsert", "ar", ".a", "-1", "true"], ":14", ":15"),
    (&["json.arrinsert", "ar", "$..a", "1", "9"], "[:16, :2]", "[:17, :3]"),
    (&["json.arrinsert", "ar", "$.*", "0", "7"], "[:18, nil, nil, nil]", "[:19, nil, nil, nil]"),
    (&["json.arrinsert", "ar", ".a", "100", "1"], "!ERR index out of bounds", "!ERR index out of bounds"),
    (&["json.arrinsert", "ar", ".a", "-100", "1"], "!ERR index out of bounds", "!ERR index out of bounds"),
    (&["json.arrinsert", "ar", ".t", "0", "1"], "!ERR Path '$.t' does not exist or not an array", "!ERR Path '$.t' does not exist or not an array"),
    (&["json.arrinsert", "ar", "$.zz", "0", "1"], "[]", "[]"),
    (&["json.arrinsert", "ar", ".a", "x", "1"], "!Couldn't parse as integer", "!Couldn't parse as integer"),
    (&["json.arrinsert", "ar", ".a", "0", "bad"], "!expected value at line 1 column 1", "!expected value at line 1 column 1"),
    (&["json.arrinsert", "ar", ".a", "0"], "!ERR wrong number of arguments for 'json.arrinsert' command", "!ERR wrong number of arguments for 'json.arrinsert' command"),
    (&["json.arrinsert", "ar", "$[", "0", "1"], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.arrinsert", "nokey", "$", "0", "1"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.arrinsert", "nokey", "$", "0", "bad"], "!expected value at line 1 column 1", "!expected value at line 1 column 1"),
    (&["json.arrinsert", "s", "$", "0", "1"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.arrpop", "ar", "$.a"], "[\"null\"]", "[\"true\"]"),
    (&["json.arrpop", "ar", ".a", "0"], "\"7\"", "\"7\""),
    (&["json.arrpop", "ar", "$..a", "-100"], "[\"\"new\"\", \"1\"]", "[\"9\", \"9\"]"),
    (&["json.arrpop", "ar", ".a", "100"], "\"true\"", "\"1.0\""),
    (&["json.arrpop", "ar", ".a", "x", "extra"], "\"{\"k\":1}\"", "\"[1]\""),
    (&["json.arrpop", "ar", "$.*"], "[\"\"x\"\", nil, nil, nil]", "[\"1\", nil, nil, nil]"),
    (&["json.arrpop", "ar", "$.b.a"], "[\"9\"]", "[nil]"),
    (&["json.arrpop", "ar", ".b.a"], "nil", "nil"),
    (&["json.arrpop", "ar", ".t"], "!ERR Path '$.t' does not exist or not an array", "!ERR Path '$.t' does not exist or not an array"),
    (&["json.arrpop", "ar", ".zz"], "!ERR Path '$.zz' does not exist or not an array", "!ERR Path '$.zz' does not exist or not an array"),
    (&["json.arrpop", "ar", "$["], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.arrpop", "nokey"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.arrpop", "s"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.arrpop"], "!ERR wrong number of arguments for 'json.arrpop' command", "!ERR wrong number of arguments for 'json.arrpop' command"),
    (&["json.arrtrim", "ar", "$.a", "1", "3"], "[:3]", "[:2]"),
    (&["json.arrtrim", "ar", ".a", "0", "-1"], ":2", ":2"),
    (&["json.arrtrim", "ar", "$..a", "5", "1"], "[:0, :0]", "[:0, :0]"),
    (&["json.arrtrim", "ar", "$.*", "0", "0"], "[:0, nil, nil, nil]", "[:0, nil, nil, nil]"),
    (&["json.arrtrim", "ar", ".t", "0", "0"], "!ERR Path '$.t' does not exist or not an array", "!ERR Path '$.t' does not exist or not an array"),
    (&["json.arrtrim", "ar", ".a", "x", "0"], "!Couldn't parse as integer", "!Couldn't parse as integer"),
    (&["json.arrtrim", "ar", ".a", "0", "x"], "!Couldn't parse as integer", "!Couldn't parse as integer"),
    (&["json.arrtrim", "ar", ".a", "0"], "!ERR wrong number of arguments for 'json.arrtrim' command", "!ERR wrong number of arguments for 'json.arrtrim' command"),
    (&["json.arrtrim", "ar", ".a", "0", "1", "extra"], ":0", ":0"),
    (&["json.arrtrim", "nokey", "$", "0", "1"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.arrtrim", "nokey", "$", "x", "1"], "!Couldn't parse as integer", "!Couldn't parse as integer"),
    (&["json.arrtrim", "s", "$", "0", "1"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.get", "ar"], "\"{\"a\":[],\"b\":{\"a\":[]},\"t\":true,\"n\":1.5}\"", "\"{\"a\":[],\"b\":{\"a\":[]},\"t\":true,\"n\":1.5}\""),
    (&["json.set", "ed", "$", "{\"a\":[1],\"o\":{\"x\":1},\"n\":2.5,\"z\":0,\"s\":\"str\",\"t\":false,\"u\":null,\"in\":{\"t\":true}}"], "+OK", "+OK"),
    (&["json.toggle", "ed", "$.t"], "[:1]", "[:0]"),
    (&["json.toggle", "ed", ".t"], "\"true\"", "\"false\""),
    (&["json.toggle", "ed", "$..t"], "[:1, :0]", "[:0, :1]"),
    (&["json.toggle", "ed", "..t"], "\"false\"", "\"true\""),
    (&["json.toggle", "ed", "$.*"], "[nil, nil, nil, nil, nil, :1, nil, nil]", "[nil, nil, nil, nil, nil, :0, nil, nil]"),
    (&["json.toggle", "ed", ".s"], "!ERR Path '$.s' does not exist or not a bool", "!ERR Path '$.s' does not exist or not a bool"),
    (&["json.toggle", "ed", "$.zz"], "[]", "[]"),
    (&["json.toggle", "ed", ".zz"], "!ERR Path '$.zz' does not exist or not a bool", "!ERR Path '$.zz' does not exist or not a bool"),
    (&["json.toggle", "ed", "$.t", "extra"], "[:1]", "[:0]"),
    (&["json.toggle", "ed"], "!ERR wrong number of arguments for 'json.toggle' command", "!ERR wrong number of arguments for 'json.toggle' command"),
    (&["json.toggle", "ed", "$["], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.toggle", "nokey", "$"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.toggle", "s", "$"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.get", "ed"], "\"{\"a\":[1],\"o\":{\"x\":1},\"n\":2.5,\"z\":0,\"s\":\"str\",\"t\":false,\"u\":null,\"in\":{\"t\":true}}\"", "\"{\"a\":[1],\"o\":{\"x\":1},\"n\":2.5,\"z\":0,\"s\":\"str\",\"t\":false,\"u\":null,\"in\":{\"t\":true}}\""),
    (&["json.clear", "ed", "$.a"], ":1", ":0"),
    (&["json.clear", "ed", "$.*"], ":3", ":0"),
    (&["json.get", "ed"], "\"{\"a\":[],\"o\":{},\"n\":0,\"z\":0,\"s\":\"str\",\"t\":false,\"u\":null,\"in\":{}}\"", "\"{\"a\":[],\"o\":{},\"n\":0,\"z\":0,\"s\":\"str\",\"t\":false,\"u\":null,\"in\":{}}\""),
    (&["json.clear", "ed", ".zz"], ":0", ":0"),
    (&["json.clear", "ed", "$[", "x"], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.clear", "ed"], ":1", ":0"),
    (&["json.get", "ed"], "\"{}\"", "\"{}\""),
    (&["json.clear", "nokey"], "!ERR could not perform this operation on a key that doesn't exist", "!ERR could not perform this operation on a key that doesn't exist"),
    (&["json.clear", "s"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.clear"], "!ERR wrong number of arguments for 'json.clear' command", "!ERR wrong number of arguments for 'json.clear' command"),
    (&["json.set", "mg", "$", "{\"a\":{\"b\":1,\"c\":[1,2]},\"d\":\"x\"}"], "+OK", "+OK"),
    (&["json.merge", "mg", "$", "{\"a\":{\"b\":null,\"e\":{\"f\":null,\"g\":1}},\"h\":[null]}"], "+OK", "+OK"),
    (&["json.get", "mg"], "\"{\"a\":{\"c\":[1,2],\"e\":{\"g\":1}},\"d\":\"x\",\"h\":[null]}\"", "\"{\"a\":{\"c\":[1,2],\"e\":{\"g\":1}},\"d\":\"x\",\"h\":[null]}\""),
    (&["json.merge", "mg", "$.a.c", "{\"q\":1}"], "+OK", "+OK"),
    (&["json.merge", "mg", ".d", "null"], "+OK", "+OK"),
    (&["json.merge", "mg", "$.new", "{\"p\":null,\"r\":2}"], "+OK", "+OK"),
    (&["json.merge", "mg", "$..g", "3"], "+OK", "+OK"),
    (&["json.get", "mg"], "\"{\"a\":{\"c\":{\"q\":1},\"e\":{\"g\":3}},\"d\":null,\"h\":[null],\"new\":{\"r\":2}}\"", "\"{\"a\":{\"c\":{\"q\":1},\"e\":{\"g\":3}},\"d\":null,\"h\":[null],\"new\":{\"r\":2}}\""),
    (&["json.merge", "mg", "$.x.y", "1"], "nil", "nil"),
    (&["json.merge", "mg", "$.h[5]", "1"], "!ERR array index out of range", "!ERR array index out of range"),
    (&["json.merge", "mg", "$", "bad"], "!expected value at line 1 column 1", "!expected value at line 1 column 1"),
    (&["json.merge", "mg", "$[", "bad"], "!expected value at line 1 column 1", "!expected value at line 1 column 1"),
    (&["json.merge", "mg", "$[", "1"], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.merge", "mg", "$", "1", "extra"], "!ERR syntax error", "!ERR syntax error"),
    (&["json.merge", "mg", "$"], "!ERR wrong number of arguments for 'json.merge' command", "!ERR wrong number of arguments for 'json.merge' command"),
    (&["json.merge", "nokey", "$.a", "1"], "!ERR new objects must be created at the root", "!ERR new objects must be created at the root"),
    (&["json.merge", "s", "$", "bad"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.merge", "mg2", "$", "{\"a\":null,\"b\":{\"c\":null},\"d\":1}"], "+OK", "+OK"),
    (&["json.get", "mg2"], "\"{\"d\":1,\"b\":{}}\"", "\"{\"d\":1,\"b\":{}}\""),
    (&["json.merge", "mg2", ".", "null"], "+OK", "+OK"),
    (&["json.get", "mg2"], "\"null\"", "\"null\""),
    (&["json.set", "rs", "$", "{\"a\":[1,-2,3.5,\"x\",true,false,null],\"o\":{\"k\":{}},\"f\":[1e300,-0.0,1e-7,0.1,18446744073709551615,1e21,100.0]}"], "+OK", "+OK"),
    (&["json.resp", "rs"], "[+{, \"a\", [+[, :1, :-2, \"3.5\", \"x\", +true, +false, nil], \"o\", [+{, \"k\", [+{]], \"f\", [+[, \"1e+300\", \"-0\", \"1e-7\", \"0.1\", \"18446744073709552000\", \"1e+21\", \"100\"]]", "[+{, \"a\", [+[, :1, :-2, ,3.5, \"x\", +true, +false, nil], \"o\", [+{, \"k\", [+{]], \"f\", [+[, ,1e300, ,-0.0, ,1e-7, ,0.1, ,1.8446744073709552e19, ,1e21, ,100.0]]"),
    (&["json.resp", "rs", "$"], "[[+{, \"a\", [+[, :1, :-2, \"3.5\", \"x\", +true, +false, nil], \"o\", [+{, \"k\", [+{]], \"f\", [+[, \"1e+300\", \"-0\", \"1e-7\", \"0.1\", \"18446744073709552000\", \"1e+21\", \"100\"]]]", "[[+{, \"a\", [+[, :1, :-2, ,3.5, \"x\", +true, +false, nil], \"o\", [+{, \"k\", [+{]], \"f\", [+[, ,1e300, ,-0.0, ,1e-7, ,0.1, ,1.8446744073709552e19, ,1e21, ,100.0]]]"),
    (&["json.resp", "rs", ".a"], "[+[, :1, :-2, \"3.5\", \"x\", +true, +false, nil]", "[+[, :1, :-2, ,3.5, \"x\", +true, +false, nil]"),
    (&["json.resp", "rs", "$..k"], "[[+{]]", "[[+{]]"),
    (&["json.resp", "rs", "$.f"], "[[+[, \"1e+300\", \"-0\", \"1e-7\", \"0.1\", \"18446744073709552000\", \"1e+21\", \"100\"]]", "[[+[, ,1e300, ,-0.0, ,1e-7, ,0.1, ,1.8446744073709552e19, ,1e21, ,100.0]]"),
    (&["json.resp", "rs", "$.a[4]"], "[+true]", "[+true]"),
    (&["json.resp", "rs", ".a[6]"], "nil", "nil"),
    (&["json.resp", "rs", "$.zz"], "[]", "[]"),
    (&["json.resp", "rs", ".zz"], "!ERR Path '$.zz' does not exist", "!ERR Path '$.zz' does not exist"),
    (&["json.resp", "rs", "$[", "x"], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.resp", "nokey", "$"], "nil", "nil"),
    (&["json.resp", "nokey", "$["], "nil", "nil"),
    (&["json.resp", "s"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.resp"], "!ERR wrong number of arguments for 'json.resp' command", "!ERR wrong number of arguments for 'json.resp' command"),
    (&["json.debug", "memory", "rs"], ":669", ":669"),
    (&["json.debug", "memory", "rs", "$.*"], "[:161, :129, :256]", "[:161, :129, :256]"),
    (&["json.debug", "MEMORY", "rs", ".o"], ":129", ":129"),
    (&["json.debug", "memory", "rs", "$.zz"], "[]", "[]"),
    (&["json.debug", "memory", "rs", ".zz"], "!ERR Path '$.zz' does not exist", "!ERR Path '$.zz' does not exist"),
    (&["json.debug", "memory", "rs", "$["], "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 2, \"$[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.debug", "memory", "nokey"], ":0", ":0"),
    (&["json.debug", "memory", "nokey", "$"], "[]", "[]"),
    (&["json.debug", "memory", "nokey", "$["], "[]", "[]"),
    (&["json.debug", "memory", "s"], "!Existing key has wrong Redis type", "!Existing key has wrong Redis type"),
    (&["json.debug", "memory"], "!ERR wrong number of arguments for 'json.debug' command", "!ERR wrong number of arguments for 'json.debug' command"),
    (&["json.debug", "help"], "[\"MEMORY <key> [path] - reports memory usage\", \"HELP                - this message\"]", "[\"MEMORY <key> [path] - reports memory usage\", \"HELP                - this message\"]"),
    (&["json.debug", "HELP", "extra"], "[\"MEMORY <key> [path] - reports memory usage\", \"HELP                - this message\"]", "[\"MEMORY <key> [path] - reports memory usage\", \"HELP                - this message\"]"),
    (&["json.debug", "foo"], "!ERR unknown subcommand - try `JSON.DEBUG HELP`", "!ERR unknown subcommand - try `JSON.DEBUG HELP`"),
    (&["json.debug"], "!ERR wrong number of arguments for 'json.debug' command", "!ERR wrong number of arguments for 'json.debug' command"),    (&["json.set", "lp", "$", "{\"a\":{\"b\":1}}"], "+OK", "+OK"),
    (&["json.type", "lp", ".a["], "nil", "[nil]"),
    (&["json.type", "lp", "a["], "nil", "[nil]"),
    (&["json.type", "lp", "$.a["], "!Error occurred on position 4, \"$.a[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 4, \"$.a[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.objlen", "lp", ".a["], "nil", "nil"),
    (&["json.objkeys", "lp", ".a["], "nil", "nil"),
    (&["json.objlen", "lp", "$.a["], "!Error occurred on position 4, \"$.a[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 4, \"$.a[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.objkeys", "lp", "$.a["], "!Error occurred on position 4, \"$.a[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 4, \"$.a[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.strlen", "lp", ".a["], "!Error occurred on position 4, \"$.a[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'.", "!Error occurred on position 4, \"$.a[ <<<<----\", expected one of the following: '<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'."),
    (&["json.set", "nn", "$", "{\"a\":1.5,\"b\":1e300,\"c\":-0.5,\"d\":1,\"e\":9223372036854775807}"], "+OK", "+OK"),
    (&["json.nummultby", "nn", "$.*", "1e-9"], "\"[1.5000000000000002e-9,1.0000000000000001e291,-5e-10,1e-9,9223372036.854776]\"", "[,1.5000000000000003e-18, ,1.0000000000000002e282, ,-5e-19, ,1e-18, ,9.223372036854776]"),
    (&["json.numincrby", "nn", "$.e", "0.5"], "\"[9.723372036854776]\"", "[,10.223372036854776]"),
    (&["json.numincrby", "nn", ".d", "1e20"], "\"1e20\"", "[,2e20]"),
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
fn array_edit_and_merge_commands_notify_as_redisjson() {
    // Recorded from the reference: an event whenever a value of the right type matched
    // (ARRTRIM even if nothing changed; ARRPOP only if something was popped, CLEAR only
    // if something was cleared), and after every successful JSON.MERGE.
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(ok(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Ed"]), "+OK");
    let mut sub = server.raw();
    use std::io::Write;
    sub.write_all(b"PSUBSCRIBE __keyevent@0__:*\r\n").unwrap();
    read_until_suffix(&mut sub, b":1\r\n", Duration::from_secs(5));
    for argv in [
        &["JSON.SET", "e", "$", r#"{"a":[1,2,3],"t":true,"o":{"x":1},"n":0,"z":[]}"#][..],
        &["JSON.ARRINSERT", "e", "$.a", "0", "9"],
        &["JSON.ARRINSERT", "e", "$.t", "0", "9"], // not an array: no event
        &["JSON.ARRPOP", "e", "$.a"],
        &["JSON.ARRPOP", "e", "$.z"],             // empty: no event
        &["JSON.ARRTRIM", "e", "$.a", "0", "10"], // unchanged, still an event
        &["JSON.ARRTRIM", "e", "$.t", "0", "1"],
        &["JSON.TOGGLE", "e", "$.t"],
        &["JSON.TOGGLE", "e", "$.a"],
        &["JSON.CLEAR", "e", "$.n"], // already 0: no event
        &["JSON.CLEAR", "e", "$.o"],
        &["JSON.MERGE", "e", "$.zz.q", "1"], // nil: no event
        &["JSON.MERGE", "e", "$", r#"{"q":1}"#],
        &["JSON.MERGE", "e", "$", r#"{"q":1}"#], // unchanged, still an event
        &["JSON.MERGE", "new", "$", r#"{"q":1}"#],
        &["JSON.ARRINDEX", "e", "$.a", "1"],
        &["JSON.RESP", "e"],
        &["JSON.DEBUG", "MEMORY", "e"],
    ] {
        cmd(&mut con, argv).unwrap();
    }
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
            "json.arrinsert",
            "json.arrpop",
            "json.arrtrim",
            "json.toggle",
            "json.clear",
            "json.merge",
            "json.merge",
            "json.merge",
            "set"
        ],
        "{text}"
    );
}

#[test]
fn failed_edits_change_nothing_and_replicate_deterministically() {
    let server = TestServer::start();
    let mut con = server.client();
    let doc = r#"{"a":[1,2],"b":{"a":[3]},"t":true}"#;
    assert_eq!(ok(&mut con, &["JSON.SET", "d", "$", doc]), "+OK");
    // ARRINSERT out of bounds for the second array: neither array changes.
    assert_eq!(
        ok(&mut con, &["JSON.ARRINSERT", "d", "$..a", "2", "0"]),
        "!ERR index out of bounds"
    );
    assert_eq!(ok(&mut con, &["JSON.MERGE", "d", "$.a[9]", "1"]), "!ERR array index out of range");
    assert_eq!(
        ok(&mut con, &["JSON.MERGE", "d", "$", "{bad"]),
        "!key must be a string at line 1 column 2"
    );
    assert_eq!(ok(&mut con, &["JSON.GET", "d"]), format!("\"{doc}\""));
    // Inside MULTI the edits apply in order, as one.
    assert_eq!(ok(&mut con, &["MULTI"]), "+OK");
    for argv in [
        &["JSON.ARRINSERT", "d", "$.a", "0", "0"][..],
        &["JSON.ARRPOP", "d", "$.b.a"],
        &["JSON.TOGGLE", "d", ".t"],
        &["JSON.MERGE", "d", "$", r#"{"b":null,"c":{"x":null,"y":1}}"#],
        &["JSON.ARRTRIM", "d", ".a", "1", "-1"],
        &["JSON.GET", "d"],
    ] {
        assert_eq!(ok(&mut con, argv), "+QUEUED");
    }
    assert_eq!(
        ok(&mut con, &["EXEC"]),
        r#"[[:3], ["3"], "false", +OK, :2, "{"a":[1,2],"t":false,"c":{"y":1}}"]"#
    );
}

/// RESP3 doubles on the wire as the reference sends them (the table compares parsed
/// values, which cannot tell `2e-9` from `2e-09`).
#[test]
fn resp3_doubles_are_written_as_redis_writes_a_module_double() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.write_all(b"HELLO 3\r\n").unwrap();
    read_until_suffix(&mut raw, b"modules\r\n*0\r\n", Duration::from_secs(5));
    let mut input = Vec::new();
    for argv in [
        &["JSON.SET", "w", "$", r#"{"a":2,"b":9223372036854775807,"c":1e300,"t":true}"#][..],
        &["JSON.NUMMULTBY", "w", "$.*", "1e-9"],
        &["JSON.NUMINCRBY", "w", "$.b", "0.5"],
        &["JSON.RESP", "w", "$.c"],
        &["JSON.NUMINCRBY", "w", "$.a", "1.9999999998"],
        &["JSON.RESP", "w", "."],
    ] {
        input.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
        for a in argv {
            input.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    use std::io::Write;
    raw.write_all(&input).unwrap();
    // Recorded from the reference.
    let want: &[u8] =
        b"+OK\r\n*4\r\n,2e-9\r\n,9223372036.854776\r\n,1.0000000000000001e+291\r\n_\r\n\
        *1\r\n,9223372037.354776\r\n*1\r\n,1.0000000000000001e+291\r\n*1\r\n,2.0000000018\r\n\
        *9\r\n+{\r\n$1\r\na\r\n,2.0000000018\r\n$1\r\nb\r\n,9223372037.354776\r\n\
        $1\r\nc\r\n,1.0000000000000001e+291\r\n$1\r\nt\r\n+true\r\n";
    let got = read_until_suffix(&mut raw, b"+true\r\n", Duration::from_secs(5));
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
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
        r#"[["name", "search", "ver", :21005, "path", "builtin", "args", []], ["name", "ReJSON", "ver", :20803, "path", "builtin", "args", []]]"#
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
