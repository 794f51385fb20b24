//! Sorted sets over a real socket: exact wire replies (RESP2 and RESP3) as Redis 7.4 gives
//! them (checked against the reference server), error texts, keyspace effects, binary
//! members, and rank operations on a large set.

use std::net::TcpStream;

use crate::harness::{raw_exchange, TestServer};

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends `args` and asserts the exact reply bytes.
fn expect(s: &mut TcpStream, args: &[&str], want: &str) {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let got = raw_exchange(s, &resp(&argv), want.len());
    assert_eq!(String::from_utf8_lossy(&got), want, "{args:?}");
}

fn resp3(server: &TestServer) -> TcpStream {
    let mut s = server.raw();
    let hello = resp(&[b"HELLO", b"3"]);
    s.write_all_and_drain(&hello);
    s
}

trait Drain {
    fn write_all_and_drain(&mut self, bytes: &[u8]);
}

impl Drain for TcpStream {
    fn write_all_and_drain(&mut self, bytes: &[u8]) {
        use std::io::{Read, Write};
        self.write_all(bytes).unwrap();
        // HELLO's map ends with the (empty) modules array.
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"*0\r\n") {
            let n = self.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed during HELLO");
            got.extend_from_slice(&buf[..n]);
        }
    }
}

#[test]
fn zadd_flags_and_their_errors_match_redis() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c"], ":3\r\n");
    expect(
        &mut s,
        &["ZADD", "z", "NX", "XX", "1", "a"],
        "-ERR XX and NX options at the same time are not compatible\r\n",
    );
    expect(
        &mut s,
        &["ZADD", "z", "GT", "LT", "1", "a"],
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n",
    );
    expect(
        &mut s,
        &["ZADD", "z", "INCR", "1", "a", "2", "b"],
        "-ERR INCR option supports a single increment-element pair\r\n",
    );
    expect(&mut s, &["ZADD", "z", "x", "a"], "-ERR value is not a valid float\r\n");
    expect(&mut s, &["ZADD", "z", "1", "a", "2"], "-ERR syntax error\r\n");
    expect(&mut s, &["ZADD", "z", "1"], "-ERR wrong number of arguments for 'zadd' command\r\n");
    // GT only raises, CH counts changes, new members are always added.
    expect(&mut s, &["ZADD", "z", "CH", "GT", "10", "a", "0", "b", "7", "new"], ":2\r\n");
    expect(&mut s, &["ZADD", "z", "XX", "INCR", "1", "nope"], "$-1\r\n");
    expect(&mut s, &["ZADD", "z", "INCR", "1.5", "a"], "$4\r\n11.5\r\n");
    expect(&mut s, &["ZADD", "z", "inf", "a"], ":0\r\n");
    expect(
        &mut s,
        &["ZINCRBY", "z", "-inf", "a"],
        "-ERR resulting score is not a number (NaN)\r\n",
    );
    expect(&mut s, &["ZSCORE", "z", "a"], "$3\r\ninf\r\n");
    expect(&mut s, &["ZADD", "z", "3.1", "c", "1e21", "d", "-0", "e"], ":2\r\n");
    expect(&mut s, &["ZSCORE", "z", "c"], "$3\r\n3.1\r\n");
    expect(&mut s, &["ZSCORE", "z", "d"], "$5\r\n1e+21\r\n");
    expect(&mut s, &["ZSCORE", "z", "e"], "$1\r\n0\r\n");
    expect(&mut s, &["ZCARD", "z"], ":6\r\n");
}

