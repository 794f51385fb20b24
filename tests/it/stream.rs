//! Stream commands over TCP: XADD/XRANGE/XREAD, trimming, consumer groups, XINFO shapes in
//! RESP2 and RESP3, blocking XREAD.

use std::time::{Duration, Instant};

use redis::{Connection, Value};

use crate::harness::{cmd, TestServer};

fn bulk(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        other => panic!("not a string: {other:?}"),
    }
}

fn int(con: &mut Connection, args: &[&str]) -> i64 {
    match cmd(con, args).unwrap() {
        Value::Int(n) => n,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn text(con: &mut Connection, args: &[&str]) -> String {
    bulk(&cmd(con, args).unwrap())
}

fn err(con: &mut Connection, args: &[&str]) -> String {
    let e = cmd(con, args).unwrap_err();
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")).trim().to_string()
}

fn arr(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

/// The IDs of an XRANGE-shaped reply.
fn ids(v: Value) -> Vec<String> {
    arr(v).into_iter().map(|e| bulk(&arr(e)[0])).collect()
}

#[test]
fn xadd_ids_ranges_and_errors() {
    let server = TestServer::start();
    let mut c = server.client();
    assert_eq!(text(&mut c, &["XADD", "s", "1-1", "f", "v"]), "1-1");
    assert_eq!(text(&mut c, &["XADD", "s", "1-*", "f", "v"]), "1-2");
    assert_eq!(text(&mut c, &["XADD", "s", "5", "f", "v"]), "5-0");
    let auto = text(&mut c, &["XADD", "s", "*", "f", "v"]);
    assert!(auto.ends_with("-0") && auto.len() > 10, "{auto}");
    assert_eq!(
        err(&mut c, &["XADD", "s", "1-1", "f", "v"]),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(
        err(&mut c, &["XADD", "s", "0-0", "f", "v"]),
        "ERR The ID specified in XADD must be greater than 0-0"
    );
    assert_eq!(
        err(&mut c, &["XADD", "s", "1-x", "f", "v"]),
        "ERR Invalid stream ID specified as stream command argument"
    );
    assert_eq!(
        err(&mut c, &["XADD", "s", "*", "f"]),
        "ERR wrong number of arguments for 'xadd' command"
    );
    assert_eq!(
        err(&mut c, &["XADD", "s", "MAXLEN", "1", "LIMIT", "5", "*", "f", "v"]),
        "ERR syntax error, LIMIT cannot be used without the special ~ option"
    );
    assert_eq!(int(&mut c, &["XLEN", "s"]), 4);
    assert_eq!(ids(cmd(&mut c, &["XRANGE", "s", "(1-1", "5"]).unwrap()), ["1-2", "5-0"]);
    assert_eq!(
        ids(cmd(&mut c, &["XREVRANGE", "s", "5", "-", "COUNT", "2"]).unwrap()),
        ["5-0", "1-2"]
    );
    assert_eq!(cmd(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "0"]).unwrap(), Value::Nil);
    assert_eq!(
        err(&mut c, &["XRANGE", "s", "(-", "+"]),
        "ERR Invalid stream ID specified as stream command argument"
    );
    assert_eq!(err(&mut c, &["XRANGE", "s", "-", "(0-0"]), "ERR invalid end ID for the interval");
    // NOMKSTREAM on a missing key creates nothing.
    assert_eq!(cmd(&mut c, &["XADD", "none", "NOMKSTREAM", "*", "f", "v"]).unwrap(), Value::Nil);
    assert_eq!(int(&mut c, &["EXISTS", "none"]), 0);
    // Binary fields and values survive.
    let _: String = redis::cmd("XADD")
        .arg("b")
        .arg("1-0")
        .arg(&b"\x00\xff"[..])
        .arg(&b"\r\n"[..])
        .query(&mut c)
        .unwrap();
    let got = arr(cmd(&mut c, &["XRANGE", "b", "-", "+"]).unwrap());
    assert_eq!(
        arr(arr(got[0].clone())[1].clone()),
        vec![Value::BulkString(b"\x00\xff".to_vec()), Value::BulkString(b"\r\n".to_vec())]
    );
    // Wrong type.
    let _: () = redis::cmd("SET").arg("str").arg("x").query(&mut c).unwrap();
    assert!(err(&mut c, &["XADD", "str", "*", "f", "v"]).starts_with("WRONGTYPE"));
    assert!(err(&mut c, &["XLEN", "str"]).starts_with("WRONGTYPE"));
    assert!(err(&mut c, &["XREAD", "STREAMS", "str", "0"]).starts_with("WRONGTYPE"));
    assert_eq!(text(&mut c, &["TYPE", "s"]), "stream");
    assert_eq!(text(&mut c, &["OBJECT", "ENCODING", "s"]), "stream");
}

#[test]
fn trimming_exact_and_approximate_and_empty_streams_are_kept() {
    let server = TestServer::start();
    let mut c = server.client();
    for i in 0..1000 {
        let id = format!("{}-0", i + 1);
        text(&mut c, &["XADD", "s", &id, "f", "v"]);
    }
    assert_eq!(int(&mut c, &["XTRIM", "s", "MAXLEN", "666"]), 334);
    assert_eq!(int(&mut c, &["XLEN", "s"]), 666);
    // `~` removes whole nodes of 100 entries only: the partly trimmed one and one more.
    assert_eq!(int(&mut c, &["XTRIM", "s", "MAXLEN", "~", "444"]), 166);
    assert_eq!(int(&mut c, &["XLEN", "s"]), 500);
    assert_eq!(int(&mut c, &["XTRIM", "s", "MINID", "990"]), 489);
    assert_eq!(ids(cmd(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "1"]).unwrap()), ["990-0"]);
    text(&mut c, &["XADD", "s", "MAXLEN", "0", "*", "f", "v"]);
    assert_eq!(int(&mut c, &["XLEN", "s"]), 0);
    assert_eq!(int(&mut c, &["EXISTS", "s"]), 1, "an empty stream is not deleted");
    assert_eq!(err(&mut c, &["XTRIM", "s", "FOO", "1"]), "ERR syntax error");
}

#[test]
fn xdel_and_xsetid_track_first_last_and_deleted_ids() {
    let server = TestServer::start();
    let mut c = server.client();
    for id in ["1-0", "2-0", "3-0"] {
        text(&mut c, &["XADD", "x", id, "f", "v"]);
    }
    assert_eq!(int(&mut c, &["XDEL", "x", "1-0", "9-0"]), 1);
    assert_eq!(
        err(&mut c, &["XSETID", "x", "2-0"]),
        "ERR The ID specified in XSETID is smaller than the target stream top item"
    );
    assert_eq!(text(&mut c, &["XSETID", "x", "7-0", "ENTRIESADDED", "10"]), "OK");
    assert_eq!(err(&mut c, &["XSETID", "nokey", "7-0"]), "ERR no such key");
    let info = arr(cmd(&mut c, &["XINFO", "STREAM", "x"]).unwrap());
    let get = |name: &str| {
        info[info.iter().position(|v| *v == Value::BulkString(name.as_bytes().to_vec())).unwrap()
            + 1]
        .clone()
    };
    assert_eq!(get("length"), Value::Int(2));
    assert_eq!(bulk(&get("last-generated-id")), "7-0");
    assert_eq!(bulk(&get("max-deleted-entry-id")), "1-0");
    assert_eq!(bulk(&get("recorded-first-entry-id")), "2-0");
    assert_eq!(get("entries-added"), Value::Int(10));
    assert!(err(&mut c, &["XADD", "x", "6-0", "f", "v"]).contains("equal or smaller"));
}

#[test]
fn consumer_groups_deliver_ack_claim_and_report_pending() {
    let server = TestServer::start();
    let mut c = server.client();
    for id in ["1-0", "2-0", "3-0"] {
        text(&mut c, &["XADD", "s", id, "f", id]);
    }
    assert_eq!(text(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]), "OK");
    assert_eq!(
        err(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]),
        "BUSYGROUP Consumer Group name already exists"
    );
    assert!(err(&mut c, &["XGROUP", "CREATE", "nokey", "g", "$"])
        .starts_with("ERR The XGROUP subcommand requires the key to exist"));
    let r =
        arr(cmd(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"])
            .unwrap());
    assert_eq!(bulk(&arr(r[0].clone())[0]), "s");
    assert_eq!(ids(arr(r[0].clone())[1].clone()), ["1-0", "2-0"]);
    // History: the consumer's own pending entries.
    let r = arr(cmd(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]).unwrap());
    assert_eq!(ids(arr(r[0].clone())[1].clone()), ["1-0", "2-0"]);
    let summary = arr(cmd(&mut c, &["XPENDING", "s", "g"]).unwrap());
    assert_eq!(summary[0], Value::Int(2));
    assert_eq!(bulk(&summary[1]), "1-0");
    let rows = arr(cmd(&mut c, &["XPENDING", "s", "g", "-", "+", "10"]).unwrap());
    assert_eq!(arr(rows[0].clone())[3], Value::Int(2), "delivered twice");
    assert_eq!(int(&mut c, &["XACK", "s", "g", "1-0", "1-0", "9-0"]), 1);
    let claimed = arr(cmd(&mut c, &["XCLAIM", "s", "g", "bob", "0", "2-0", "JUSTID"]).unwrap());
    assert_eq!(claimed.iter().map(bulk).collect::<Vec<_>>(), ["2-0"]);
    let auto =
        arr(cmd(&mut c, &["XAUTOCLAIM", "s", "g", "carol", "0", "0", "COUNT", "1"]).unwrap());
    assert_eq!(bulk(&auto[0]), "0-0");
    assert_eq!(ids(auto[1].clone()), ["2-0"]);
    assert_eq!(
        err(&mut c, &["XREADGROUP", "GROUP", "nog", "a", "STREAMS", "s", ">"]),
        "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"
    );
    assert_eq!(
        err(&mut c, &["XPENDING", "s", "nog"]),
        "NOGROUP No such key 's' or consumer group 'nog'"
    );
    assert_eq!(
        err(&mut c, &["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "0"]),
        "ERR COUNT must be > 0"
    );
    // Nothing new: a null array without BLOCK.
    let _ = cmd(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]).unwrap();
    assert_eq!(
        cmd(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]).unwrap(),
        Value::Nil
    );
    let groups = arr(cmd(&mut c, &["XINFO", "GROUPS", "s"]).unwrap());
    let g = arr(groups[0].clone());
    assert_eq!(bulk(&g[1]), "g");
    assert_eq!(g[3], Value::Int(3), "alice, bob, carol");
    assert_eq!(bulk(&g[7]), "3-0");
    assert_eq!(g[9], Value::Int(3), "entries-read");
    assert_eq!(g[11], Value::Int(0), "lag");
    assert_eq!(int(&mut c, &["XGROUP", "DELCONSUMER", "s", "g", "carol"]), 1);
    assert_eq!(int(&mut c, &["XGROUP", "DESTROY", "s", "g"]), 1);
}

