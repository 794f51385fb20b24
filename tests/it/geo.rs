//! Geo commands over a real socket: the digits Redis 7.4 prints (distances, coordinates,
//! geohashes; checked against the reference server), searches, STORE and errors.

use std::net::TcpStream;

use crate::harness::{raw_exchange, TestServer};

fn expect(s: &mut TcpStream, args: &[&str], want: &str) {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    let got = raw_exchange(s, &out, want.len());
    assert_eq!(String::from_utf8_lossy(&got), want, "{args:?}");
}

fn sicily(s: &mut TcpStream) {
    expect(
        s,
        &["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
        ":2\r\n",
    );
}

#[test]
fn positions_distances_and_hashes_have_redis_digits() {
    let server = TestServer::start();
    let mut s = server.raw();
    sicily(&mut s);
    expect(&mut s, &["GEODIST", "g", "Palermo", "Catania"], "$11\r\n166274.1516\r\n");
    expect(&mut s, &["GEODIST", "g", "Palermo", "Catania", "km"], "$8\r\n166.2742\r\n");
    expect(&mut s, &["GEODIST", "g", "Palermo", "nope"], "$-1\r\n");
    expect(
        &mut s,
        &["GEOPOS", "g", "Palermo", "nope"],
        "*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n",
    );
    expect(&mut s, &["GEOHASH", "g", "Palermo", "nope"], "*2\r\n$11\r\nsqc8b49rny0\r\n$-1\r\n");
    expect(&mut s, &["ZSCORE", "g", "Palermo"], "$16\r\n3479099956230698\r\n");
}

#[test]
fn searches_filter_sort_and_store() {
    let server = TestServer::start();
    let mut s = server.raw();
    sicily(&mut s);
    expect(&mut s, &["GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHDIST", "WITHHASH", "ASC"],
        "*2\r\n*3\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n*3\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n:3479099956230698\r\n");
    expect(&mut s, &["GEORADIUS", "g", "15", "37", "100", "km"], "*1\r\n$7\r\nCatania\r\n");
    expect(
        &mut s,
        &["GEORADIUSBYMEMBER", "g", "Palermo", "200", "km", "COUNT", "1", "DESC"],
        "*1\r\n$7\r\nCatania\r\n",
    );
    expect(
        &mut s,
        &["GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYBOX", "400", "400", "km", "ASC"],
        "*2\r\n$7\r\nPalermo\r\n$7\r\nCatania\r\n",
    );
    expect(&mut s, &["GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "d"], ":2\r\n");
    expect(&mut s, &["ZSCORE", "d", "Catania"], "$16\r\n56.4412578701582\r\n");
    expect(
        &mut s,
        &["GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km"],
        ":0\r\n",
    );
    expect(&mut s, &["EXISTS", "d"], ":0\r\n");
    expect(
        &mut s,
        &["GEOSEARCH", "nokey", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km"],
        "*0\r\n",
    );
}

#[test]
fn geo_errors_match_redis() {
    let server = TestServer::start();
    let mut s = server.raw();
    sicily(&mut s);
    expect(
        &mut s,
        &["GEOADD", "g", "200", "100", "x"],
        "-ERR invalid longitude,latitude pair 200.000000,100.000000\r\n",
    );
    expect(&mut s, &["GEOADD", "g", "NX", "XX", "1", "1", "x"], "-ERR syntax error\r\n");
    expect(
        &mut s,
        &["GEOSEARCH", "g", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"],
        "-ERR could not decode requested zset member\r\n",
    );
    expect(
        &mut s,
        &["GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "xx"],
        "-ERR unsupported unit provided. please use M, KM, FT, MI\r\n",
    );
    expect(
        &mut s,
        &["GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "-1", "km"],
        "-ERR radius cannot be negative\r\n",
    );
    expect(
        &mut s,
        &["GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "ANY"],
        "-ERR the ANY argument requires COUNT argument\r\n",
    );
    expect(
        &mut s,
        &["GEOSEARCH", "g", "FROMLONLAT", "1", "1", "WITHDIST", "WITHCOORD"],
        "-ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch\r\n",
    );
    expect(&mut s, &["GEORADIUS", "g", "15", "37", "200", "km", "WITHDIST", "STORE", "x"], "-ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n");
    expect(
        &mut s,
        &["GEORADIUS_RO", "g", "15", "37", "200", "km", "STORE", "x"],
        "-ERR syntax error\r\n",
    );
    expect(&mut s, &["SET", "str", "v"], "+OK\r\n");
    expect(
        &mut s,
        &["GEOPOS", "str", "a"],
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
}

#[test]
fn coordinates_are_doubles_in_resp3() {
    let server = TestServer::start();
    let mut s = server.raw();
    {
        use std::io::Write;
        s.write_all(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n").unwrap();
    }
    let mut rest = [0u8; 4096];
    // Drain HELLO's map (it ends with the empty modules array).
    let mut got = Vec::new();
    while !got.ends_with(b"*0\r\n") {
        use std::io::Read;
        let n = s.read(&mut rest).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&rest[..n]);
    }
    expect(&mut s, &["GEOADD", "g", "13.5", "38.0", "near"], ":1\r\n");
    expect(
        &mut s,
        &["GEOPOS", "g", "near", "nosuch"],
        "*2\r\n*2\r\n,13.50000053644180298\r\n,38.0000009925631943\r\n_\r\n",
    );
    expect(
        &mut s,
        &["GEORADIUS", "g", "15", "37", "1000", "km", "WITHCOORD"],
        "*1\r\n*2\r\n$4\r\nnear\r\n*2\r\n,13.50000053644180298\r\n,38.0000009925631943\r\n",
    );
}

#[test]
fn members_on_the_top_edge_are_found() {
    let server = TestServer::start();
    let mut s = server.raw();
    expect(&mut s, &["GEOADD", "g", "180", "85.05112878", "edge"], ":1\r\n");
    expect(
        &mut s,
        &["GEOSEARCH", "g", "FROMMEMBER", "edge", "BYBOX", "100", "100", "km"],
        "*1\r\n$4\r\nedge\r\n",
    );
    expect(&mut s, &["GEORADIUSBYMEMBER", "g", "edge", "3000", "m"], "*1\r\n$4\r\nedge\r\n");
    expect(
        &mut s,
        &["GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "edge", "BYBOX", "3000", "100", "KM"],
        ":1\r\n",
    );
}

#[test]
fn key_and_member_errors_come_before_argument_errors() {
    let server = TestServer::start();
    let mut s = server.raw();
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    let no_member = "-ERR could not decode requested zset member\r\n";
    expect(&mut s, &["HSET", "h", "f", "v"], ":1\r\n");
    expect(&mut s, &["GEOADD", "g", "13.5", "38.0", "near"], ":1\r\n");
    expect(&mut s, &["GEORADIUSBYMEMBER", "nokey", "Palermo", "1000", "yd"], "*0\r\n");
    expect(
        &mut s,
        &["GEORADIUS", "h", "15", "37", "200", "KM", "WITHCOORD", "ASC", "1"],
        wrongtype,
    );
    expect(&mut s, &["GEORADIUS_RO", "h", "15", "37", "200", "yd"], wrongtype);
    expect(&mut s, &["GEORADIUSBYMEMBER", "g", "Paris", "1", "yd"], no_member);
    expect(&mut s, &["GEOSEARCH", "g", "FROMMEMBER", "Paris", "BYRADIUS", "10", "yd"], no_member);
    expect(
        &mut s,
        &["GEOSEARCH", "g", "BYRADIUS", "10", "yd", "FROMMEMBER", "Paris"],
        "-ERR unsupported unit provided. please use M, KM, FT, MI\r\n",
    );
    // A missing key still reports option errors, and GEORADIUS's own arguments.
    expect(
        &mut s,
        &["GEORADIUSBYMEMBER", "nokey", "x", "1", "m", "bogus"],
        "-ERR syntax error\r\n",
    );
    expect(
        &mut s,
        &["GEORADIUS", "nokey", "15", "37", "1", "yd"],
        "-ERR unsupported unit provided. please use M, KM, FT, MI\r\n",
    );
}