#[test]
fn ranges_by_rank_score_and_lex() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"], ":4\r\n");
    expect(
        &mut s,
        &["ZRANGE", "z", "1", "-2", "WITHSCORES"],
        "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n",
    );
    expect(&mut s, &["ZRANGE", "z", "0", "1", "REV"], "*2\r\n$1\r\nd\r\n$1\r\nc\r\n");
    expect(
        &mut s,
        &["ZRANGE", "z", "(1", "+inf", "BYSCORE", "LIMIT", "1", "2"],
        "*2\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    expect(
        &mut s,
        &["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "1"],
        "*1\r\n$1\r\nd\r\n",
    );
    expect(&mut s, &["ZREVRANGEBYSCORE", "z", "3", "(1"], "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
    expect(&mut s, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"], "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n");
    expect(
        &mut s,
        &["ZRANGE", "z", "[a", "[b", "BYLEX", "WITHSCORES"],
        "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n",
    );
    expect(&mut s, &["ZRANGE", "z", "a", "b", "BYSCORE"], "-ERR min or max is not a float\r\n");
    expect(
        &mut s,
        &["ZRANGEBYLEX", "z", "a", "b"],
        "-ERR min or max not valid string range item\r\n",
    );
    expect(&mut s, &["ZCOUNT", "z", "(1", "3"], ":2\r\n");
    expect(&mut s, &["ZRANK", "z", "c", "WITHSCORE"], "*2\r\n:2\r\n$1\r\n3\r\n");
    expect(&mut s, &["ZREVRANK", "z", "c"], ":1\r\n");
    expect(&mut s, &["ZRANK", "z", "nope", "WITHSCORE"], "*-1\r\n");
    expect(&mut s, &["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"], ":4\r\n");
    expect(&mut s, &["ZRANGEBYLEX", "l", "[b", "(d"], "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
    expect(&mut s, &["ZREVRANGEBYLEX", "l", "+", "-", "LIMIT", "1", "1"], "*1\r\n$1\r\nc\r\n");
    expect(&mut s, &["ZLEXCOUNT", "l", "-", "+"], ":4\r\n");
    expect(&mut s, &["ZRANGESTORE", "dst", "z", "2", "4", "BYSCORE"], ":3\r\n");
    expect(&mut s, &["ZRANGE", "dst", "0", "-1"], "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n");
    expect(&mut s, &["ZRANGESTORE", "dst", "z", "5", "9", "BYSCORE"], ":0\r\n");
    expect(&mut s, &["EXISTS", "dst"], ":0\r\n");
}

#[test]
fn removals_delete_the_emptied_key() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"], ":5\r\n");
    expect(&mut s, &["ZREM", "z", "a", "nope"], ":1\r\n");
    expect(&mut s, &["ZREMRANGEBYRANK", "z", "0", "0"], ":1\r\n");
    expect(&mut s, &["ZREMRANGEBYSCORE", "z", "(3", "+inf"], ":2\r\n");
    expect(&mut s, &["ZREMRANGEBYLEX", "z", "-", "+"], ":1\r\n");
    expect(&mut s, &["EXISTS", "z"], ":0\r\n");
    expect(&mut s, &["ZADD", "z", "1", "a", "2", "b"], ":2\r\n");
    expect(&mut s, &["ZPOPMIN", "z"], "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    expect(&mut s, &["ZPOPMAX", "z", "5"], "*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    expect(&mut s, &["EXISTS", "z"], ":0\r\n");
    expect(&mut s, &["ZPOPMIN", "z", "-1"], "-ERR value is out of range, must be positive\r\n");
    expect(&mut s, &["ZADD", "z", "1", "a", "2", "b"], ":2\r\n");
    expect(
        &mut s,
        &["ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "5"],
        "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
    );
    expect(&mut s, &["ZMPOP", "1", "z", "MIN"], "*-1\r\n");
    expect(&mut s, &["ZMPOP", "0", "z", "MIN"], "-ERR numkeys should be greater than 0\r\n");
    expect(
        &mut s,
        &["ZMPOP", "1", "z", "MIN", "COUNT", "0"],
        "-ERR count should be greater than 0\r\n",
    );
    expect(&mut s, &["BZPOPMIN", "z", "-1"], "-ERR timeout is negative\r\n");
    expect(&mut s, &["BZPOPMIN", "z", "abc"], "-ERR timeout is not a float or out of range\r\n");
}

#[test]
fn blocking_pops_serve_at_once_when_data_is_there() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "z", "1", "a", "2", "b"], ":2\r\n");
    expect(&mut s, &["BZPOPMAX", "nokey", "z", "0"], "*3\r\n$1\r\nz\r\n$1\r\nb\r\n$1\r\n2\r\n");
    expect(
        &mut s,
        &["BZMPOP", "0", "1", "z", "MIN"],
        "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
    );
    expect(&mut s, &["BZPOPMIN", "z", "0.05"], "*-1\r\n");
}

#[test]
fn set_operations_with_weights_aggregate_and_plain_sets() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "a", "1", "x", "2", "y", "3", "z"], ":3\r\n");
    expect(&mut s, &["ZADD", "b", "10", "y", "20", "z", "30", "w"], ":3\r\n");
    expect(&mut s, &["ZUNION", "2", "a", "b", "WEIGHTS", "2", "3", "AGGREGATE", "MAX", "WITHSCORES"],
        "*8\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\ny\r\n$2\r\n30\r\n$1\r\nz\r\n$2\r\n60\r\n$1\r\nw\r\n$2\r\n90\r\n");
    expect(
        &mut s,
        &["ZINTER", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"],
        "*4\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n",
    );
    expect(&mut s, &["ZDIFF", "2", "a", "b"], "*1\r\n$1\r\nx\r\n");
    expect(&mut s, &["ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "-1"], ":2\r\n");
    expect(
        &mut s,
        &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        "*4\r\n$1\r\nz\r\n$3\r\n-17\r\n$1\r\ny\r\n$2\r\n-8\r\n",
    );
    expect(&mut s, &["ZDIFFSTORE", "d", "2", "a", "a"], ":0\r\n");
    expect(&mut s, &["EXISTS", "d"], ":0\r\n");
    expect(&mut s, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"], ":1\r\n");
    expect(&mut s, &["ZINTERCARD", "1", "a", "LIMIT", "-1"], "-ERR LIMIT can't be negative\r\n");
    expect(
        &mut s,
        &["ZUNIONSTORE", "d", "0", "a"],
        "-ERR at least 1 input key is needed for 'zunionstore' command\r\n",
    );
    expect(
        &mut s,
        &["ZUNIONSTORE", "d", "1", "a", "WEIGHTS", "x"],
        "-ERR weight value is not a float\r\n",
    );
    expect(&mut s, &["SADD", "s", "x", "q"], ":2\r\n");
    expect(&mut s, &["ZUNION", "2", "a", "s", "WITHSCORES"], "*8\r\n$1\r\nq\r\n$1\r\n1\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n");
    expect(&mut s, &["SET", "str", "v"], "+OK\r\n");
    expect(
        &mut s,
        &["ZUNION", "2", "a", "str"],
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    expect(
        &mut s,
        &["ZADD", "str", "1", "a"],
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
}

#[test]
fn resp3_gives_pairs_and_doubles() {
    let server = TestServer::start();
    let mut s = resp3(&server);
    expect(&mut s, &["ZADD", "z", "1", "a", "2.5", "b"], ":2\r\n");
    expect(
        &mut s,
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n",
    );
    expect(&mut s, &["ZSCORE", "z", "b"], ",2.5\r\n");
    expect(&mut s, &["ZMSCORE", "z", "a", "x"], "*2\r\n,1\r\n_\r\n");
    expect(&mut s, &["ZRANK", "z", "b", "WITHSCORE"], "*2\r\n:1\r\n,2.5\r\n");
    expect(&mut s, &["ZINCRBY", "z", "1", "a"], ",2\r\n");
    expect(
        &mut s,
        &["ZSCAN", "z", "0"],
        "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
    );
    expect(&mut s, &["ZPOPMIN", "z", "1"], "*1\r\n*2\r\n$1\r\na\r\n,2\r\n");
    expect(&mut s, &["ZPOPMIN", "z"], "*2\r\n$1\r\nb\r\n,2.5\r\n");
    expect(&mut s, &["ZMPOP", "1", "z", "MIN"], "_\r\n");
}

#[test]
fn binary_members_round_trip() {
    let server = TestServer::start();
    let mut s = server.raw();
    let member: &[u8] = b"a\x00b\r\n\xff";
    let got = raw_exchange(&mut s, &resp(&[b"ZADD", b"z", b"1", member]), 4);
    assert_eq!(got, b":1\r\n");
    let got = raw_exchange(&mut s, &resp(&[b"ZRANGE", b"z", b"0", b"-1"]), 16);
    assert_eq!(got, b"*1\r\n$6\r\na\x00b\r\n\xff\r\n");
    let got = raw_exchange(&mut s, &resp(&[b"ZSCORE", b"z", member]), 7);
    assert_eq!(got, b"$1\r\n1\r\n");
}

#[test]
fn ranks_on_a_large_set_and_zscan_covers_everything() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for chunk in 0..20 {
        let mut c = redis::cmd("ZADD");
        c.arg("big");
        for i in chunk * 1000..(chunk + 1) * 1000 {
            c.arg(i % 100).arg(format!("m{i:05}"));
        }
        pipe.add_command(c).ignore();
    }
    let () = pipe.query(&mut con).unwrap();
    let card: i64 = redis::cmd("ZCARD").arg("big").query(&mut con).unwrap();
    assert_eq!(card, 20_000);
    // Score 0 holds m00000, m00100, ...: m00100 is the second.
    let rank: i64 = redis::cmd("ZRANK").arg("big").arg("m00100").query(&mut con).unwrap();
    assert_eq!(rank, 1);
    let last: Vec<String> =
        redis::cmd("ZRANGE").arg("big").arg(-1).arg(-1).query(&mut con).unwrap();
    assert_eq!(last, vec!["m19999".to_string()]);
    let enc: String = redis::cmd("OBJECT").arg("ENCODING").arg("big").query(&mut con).unwrap();
    assert_eq!(enc, "skiplist");
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let (next, items): (String, Vec<String>) = redis::cmd("ZSCAN")
            .arg("big")
            .arg(&cursor)
            .arg("COUNT")
            .arg(500)
            .query(&mut con)
            .unwrap();
        for pair in items.chunks(2) {
            seen.insert(pair[0].clone());
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 20_000);
}

#[test]
fn zrandmember_shapes() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "z", "1", "a"], ":1\r\n");
    expect(&mut s, &["ZRANDMEMBER", "z"], "$1\r\na\r\n");
    expect(
        &mut s,
        &["ZRANDMEMBER", "z", "-2", "WITHSCORES"],
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n",
    );
    expect(&mut s, &["ZRANDMEMBER", "z", "5"], "*1\r\n$1\r\na\r\n");
    expect(&mut s, &["ZRANDMEMBER", "nokey"], "$-1\r\n");
    expect(&mut s, &["ZRANDMEMBER", "z", "-9223372036854775808"], "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n");
}

#[test]
fn negative_zero_scores_follow_redis_by_encoding() {
    let server = TestServer::start();
    let mut s = resp3(&server);
    // The computed score keeps its sign; a small (listpack) set stores `-0` as `0`.
    expect(&mut s, &["ZINCRBY", "z", "-0", "c"], ",-0\r\n");
    expect(&mut s, &["ZADD", "z", "INCR", "-0", "m"], ",-0\r\n");
    expect(&mut s, &["ZMSCORE", "z", "c", "m"], "*2\r\n,0\r\n,0\r\n");
    expect(
        &mut s,
        &["ZUNION", "1", "z", "WEIGHTS", "-1", "WITHSCORES"],
        "*2\r\n*2\r\n$1\r\nc\r\n,-0\r\n*2\r\n$1\r\nm\r\n,-0\r\n",
    );
    // A large (skiplist) set keeps `-0`.
    let mut big = vec!["ZADD".to_string(), "big".to_string()];
    for i in 1..=130 {
        big.push(i.to_string());
        big.push(format!("m{i}"));
    }
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    expect(&mut s, &big, ":130\r\n");
    expect(&mut s, &["ZADD", "big", "-0", "a"], ":1\r\n");
    expect(&mut s, &["ZMSCORE", "big", "a"], "*1\r\n,-0\r\n");
    expect(&mut s, &["ZPOPMIN", "big"], "*2\r\n$1\r\na\r\n,-0\r\n");
}

#[test]
fn rank_zrange_accepts_a_limit_whose_count_is_minus_one() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "z", "1", "a", "2", "b"], ":2\r\n");
    expect(&mut s, &["ZRANGE", "z", "5", "-3", "LIMIT", "0", "-1"], "*0\r\n");
    expect(&mut s, &["ZRANGE", "z", "0", "-1", "LIMIT", "1", "-1"], "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    expect(
        &mut s,
        &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "5"],
        "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n",
    );
}

