//! Client-side caching (CLIENT TRACKING): the tracking client talks over a raw socket so
//! the RESP3 push frames and RESP2 redirect messages are checked byte for byte; writes
//! come from a second connection through the `redis` crate.
//!
//! Absence of a message is checked with a sentinel: a later change that must be reported
//! arrives through the same inbox in apply order, so it must be the very next frame.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{cmd, read_until_suffix, TestServer};

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn send(s: &mut TcpStream, args: &[&str]) {
    s.write_all(&encode(args)).unwrap();
}

/// Reads exactly `expected.len()` bytes and compares them.
fn expect(s: &mut TcpStream, expected: &[u8]) {
    let mut got = vec![0u8; expected.len()];
    s.read_exact(&mut got)
        .unwrap_or_else(|e| panic!("waiting for {:?}: {e}", String::from_utf8_lossy(expected)));
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected));
}

fn call(s: &mut TcpStream, args: &[&str], expected: &[u8]) {
    send(s, args);
    expect(s, expected);
}

fn bulks(keys: &[&str]) -> String {
    let mut out = format!("*{}\r\n", keys.len());
    for k in keys {
        out.push_str(&format!("${}\r\n{k}\r\n", k.len()));
    }
    out
}

/// The RESP3 invalidation push for `keys`.
fn push(keys: &[&str]) -> Vec<u8> {
    format!(">2\r\n$10\r\ninvalidate\r\n{}", bulks(keys)).into_bytes()
}

/// The RESP2 message a client subscribed to `__redis__:invalidate` gets.
fn message(keys: &[&str]) -> Vec<u8> {
    format!("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n{}", bulks(keys)).into_bytes()
}

/// A raw connection switched to RESP3.
fn resp3(server: &TestServer) -> TcpStream {
    let mut s = server.raw();
    send(&mut s, &["HELLO", "3"]);
    let reply = read_until_suffix(&mut s, b"$7\r\nmodules\r\n*0\r\n", Duration::from_secs(5));
    assert!(reply.starts_with(b"%7\r\n"), "{}", String::from_utf8_lossy(&reply));
    s
}

fn client_id(s: &mut TcpStream) -> String {
    send(s, &["CLIENT", "ID"]);
    let mut buf = [0u8; 32];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        let n = s.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got[1..got.len() - 2].to_vec()).unwrap()
}

fn info_field(con: &mut redis::Connection, name: &str) -> i64 {
    let info: String = redis::cmd("INFO").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

fn set(con: &mut redis::Connection, key: &str, value: &str) {
    cmd(con, &["SET", key, value]).unwrap();
}

#[test]
fn default_mode_invalidates_keys_read_once_each() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    call(&mut t, &["CLIENT", "TRACKING", "ON"], b"+OK\r\n");
    set(&mut w, "k", "1");
    call(&mut t, &["GET", "k"], b"$1\r\n1\r\n");
    call(&mut t, &["MGET", "m1", "m2"], b"*2\r\n_\r\n_\r\n");
    set(&mut w, "unread", "1"); // never read: no message
    set(&mut w, "k", "2");
    expect(&mut t, &push(&["k"]));
    // The key was forgotten with its invalidation: a second change says nothing, so the
    // next frame is about m2.
    set(&mut w, "k", "3");
    cmd(&mut w, &["DEL", "m2"]).unwrap(); // no such key: no change, no message
    set(&mut w, "m2", "x");
    expect(&mut t, &push(&["m2"]));
    // A changed type, a rename and an expiry setting are changes too.
    set(&mut w, "m1", "x");
    expect(&mut t, &push(&["m1"]));
    call(&mut t, &["GET", "k"], b"$1\r\n3\r\n");
    cmd(&mut w, &["RENAME", "k", "k2"]).unwrap();
    expect(&mut t, &push(&["k"]));
    // Another database, same name: the table is global, as in Redis.
    call(&mut t, &["GET", "k2"], b"$1\r\n3\r\n");
    cmd(&mut w, &["SELECT", "3"]).unwrap();
    set(&mut w, "k2", "other-db");
    expect(&mut t, &push(&["k2"]));
}

