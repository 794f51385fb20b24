//! FT.* over a real socket: index definitions, hybrid queries over HASH and JSON
//! documents, keyspace integration (updates, deletes, expiry, FLUSHALL), indexing
//! failures, and indexes coming back after a restart and a SIGKILL.

use std::time::{Duration, Instant};

use redis::Value;

use crate::harness::{cmd, DataDir, TestServer};

/// A command line split on spaces (for long FT.CREATE schemas).
fn words(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

fn blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The keys of an FT.SEARCH RESP2 reply (with content), in order, and the total.
fn keys_of(reply: &Value) -> (i64, Vec<String>) {
    let Value::Array(items) = reply else { panic!("not an array: {reply:?}") };
    let Value::Int(total) = items[0] else { panic!("no total: {reply:?}") };
    let keys = items[1..]
        .iter()
        .filter_map(|v| match v {
            Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect();
    (total, keys)
}

/// The field list of the `n`th result of an FT.SEARCH RESP2 reply, as strings.
fn fields_of(reply: &Value, n: usize) -> Vec<(String, Vec<u8>)> {
    let Value::Array(items) = reply else { panic!() };
    let Value::Array(fields) = &items[2 + 2 * n] else { panic!("no fields: {reply:?}") };
    fields
        .chunks(2)
        .map(|kv| match (&kv[0], &kv[1]) {
            (Value::BulkString(k), Value::BulkString(v)) => {
                (String::from_utf8_lossy(k).into_owned(), v.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

fn search(con: &mut redis::Connection, args: &[&[u8]]) -> redis::RedisResult<Value> {
    let mut c = redis::cmd("FT.SEARCH");
    for a in args {
        c.arg(*a);
    }
    c.query(con)
}

fn create_products(con: &mut redis::Connection) {
    let created = cmd(con, &words("FT.CREATE products ON HASH PREFIX 1 p: SCHEMA name TEXT tag TAG price NUMERIC SORTABLE v VECTOR FLAT 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2"));
    assert_eq!(created.unwrap(), Value::Okay);
}

fn add_product(
    con: &mut redis::Connection,
    key: &str,
    name: &str,
    tag: &str,
    price: f64,
    v: [f32; 2],
) {
    redis::cmd("HSET")
        .arg(key)
        .arg("name")
        .arg(name)
        .arg("tag")
        .arg(tag)
        .arg("price")
        .arg(price)
        .arg("v")
        .arg(blob(&v))
        .query::<i64>(con)
        .unwrap();
}

fn seed(con: &mut redis::Connection) {
    add_product(con, "p:1", "red apple", "fruit,red", 1.0, [0.0, 0.0]);
    add_product(con, "p:2", "green apple", "fruit,green", 2.0, [1.0, 0.0]);
    add_product(con, "p:3", "red car", "vehicle,red", 300.0, [5.0, 5.0]);
    add_product(con, "p:4", "blue car", "vehicle,blue", 250.0, [6.0, 5.0]);
}

fn knn_query(con: &mut redis::Connection, query: &str, at: [f32; 2]) -> Value {
    let q = blob(&at);
    search(
        con,
        &[
            b"products",
            query.as_bytes(),
            b"PARAMS",
            b"2",
            b"vec",
            &q,
            b"SORTBY",
            b"dist",
            b"DIALECT",
            b"2",
        ],
    )
    .unwrap()
}

#[test]
fn hybrid_knn_filters_tags_ranges_and_terms() {
    let server = TestServer::start();
    let mut con = server.client();
    create_products(&mut con);
    seed(&mut con);

    let all = knn_query(&mut con, "*=>[KNN 3 @v $vec AS dist]", [0.1, 0.0]);
    assert_eq!(keys_of(&all), (3, vec!["p:1".into(), "p:2".into(), "p:3".into()]));
    let first = fields_of(&all, 0);
    assert_eq!(first[0].0, "dist");
    assert_eq!(first[0].1, b"0.0100000007078");

    let red = knn_query(&mut con, "(@tag:{red})=>[KNN 10 @v $vec AS dist]", [6.0, 5.0]);
    assert_eq!(keys_of(&red), (2, vec!["p:3".into(), "p:1".into()]));

    let cheap =
        knn_query(&mut con, "(@price:[0 100] @tag:{fruit})=>[KNN 1 @v $vec AS dist]", [1.0, 0.1]);
    assert_eq!(keys_of(&cheap).1, vec!["p:2".to_string()]);

    let text =
        search(&mut con, &[b"products", b"@name:car", b"SORTBY", b"price", b"DESC", b"NOCONTENT"])
            .unwrap();
    assert_eq!(keys_of(&text), (2, vec!["p:3".into(), "p:4".into()]));

    let negated =
        search(&mut con, &[b"products", b"-@tag:{vehicle}", b"SORTBY", b"price", b"NOCONTENT"])
            .unwrap();
    assert_eq!(keys_of(&negated).1, vec!["p:1".to_string(), "p:2".to_string()]);

    let union = search(
        &mut con,
        &[b"products", b"@tag:{green} | @tag:{blue}", b"SORTBY", b"price", b"NOCONTENT"],
    )
    .unwrap();
    assert_eq!(keys_of(&union).1, vec!["p:2".to_string(), "p:4".to_string()]);

    let page = search(
        &mut con,
        &[b"products", b"*", b"SORTBY", b"price", b"LIMIT", b"1", b"2", b"RETURN", b"1", b"price"],
    )
    .unwrap();
    assert_eq!(keys_of(&page), (4, vec!["p:2".into(), "p:4".into()]));
    assert_eq!(fields_of(&page, 0), vec![("price".to_string(), b"2".to_vec())]);

    let range = search(
        &mut con,
        &[
            b"products",
            b"@v:[VECTOR_RANGE 2 $vec]=>{$YIELD_DISTANCE_AS: d}",
            b"PARAMS",
            b"2",
            b"vec",
            &blob(&[0.0, 0.0]),
            b"SORTBY",
            b"d",
            b"RETURN",
            b"1",
            b"d",
            b"DIALECT",
            b"2",
        ],
    )
    .unwrap();
    assert_eq!(keys_of(&range), (2, vec!["p:1".into(), "p:2".into()]));
    assert_eq!(fields_of(&range, 1), vec![("d".to_string(), b"1".to_vec())]);
}

#[test]
fn errors_match_redisearch() {
    let server = TestServer::start();
    let mut con = server.client();
    create_products(&mut con);
    let err = |r: redis::RedisResult<Value>| {
        let e = r.unwrap_err();
        format!("{} {}", e.code().unwrap_or_default(), e.detail().unwrap_or_default())
    };
    assert!(err(cmd(&mut con, &["FT.CREATE", "products", "SCHEMA", "t", "TEXT"]))
        .contains("Index already exists"));
    assert!(err(cmd(&mut con, &["FT.SEARCH", "nosuch", "*"])).contains("nosuch: no such index"));
    assert!(err(cmd(&mut con, &["FT.INFO", "nosuch"])).contains("Unknown index name"));
    assert!(err(cmd(&mut con, &["FT.DROPINDEX", "nosuch"])).contains("Unknown Index name"));
    assert!(err(cmd(&mut con, &["FT.SEARCH", "products", "(@name:"])).contains("Syntax error"));
    let short = search(
        &mut con,
        &[b"products", b"*=>[KNN 2 @v $b]", b"PARAMS", b"2", b"b", b"xx", b"DIALECT", b"2"],
    );
    assert!(
        err(short).contains("query vector blob size (2) does not match index's expected size (8)")
    );
    let missing = search(
        &mut con,
        &[b"products", b"*=>[KNN 2 @v $c]", b"PARAMS", b"2", b"b", b"xx", b"DIALECT", b"2"],
    );
    assert!(err(missing).contains("No such parameter `c`"));
    let bad_sort = cmd(&mut con, &["FT.SEARCH", "products", "*", "SORTBY", "nosuch"]);
    assert!(err(bad_sort).contains("Property `nosuch` not loaded nor in schema"));
    let bad_dim = cmd(
        &mut con,
        &words("FT.CREATE x SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 0 DISTANCE_METRIC L2"),
    );
    assert!(err(bad_dim).contains("index dim: Value is outside acceptable bounds"));
    // A huge K or EF_RUNTIME is bounded by the index, not allocated.
    add_product(&mut con, "p:1", "red apple", "fruit,red", 1.0, [0.0, 0.0]);
    let q = blob(&[0.0, 0.0]);
    let huge = search(
        &mut con,
        &[
            b"products",
            b"*=>[KNN 1000000000 @v $q EF_RUNTIME 2000000000]",
            b"PARAMS",
            b"2",
            b"q",
            &q,
            b"NOCONTENT",
            b"DIALECT",
            b"2",
        ],
    )
    .unwrap();
    assert_eq!(keys_of(&huge), (1, vec!["p:1".to_string()]));
    // The connection and the index are intact after every error.
    assert_eq!(cmd(&mut con, &["PING"]).unwrap(), Value::SimpleString("PONG".into()));
    assert_eq!(
        cmd(&mut con, &["FT._LIST"]).unwrap(),
        Value::Array(vec![Value::SimpleString("products".into())])
    );
}

#[test]
fn key_changes_update_the_index_and_bad_documents_count_as_failures() {
    let server = TestServer::start();
    let mut con = server.client();
    seed(&mut con);
    // Created over existing keys: backfilled.
    create_products(&mut con);
    let count = |con: &mut redis::Connection, q: &str| {
        keys_of(&search(con, &[b"products", q.as_bytes(), b"NOCONTENT"]).unwrap()).0
    };
    assert_eq!(count(&mut con, "*"), 4);
    assert_eq!(count(&mut con, "@tag:{red}"), 2);

    cmd(&mut con, &["HSET", "p:1", "tag", "green"]).unwrap();
    assert_eq!(count(&mut con, "@tag:{red}"), 1);
    cmd(&mut con, &["DEL", "p:3"]).unwrap();
    assert_eq!(count(&mut con, "@tag:{red}"), 0);
    cmd(&mut con, &["RENAME", "p:4", "q:4"]).unwrap();
    assert_eq!(count(&mut con, "@tag:{blue}"), 0);
    cmd(&mut con, &["RENAME", "q:4", "p:5"]).unwrap();
    assert_eq!(count(&mut con, "@tag:{blue}"), 1);
    cmd(&mut con, &["PEXPIRE", "p:5", "1"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&mut con, "@tag:{blue}") != 0 {
        assert!(Instant::now() < deadline, "expired document still indexed");
        std::thread::sleep(Duration::from_millis(10));
    }

    // A wrong-length vector or a non-numeric price fails the document, not the write.
    assert_eq!(cmd(&mut con, &["HSET", "p:6", "name", "bad", "v", "abc"]).unwrap(), Value::Int(2));
    assert_eq!(cmd(&mut con, &["HSET", "p:7", "price", "cheap"]).unwrap(), Value::Int(1));
    assert_eq!(count(&mut con, "*"), 2);
    let info = cmd(&mut con, &["FT.INFO", "products"]).unwrap();
    let Value::Array(items) = info else { panic!() };
    let field = |name: &str| {
        let at = items.iter().position(|v| *v == Value::SimpleString(name.into())).unwrap();
        items[at + 1].clone()
    };
    assert_eq!(field("hash_indexing_failures"), Value::Int(2));
    assert_eq!(field("num_docs"), Value::Int(2));
    assert_eq!(field("percent_indexed"), Value::BulkString(b"1".to_vec()));

    // DD deletes the documents; FLUSHALL drops every index.
    cmd(&mut con, &["FT.DROPINDEX", "products", "DD"]).unwrap();
    assert_eq!(cmd(&mut con, &["EXISTS", "p:1", "p:2"]).unwrap(), Value::Int(0));
    create_products(&mut con);
    cmd(&mut con, &["FLUSHALL"]).unwrap();
    assert_eq!(cmd(&mut con, &["FT._LIST"]).unwrap(), Value::Array(vec![]));
}

#[test]
fn json_documents_are_indexed_by_path() {
    let server = TestServer::start();
    let mut con = server.client();
    cmd(&mut con, &words("FT.CREATE docs ON JSON PREFIX 1 d: SCHEMA $.title AS title TEXT $.tags[*] AS tags TAG $.year AS year NUMERIC $.emb AS emb VECTOR FLAT 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC COSINE"))
    .unwrap();
    cmd(
        &mut con,
        &[
            "JSON.SET",
            "d:1",
            "$",
            r#"{"title":"Durable logs","tags":["db","log"],"year":2020,"emb":[1,0]}"#,
        ],
    )
    .unwrap();
    cmd(
        &mut con,
        &[
            "JSON.SET",
            "d:2",
            "$",
            r#"{"title":"Vector search","tags":["ml"],"year":2023,"emb":[0,1]}"#,
        ],
    )
    .unwrap();
    let hits =
        search(&mut con, &[b"docs", b"@tags:{log}", b"RETURN", b"2", b"title", b"year"]).unwrap();
    assert_eq!(keys_of(&hits), (1, vec!["d:1".into()]));
    assert_eq!(
        fields_of(&hits, 0),
        vec![
            ("title".to_string(), b"Durable logs".to_vec()),
            ("year".to_string(), b"2020".to_vec())
        ]
    );
    let q = blob(&[0.1, 1.0]);
    let knn = search(
        &mut con,
        &[
            b"docs",
            b"@year:[2021 +inf]=>[KNN 5 @emb $q AS s]",
            b"PARAMS",
            b"2",
            b"q",
            &q,
            b"DIALECT",
            b"2",
        ],
    )
    .unwrap();
    assert_eq!(keys_of(&knn).1, vec!["d:2".to_string()]);
    let whole = fields_of(&knn, 0);
    assert_eq!(whole[1].0, "$");
    cmd(&mut con, &["JSON.SET", "d:2", "$.tags", r#"["db"]"#]).unwrap();
    let db = search(&mut con, &[b"docs", b"@tags:{db}", b"SORTBY", b"year", b"NOCONTENT"]).unwrap();
    assert_eq!(keys_of(&db).1, vec!["d:1".to_string(), "d:2".to_string()]);
}

#[test]
fn indexes_survive_restart_and_sigkill() {
    let dir = DataDir::new("search-restart");
    {
        let server = TestServer::start_in(&dir.path, &[]);
        let mut con = server.client();
        create_products(&mut con);
        cmd(&mut con, &["FT.ALIASADD", "shop", "products"]).unwrap();
        seed(&mut con);
        // Force a snapshot so the definition also travels through one.
        cmd(&mut con, &["SAVE"]).unwrap();
        add_product(&mut con, "p:9", "late pear", "fruit", 3.0, [0.5, 0.5]);
        let mut server = server;
        server.kill9();
    }
    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match search(&mut con, &[b"shop", b"@tag:{fruit}", b"SORTBY", b"price", b"NOCONTENT"]) {
            Ok(reply) if keys_of(&reply).0 == 3 => {
                assert_eq!(
                    keys_of(&reply).1,
                    vec!["p:1".to_string(), "p:2".to_string(), "p:9".to_string()]
                );
                break;
            }
            other => {
                assert!(Instant::now() < deadline, "index not back after restart: {other:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn config_profile_and_explain() {
    let server = TestServer::start();
    let mut con = server.client();
    create_products(&mut con);
    seed(&mut con);
    let timeout = cmd(&mut con, &["FT.CONFIG", "GET", "TIMEOUT"]).unwrap();
    assert_eq!(
        timeout,
        Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"TIMEOUT".to_vec()),
            Value::BulkString(b"500".to_vec())
        ])])
    );
    let bad = cmd(&mut con, &["FT.CONFIG", "SET", "NOPE", "1"]).unwrap_err();
    assert_eq!(bad.code(), Some("Invalid"));
    // DEFAULT_DIALECT 2 lets vector queries run without DIALECT.
    let q = blob(&[0.0, 0.0]);
    let knn = |con: &mut redis::Connection| {
        search(
            con,
            &[b"products", b"*=>[KNN 1 @v $vec]", b"PARAMS", b"2", b"vec", &q, b"NOCONTENT"],
        )
    };
    assert!(knn(&mut con).unwrap_err().detail().unwrap_or_default().contains("offset 1"));
    assert_eq!(cmd(&mut con, &["FT.CONFIG", "SET", "DEFAULT_DIALECT", "2"]).unwrap(), Value::Okay);
    assert_eq!(keys_of(&knn(&mut con).unwrap()).1, vec!["p:1".to_string()]);

    let profiled =
        cmd(&mut con, &["FT.PROFILE", "products", "SEARCH", "QUERY", "@tag:{red}", "NOCONTENT"])
            .unwrap();
    let Value::Array(parts) = profiled else { panic!() };
    assert_eq!(keys_of(&parts[0]).0, 2);
    let Value::Array(profile) = &parts[1] else { panic!() };
    let Value::Array(total) = &profile[0] else { panic!("{profile:?}") };
    assert_eq!(total[0], Value::SimpleString("Total profile time".into()));
    let Value::BulkString(ms) = &total[1] else { panic!("{total:?}") };
    assert!(String::from_utf8_lossy(ms).parse::<f64>().is_ok_and(|t| t >= 0.0), "{total:?}");

    let plan = cmd(&mut con, &["FT.EXPLAIN", "products", "@tag:{red} @price:[1 10]"]).unwrap();
    let Value::BulkString(plan) = plan else { panic!() };
    let plan = String::from_utf8(plan).unwrap();
    assert!(plan.contains("INTERSECT"), "{plan}");
    assert!(plan.contains("TAG:@tag"), "{plan}");
}

#[test]
fn legacy_filters_and_inkeys_narrow_matches() {
    let server = TestServer::start();
    let mut con = server.client();
    create_products(&mut con);
    seed(&mut con);
    let run = |con: &mut redis::Connection, extra: &[&str]| {
        let mut args: Vec<&[u8]> = vec![b"products", b"*"];
        args.extend(extra.iter().map(|a| a.as_bytes()));
        args.extend([&b"SORTBY"[..], b"price", b"NOCONTENT"]);
        keys_of(&search(con, &args).unwrap()).1
    };
    assert_eq!(run(&mut con, &["FILTER", "price", "(1", "260"]), ["p:2", "p:4"]);
    assert_eq!(run(&mut con, &["INKEYS", "2", "p:3", "p:1"]), ["p:1", "p:3"]);
    let err = search(&mut con, &[b"products", b"*", b"FILTER", b"price", b"x", b"2"]).unwrap_err();
    assert_eq!(err.code(), Some("Bad"));
    // INKEYS also bounds a KNN query.
    let q = blob(&[0.0, 0.0]);
    let knn = search(
        &mut con,
        &[
            b"products",
            b"*=>[KNN 1 @v $q]",
            b"PARAMS",
            b"2",
            b"q",
            &q,
            b"INKEYS",
            b"1",
            b"p:4",
            b"NOCONTENT",
            b"DIALECT",
            b"2",
        ],
    )
    .unwrap();
    assert_eq!(keys_of(&knn).1, vec!["p:4".to_string()]);
}

#[test]
fn index_filter_and_stopwords_shape_what_matches() {
    let server = TestServer::start();
    let mut con = server.client();
    let created = cmd(
        &mut con,
        &words("FT.CREATE adults PREFIX 1 u: FILTER @age>16 SCHEMA name TEXT age NUMERIC"),
    );
    assert_eq!(created.unwrap(), Value::Okay);
    cmd(&mut con, &["HSET", "u:1", "name", "ann", "age", "20"]).unwrap();
    cmd(&mut con, &["HSET", "u:2", "name", "bob", "age", "10"]).unwrap();
    // A document the filter cannot evaluate (no age) is indexed, as in RediSearch.
    cmd(&mut con, &["HSET", "u:3", "name", "cy"]).unwrap();
    let all = search(&mut con, &[b"adults", b"*", b"NOCONTENT", b"SORTBY", b"name"]).unwrap();
    assert_eq!(keys_of(&all).1, vec!["u:1".to_string(), "u:3".to_string()]);
    cmd(&mut con, &["HSET", "u:2", "age", "30"]).unwrap();
    assert_eq!(keys_of(&search(&mut con, &[b"adults", b"bob", b"NOCONTENT"]).unwrap()).0, 1);
    let bad =
        cmd(&mut con, &["FT.CREATE", "x", "FILTER", "@age>", "SCHEMA", "t", "TEXT"]).unwrap_err();
    assert_eq!(bad.code(), Some("Syntax"));

    cmd(&mut con, &words("FT.CREATE none STOPWORDS 0 SCHEMA t TEXT")).unwrap();
    cmd(&mut con, &words("FT.CREATE dflt SCHEMA t TEXT")).unwrap();
    cmd(&mut con, &["HSET", "doc", "t", "the hello world"]).unwrap();
    assert_eq!(keys_of(&search(&mut con, &[b"none", b"the", b"NOCONTENT"]).unwrap()).0, 1);
    assert_eq!(keys_of(&search(&mut con, &[b"dflt", b"the", b"NOCONTENT"]).unwrap()).0, 0);
}