#[test]
fn zinter_nan_products_restart_the_sum_like_redis() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "k1", "-0", "c", "5", "d", "0", "2", "1e2", ""], ":4\r\n");
    expect(&mut s, &["ZADD", "k0", "0", "a", "0", "b", "3", "c"], ":3\r\n");
    expect(&mut s, &["ZADD", "k3", "3", "a", "1", "b", "3", "c", "1", "d", "2", "e"], ":5\r\n");
    // k0 (smallest) gives 3; k1's 0*inf is NaN, so the sum restarts at 0; k3 adds 1.5.
    expect(
        &mut s,
        &["ZINTER", "3", "k0", "k1", "k3", "WEIGHTS", "1", "inf", "0.5", "WITHSCORES"],
        "*2\r\n$1\r\nc\r\n$3\r\n1.5\r\n",
    );
    // ZUNION cleans every NaN product to 0.
    expect(
        &mut s,
        &["ZUNION", "2", "k0", "k1", "WEIGHTS", "1", "inf", "WITHSCORES"],
        "*12\r\n$1\r\n2\r\n$1\r\n0\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nb\r\n$1\r\n0\r\n$1\r\nc\r\n$1\r\n3\r\n$0\r\n\r\n$3\r\ninf\r\n$1\r\nd\r\n$3\r\ninf\r\n",
    );
}

