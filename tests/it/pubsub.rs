//! Pub/sub and keyspace notifications, over raw sockets so the exact RESP2 arrays and
//! RESP3 push frames are checked byte for byte.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use redis::Value;

use crate::harness::{cmd, read_until_closed, read_until_suffix, TestServer};

const WAIT: Duration = Duration::from_secs(5);

fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends one command on a raw connection and reads until `expected` arrived exactly.
fn exchange(s: &mut TcpStream, args: &[&str], expected: &str) {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    s.write_all(&multibulk(&argv)).unwrap();
    expect(s, expected);
}

/// Reads until the bytes received end with `expected`, and checks they are exactly it.
fn expect(s: &mut TcpStream, expected: &str) {
    let got = read_until_suffix(s, expected.as_bytes(), WAIT);
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

fn hello3(s: &mut TcpStream) {
    s.write_all(&multibulk(&[b"HELLO", b"3"])).unwrap();
    // The HELLO map ends with the modules entry, an empty array.
    read_until_suffix(s, b"modules\r\n*0\r\n", WAIT);
}

fn int(con: &mut redis::Connection, args: &[&str]) -> i64 {
    match cmd(con, args).unwrap() {
        Value::Int(n) => n,
        other => panic!("{args:?}: expected an integer, got {other:?}"),
    }
}

/// Polls `f` until it holds (the server acts on a closed socket asynchronously).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn subscribe_confirms_each_channel_and_delivers_messages_in_resp2() {
    let server = TestServer::start();
    let mut sub = server.raw();
    let mut con = server.client();
    exchange(
        &mut sub,
        &["SUBSCRIBE", "chan1", "chan2"],
        "*3\r\n$9\r\nsubscribe\r\n$5\r\nchan1\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nchan2\r\n:2\r\n",
    );
    assert_eq!(int(&mut con, &["PUBLISH", "chan1", "hello"]), 1);
    expect(&mut sub, "*3\r\n$7\r\nmessage\r\n$5\r\nchan1\r\n$5\r\nhello\r\n");
    assert_eq!(int(&mut con, &["PUBLISH", "nobody", "x"]), 0);
    exchange(
        &mut sub,
        &["UNSUBSCRIBE", "chan1"],
        "*3\r\n$11\r\nunsubscribe\r\n$5\r\nchan1\r\n:1\r\n",
    );
    assert_eq!(int(&mut con, &["PUBLISH", "chan1", "hello"]), 0);
    assert_eq!(int(&mut con, &["PUBLISH", "chan2", "world"]), 1);
    expect(&mut sub, "*3\r\n$7\r\nmessage\r\n$5\r\nchan2\r\n$5\r\nworld\r\n");
}

