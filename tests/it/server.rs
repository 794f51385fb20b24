//! Server commands over a real socket: INFO, CONFIG, COMMAND, DBSIZE / FLUSHALL / SWAPDB,
//! SLOWLOG, DEBUG, SHUTDOWN.

use std::collections::HashMap;
use std::time::Duration;

use crate::harness::{cmd, TestServer};

fn info_fields(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

#[test]
fn config_set_and_get_round_trip_and_fail_atomically() {
    let server = TestServer::start();
    let mut con = server.client();
    let ok: String = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "10mb", "slowlog-max-len", "64"])
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    let got: HashMap<String, String> =
        redis::cmd("CONFIG").arg(&["GET", "maxmemory", "slowlog-*"]).query(&mut con).unwrap();
    assert_eq!(got["maxmemory"], "10485760");
    assert_eq!(got["slowlog-max-len"], "64");
    assert!(got.contains_key("slowlog-log-slower-than"));

    // One bad pair: nothing changes.
    let err =
        cmd(&mut con, &["CONFIG", "SET", "maxmemory", "1mb", "maxclients", "abc"]).unwrap_err();
    assert!(err.to_string().contains(
        "CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"
    ));
    let mm: Vec<String> = redis::cmd("CONFIG").arg(&["GET", "maxmemory"]).query(&mut con).unwrap();
    assert_eq!(mm[1], "10485760");

    let err = cmd(&mut con, &["CONFIG", "SET", "foo", "bar"]).unwrap_err();
    assert!(err
        .to_string()
        .contains("Unknown option or number of arguments for CONFIG SET - 'foo'"));
    let err = cmd(&mut con, &["CONFIG", "SET", "daemonize", "yes"]).unwrap_err();
    assert!(err.to_string().contains("can't set immutable config"));
    let dur: Vec<String> =
        redis::cmd("CONFIG").arg(&["GET", "durability"]).query(&mut con).unwrap();
    assert_eq!(dur, vec!["durability".to_string(), "local".to_string()]);
}

#[test]
fn info_reports_redis_fields_that_parse() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let text: String = redis::cmd("INFO").arg("everything").query(&mut con).unwrap();
    let f = info_fields(&text);
    assert_eq!(f["redis_version"], "7.4.0");
    assert_eq!(f["tcp_port"], server.port.to_string());
    assert_eq!(f["role"], "master");
    assert_eq!(f["aof_enabled"], "0");
    assert_eq!(f["loading"], "0");
    assert_eq!(f["durability"], "local");
    assert!(f["used_memory"].parse::<u64>().unwrap() > 0);
    assert!(f["connected_clients"].parse::<u64>().unwrap() >= 1);
    assert!(f["total_commands_processed"].parse::<u64>().unwrap() >= 1);
    assert!(f["used_cpu_user"].parse::<f64>().is_ok());
    assert!(f["mem_fragmentation_ratio"].parse::<f64>().is_ok());
    assert_eq!(f["db0"], "keys=1,expires=0,avg_ttl=0,subexpiry=0");
    assert!(f["cmdstat_set"].starts_with("calls=1,usec="));
    assert!(f["cmdstat_set"].ends_with(",rejected_calls=0,failed_calls=0"));

    // Sections: a name picks one; default leaves commandstats out.
    let cpu: String = redis::cmd("INFO").arg("cpu").query(&mut con).unwrap();
    assert!(cpu.starts_with("# CPU\r\n") && !cpu.contains("used_memory"));
    let default: String = redis::cmd("INFO").query(&mut con).unwrap();
    assert!(!default.contains("cmdstat_") && default.contains("# Keyspace"));
}

#[test]
fn errors_are_counted_in_errorstats_and_rejected_calls() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: String = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut con).unwrap();
    assert!(cmd(&mut con, &["SET", "k"]).is_err());
    assert!(cmd(&mut con, &["NOSUCH"]).is_err());
    let text: String = redis::cmd("INFO").arg("all").query(&mut con).unwrap();
    let f = info_fields(&text);
    assert_eq!(f["errorstat_ERR"], "count=2");
    assert!(f["cmdstat_set"].contains("calls=0,") && f["cmdstat_set"].contains("rejected_calls=1"));
}

#[test]
fn command_count_matches_the_table_and_getkeys_uses_key_specs() {
    let server = TestServer::start();
    let mut con = server.client();
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    let all: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
    assert_eq!(count as usize, all.len());
    let listed: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut con).unwrap();
    assert_eq!(listed.iter().filter(|n| !n.contains('|')).count(), count as usize);
    assert!(listed.contains(&"config|get".to_string()));

    let keys: Vec<String> =
        redis::cmd("COMMAND").arg(&["GETKEYS", "DEL", "a", "b", "c"]).query(&mut con).unwrap();
    assert_eq!(keys, vec!["a", "b", "c"]);
    let keys: Vec<String> =
        redis::cmd("COMMAND").arg(&["GETKEYS", "MEMORY", "USAGE", "k"]).query(&mut con).unwrap();
    assert_eq!(keys, vec!["k"]);
    let err = cmd(&mut con, &["COMMAND", "GETKEYS", "PING"]).unwrap_err();
    assert!(err.to_string().contains("The command has no key arguments"));
    let err = cmd(&mut con, &["COMMAND", "GETKEYS", "nosuch", "x"]).unwrap_err();
    assert!(err.to_string().contains("Invalid command specified"));
    // A key count far past the arguments is refused at once (it once spun forever,
    // hanging the server), for GETKEYS and GETKEYSANDFLAGS alike.
    for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
        let argv = ["COMMAND", sub, "ZINTERSTORE", "zz", "1443677133621497600", "asdf"];
        let err = cmd(&mut con, &argv).unwrap_err();
        assert!(err.to_string().contains("Invalid arguments specified for command"), "{err}");
    }
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "ZUNIONSTORE", "d", "2", "a", "b"])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, vec!["d", "a", "b"]);
    assert_eq!(cmd(&mut con, &["PING"]).unwrap(), redis::Value::SimpleString("PONG".into()));

    let info: Vec<redis::Value> =
        redis::cmd("COMMAND").arg(&["INFO", "get", "nosuch"]).query(&mut con).unwrap();
    assert_eq!(info.len(), 2);
    assert_eq!(info[1], redis::Value::Nil);
    let redis::Value::Array(get) = &info[0] else { panic!("{:?}", info[0]) };
    assert_eq!(get[0], redis::Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], redis::Value::Int(2));
}