#[test]
fn score_bounds_and_score_arguments_parse_like_redis() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["ZADD", "z", "1", "a", "2", "b"], ":2\r\n");
    expect(&mut s, &["ZRANGEBYSCORE", "z", "+inf", " 1"], "*0\r\n");
    expect(&mut s, &["ZRANGEBYSCORE", "z", " 2", "+inf"], "*1\r\n$1\r\nb\r\n");
    expect(&mut s, &["ZCOUNT", "z", "", "0x2"], ":2\r\n");
    expect(&mut s, &["ZCOUNT", "z", "(0x1p0", "1e400"], ":1\r\n");
    expect(&mut s, &["ZCOUNT", "z", "1 ", "2"], "-ERR min or max is not a float\r\n");
    // Scores themselves are strict: no leading space, no overflow; hexadecimal is fine.
    expect(&mut s, &["ZADD", "z", " 1", "c"], "-ERR value is not a valid float\r\n");
    expect(&mut s, &["ZADD", "z", "1e400", "c"], "-ERR value is not a valid float\r\n");
    expect(&mut s, &["ZINCRBY", "z", "1e400", "c"], "-ERR value is not a valid float\r\n");
    expect(&mut s, &["ZADD", "z", "0x10", "c"], ":1\r\n");
    expect(
        &mut s,
        &["ZUNION", "1", "z", "WEIGHTS", "1e400"],
        "-ERR weight value is not a float\r\n",
    );
}

#[test]
fn subnormal_scores_are_kept_and_underflow_to_zero_is_refused() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(
        crate::harness::cmd(&mut con, &["ZADD", "z", "9.8813129168249309e-323", "a"]).unwrap(),
        redis::Value::Int(1)
    );
    assert_eq!(
        crate::harness::cmd(&mut con, &["ZADD", "z", "1e-310", "b"]).unwrap(),
        redis::Value::Int(1)
    );
    let err = crate::harness::cmd(&mut con, &["ZADD", "z", "1e-400", "c"]).unwrap_err();
    assert!(err.to_string().contains("not a valid float"), "{err}");
    // SORT is stricter: it refuses subnormal numbers, as Redis.
    crate::harness::cmd(&mut con, &["RPUSH", "l", "1e-310"]).unwrap();
    assert!(crate::harness::cmd(&mut con, &["SORT", "l"]).is_err());
}