#[test]
fn xread_is_a_map_in_resp3_and_pairs_in_resp2() {
    let server = TestServer::start();
    let mut c = server.client();
    text(&mut c, &["XADD", "s", "1-0", "f", "v"]);
    let r2 = arr(cmd(&mut c, &["XREAD", "STREAMS", "s", "0"]).unwrap());
    assert_eq!(bulk(&arr(r2[0].clone())[0]), "s");
    let mut c3 = server.client_resp3();
    match cmd(&mut c3, &["XREAD", "STREAMS", "s", "0"]).unwrap() {
        Value::Map(m) => {
            assert_eq!(bulk(&m[0].0), "s");
            assert_eq!(ids(m[0].1.clone()), ["1-0"]);
        }
        other => panic!("{other:?}"),
    }
    match cmd(&mut c3, &["XINFO", "STREAM", "s"]).unwrap() {
        Value::Map(m) => assert_eq!(bulk(&m[0].0), "length"),
        other => panic!("{other:?}"),
    }
    assert_eq!(cmd(&mut c, &["XREAD", "STREAMS", "s", "$"]).unwrap(), Value::Nil);
    assert_eq!(
        err(&mut c, &["XREAD", "STREAMS", "s"]),
        "ERR wrong number of arguments for 'xread' command"
    );
    assert_eq!(
        err(&mut c, &["XREAD", "STREAMS", "s", "t", "0"]),
        "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."
    );
    assert_eq!(
        err(&mut c, &["XREAD", "BLOCK", "-1", "STREAMS", "s", "0"]),
        "ERR timeout is negative"
    );
}