#[test]
fn a_clients_own_write_is_reported_after_its_reply() {
    let server = TestServer::start();
    let mut t = resp3(&server);
    call(&mut t, &["CLIENT", "TRACKING", "ON"], b"+OK\r\n");
    call(&mut t, &["HSET", "h", "f", "1"], b":1\r\n");
    call(&mut t, &["HGET", "h", "f"], b"$1\r\n1\r\n");
    call(&mut t, &["HDEL", "h", "f"], b":1\r\n");
    expect(&mut t, &push(&["h"]));
}

#[test]
fn multi_exec_reads_are_tracked_and_writes_invalidate_after_the_reply() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    call(&mut t, &["CLIENT", "TRACKING", "ON"], b"+OK\r\n");
    call(&mut t, &["MSET", "a", "1", "b", "2"], b"+OK\r\n");
    call(&mut t, &["GET", "a"], b"$1\r\n1\r\n");
    call(&mut t, &["MULTI"], b"+OK\r\n");
    call(&mut t, &["INCR", "a"], b"+QUEUED\r\n");
    call(&mut t, &["GET", "b"], b"+QUEUED\r\n");
    call(&mut t, &["EXEC"], b"*2\r\n:2\r\n$1\r\n2\r\n");
    expect(&mut t, &push(&["a"]));
    // b was read inside the transaction.
    set(&mut w, "b", "3");
    expect(&mut t, &push(&["b"]));
    // A writer's transaction invalidates too.
    call(&mut t, &["GET", "c"], b"_\r\n");
    redis::pipe().atomic().cmd("SET").arg("c").arg("1").query::<()>(&mut w).unwrap();
    expect(&mut t, &push(&["c"]));
}

#[test]
fn bcast_reports_matching_prefixes_one_message_per_prefix() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    call(
        &mut t,
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:", "PREFIX", "b:"],
        b"+OK\r\n",
    );
    cmd(&mut w, &["MSET", "a:1", "1", "c:1", "1", "b:1", "1", "a:2", "1", "a:1", "2"]).unwrap();
    expect(&mut t, &push(&["a:1", "a:2"]));
    expect(&mut t, &push(&["b:1"]));
    // Nothing was read, yet everything under the prefixes is reported; c: never is.
    set(&mut w, "c:2", "1");
    redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("b:2")
        .cmd("INCR")
        .arg("b:3")
        .query::<()>(&mut w)
        .unwrap();
    expect(&mut t, &push(&["b:2", "b:3"]));
    // More prefixes can be added while on; overlapping ones are refused.
    call(&mut t, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "c:"], b"+OK\r\n");
    set(&mut w, "c:3", "1");
    expect(&mut t, &push(&["c:3"]));
    call(
        &mut t,
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a"],
        b"-ERR Prefix 'a' overlaps with an existing prefix 'a:'. Prefixes for a single client must not overlap.\r\n",
    );
    call(
        &mut t,
        &["CLIENT", "TRACKINGINFO"],
        b"%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*3\r\n$2\r\na:\r\n$2\r\nb:\r\n$2\r\nc:\r\n",
    );
    assert_eq!(info_field(&mut w, "tracking_total_prefixes"), 3);
    call(
        &mut t,
        &["CLIENT", "TRACKING", "ON"],
        b"-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.\r\n",
    );
    call(&mut t, &["CLIENT", "TRACKING", "OFF"], b"+OK\r\n");
    assert_eq!(info_field(&mut w, "tracking_total_prefixes"), 0);
    // The empty prefix matches every key.
    call(&mut t, &["CLIENT", "TRACKING", "ON", "BCAST"], b"+OK\r\n");
    set(&mut w, "anything", "1");
    expect(&mut t, &push(&["anything"]));
}