#[test]
fn flushall_flushdb_swapdb_and_dbsize() {
    let server = TestServer::start();
    let mut con = server.client();
    for db in ["0", "1"] {
        let _: () = redis::cmd("SELECT").arg(db).query(&mut con).unwrap();
        let _: () = redis::cmd("SET").arg("k").arg(db).query(&mut con).unwrap();
    }
    let _: () = redis::cmd("SET").arg("k2").arg("x").query(&mut con).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 2);
    let _: () = redis::cmd("SWAPDB").arg(0).arg(1).query(&mut con).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 1, "db 1 now holds what db 0 had");
    let err = cmd(&mut con, &["SWAPDB", "0", "100"]).unwrap_err();
    assert!(err.to_string().contains("DB index is out of range"));
    let err = cmd(&mut con, &["SWAPDB", "x", "1"]).unwrap_err();
    assert!(err.to_string().contains("invalid first DB index"));
    let _: () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 0);
    let _: () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 2);
    let _: () = redis::cmd("FLUSHALL").arg("SYNC").query(&mut con).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 0);
    assert!(cmd(&mut con, &["FLUSHALL", "LATER"]).is_err());
}

#[test]
fn slowlog_records_commands_over_the_threshold() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: () =
        redis::cmd("CONFIG").arg(&["SET", "slowlog-log-slower-than", "0"]).query(&mut con).unwrap();
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
    let _: String = redis::cmd("PING").query(&mut con).unwrap();
    let entries: Vec<redis::Value> =
        redis::cmd("SLOWLOG").arg(&["GET", "-1"]).query(&mut con).unwrap();
    assert!(!entries.is_empty());
    let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut con).unwrap();
    assert!(len >= 1);
    let err = cmd(&mut con, &["SLOWLOG", "GET", "-2"]).unwrap_err();
    assert!(err.to_string().contains("count should be greater than or equal to -1"));
}

#[test]
fn debug_digest_time_role_and_memory_usage() {
    let server = TestServer::start();
    let mut con = server.client();
    let empty: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    assert_eq!(empty, "0".repeat(40));
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let full: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    assert_ne!(full, empty);
    let usage: i64 = redis::cmd("MEMORY").arg(&["USAGE", "k"]).query(&mut con).unwrap();
    assert!(usage > 0);
    let missing: Option<i64> =
        redis::cmd("MEMORY").arg(&["USAGE", "nokey"]).query(&mut con).unwrap();
    assert_eq!(missing, None);
    let time: Vec<String> = redis::cmd("TIME").query(&mut con).unwrap();
    assert!(time[0].parse::<u64>().unwrap() > 1_600_000_000);
    let role = cmd(&mut con, &["ROLE"]).unwrap();
    let redis::Value::Array(role) = role else { panic!() };
    assert_eq!(role[0], redis::Value::BulkString(b"master".to_vec()));
    let modules: Vec<redis::Value> = redis::cmd("MODULE").arg("LIST").query(&mut con).unwrap();
    assert_eq!(modules.len(), 2, "search and ReJSON (the built-in FT.* and JSON.* commands)");
}

#[test]
fn shutdown_stops_the_process() {
    let mut server = TestServer::start();
    let mut con = server.client();
    assert!(cmd(&mut con, &["SHUTDOWN", "ABORT"]).is_err());
    // A successful SHUTDOWN closes the connection without a reply.
    let _ = cmd(&mut con, &["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_exit(Duration::from_secs(10)), "server still running after SHUTDOWN");
}

#[test]
fn commands_that_grow_memory_are_refused_over_maxmemory() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let _: () = redis::cmd("CONFIG").arg(&["SET", "maxmemory", "1"]).query(&mut con).unwrap();
    let err = redis::cmd("SET").arg("k2").arg("v").query::<()>(&mut con).unwrap_err();
    assert_eq!(err.code(), Some("OOM"));
    // Reads and deletions still work, and nothing was written.
    let v: Option<String> = redis::cmd("GET").arg("k2").query(&mut con).unwrap();
    assert_eq!(v, None);
    let n: i64 = redis::cmd("DEL").arg("k").query(&mut con).unwrap();
    assert_eq!(n, 1);
    let _: () = redis::cmd("CONFIG").arg(&["SET", "maxmemory", "0"]).query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("k2").arg("v").query(&mut con).unwrap();
}