#[test]
fn blocking_xread_with_dollar_gets_entries_added_while_blocked() {
    let server = TestServer::start();
    let mut c = server.client();
    text(&mut c, &["XADD", "s", "1-0", "old", "v"]);
    let url = server.url();
    let reader = std::thread::spawn(move || {
        let mut r = redis::Client::open(url).unwrap().get_connection().unwrap();
        cmd(&mut r, &["XREAD", "BLOCK", "5000", "STREAMS", "s", "$"]).unwrap()
    });
    // Wait until the reader is blocked before adding.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = text(&mut c, &["INFO", "clients"]);
        if info.contains("blocked_clients:1") {
            break;
        }
        assert!(Instant::now() < deadline, "reader never blocked: {info}");
        std::thread::sleep(Duration::from_millis(10));
    }
    text(&mut c, &["XADD", "s", "2-0", "new", "v"]);
    let got = arr(reader.join().unwrap());
    assert_eq!(ids(arr(got[0].clone())[1].clone()), ["2-0"]);
    // A timeout gives a null array.
    assert_eq!(cmd(&mut c, &["XREAD", "BLOCK", "20", "STREAMS", "s", "$"]).unwrap(), Value::Nil);
}

const NO_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
const BAD_ID: &str = "ERR Invalid stream ID specified as stream command argument";