#[test]
fn optin_tracks_only_after_caching_yes_and_optout_skips_after_caching_no() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    call(
        &mut t,
        &["CLIENT", "CACHING", "YES"],
        b"-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n",
    );
    call(&mut t, &["CLIENT", "TRACKING", "ON", "OPTIN"], b"+OK\r\n");
    call(
        &mut t,
        &["CLIENT", "CACHING", "NO"],
        b"-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n",
    );
    call(&mut t, &["CLIENT", "CACHING", "MAYBE"], b"-ERR syntax error\r\n");
    call(&mut t, &["GET", "k1"], b"_\r\n");
    call(&mut t, &["CLIENT", "CACHING", "YES"], b"+OK\r\n");
    // CLIENT subcommands do not use the choice up; the next command does.
    call(
        &mut t,
        &["CLIENT", "TRACKINGINFO"],
        b"%3\r\n$5\r\nflags\r\n~3\r\n$2\r\non\r\n$5\r\noptin\r\n$11\r\ncaching-yes\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*0\r\n",
    );
    call(&mut t, &["GET", "k2"], b"_\r\n");
    call(&mut t, &["GET", "k3"], b"_\r\n");
    set(&mut w, "k1", "1");
    set(&mut w, "k3", "1");
    set(&mut w, "k2", "1");
    expect(&mut t, &push(&["k2"]));
    call(
        &mut t,
        &["CLIENT", "TRACKING", "ON", "OPTOUT"],
        b"-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.\r\n",
    );

    call(&mut t, &["CLIENT", "TRACKING", "OFF"], b"+OK\r\n");
    call(&mut t, &["CLIENT", "TRACKING", "ON", "OPTOUT"], b"+OK\r\n");
    call(&mut t, &["CLIENT", "CACHING", "NO"], b"+OK\r\n");
    call(&mut t, &["GET", "k1"], b"$1\r\n1\r\n");
    call(&mut t, &["GET", "k3"], b"$1\r\n1\r\n");
    set(&mut w, "k1", "2");
    set(&mut w, "k3", "2");
    expect(&mut t, &push(&["k3"]));
}

#[test]
fn tracking_option_errors_match_redis() {
    let server = TestServer::start();
    let mut c = server.client();
    let err = |c: &mut redis::Connection, args: &[&str]| {
        let e = cmd(c, args).unwrap_err();
        format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
    };
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "ON", "PREFIX", "a"]),
        "ERR PREFIX option requires BCAST mode to be enabled"
    );
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"]),
        "ERR You can't specify both OPTIN mode and OPTOUT mode"
    );
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"]),
        "ERR OPTIN and OPTOUT are not compatible with BCAST"
    );
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"]),
        "ERR The client ID you want redirect to does not exist"
    );
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "ON", "REDIRECT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FOO", "PREFIX", "FOOBAR"]),
        "ERR Prefix 'FOO' overlaps with another provided prefix 'FOOBAR'. Prefixes for a single client must not overlap."
    );
    assert_eq!(err(&mut c, &["CLIENT", "TRACKING", "MAYBE"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["CLIENT", "TRACKING", "ON", "NOPE"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING"]),
        "ERR wrong number of arguments for 'client|tracking' command"
    );
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    let id = id.to_string();
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "ON", "REDIRECT", &id, "REDIRECT", &id]),
        "ERR A client can only redirect to a single other client"
    );
    // Nothing above turned tracking on.
    let redir: i64 = redis::cmd("CLIENT").arg("GETREDIR").query(&mut c).unwrap();
    assert_eq!(redir, -1);
    assert_eq!(info_field(&mut c, "tracking_clients"), 0);
}

#[test]
fn noloop_skips_the_clients_own_writes() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    call(&mut t, &["CLIENT", "TRACKING", "ON", "NOLOOP"], b"+OK\r\n");
    call(&mut t, &["MGET", "mine", "theirs"], b"*2\r\n_\r\n_\r\n");
    call(&mut t, &["SET", "mine", "1"], b"+OK\r\n");
    set(&mut w, "theirs", "1");
    expect(&mut t, &push(&["theirs"]));

    call(&mut t, &["CLIENT", "TRACKING", "OFF"], b"+OK\r\n");
    call(&mut t, &["CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP"], b"+OK\r\n");
    call(&mut t, &["MSET", "x", "1", "y", "2"], b"+OK\r\n");
    set(&mut w, "z", "1");
    expect(&mut t, &push(&["z"]));
}

