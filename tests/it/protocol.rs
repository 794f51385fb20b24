//! Protocol edges over a raw socket: inline commands, pipelining order, protocol errors,
//! size limits, connection limits, RESP3, binary safety, and the process itself (config
//! file, flags, data dir, SIGTERM).
//!
//! Expected bytes are what Redis 7.4 sends for the same input.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{raw_exchange, read_until_closed, read_until_suffix, TestServer};

const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Encodes one command as a RESP multibulk.
fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends `input` and expects exactly `expected` back, then the connection closed.
fn expect_error_and_close(server: &TestServer, input: &[u8], expected: &[u8]) {
    let mut s = server.raw();
    s.write_all(input).unwrap();
    let (out, closed) = read_until_closed(&mut s, CLOSE_WAIT);
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(expected),
        "input {:?}",
        String::from_utf8_lossy(&input[..input.len().min(60)])
    );
    assert!(closed, "connection not closed after a protocol error");
    assert_server_alive(server);
}

/// A connection that the server has admitted (answered PING). Under a small
/// `maxclients`, earlier connections (such as the harness's readiness probe) are
/// unregistered asynchronously after they close, so a new one may be refused at first.
fn admitted(server: &TestServer) -> TcpStream {
    for _ in 0..250 {
        let mut s = server.raw();
        if raw_exchange(&mut s, b"PING\r\n", 7) == b"+PONG\r\n" {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no connection admitted within 5 s");
}

fn assert_server_alive(server: &TestServer) {
    let mut s = server.raw();
    let reply = raw_exchange(&mut s, b"PING\r\n", 7);
    // A server with a password answers NOAUTH, which is alive too.
    assert!(reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"), "{reply:?}");
}

#[test]
fn inline_and_multibulk_commands_pipeline_in_order() {
    let server = TestServer::start();
    let mut s = server.raw();
    let out = raw_exchange(
        &mut s,
        b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        "+PONG\r\n+OK\r\n$1\r\nv\r\n".len(),
    );
    assert_eq!(out, b"+PONG\r\n+OK\r\n$1\r\nv\r\n");
}

#[test]
fn malformed_multibulk_gets_protocol_error_and_close() {
    let server = TestServer::start();
    let mut s = server.raw();
    let out = raw_exchange(&mut s, b"*1\r\nfoo\r\n", 1000);
    assert_eq!(out, b"-ERR Protocol error: expected '$', got 'f'\r\n");
    // The server closed the connection but is still serving others.
    let mut con = server.client();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn inline_commands_with_quotes_and_escapes() {
    let server = TestServer::start();
    let mut s = server.raw();
    let input: &[u8] = b"SET \"a key\" 'it\\'s'\r\n\
GET \"a key\"\r\n\
SET bin \"x\\x00y\\r\\n\\t\\\"z\"\r\n\
GET bin\r\n\
  ECHO   'two words'  \n\
\r\n\
GET \"\"\r\n";
    let expected: &[u8] =
        b"+OK\r\n$4\r\nit's\r\n+OK\r\n$8\r\nx\x00y\r\n\t\"z\r\n$9\r\ntwo words\r\n$-1\r\n";
    assert_eq!(
        String::from_utf8_lossy(&raw_exchange(&mut s, input, expected.len())),
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn inline_unbalanced_quotes_is_a_protocol_error() {
    let server = TestServer::start();
    expect_error_and_close(
        &server,
        b"SET \"oops value\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    );
    // A closing quote must be followed by a space.
    expect_error_and_close(
        &server,
        b"SET \"a\"b c\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    );
}

#[test]
fn inline_unknown_command_and_wrong_arity() {
    let server = TestServer::start();
    let mut s = server.raw();
    let expected: &[u8] = b"-ERR unknown command 'NOPE', with args beginning with: 'a' 'b c' \r\n\
-ERR wrong number of arguments for 'get' command\r\n\
-ERR syntax error\r\n+PONG\r\n";
    let out =
        raw_exchange(&mut s, b"NOPE a \"b c\"\r\nGET\r\nSET k v NX XX\r\nPING\r\n", expected.len());
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(expected));
}

#[test]
fn pipeline_of_10000_commands_in_one_write_replies_in_order() {
    let server = TestServer::start();
    let s = server.raw();
    let n = 10_000;
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..n {
        let key = format!("key:{}", i / 2);
        let val = format!("value:{}", i / 2);
        if i % 2 == 0 {
            input.extend(multibulk(&[b"SET", key.as_bytes(), val.as_bytes()]));
            expected.extend_from_slice(b"+OK\r\n");
        } else {
            input.extend(multibulk(&[b"GET", key.as_bytes()]));
            expected.extend(format!("${}\r\n{}\r\n", val.len(), val).into_bytes());
        }
    }
    // Write from another thread: the server replies while we are still sending, and
    // neither side may block the other.
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&input).unwrap());
    let mut reader = s;
    reader.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let out =
        read_until_suffix(&mut reader, &expected[expected.len() - 20..], Duration::from_secs(60));
    sender.join().unwrap();
    assert_eq!(out.len(), expected.len());
    assert!(out == expected, "replies out of order or wrong");
}

#[test]
fn command_split_into_single_bytes() {
    let server = TestServer::start();
    let mut s = server.raw();
    s.set_nodelay(true).unwrap();
    let input = [
        multibulk(&[b"SET", b"key", b"value"]),
        multibulk(&[b"GET", b"key"]),
        b"PING\r\n".to_vec(),
    ]
    .concat();
    for b in &input {
        s.write_all(std::slice::from_ref(b)).unwrap();
    }
    let expected = b"+OK\r\n$5\r\nvalue\r\n+PONG\r\n";
    assert_eq!(raw_exchange(&mut s, b"", expected.len()), expected);
}

#[test]
fn huge_bulk_length_is_rejected() {
    let server = TestServer::start();
    expect_error_and_close(
        &server,
        b"*1\r\n$2147483648\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    expect_error_and_close(
        &server,
        b"*2\r\n$3\r\nGET\r\n$99999999999999999999\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
}

#[test]
fn negative_or_garbage_bulk_length_is_rejected() {
    let server = TestServer::start();
    for input in [&b"*1\r\n$-1\r\n"[..], b"*1\r\n$-5\r\n", b"*1\r\n$abc\r\n", b"*1\r\n$\r\n"] {
        expect_error_and_close(&server, input, b"-ERR Protocol error: invalid bulk length\r\n");
    }
}

#[test]
fn negative_and_zero_multibulk_are_ignored() {
    let server = TestServer::start();
    let mut s = server.raw();
    let out = raw_exchange(&mut s, b"*-1\r\n*-10\r\n*0\r\nPING\r\n*-1\r\nPING\r\n", 14);
    assert_eq!(out, b"+PONG\r\n+PONG\r\n");
}

#[test]
fn invalid_multibulk_length_is_rejected() {
    let server = TestServer::start();
    for input in [&b"*x\r\n"[..], b"*2147483648\r\n", b"*1x\r\n"] {
        expect_error_and_close(
            &server,
            input,
            b"-ERR Protocol error: invalid multibulk length\r\n",
        );
    }
}

#[test]
fn too_big_inline_request_is_rejected() {
    let server = TestServer::start();
    expect_error_and_close(
        &server,
        &vec![b'x'; 70_000],
        b"-ERR Protocol error: too big inline request\r\n",
    );
    let mut long_count = b"*1\r\n$".to_vec();
    long_count.extend(vec![b'1'; 70_000]);
    expect_error_and_close(
        &server,
        &long_count,
        b"-ERR Protocol error: too big bulk count string\r\n",
    );
}

#[test]
fn proto_max_bulk_len_flag_limits_arguments() {
    let server = TestServer::start_with(&["--proto-max-bulk-len", "1024"]);
    let mut s = server.raw();
    let ok = vec![b'a'; 1024];
    let out = raw_exchange(&mut s, &multibulk(&[b"SET", b"k", &ok]), 5);
    assert_eq!(out, b"+OK\r\n");
    let too_big = vec![b'a'; 1025];
    expect_error_and_close(
        &server,
        &multibulk(&[b"SET", b"k", &too_big]),
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    // The accepted value is intact.
    let mut con = server.client();
    let v: Vec<u8> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, ok);
}

#[test]
fn client_query_buffer_limit_closes_the_client() {
    let server = TestServer::start_with(&["--client-query-buffer-limit", "1mb"]);
    let mut s = server.raw();
    // One argument announced as 2 MB, of which 1.5 MB arrive: the query buffer passes the
    // 1 MB limit and Redis (and Engram) drop the client without a reply.
    let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n".to_vec();
    input.extend(vec![b'x'; 1_500_000]);
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&input); // may fail with EPIPE/ECONNRESET: expected
    });
    let (out, closed) = read_until_closed(&mut s, Duration::from_secs(10));
    sender.join().unwrap();
    assert!(closed, "client over client-query-buffer-limit was not disconnected");
    assert!(out.is_empty(), "unexpected reply {:?}", String::from_utf8_lossy(&out));
    // A value under the limit is still accepted on a new connection.
    let mut con = server.client();
    let v = vec![b'y'; 500_000];
    let _: () = redis::cmd("SET").arg("k").arg(&v).query(&mut con).unwrap();
    let got: Vec<u8> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(got, v);
}

#[test]
fn maxclients_rejects_the_extra_client() {
    let server = TestServer::start_with(&["--maxclients", "2"]);
    // Both are registered once they have been served.
    let a = admitted(&server);
    let mut b = admitted(&server);
    let mut c = server.raw();
    let (out, closed) = read_until_closed(&mut c, CLOSE_WAIT);
    assert_eq!(String::from_utf8_lossy(&out), "-ERR max number of clients reached\r\n");
    assert!(closed);
    // After one leaves, a new client gets in (the server notices the close asynchronously).
    drop(a);
    let _d = admitted(&server);
    assert_eq!(raw_exchange(&mut b, b"PING\r\n", 7), b"+PONG\r\n");
}

fn hello_map_tail() -> &'static [u8] {
    b"\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n"
}

#[test]
fn hello_3_reply_shape_on_the_wire() {
    let server = TestServer::start();
    let mut s = server.raw();
    s.write_all(b"HELLO 3\r\n").unwrap();
    let out = read_until_suffix(&mut s, b"*0\r\n", CLOSE_WAIT);
    let version = engram_server::REDIS_VERSION;
    let head = format!(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n${}\r\n{version}\r\n\
$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:",
        version.len()
    );
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.starts_with(&head), "{text:?}");
    let rest = &out[head.len()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    assert!(digits > 0, "{text:?}");
    let tail = [hello_map_tail(), b"*0\r\n"].concat();
    assert_eq!(String::from_utf8_lossy(&rest[digits..]), String::from_utf8_lossy(&tail));

    // The session is RESP3 now: a missing key is `_`, and HELLO 2 switches back to a flat
    // array and `$-1`.
    assert_eq!(raw_exchange(&mut s, b"GET nosuchkey\r\n", 3), b"_\r\n");
    s.write_all(b"HELLO 2\r\n").unwrap();
    let out = read_until_suffix(&mut s, b"*0\r\n", CLOSE_WAIT);
    assert!(out.starts_with(b"*14\r\n$6\r\nserver\r\n"), "{:?}", String::from_utf8_lossy(&out));
    assert!(out.windows(10).any(|w| w == b"proto\r\n:2\r"));
    assert_eq!(raw_exchange(&mut s, b"GET nosuchkey\r\n", 5), b"$-1\r\n");
}

#[test]
fn hello_errors() {
    let server = TestServer::start();
    let mut s = server.raw();
    let expected: &[u8] = b"-NOPROTO unsupported protocol version\r\n\
-ERR Protocol version is not an integer or out of range\r\n";
    let out = raw_exchange(&mut s, b"HELLO 4\r\nHELLO x\r\n", expected.len());
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(expected));
}

#[test]
fn resp3_client_sees_maps_and_nulls() {
    let server = TestServer::start();
    let mut con = server.client_resp3();
    let hello = crate::harness::cmd(&mut con, &["HELLO", "3"]).unwrap();
    let redis::Value::Map(pairs) = hello else { panic!("HELLO 3 is not a map: {hello:?}") };
    let keys: Vec<String> = pairs
        .iter()
        .map(|(k, _)| match k {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("non-string key {other:?}"),
        })
        .collect();
    assert_eq!(keys, ["server", "version", "proto", "id", "mode", "role", "modules"]);
    assert_eq!(pairs[2].1, redis::Value::Int(3));
    assert!(matches!(pairs[3].1, redis::Value::Int(id) if id > 0));
    assert_eq!(pairs[6].1, redis::Value::Array(vec![]));
    assert_eq!(crate::harness::cmd(&mut con, &["GET", "nosuch"]).unwrap(), redis::Value::Nil);
}

#[test]
fn binary_keys_and_values_round_trip() {
    let server = TestServer::start();
    let cases: Vec<Vec<u8>> = vec![
        b"\x00".to_vec(),
        b"a\x00b".to_vec(),
        b"\r\n".to_vec(),
        b"\r\n$3\r\nGET\r\n".to_vec(),
        b"*1\r\n$4\r\nPING\r\n".to_vec(),
        (0u8..=255).collect(),
        vec![0u8; 100_000],
    ];
    // Over the raw protocol...
    let mut s = server.raw();
    for (i, blob) in cases.iter().enumerate() {
        let key = [format!("raw:{i}:").as_bytes(), blob].concat();
        let val = [blob.as_slice(), b"\r\n-end"].concat();
        assert_eq!(raw_exchange(&mut s, &multibulk(&[b"SET", &key, &val]), 5), b"+OK\r\n");
        let mut expected = format!("${}\r\n", val.len()).into_bytes();
        expected.extend_from_slice(&val);
        expected.extend_from_slice(b"\r\n");
        let got = raw_exchange(&mut s, &multibulk(&[b"GET", &key]), expected.len());
        assert!(got == expected, "case {i}");
    }
    // ...and through the client library, with keys that differ only after a NUL.
    let mut con = server.client();
    for (i, blob) in cases.iter().enumerate() {
        let key = [b"lib:".as_slice(), blob].concat();
        let _: () = redis::cmd("SET").arg(&key).arg(blob).query(&mut con).unwrap();
        let got: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
        assert_eq!(&got, blob, "case {i}");
        let other = [key.as_slice(), b"\x00"].concat();
        let missing: Option<Vec<u8>> = redis::cmd("GET").arg(&other).query(&mut con).unwrap();
        assert_eq!(missing, None, "case {i}");
    }
}

fn unique_temp_path(tag: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "engram-it-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

#[test]
fn config_file_then_flags_override_it() {
    let conf_dir = unique_temp_path("conf");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let conf = conf_dir.join("engram.conf");
    // `port 1` and the file's bulk limit are both overridden on the command line
    // (`engram-server file.conf --port N --proto-max-bulk-len 4096`); `maxclients`
    // comes from the file alone.
    std::fs::write(
        &conf,
        "# Engram test config\nport 1\n\nproto-max-bulk-len 1024\nmaxclients \"1\"\n",
    )
    .unwrap();
    let server =
        TestServer::start_args(&[conf.to_str().unwrap()], &["--proto-max-bulk-len", "4096"]);
    let mut s = admitted(&server);
    let mid = vec![b'm'; 3000];
    assert_eq!(raw_exchange(&mut s, &multibulk(&[b"SET", b"k", &mid]), 5), b"+OK\r\n");
    // maxclients 1 from the file: a second connection is refused.
    let mut second = server.raw();
    let (out, _) = read_until_closed(&mut second, CLOSE_WAIT);
    assert_eq!(String::from_utf8_lossy(&out), "-ERR max number of clients reached\r\n");
    // The flag's limit (4096) and not the file's (1024) applies.
    s.write_all(&multibulk(&[b"SET", b"k", &vec![b'b'; 4097]])).unwrap();
    let (out, closed) = read_until_closed(&mut s, CLOSE_WAIT);
    assert_eq!(String::from_utf8_lossy(&out), "-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed);
    drop(server);
    std::fs::remove_dir_all(&conf_dir).ok();
}

#[test]
fn bad_config_file_or_flag_fails_to_start() {
    let conf_dir = unique_temp_path("badconf");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let conf = conf_dir.join("bad.conf");
    std::fs::write(&conf, "maxclients lots\n").unwrap();
    let missing = conf_dir.join("missing.conf");
    for args in [
        [conf.to_str().unwrap(), "--port", "0"],
        ["--port", "0", "--no-such-option"],
        [missing.to_str().unwrap(), "--port", "0"],
    ] {
        let out = std::process::Command::new(crate::harness::binary())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("FATAL CONFIG"), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&conf_dir).ok();
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let mut server = TestServer::start();
    let mut con = server.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let idle = server.raw(); // an idle client must not keep the server alive
    server.signal("TERM");
    let status = server.wait_exit_status(Duration::from_secs(10));
    let status = status.expect("server still running 10 s after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    drop(idle);
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err(), "port still accepting");
}

#[test]
fn sigint_stops_the_server_gracefully() {
    let mut server = TestServer::start();
    server.signal("INT");
    let status = server.wait_exit_status(Duration::from_secs(10));
    assert!(status.expect("still running after SIGINT").success());
}

#[test]
fn data_dir_is_created() {
    let base = unique_temp_path("datadir");
    let nested = base.join("a").join("b");
    assert!(!nested.exists());
    // A later `--dir` overrides the harness's own, like any repeated flag.
    let server = TestServer::start_with(&["--dir", nested.to_str().unwrap()]);
    assert!(nested.is_dir(), "{} not created", nested.display());
    assert_server_alive(&server);
    drop(server);
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn unauthenticated_clients_may_only_send_small_requests() {
    let server = TestServer::start_with(&["--requirepass", "pw"]);
    expect_error_and_close(
        &server,
        b"*11\r\n",
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    expect_error_and_close(
        &server,
        b"*2\r\n$3\r\nGET\r\n$20000\r\n",
        b"-ERR Protocol error: unauthenticated bulk length\r\n",
    );
    // After AUTH in the same pipeline the normal limits apply at once.
    let mut s = server.raw();
    let big = vec![b'x'; 20_000];
    let mut input = b"AUTH pw\r\n".to_vec();
    input.extend(multibulk(&[b"SET", b"k", &big]));
    assert_eq!(raw_exchange(&mut s, &input, 10), b"+OK\r\n+OK\r\n");
}
