//! Lua scripting through the log: a script is one entry run in apply with the entry's
//! time and seed, so replaying the log rebuilds exactly what the scripts did; a killed
//! or abandoned script is never run again by recovery; script cache and function
//! libraries survive restarts and snapshots. (Reply and error shapes are covered by the
//! Python suite against the reference.)

use std::time::{Duration, Instant};

use redis::Value;

use crate::harness::{cmd, DataDir, TestServer};

fn bulk(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn digest(con: &mut redis::Connection) -> String {
    bulk(&cmd(con, &["DEBUG", "DIGEST"]).unwrap())
}

/// A script mixing every source of nondeterminism Redis scripts have: `math.random`,
/// TIME, SRANDMEMBER (a read whose draw the script then writes), SPOP and a RANDOMKEY.
const MIXED: &str = r#"
local r = math.random(1000)
local t = redis.call('TIME')
redis.call('SADD', KEYS[1], ARGV[1], r, t[1])
local picked = redis.call('SRANDMEMBER', KEYS[1])
redis.call('RPUSH', KEYS[2], picked, r, math.random())
if math.random() < 0.3 then redis.call('SPOP', KEYS[1]) end
local k = redis.call('RANDOMKEY')
if k then redis.call('HINCRBY', 'seen', k, 1) end
return r
"#;

fn run_workload(con: &mut redis::Connection, rounds: usize) {
    let sha = bulk(&cmd(con, &["SCRIPT", "LOAD", MIXED]).unwrap());
    for i in 0..rounds {
        let set = format!("set{}", i % 7);
        let list = format!("list{}", i % 5);
        let arg = i.to_string();
        if i % 2 == 0 {
            cmd(con, &["EVAL", MIXED, "2", &set, &list, &arg]).unwrap();
        } else {
            cmd(con, &["EVALSHA", &sha, "2", &set, &list, &arg]).unwrap();
        }
    }
}

#[test]
fn replaying_random_scripts_rebuilds_the_same_state() {
    let dir = DataDir::new("script-replay");
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    run_workload(&mut con, 300);
    let lib = "#!lua name=mix\nredis.register_function('mix', function(keys, args)\n\
               return redis.call('RPUSH', keys[1], math.random(100), redis.call('TIME')[2])\n\
               end)";
    cmd(&mut con, &["FUNCTION", "LOAD", lib]).unwrap();
    for i in 0..50 {
        cmd(&mut con, &["FCALL", "mix", "1", &format!("fl{}", i % 3)]).unwrap();
    }
    let before = digest(&mut con);
    assert_ne!(before, "0".repeat(40), "the workload left keys");

    // A fresh node from a copy of the log (replay only), and this node after SIGKILL.
    let copy = DataDir::new("script-replay-copy");
    copy_tree(&dir.path, &copy.path);
    server.kill9();
    let fresh = TestServer::start_in(&copy.path, &[]);
    assert_eq!(digest(&mut fresh.client()), before, "fresh node replaying the log");
    let restarted = TestServer::start_in(&dir.path, &[]);
    let mut con = restarted.client();
    assert_eq!(digest(&mut con), before, "restarted node");
    // And through a snapshot: SAVE, more scripts, restart again.
    cmd(&mut con, &["SAVE"]).unwrap();
    run_workload(&mut con, 40);
    let after = digest(&mut con);
    drop(restarted);
    let again = TestServer::start_in(&dir.path, &[]);
    let mut con = again.client();
    assert_eq!(digest(&mut con), after, "snapshot plus replay");
    assert_eq!(cmd(&mut con, &["FCALL", "mix", "1", "fl9"]).unwrap(), Value::Int(2));
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Polls until `probe` holds or the deadline passes.
fn wait_for(what: &str, timeout: Duration, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if probe() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn is_busy(server: &TestServer) -> bool {
    let mut con = server.client();
    matches!(cmd(&mut con, &["PING"]), Err(e) if e.to_string().contains("BUSY"))
}

#[test]
fn a_killed_script_answers_an_error_and_is_not_run_again_by_recovery() {
    let dir = DataDir::new("script-kill");
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    cmd(&mut con, &["SET", "before", "1"]).unwrap();
    cmd(&mut con, &["CONFIG", "SET", "busy-reply-threshold", "50"]).unwrap();
    let url = server.url();
    let spinner = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        // Reads, never writes: killable. If it ever ran to the end it would write.
        cmd(
            &mut con,
            &[
                "EVAL",
                "while redis.call('GET', 'before') do end redis.call('SET', 'after', 1)",
                "0",
            ],
        )
    });
    wait_for("-BUSY", Duration::from_secs(20), || is_busy(&server));
    let err = cmd(&mut con, &["GET", "before"]).unwrap_err().to_string();
    assert!(err.contains("BUSY") && err.contains("Redis is busy running a script"), "{err}");
    assert_eq!(cmd(&mut con, &["SCRIPT", "KILL"]).unwrap(), Value::Okay);
    let killed = spinner.join().unwrap().unwrap_err().to_string();
    assert!(killed.contains("Script killed by user with SCRIPT KILL"), "{killed}");
    assert_eq!(cmd(&mut con, &["EXISTS", "after"]).unwrap(), Value::Int(0));
    cmd(&mut con, &["SET", "later", "2"]).unwrap();

    // Recovery replays the log: the spinning entry must be skipped, not spun forever.
    server.kill9();
    let restarted = TestServer::start_in(&dir.path, &[]);
    let mut con = restarted.client();
    assert_eq!(
        cmd(&mut con, &["MGET", "before", "after", "later"]).unwrap(),
        Value::Array(vec![
            Value::BulkString(b"1".to_vec()),
            Value::Nil,
            Value::BulkString(b"2".to_vec()),
        ])
    );
}

#[test]
fn a_script_that_wrote_is_unkillable_and_shutdown_nosave_abandons_it() {
    let dir = DataDir::new("script-unkillable");
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    cmd(&mut con, &["CONFIG", "SET", "busy-reply-threshold", "50"]).unwrap();
    let url = server.url();
    let spinner = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _ = cmd(&mut con, &["EVAL", "redis.call('SET', 'partial', 1) while true do end", "0"]);
    });
    wait_for("-BUSY", Duration::from_secs(20), || is_busy(&server));
    let err = cmd(&mut con, &["SCRIPT", "KILL"]).unwrap_err().to_string();
    assert!(err.contains("UNKILLABLE"), "{err}");
    let _ = cmd(&mut con, &["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_exit(Duration::from_secs(20)), "SHUTDOWN NOSAVE ended the process");
    spinner.join().unwrap();

    // The script never completed, so its write was never acknowledged: as in Redis it
    // is gone, and recovery does not spin on it again.
    let restarted = TestServer::start_in(&dir.path, &[]);
    let mut con = restarted.client();
    assert_eq!(cmd(&mut con, &["EXISTS", "partial"]).unwrap(), Value::Int(0));
    assert_eq!(cmd(&mut con, &["PING"]).unwrap(), Value::SimpleString("PONG".into()));
}

#[test]
fn script_cache_and_libraries_survive_restarts_and_snapshots() {
    let dir = DataDir::new("script-state");
    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    let sha = bulk(&cmd(&mut con, &["SCRIPT", "LOAD", "return 'cached'"]).unwrap());
    let lib = "#!lua name=kept\nredis.register_function{function_name='kept', \
               callback=function() return 'lib' end, flags={'no-writes'}}";
    cmd(&mut con, &["FUNCTION", "LOAD", lib]).unwrap();
    cmd(&mut con, &["SAVE"]).unwrap();
    cmd(&mut con, &["FUNCTION", "DELETE", "kept"]).unwrap();
    cmd(&mut con, &["FUNCTION", "LOAD", &lib.replace("'lib'", "'lib2'")]).unwrap();
    drop(server);
    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    assert_eq!(bulk(&cmd(&mut con, &["EVALSHA", &sha, "0"]).unwrap()), "cached");
    assert_eq!(bulk(&cmd(&mut con, &["FCALL_RO", "kept", "0"]).unwrap()), "lib2");
    let dump = cmd(&mut con, &["FUNCTION", "DUMP"]).unwrap();
    let Value::BulkString(payload) = dump else { panic!("{dump:?}") };
    cmd(&mut con, &["FUNCTION", "FLUSH"]).unwrap();
    let err = cmd(&mut con, &["FCALL", "kept", "0"]).unwrap_err().to_string();
    assert!(err.contains("Function not found"), "{err}");
    // The payload is binary: it goes back as raw bytes.
    let restore = redis::cmd("FUNCTION").arg("RESTORE").arg(&payload[..]).query::<Value>(&mut con);
    assert_eq!(restore.unwrap(), Value::Okay);
    assert_eq!(bulk(&cmd(&mut con, &["FCALL", "kept", "0"]).unwrap()), "lib2");
}

#[test]
fn an_error_midway_keeps_earlier_writes_on_the_node_and_on_replay() {
    let dir = DataDir::new("script-midway");
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    cmd(&mut con, &["SET", "s", "text"]).unwrap();
    let err = cmd(
        &mut con,
        &[
            "EVAL",
            "redis.call('SET', 'a', 1) redis.call('INCR', 's') redis.call('SET', 'b', 1)",
            "0",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("value is not an integer"), "{err}");
    let state = cmd(&mut con, &["MGET", "a", "b"]).unwrap();
    assert_eq!(state, Value::Array(vec![Value::BulkString(b"1".to_vec()), Value::Nil]));
    server.kill9();
    let restarted = TestServer::start_in(&dir.path, &[]);
    assert_eq!(cmd(&mut restarted.client(), &["MGET", "a", "b"]).unwrap(), state);
}

#[test]
fn a_runaway_read_only_script_can_be_killed_even_inside_pcall() {
    // Read-only scripts run on a connection thread; the default is one such thread, so
    // this also checks that a spinning one does not stop every other client.
    let server = TestServer::start();
    let mut con = server.client();
    cmd(&mut con, &["CONFIG", "SET", "busy-reply-threshold", "50"]).unwrap();
    let url = server.url();
    let spinner = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let spin = "local f = function() while true do redis.call('GET', 'k') end end \
                    while true do pcall(f) end";
        cmd(&mut con, &["EVAL_RO", spin, "0"])
    });
    wait_for("-BUSY", Duration::from_secs(20), || is_busy(&server));
    assert_eq!(cmd(&mut con, &["SCRIPT", "KILL"]).unwrap(), Value::Okay);
    let killed = spinner.join().unwrap().unwrap_err().to_string();
    assert!(killed.contains("Script killed by user with SCRIPT KILL"), "{killed}");
    assert_eq!(cmd(&mut con, &["PING"]).unwrap(), Value::SimpleString("PONG".into()));
    // A long read-only script that ends by itself still answers correctly (it moves off
    // the connection thread partway and runs again there).
    let sum = "local t = 0 for i = 1, 3000000 do t = t + i end return t";
    assert_eq!(cmd(&mut con, &["EVAL_RO", sum, "0"]).unwrap(), Value::Int(4_500_001_500_000));
}