#[test]
fn resp2_clients_get_invalidations_through_a_redirect_subscriber() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut sub = server.raw();
    let sub_id = client_id(&mut sub);
    call(
        &mut sub,
        &["SUBSCRIBE", "__redis__:invalidate"],
        b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
    );
    let mut t = server.client();
    cmd(&mut t, &["CLIENT", "TRACKING", "ON", "REDIRECT", &sub_id]).unwrap();
    let redir: i64 = redis::cmd("CLIENT").arg("GETREDIR").query(&mut t).unwrap();
    assert_eq!(redir.to_string(), sub_id);
    let list: String = redis::cmd("CLIENT").arg("INFO").query(&mut t).unwrap();
    assert!(list.contains(" flags=t ") && list.contains(&format!(" redir={sub_id} ")), "{list}");

    set(&mut w, "k", "1");
    let _: Option<String> = redis::cmd("GET").arg("k").query(&mut t).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("k2").query(&mut t).unwrap();
    assert_eq!(info_field(&mut w, "tracking_total_keys"), 2);
    assert_eq!(info_field(&mut w, "tracking_clients"), 1);
    cmd(&mut w, &["INCR", "k"]).unwrap();
    expect(&mut sub, &message(&["k"]));
    // A flush invalidates everything: a null instead of keys.
    cmd(&mut w, &["FLUSHALL"]).unwrap();
    expect(&mut sub, b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n");
    assert_eq!(info_field(&mut w, "tracking_total_keys"), 0);
}

#[test]
fn a_vanished_redirect_target_is_reported_to_a_resp3_client() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut target = server.raw();
    let target_id = client_id(&mut target);
    let mut t = resp3(&server);
    call(&mut t, &["CLIENT", "TRACKING", "ON", "REDIRECT", &target_id], b"+OK\r\n");
    call(&mut t, &["GET", "k"], b"_\r\n");
    call(&mut target, &["QUIT"], b"+OK\r\n");
    // The server unregisters the client when its connection ends; wait until it has.
    let mut tries = 0;
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut w).unwrap();
        if !list.contains(&format!("id={target_id} ")) {
            break;
        }
        tries += 1;
        assert!(tries < 500, "redirect client still listed");
        std::thread::sleep(Duration::from_millis(10));
    }
    set(&mut w, "k", "1");
    expect(&mut t, format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{target_id}\r\n").as_bytes());
    send(&mut t, &["CLIENT", "TRACKINGINFO"]);
    expect(
        &mut t,
        format!(
            "%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$15\r\nbroken_redirect\r\n$8\r\nredirect\r\n:{target_id}\r\n$8\r\nprefixes\r\n*0\r\n"
        )
        .as_bytes(),
    );
}

