//! HyperLogLog commands over TCP, and a differential check against the reference Redis
//! on 127.0.0.1:16379 when one is running (skipped otherwise).

use redis::{Connection, Value};

use crate::harness::{cmd, TestServer};

fn int(con: &mut Connection, args: &[&str]) -> i64 {
    match cmd(con, args).unwrap() {
        Value::Int(n) => n,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn err(con: &mut Connection, args: &[&str]) -> String {
    let e = cmd(con, args).unwrap_err();
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")).trim().to_string()
}

fn status(con: &mut Connection, args: &[&str]) -> String {
    match cmd(con, args).unwrap() {
        Value::SimpleString(s) => s,
        Value::Okay => "OK".into(),
        other => panic!("{args:?}: {other:?}"),
    }
}

fn get(con: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

fn set(con: &mut Connection, key: &str, v: &[u8]) {
    let _: () = redis::cmd("SET").arg(key).arg(v).query(con).unwrap();
}

fn pfadd(con: &mut Connection, key: &str, elements: &[String]) -> i64 {
    redis::cmd("PFADD").arg(key).arg(elements).query(con).unwrap()
}

#[test]
fn pfadd_pfcount_pfmerge_basics() {
    let server = TestServer::start();
    let mut c = server.client();
    assert_eq!(int(&mut c, &["PFADD", "hll"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "hll"]), 1);
    assert_eq!(int(&mut c, &["PFCOUNT", "hll"]), 0);
    assert_eq!(int(&mut c, &["PFADD", "hll", "a", "b", "c"]), 1);
    assert_eq!(int(&mut c, &["PFADD", "hll", "a", "b", "c"]), 0);
    assert_eq!(int(&mut c, &["PFADD", "hll", ""]), 1);
    assert_eq!(int(&mut c, &["PFCOUNT", "hll"]), 4);
    assert_eq!(
        get(&mut c, "hll")[..16],
        *b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80",
        "sparse, cache invalid"
    );

    int(&mut c, &["PFADD", "h1{t}", "a", "b", "c"]);
    int(&mut c, &["PFADD", "h2{t}", "b", "c", "d"]);
    int(&mut c, &["PFADD", "h3{t}", "c", "d", "e"]);
    assert_eq!(status(&mut c, &["PFMERGE", "u{t}", "h1{t}", "h2{t}", "h3{t}"]), "OK");
    assert_eq!(int(&mut c, &["PFCOUNT", "u{t}"]), 5);
    assert_eq!(int(&mut c, &["PFCOUNT", "h1{t}", "h2{t}", "missing{t}"]), 4);
    assert_eq!(status(&mut c, &["PFMERGE", "empty{t}", "nosuch{t}"]), "OK");
    assert_eq!(int(&mut c, &["PFCOUNT", "empty{t}"]), 0);
    assert_eq!(status(&mut c, &["PFMERGE", "h1{t}"]), "OK");
    assert_eq!(int(&mut c, &["PFCOUNT", "h1{t}"]), 3);
}

#[test]
fn errors_match_redis() {
    let server = TestServer::start();
    let mut c = server.client();
    let wrongtype = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    set(&mut c, "foo", b"bar");
    assert_eq!(err(&mut c, &["PFADD", "foo", "1"]), wrongtype);
    assert_eq!(err(&mut c, &["PFCOUNT", "foo"]), wrongtype);
    assert_eq!(err(&mut c, &["PFMERGE", "bar", "foo"]), wrongtype);
    assert_eq!(err(&mut c, &["PFMERGE", "foo", "bar"]), wrongtype);
    assert_eq!(int(&mut c, &["EXISTS", "bar"]), 0, "a failed PFMERGE creates nothing");
    assert_eq!(err(&mut c, &["PFCOUNT"]), "ERR wrong number of arguments for 'pfcount' command");
    assert_eq!(
        err(&mut c, &["PFDEBUG", "getreg"]),
        "ERR wrong number of arguments for 'pfdebug' command"
    );

    int(&mut c, &["PFADD", "hll", "a", "b", "c"]);
    let good = get(&mut c, "hll");
    let mut tail = good.clone();
    tail.extend_from_slice(b"hello");
    set(&mut c, "tail", &tail);
    assert_eq!(err(&mut c, &["PFCOUNT", "tail"]), "INVALIDOBJ Corrupted HLL object detected");
    assert_eq!(err(&mut c, &["PFMERGE", "d", "tail"]), "INVALIDOBJ Corrupted HLL object detected");
    let mut magic = good.clone();
    magic[..4].copy_from_slice(b"0123");
    set(&mut c, "magic", &magic);
    assert_eq!(err(&mut c, &["PFCOUNT", "magic"]), wrongtype);
    let mut enc = good.clone();
    enc[4] = b'x';
    set(&mut c, "enc", &enc);
    assert_eq!(err(&mut c, &["PFCOUNT", "enc"]), wrongtype);
    let mut dense_len = good;
    dense_len[4] = 0;
    set(&mut c, "dense", &dense_len);
    assert_eq!(err(&mut c, &["PFCOUNT", "dense"]), wrongtype);

    assert_eq!(
        err(&mut c, &["PFDEBUG", "encoding", "nokey"]),
        "ERR The specified key does not exist"
    );
    assert_eq!(err(&mut c, &["PFDEBUG", "foo", "hll"]), "ERR Unknown PFDEBUG subcommand 'foo'");
    assert_eq!(err(&mut c, &["PFDEBUG", "getreg", "foo"]), wrongtype);
    // The connection and the data survived all of it.
    assert_eq!(int(&mut c, &["PFCOUNT", "hll"]), 3);
}

#[test]
fn pfdebug_and_promotion_to_dense() {
    let server = TestServer::start();
    let mut c = server.client();
    assert_eq!(status(&mut c, &["PFSELFTEST"]), "OK");
    int(&mut c, &["PFADD", "hll", "a", "b", "c"]);
    assert_eq!(status(&mut c, &["PFDEBUG", "encoding", "hll"]), "sparse");
    assert_eq!(
        status(&mut c, &["PFDEBUG", "decode", "hll"]),
        "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"
    );
    assert_eq!(int(&mut c, &["PFDEBUG", "todense", "hll"]), 1);
    assert_eq!(int(&mut c, &["PFDEBUG", "todense", "hll"]), 0);
    assert_eq!(status(&mut c, &["PFDEBUG", "ENCODING", "hll"]), "dense");
    assert_eq!(err(&mut c, &["PFDEBUG", "decode", "hll"]), "ERR HLL encoding is not sparse");
    let regs: Vec<i64> = redis::cmd("PFDEBUG").arg("getreg").arg("hll").query(&mut c).unwrap();
    assert_eq!(regs.len(), 16384);
    assert_eq!(regs.iter().filter(|&&r| r != 0).count(), 3);
    assert_eq!(int(&mut c, &["PFCOUNT", "hll"]), 3);

    // Sparse until the default hll-sparse-max-bytes (3000) would be exceeded.
    let mut n = 0;
    loop {
        let len = get(&mut c, "p").len();
        let enc =
            if n == 0 { "none".to_string() } else { status(&mut c, &["PFDEBUG", "encoding", "p"]) };
        if enc == "dense" {
            assert_eq!(len, 16 + 12288);
            break;
        }
        assert!(len <= 3000, "{len}");
        let batch: Vec<String> = (n..n + 10).map(|i| format!("e{i}")).collect();
        pfadd(&mut c, "p", &batch);
        n += 10;
    }
    assert!(n > 500 && n < 3000, "{n}");
    let card = int(&mut c, &["PFCOUNT", "p"]);
    assert!((card - n as i64).abs() < n as i64 / 20, "{card} vs {n}");
}

#[test]
fn hundred_thousand_elements_within_two_percent() {
    let server = TestServer::start();
    let mut c = server.client();
    for chunk in 0..100 {
        let batch: Vec<String> = (0..1000).map(|i| format!("item:{chunk}:{i}")).collect();
        pfadd(&mut c, "big", &batch);
    }
    let card = int(&mut c, &["PFCOUNT", "big"]) as f64;
    assert!((card - 100_000.0).abs() / 100_000.0 < 0.02, "{card}");
}

/// The reference Redis, if one runs on the usual port.
fn reference() -> Option<Connection> {
    let client = redis::Client::open("redis://127.0.0.1:16379/").ok()?;
    let mut con = client.get_connection_with_timeout(std::time::Duration::from_secs(1)).ok()?;
    let pong: String = redis::cmd("PING").query(&mut con).ok()?;
    (pong == "PONG").then_some(con)
}

#[test]
fn same_bytes_and_counts_as_the_reference() {
    let Some(mut r) = reference() else {
        eprintln!("no reference Redis on 16379: skipped");
        return;
    };
    let server = TestServer::start();
    let mut c = server.client();
    let prefix = format!("engram-hll-it:{}:", std::process::id());
    let key = |name: &str| format!("{prefix}{name}");
    let mut seed = 0x1234_5678_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (round, size) in [1usize, 7, 60, 400, 1500, 6000, 40_000].into_iter().enumerate() {
        let k = key(&format!("h{round}"));
        let mut added = 0;
        while added < size {
            let batch_len = (1 + next() % 50) as usize;
            let batch: Vec<String> =
                (0..batch_len).map(|_| format!("{}", next() % (size as u64 * 2))).collect();
            assert_eq!(pfadd(&mut c, &k, &batch), pfadd(&mut r, &k, &batch), "{k}");
            added += batch_len;
        }
        let ours = get(&mut c, &k);
        let theirs = get(&mut r, &k);
        assert_eq!(ours, theirs, "{k}: same representation");
        assert_eq!(int(&mut c, &["PFCOUNT", &k]), int(&mut r, &["PFCOUNT", &k]), "{k}");
        // Redis's PFCOUNT cached the estimate; the cached value must read the same here.
        let cached = get(&mut r, &k);
        set(&mut c, &key("copy"), &cached);
        assert_eq!(int(&mut c, &["PFCOUNT", &key("copy")]), int(&mut r, &["PFCOUNT", &k]));
    }
    // Unions and merges.
    let keys: Vec<String> = (0..7).map(|i| key(&format!("h{i}"))).collect();
    let mut args = vec!["PFCOUNT"];
    args.extend(keys.iter().map(String::as_str));
    assert_eq!(int(&mut c, &args), int(&mut r, &args));
    for sources in [&keys[..3], &keys[2..5], &keys[..]] {
        let dest = key("merged");
        let mut args = vec!["PFMERGE", dest.as_str()];
        args.extend(sources.iter().map(String::as_str));
        let _ = cmd(&mut r, &["DEL", &dest]).unwrap();
        let _ = cmd(&mut c, &["DEL", &dest]).unwrap();
        assert_eq!(status(&mut c, &args), status(&mut r, &args));
        assert_eq!(get(&mut c, &dest), get(&mut r, &dest), "{sources:?}");
        assert_eq!(int(&mut c, &["PFCOUNT", &dest]), int(&mut r, &["PFCOUNT", &dest]));
    }
    let mut del = vec!["DEL".to_string()];
    del.extend(keys);
    del.push(key("merged"));
    let del: Vec<&str> = del.iter().map(String::as_str).collect();
    let _ = cmd(&mut r, &del).unwrap();
}