#[test]
fn sort_by_a_constant_inside_a_script_orders_a_set() {
    // A set has no order of its own; Redis hands scripts (and STORE) a sorted result so
    // what a script computes does not depend on the set's history.
    let server = TestServer::start();
    let mut con = server.client();
    cmd(&mut con, &["SADD", "s", "b", "aa", "c", "a"]).unwrap();
    let sorted =
        cmd(&mut con, &["EVAL", "return redis.call('SORT', KEYS[1], 'BY', '_')", "1", "s"]);
    let expected: Vec<Value> =
        ["a", "aa", "b", "c"].iter().map(|m| Value::BulkString(m.as_bytes().to_vec())).collect();
    assert_eq!(sorted.unwrap(), Value::Array(expected));
}

#[test]
fn thousands_of_distinct_scripts_and_functions_keep_working() {
    // mlua's reference stack holds about 8,000 values: a machine that held every compiled
    // script or registered function there refused all scripts past that many.
    const MANY: usize = 8_500;
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..MANY {
        pipe.cmd("EVAL").arg(format!("return {i}")).arg(0);
    }
    let got: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(got.len(), MANY);
    assert_eq!(got[MANY - 1], (MANY - 1) as i64);
    let mut pipe = redis::pipe();
    for i in 0..MANY {
        let code = format!(
            "#!lua name=lib{i}\nredis.register_function('f{i}', function() return {i} end)"
        );
        pipe.cmd("FUNCTION").arg("LOAD").arg(code).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    for i in [0, 7_999, MANY - 1] {
        let name = format!("f{i}");
        let v: i64 = redis::cmd("FCALL").arg(&name).arg(0).query(&mut con).unwrap();
        assert_eq!(v, i as i64);
    }
    let v: i64 = redis::cmd("EVAL").arg("return 'fresh' and 42").arg(0).query(&mut con).unwrap();
    assert_eq!(v, 42);
}