#[test]
fn flushdb_sends_a_null_invalidation_after_the_reply() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    let mut b = resp3(&server);
    call(&mut t, &["CLIENT", "TRACKING", "ON"], b"+OK\r\n");
    call(&mut b, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p"], b"+OK\r\n");
    call(&mut t, &["SET", "a", "1"], b"+OK\r\n");
    call(&mut t, &["GET", "a"], b"$1\r\n1\r\n");
    call(&mut t, &["MULTI"], b"+OK\r\n");
    call(&mut t, &["FLUSHDB"], b"+QUEUED\r\n");
    call(&mut t, &["EXEC"], b"*1\r\n+OK\r\n");
    expect(&mut t, b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    // Every tracking client hears about a flush, BCAST ones included.
    expect(&mut b, b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(info_field(&mut w, "tracking_total_keys"), 0);
    assert_eq!(info_field(&mut w, "tracking_clients"), 2);
}

#[test]
fn expiry_invalidates_a_tracked_key() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    cmd(&mut w, &["SET", "soon", "v", "PX", "100"]).unwrap();
    call(&mut t, &["CLIENT", "TRACKING", "ON"], b"+OK\r\n");
    call(&mut t, &["GET", "soon"], b"$1\r\nv\r\n");
    // Active expiry deletes it through the log; the invalidation follows.
    expect(&mut t, &push(&["soon"]));
}

#[test]
fn tracking_table_max_keys_evicts_keys_with_invalidations() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    call(&mut t, &["CLIENT", "TRACKING", "ON"], b"+OK\r\n");
    call(&mut t, &["MGET", "k1", "k2", "k3"], b"*3\r\n_\r\n_\r\n_\r\n");
    assert_eq!(info_field(&mut w, "tracking_total_keys"), 3);
    cmd(&mut w, &["CONFIG", "SET", "tracking-table-max-keys", "1"]).unwrap();
    let mut evicted = Vec::new();
    for _ in 0..2 {
        let mut frame = vec![0u8; push(&["k1"]).len()];
        t.read_exact(&mut frame).unwrap();
        let text = String::from_utf8(frame).unwrap();
        assert!(text.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk"), "{text}");
        evicted.push(text);
    }
    assert_ne!(evicted[0], evicted[1]);
    assert_eq!(info_field(&mut w, "tracking_total_keys"), 1);
}

#[test]
fn off_and_reset_stop_tracking_and_info_reports_it() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    call(&mut t, &["CLIENT", "GETREDIR"], b":-1\r\n");
    call(
        &mut t,
        &["CLIENT", "TRACKINGINFO"],
        b"%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n",
    );
    call(&mut t, &["CLIENT", "TRACKING", "ON", "NOLOOP"], b"+OK\r\n");
    call(&mut t, &["CLIENT", "GETREDIR"], b":0\r\n");
    assert_eq!(info_field(&mut w, "tracking_clients"), 1);
    call(&mut t, &["RESET"], b"+RESET\r\n");
    assert_eq!(info_field(&mut w, "tracking_clients"), 0);
    // RESET went back to RESP2.
    call(&mut t, &["CLIENT", "GETREDIR"], b":-1\r\n");
    // A client that disconnects stops tracking too.
    let mut gone = resp3(&server);
    call(&mut gone, &["CLIENT", "TRACKING", "ON", "BCAST"], b"+OK\r\n");
    assert_eq!(info_field(&mut w, "tracking_clients"), 1);
    drop(gone);
    let mut tries = 0;
    while info_field(&mut w, "tracking_clients") != 0 {
        tries += 1;
        assert!(tries < 500, "tracking client not released");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info_field(&mut w, "tracking_total_prefixes"), 0);
}

#[test]
fn a_transaction_reading_its_own_write_is_not_invalidated_by_that_write() {
    let server = TestServer::start();
    let mut w = server.client();
    let mut t = resp3(&server);
    call(&mut t, &["CLIENT", "TRACKING", "ON"], b"+OK\r\n");
    // As in Redis, a read is remembered where it runs in the transaction: the SET
    // before it invalidates nothing.
    call(&mut t, &["MULTI"], b"+OK\r\n");
    call(&mut t, &["SET", "x", "1"], b"+QUEUED\r\n");
    call(&mut t, &["GET", "x"], b"+QUEUED\r\n");
    call(&mut t, &["EXEC"], b"*2\r\n+OK\r\n$1\r\n1\r\n");
    // A write after the read does.
    call(&mut t, &["MULTI"], b"+OK\r\n");
    call(&mut t, &["SET", "y", "1"], b"+QUEUED\r\n");
    call(&mut t, &["GET", "y"], b"+QUEUED\r\n");
    call(&mut t, &["SET", "y", "2"], b"+QUEUED\r\n");
    call(&mut t, &["EXEC"], b"*3\r\n+OK\r\n$1\r\n1\r\n+OK\r\n");
    expect(&mut t, &push(&["y"]));
    // x stayed tracked.
    set(&mut w, "x", "2");
    expect(&mut t, &push(&["x"]));
}