#[test]
fn key_and_group_are_checked_before_the_ids_as_in_redis() {
    let server = TestServer::start();
    let mut c = server.client();
    // Missing key: nothing to delete or acknowledge, whatever the IDs.
    assert_eq!(int(&mut c, &["XDEL", "nokey", "1-x"]), 0);
    assert_eq!(int(&mut c, &["XACK", "nokey", "g", "-", "9"]), 0);
    text(&mut c, &["XADD", "s", "1-1", "f", "v"]);
    assert_eq!(err(&mut c, &["XDEL", "s", "1-x"]), BAD_ID);
    // Missing group: XACK answers 0, the others NOGROUP.
    assert_eq!(int(&mut c, &["XACK", "s", "g", "-", "9"]), 0);
    assert_eq!(
        err(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "abc"]),
        "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option"
    );
    assert_eq!(
        err(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$"]),
        "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option"
    );
    assert_eq!(
        err(&mut c, &["XCLAIM", "s", "g", "c", "x", "14-2", "-", "foo"]),
        "NOGROUP No such key 's' or consumer group 'g'"
    );
    assert_eq!(err(&mut c, &["XGROUP", "SETID", "nokey", "g", "abc"]), NO_KEY);
    assert_eq!(err(&mut c, &["XGROUP", "CREATE", "nokey", "g", "1-x"]), NO_KEY);
    text(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    assert_eq!(err(&mut c, &["XACK", "s", "g", "-", "9"]), BAD_ID);
    assert_eq!(err(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "abc"]), BAD_ID);
    assert_eq!(
        err(&mut c, &["XCLAIM", "s", "g", "c", "0", "14-2", "-", "foo"]),
        "ERR Unrecognized XCLAIM option '-'"
    );
    assert_eq!(
        err(&mut c, &["XGROUP", "SETID", "s", "nog", "abc"]),
        "NOGROUP No such consumer group 'nog' for key name 's'"
    );
    assert_eq!(err(&mut c, &["XGROUP", "SETID", "s", "g", "abc"]), BAD_ID);
    // An existing group still fails on a bad ID first.
    assert_eq!(err(&mut c, &["XGROUP", "CREATE", "s", "g", "1-x"]), BAD_ID);
    // XREAD checks each stream in turn: its type, then its ID.
    text(&mut c, &["SET", "str", "x"]);
    assert_eq!(
        err(&mut c, &["XREAD", "STREAMS", "str", "s", "12", "1-x"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(err(&mut c, &["XREAD", "STREAMS", "s", "str", "1-x", "12"]), BAD_ID);
    // XINFO STREAM looks the key up before reading its options.
    assert_eq!(err(&mut c, &["XINFO", "STREAM", "nokey", " 1"]), "ERR no such key");
    assert_eq!(
        err(&mut c, &["XINFO", "STREAM", "str", " 1"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        err(&mut c, &["XINFO", "STREAM", "s", " 1"]),
        "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP."
    );
    // Nothing above changed the stream.
    assert_eq!(int(&mut c, &["XLEN", "s"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "nokey"]), 0);
}

#[test]
fn xgroup_create_takes_a_strict_id_and_setid_also_dash_and_plus() {
    let server = TestServer::start();
    let mut c = server.client();
    text(&mut c, &["XADD", "s", "7", "e", "-1"]);
    assert_eq!(err(&mut c, &["XGROUP", "CREATE", "s", "g", "-", "ENTRIESREAD", "1"]), BAD_ID);
    assert_eq!(err(&mut c, &["XGROUP", "CREATE", "s", "g", "+"]), BAD_ID);
    // MKSTREAM on a missing key with a bad ID creates nothing.
    assert_eq!(err(&mut c, &["XGROUP", "CREATE", "new", "g", "1-x", "MKSTREAM"]), BAD_ID);
    assert_eq!(int(&mut c, &["EXISTS", "new"]), 0);
    text(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    assert_eq!(text(&mut c, &["XGROUP", "SETID", "s", "g", "+"]), "OK");
    assert_eq!(text(&mut c, &["XGROUP", "SETID", "s", "g", "-"]), "OK");
    // Too many CREATE options: after the key check, as Redis.
    let argv = ["XGROUP", "CREATE", "nokey", "g", "0", "ENTRIESREAD", "1", "ENTRIESREAD", "2"];
    assert_eq!(err(&mut c, &argv), NO_KEY);
    assert_eq!(
        err(
            &mut c,
            &[
                "XGROUP", "CREATE", "nokey", "g", "0", "MKSTREAM", "MKSTREAM", "MKSTREAM",
                "MKSTREAM"
            ]
        ),
        "ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP."
    );
    assert_eq!(int(&mut c, &["EXISTS", "nokey"]), 0);
}

#[test]
fn xgroup_and_xinfo_echo_the_subcommand_as_typed() {
    let server = TestServer::start();
    let mut c = server.client();
    text(&mut c, &["XADD", "s", "1", "f", "v"]);
    assert_eq!(
        err(&mut c, &["XGROUP", "CrEaTe", "s", "g", "0", "extra"]),
        "ERR unknown subcommand or wrong number of arguments for 'CrEaTe'. Try XGROUP HELP."
    );
    assert_eq!(
        err(&mut c, &["XGROUP", "SeTiD", "s", "g", "0", "extra"]),
        "ERR unknown subcommand or wrong number of arguments for 'SeTiD'. Try XGROUP HELP."
    );
    assert_eq!(
        err(&mut c, &["XINFO", "StReAm", "s", "FULL", "x"]),
        "ERR unknown subcommand or wrong number of arguments for 'StReAm'. Try XINFO HELP."
    );
    // The arity check names the lowercase full name.
    assert_eq!(
        err(&mut c, &["XGROUP", "CREATE", "s", "g"]),
        "ERR wrong number of arguments for 'xgroup|create' command"
    );
    // Every subcommand still works with its name in any case.
    assert_eq!(text(&mut c, &["xgroup", "create", "s", "g", "0"]), "OK");
    assert_eq!(int(&mut c, &["XGROUP", "CreateConsumer", "s", "g", "c"]), 1);
    assert_eq!(int(&mut c, &["XGROUP", "delconsumer", "s", "g", "c"]), 0);
    assert_eq!(arr(cmd(&mut c, &["XINFO", "groups", "s"]).unwrap()).len(), 1);
    assert_eq!(arr(cmd(&mut c, &["XINFO", "Consumers", "s", "g"]).unwrap()).len(), 0);
    assert_eq!(arr(cmd(&mut c, &["xinfo", "help"]).unwrap()).len(), 9);
    assert_eq!(arr(cmd(&mut c, &["xgroup", "Help"]).unwrap()).len(), 17);
    assert_eq!(int(&mut c, &["XGROUP", "Destroy", "s", "g"]), 1);
}

#[test]
fn xreadgroup_with_the_largest_id_means_new_entries() {
    let server = TestServer::start();
    let mut c = server.client();
    let max = "18446744073709551615-18446744073709551615";
    text(&mut c, &["XGROUP", "CREATE", "s", "g", "10", "MKSTREAM"]);
    let read = ["XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", "s", max];
    assert_eq!(cmd(&mut c, &read).unwrap(), Value::Nil);
    let mut c3 = server.client_resp3();
    assert_eq!(cmd(&mut c3, &read).unwrap(), Value::Nil);
    text(&mut c, &["XADD", "s", "20", "a", "b"]);
    let got = arr(cmd(&mut c, &read).unwrap());
    assert_eq!(ids(arr(got[0].clone())[1].clone()), ["20-0"]);
    // Delivered: it is in the consumer's history now.
    let got = arr(cmd(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"]).unwrap());
    assert_eq!(ids(arr(got[0].clone())[1].clone()), ["20-0"]);
}

#[test]
fn xsetid_checks_the_id_before_entries_added() {
    let server = TestServer::start();
    let mut c = server.client();
    text(&mut c, &["XADD", "s", "0-1", "c", "x"]);
    text(&mut c, &["XADD", "s", "33-*", "e", "y"]);
    assert_eq!(
        err(&mut c, &["XSETID", "s", "24-2", "ENTRIESADDED", "1"]),
        "ERR The ID specified in XSETID is smaller than the target stream top item"
    );
    assert_eq!(
        err(&mut c, &["XSETID", "s", "34", "ENTRIESADDED", "1"]),
        "ERR The entries_added specified in XSETID is smaller than the target stream length"
    );
    // The current max deleted ID counts even when MAXDELETEDID is given.
    text(&mut c, &["XADD", "t", "1-1", "a", "b"]);
    text(&mut c, &["XADD", "t", "5-0", "a", "b"]);
    assert_eq!(int(&mut c, &["XDEL", "t", "5-0"]), 1);
    assert_eq!(
        err(&mut c, &["XSETID", "t", "3-0", "MAXDELETEDID", "2-0"]),
        "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"
    );
    assert_eq!(
        err(&mut c, &["XSETID", "t", "0-5", "ENTRIESADDED", "0"]),
        "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"
    );
}

#[test]
fn xadd_reads_the_id_before_checking_limit() {
    let server = TestServer::start();
    let mut c = server.client();
    assert_eq!(err(&mut c, &["XADD", "s", "MAXLEN", "2", "LIMIT", "5", "abc", "f", "v"]), BAD_ID);
    assert_eq!(err(&mut c, &["XADD", "s", "LIMIT", "5", "abc", "f", "v"]), BAD_ID);
    let no_approx = "ERR syntax error, LIMIT cannot be used without the special ~ option";
    assert_eq!(err(&mut c, &["XADD", "s", "MAXLEN", "2", "LIMIT", "5", "*", "f", "v"]), no_approx);
    // LIMIT 0 counts as no limit for the strategy check, but still wants `~`.
    assert_eq!(err(&mut c, &["XADD", "s", "LIMIT", "0", "*", "f", "v"]), no_approx);
    assert_eq!(
        err(&mut c, &["XADD", "s", "LIMIT", "5", "*", "f", "v"]),
        "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
    );
    assert_eq!(
        err(&mut c, &["XTRIM", "s", "LIMIT", "0"]),
        "ERR syntax error, XTRIM must be called with a trimming strategy"
    );
    assert_eq!(
        err(&mut c, &["XTRIM", "s", "LIMIT", "5"]),
        "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
    );
    assert_eq!(err(&mut c, &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "0"]), no_approx);
    assert_eq!(int(&mut c, &["EXISTS", "s"]), 0);
}

#[test]
fn xsetid_and_xpending_report_option_errors_in_redis_order() {
    let server = TestServer::start();
    let mut c = server.client();
    text(&mut c, &["XADD", "s", "1", "f", "v"]);
    // MAXDELETEDID is checked as soon as it is read.
    assert_eq!(
        err(&mut c, &["XSETID", "s", "21-2", "ENTRIESADDED", "20", "MAXDELETEDID", "28-2", "1"]),
        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
    );
    // XPENDING counts its arguments first.
    let argv = ["XPENDING", "nokey", "g", "IDLE", "x", "-", "+", "3", "c", "a", "b"];
    assert_eq!(err(&mut c, &argv), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["XPENDING", "nokey", "g", "IDLE", "0", "-", "+", "3", "c", "a"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["XPENDING", "nokey", "g", "-", "+", "3", "c", "a"]),
        "NOGROUP No such key 'nokey' or consumer group 'g'"
    );
}