#[test]
fn subscribed_resp2_clients_may_only_run_the_subscribe_family() {
    let server = TestServer::start();
    let mut sub = server.raw();
    exchange(&mut sub, &["SUBSCRIBE", "c"], "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    exchange(
        &mut sub,
        &["GET", "k"],
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    exchange(
        &mut sub,
        &["CLIENT", "LIST"],
        "-ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    exchange(&mut sub, &["PING"], "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    exchange(&mut sub, &["PING", "hi"], "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    exchange(&mut sub, &["UNSUBSCRIBE"], "*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n");
    // Out of subscribed mode everything works again.
    exchange(&mut sub, &["PING"], "+PONG\r\n");
    exchange(&mut sub, &["GET", "k"], "$-1\r\n");
}

#[test]
fn resp3_subscribers_get_push_frames_and_may_run_any_command() {
    let server = TestServer::start();
    let mut sub = server.raw();
    let mut con = server.client();
    hello3(&mut sub);
    exchange(
        &mut sub,
        &["PSUBSCRIBE", "news.*"],
        ">3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n",
    );
    exchange(&mut sub, &["GET", "k"], "_\r\n");
    exchange(&mut sub, &["PING"], "+PONG\r\n");
    assert_eq!(int(&mut con, &["PUBLISH", "news.tech", "hi"]), 1);
    assert_eq!(int(&mut con, &["PUBLISH", "sport", "hi"]), 0);
    expect(&mut sub, ">4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$9\r\nnews.tech\r\n$2\r\nhi\r\n");
    exchange(&mut sub, &["PUNSUBSCRIBE"], ">3\r\n$12\r\npunsubscribe\r\n$6\r\nnews.*\r\n:0\r\n");
    exchange(&mut sub, &["PUNSUBSCRIBE"], ">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n");
}

#[test]
fn unsubscribing_when_not_subscribed_replies_with_a_null_channel() {
    let server = TestServer::start();
    let mut con = server.client();
    let reply = cmd(&mut con, &["UNSUBSCRIBE"]).unwrap();
    assert_eq!(
        reply,
        Value::Array(vec![Value::BulkString(b"unsubscribe".to_vec()), Value::Nil, Value::Int(0)])
    );
    let mut raw = server.raw();
    exchange(
        &mut raw,
        &["UNSUBSCRIBE", "a", "b"],
        "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n",
    );
}

#[test]
fn counts_combine_channels_and_patterns_but_not_shard_channels() {
    let server = TestServer::start();
    let mut sub = server.raw();
    exchange(&mut sub, &["SUBSCRIBE", "a"], "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    exchange(&mut sub, &["SSUBSCRIBE", "s"], "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n");
    exchange(&mut sub, &["PSUBSCRIBE", "p*"], "*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:2\r\n");
    exchange(&mut sub, &["SUNSUBSCRIBE", "s"], "*3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n");
    // Still subscribed through the channel and the pattern.
    exchange(&mut sub, &["PING"], "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

#[test]
fn shard_channels_are_a_separate_namespace() {
    let server = TestServer::start();
    let mut sub = server.raw();
    let mut con = server.client();
    exchange(&mut sub, &["SSUBSCRIBE", "ch"], "*3\r\n$10\r\nssubscribe\r\n$2\r\nch\r\n:1\r\n");
    assert_eq!(int(&mut con, &["PUBLISH", "ch", "x"]), 0);
    assert_eq!(int(&mut con, &["SPUBLISH", "ch", "y"]), 1);
    expect(&mut sub, "*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$1\r\ny\r\n");
    let shard = cmd(&mut con, &["PUBSUB", "SHARDNUMSUB", "ch", "other"]).unwrap();
    assert_eq!(
        shard,
        Value::Array(vec![
            Value::BulkString(b"ch".to_vec()),
            Value::Int(1),
            Value::BulkString(b"other".to_vec()),
            Value::Int(0),
        ])
    );
    let channels = cmd(&mut con, &["PUBSUB", "SHARDCHANNELS"]).unwrap();
    assert_eq!(channels, Value::Array(vec![Value::BulkString(b"ch".to_vec())]));
    let plain = cmd(&mut con, &["PUBSUB", "CHANNELS"]).unwrap();
    assert_eq!(plain, Value::Array(vec![]));
}

#[test]
fn pubsub_introspection_counts_subscribers_and_patterns() {
    let server = TestServer::start();
    let mut a = server.raw();
    let mut b = server.raw();
    let mut con = server.client();
    exchange(&mut a, &["SUBSCRIBE", "x.1"], "*3\r\n$9\r\nsubscribe\r\n$3\r\nx.1\r\n:1\r\n");
    exchange(&mut b, &["SUBSCRIBE", "x.1"], "*3\r\n$9\r\nsubscribe\r\n$3\r\nx.1\r\n:1\r\n");
    exchange(&mut a, &["PSUBSCRIBE", "foo*"], "*3\r\n$10\r\npsubscribe\r\n$4\r\nfoo*\r\n:2\r\n");
    exchange(&mut b, &["PSUBSCRIBE", "foo*"], "*3\r\n$10\r\npsubscribe\r\n$4\r\nfoo*\r\n:2\r\n");
    assert_eq!(int(&mut con, &["PUBSUB", "NUMPAT"]), 1);
    let numsub = cmd(&mut con, &["PUBSUB", "NUMSUB", "x.1", "y"]).unwrap();
    assert_eq!(
        numsub,
        Value::Array(vec![
            Value::BulkString(b"x.1".to_vec()),
            Value::Int(2),
            Value::BulkString(b"y".to_vec()),
            Value::Int(0),
        ])
    );
    let matching = cmd(&mut con, &["PUBSUB", "CHANNELS", "x.*"]).unwrap();
    assert_eq!(matching, Value::Array(vec![Value::BulkString(b"x.1".to_vec())]));
    let none = cmd(&mut con, &["PUBSUB", "CHANNELS", "z*"]).unwrap();
    assert_eq!(none, Value::Array(vec![]));
    // Two channel subscribers and two pattern subscribers.
    assert_eq!(int(&mut con, &["PUBLISH", "x.1", "m"]), 2);
    assert_eq!(int(&mut con, &["PUBLISH", "foo.bar", "m"]), 2);
}

#[test]
fn pubsub_errors_match_redis() {
    let server = TestServer::start();
    let mut con = server.client();
    let err = |con: &mut redis::Connection, args: &[&str]| cmd(con, args).unwrap_err().to_string();
    assert!(
        err(&mut con, &["SUBSCRIBE"]).contains("wrong number of arguments for 'subscribe' command")
    );
    assert!(err(&mut con, &["PUBLISH", "c"])
        .contains("wrong number of arguments for 'publish' command"));
    assert!(err(&mut con, &["SPUBLISH", "c"])
        .contains("wrong number of arguments for 'spublish' command"));
    assert!(err(&mut con, &["PUBSUB", "NUMPAT", "x"])
        .contains("wrong number of arguments for 'pubsub|numpat' command"));
    assert!(
        err(&mut con, &["PUBSUB", "FOO"]).contains("unknown subcommand 'FOO'. Try PUBSUB HELP.")
    );
    assert!(err(&mut con, &["PUBSUB", "CHANNELS", "a", "b"]).contains(
        "unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP."
    ));
    match cmd(&mut con, &["PUBSUB", "HELP"]).unwrap() {
        Value::Array(lines) => assert_eq!(lines.len(), 14),
        other => panic!("PUBSUB HELP: {other:?}"),
    }
}

#[test]
fn binary_channels_and_payloads_are_delivered_intact() {
    let server = TestServer::start();
    let mut sub = server.raw();
    let mut con = server.client();
    sub.write_all(&multibulk(&[b"SUBSCRIBE", b"a\x00\r\nb"])).unwrap();
    expect(&mut sub, "*3\r\n$9\r\nsubscribe\r\n$5\r\na\x00\r\nb\r\n:1\r\n");
    let n: i64 = redis::cmd("PUBLISH")
        .arg(&b"a\x00\r\nb"[..])
        .arg(&b"\xff\x00"[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    let got = read_until_suffix(&mut sub, b"\xff\x00\r\n", WAIT);
    assert_eq!(got, b"*3\r\n$7\r\nmessage\r\n$5\r\na\x00\r\nb\r\n$2\r\n\xff\x00\r\n".to_vec());
}

#[test]
fn closing_or_resetting_a_connection_ends_its_subscriptions() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut a = server.raw();
    exchange(&mut a, &["SUBSCRIBE", "gone"], "*3\r\n$9\r\nsubscribe\r\n$4\r\ngone\r\n:1\r\n");
    assert_eq!(int(&mut con, &["PUBLISH", "gone", "x"]), 1);
    drop(a);
    eventually("the closed subscriber to be removed", || {
        int(&mut con, &["PUBLISH", "gone", "x"]) == 0
    });

    let mut b = server.raw();
    exchange(&mut b, &["PSUBSCRIBE", "r*"], "*3\r\n$10\r\npsubscribe\r\n$2\r\nr*\r\n:1\r\n");
    exchange(&mut b, &["RESET"], "+RESET\r\n");
    assert_eq!(int(&mut con, &["PUBSUB", "NUMPAT"]), 0);
    assert_eq!(int(&mut con, &["PUBLISH", "reset", "x"]), 0);
    // Out of subscribed mode after RESET.
    exchange(&mut b, &["GET", "k"], "$-1\r\n");
}

#[test]
fn client_reply_off_does_not_silence_subscription_confirmations() {
    let server = TestServer::start();
    let mut sub = server.raw();
    let mut con = server.client();
    sub.write_all(&multibulk(&[b"CLIENT", b"REPLY", b"OFF"])).unwrap();
    exchange(&mut sub, &["SUBSCRIBE", "c"], "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    assert_eq!(int(&mut con, &["PUBLISH", "c", "m"]), 1);
    expect(&mut sub, "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n");
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_without_blocking_publishers() {
    let server = TestServer::start();
    let mut con = server.client();
    cmd(&mut con, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 2mb 0 0"]).unwrap();
    let mut sub = server.raw();
    exchange(&mut sub, &["SUBSCRIBE", "flood"], "*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n");
    let payload = "x".repeat(64 * 1024);
    let started = Instant::now();
    // Far more than socket buffers plus the 2mb limit; the subscriber never reads.
    for _ in 0..1000 {
        if int(&mut con, &["PUBLISH", "flood", &payload]) == 0 {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(30), "publishers were slowed down");
    eventually("the slow subscriber to be dropped", || {
        let reply = cmd(&mut con, &["PUBSUB", "NUMSUB", "flood"]).unwrap();
        matches!(reply, Value::Array(ref v) if v.get(1) == Some(&Value::Int(0)))
    });
    let (_, closed) = read_until_closed(&mut sub, Duration::from_secs(10));
    assert!(closed, "the slow subscriber's connection was not closed");
}

#[test]
fn keyspace_notifications_follow_the_configured_classes() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut sub = server.raw();
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEg$"]).unwrap();
    exchange(
        &mut sub,
        &["PSUBSCRIBE", "__key*__:*"],
        "*3\r\n$10\r\npsubscribe\r\n$10\r\n__key*__:*\r\n:1\r\n",
    );
    cmd(&mut con, &["SET", "foo", "bar"]).unwrap();
    expect(
        &mut sub,
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$18\r\n__keyspace@0__:foo\r\n$3\r\nset\r\n\
         *4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$18\r\n__keyevent@0__:set\r\n$3\r\nfoo\r\n",
    );
    // Only keyevent, only generic: SET is silent, DEL is not.
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Eg"]).unwrap();
    cmd(&mut con, &["SET", "foo", "baz"]).unwrap();
    cmd(&mut con, &["DEL", "foo"]).unwrap();
    expect(
        &mut sub,
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$18\r\n__keyevent@0__:del\r\n$3\r\nfoo\r\n",
    );
    // Other databases are named in the channel.
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "K$"]).unwrap();
    cmd(&mut con, &["SELECT", "3"]).unwrap();
    cmd(&mut con, &["APPEND", "k3", "v"]).unwrap();
    expect(
        &mut sub,
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$17\r\n__keyspace@3__:k3\r\n$6\r\nappend\r\n",
    );
    // Disabled: nothing is published.
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", ""]).unwrap();
    cmd(&mut con, &["SET", "quiet", "1"]).unwrap();
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KA"]).unwrap();
    cmd(&mut con, &["SET", "loud", "1"]).unwrap();
    expect(
        &mut sub,
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$19\r\n__keyspace@3__:loud\r\n$3\r\nset\r\n",
    );
}

#[test]
fn expiry_is_notified_as_an_expired_event() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut sub = server.raw();
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Ex"]).unwrap();
    exchange(
        &mut sub,
        &["SUBSCRIBE", "__keyevent@0__:expired"],
        "*3\r\n$9\r\nsubscribe\r\n$22\r\n__keyevent@0__:expired\r\n:1\r\n",
    );
    cmd(&mut con, &["SET", "short", "v", "PX", "50"]).unwrap();
    expect(&mut sub, "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$5\r\nshort\r\n");
}

#[test]
fn notify_keyspace_events_is_validated_and_normalised() {
    let server = TestServer::start();
    let mut con = server.client();
    let get =
        |con: &mut redis::Connection| match cmd(con, &["CONFIG", "GET", "notify-keyspace-events"])
            .unwrap()
        {
            Value::Array(v) => v[1].clone(),
            Value::Map(v) => v[0].1.clone(),
            other => panic!("{other:?}"),
        };
    for (set, shown) in [
        ("KA", "AK"),
        ("EA", "AE"),
        ("gKE", "gKE"),
        ("$lshzxeKE", "$lshzxeKE"),
        ("mEK", "KEm"),
        ("", ""),
    ] {
        cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", set]).unwrap();
        assert_eq!(get(&mut con), Value::BulkString(shown.as_bytes().to_vec()), "set {set:?}");
    }
    let err = cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KQ"]).unwrap_err();
    assert!(
        err.to_string().contains("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        "{err}"
    );
    assert_eq!(get(&mut con), Value::BulkString(Vec::new()), "a refused value changes nothing");
}

#[test]
fn messages_published_to_self_follow_the_publish_reply() {
    let server = TestServer::start();
    let mut s = server.raw();
    hello3(&mut s);
    exchange(&mut s, &["SUBSCRIBE", "me"], ">3\r\n$9\r\nsubscribe\r\n$2\r\nme\r\n:1\r\n");
    exchange(
        &mut s,
        &["PUBLISH", "me", "hi"],
        ":1\r\n>3\r\n$7\r\nmessage\r\n$2\r\nme\r\n$2\r\nhi\r\n",
    );
}
