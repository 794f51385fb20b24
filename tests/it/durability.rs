//! Durability, black-box: no acknowledged write is ever lost.
//!
//! Each test runs a real server on a data directory that outlives it, kills it (SIGKILL,
//! so nothing is flushed on the way out), damages or keeps the log under `D/log/`, and
//! restarts on the same directory. The log format the tests parse is the documented one:
//! segments `{first_index:020}.seg` with a 32-byte header (magic `ENGRAMWL`, version u32,
//! reserved u32, first index u64, CRC32C of the 24 bytes before, 4 zero bytes), then
//! records `payload_len u32 | crc32c(index ++ payload) u32 | index u64 | payload`, all
//! little-endian.
//!
//! `ENGRAM_SOAK_ROUNDS=N` runs the SIGKILL soak for N rounds (default 20) and
//! `ENGRAM_SOAK_SEED=S` repeats a run's random choices (the seed is printed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use redis::Value;

use crate::harness::{cmd, DataDir, TestServer};

// ---------------------------------------------------------------------------------------
// Reading the log as documented.

const HEADER_LEN: usize = 32;
const RECORD_HEADER_LEN: usize = 16;

use crc32c::crc32c;

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().unwrap())
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().unwrap())
}

/// One record of a segment file.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Byte offset of the record header in the file.
    offset: usize,
    /// Payload length.
    len: usize,
    index: u64,
}

impl Record {
    fn end(&self) -> usize {
        self.offset + RECORD_HEADER_LEN + self.len
    }
}

/// A segment file as read from disk.
struct Segment {
    path: PathBuf,
    data: Vec<u8>,
    records: Vec<Record>,
    /// Where valid records end (anything after is a torn tail or padding).
    valid_len: usize,
}

/// The segment files under `dir/log/`, oldest first.
fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let log = dir.join("log");
    let Ok(entries) = std::fs::read_dir(&log) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.len() == 24
                && name.ends_with(".seg")
                && name[..20].bytes().all(|b| b.is_ascii_digit())
        })
        .collect();
    paths.sort();
    paths
}

/// Reads a segment, checking the header and every record's CRC and index sequence as the
/// documented format says; stops at the first record that is not valid.
fn read_segment(path: &Path) -> Segment {
    let data = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(data.len() >= HEADER_LEN, "{name}: {} bytes, shorter than a header", data.len());
    assert_eq!(&data[..8], b"ENGRAMWL", "{name}: bad magic");
    assert_eq!(u32_at(&data, 8), 1, "{name}: format version");
    assert_eq!(u32_at(&data, 12), 0, "{name}: reserved field");
    let first = u64_at(&data, 16);
    assert_eq!(u32_at(&data, 24), crc32c(&data[..24]), "{name}: header CRC32C");
    assert_eq!(&data[28..32], &[0, 0, 0, 0], "{name}: header padding");
    assert_eq!(name, format!("{first:020}.seg"), "file name vs header first_index");
    let mut records = Vec::new();
    let mut pos = HEADER_LEN;
    let mut expected = first;
    while data.len() - pos >= RECORD_HEADER_LEN {
        let len = u32_at(&data, pos) as usize;
        let crc = u32_at(&data, pos + 4);
        let index = u64_at(&data, pos + 8);
        let end = pos + RECORD_HEADER_LEN + len;
        if end > data.len() || crc32c(&data[pos + 8..end]) != crc || index != expected {
            break;
        }
        records.push(Record { offset: pos, len, index });
        expected += 1;
        pos = end;
    }
    Segment { path: path.to_path_buf(), data, records, valid_len: pos }
}

/// Whether `text` holds `n` as a whole decimal number (not inside a longer one).
fn mentions_number(text: &str, n: usize) -> bool {
    let n = n.to_string();
    text.split(|c: char| !c.is_ascii_digit()).any(|tok| tok == n)
}

// ---------------------------------------------------------------------------------------
// Small helpers.

/// SplitMix64: a seeded generator so a failing run's choices can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A connection whose reads give up after 30 s, so a server that stops answering fails
/// the test instead of hanging it.
fn client(server: &TestServer) -> redis::Connection {
    let con = server.client();
    con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    con
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn get(con: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

fn set_ok(con: &mut redis::Connection, args: &[&str]) {
    let mut all = vec!["SET"];
    all.extend_from_slice(args);
    match cmd(con, &all) {
        Ok(Value::Okay) => {}
        other => panic!("SET {args:?}: expected OK, got {other:?}"),
    }
}

fn dbsize(con: &mut redis::Connection) -> i64 {
    redis::cmd("DBSIZE").query(con).unwrap()
}

fn info_persistence(con: &mut redis::Connection) -> HashMap<String, String> {
    let text: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn config_get(con: &mut redis::Connection, name: &str) -> Vec<String> {
    redis::cmd("CONFIG").arg("GET").arg(name).query(con).unwrap()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

// ---------------------------------------------------------------------------------------
// 1. The SIGKILL soak.

const THREADS: usize = 6;
const STRING_KEYS: usize = 8;
const HASH_FIELDS: usize = 8;

/// One value whose writes are all made by one thread: its last acknowledged value and the
/// write in flight when the connection died, if any.
#[derive(Default, Clone)]
struct Slot {
    acked: Option<String>,
    maybe: Option<String>,
}

/// What one writer thread knows it wrote. Every key is written by exactly one thread, and
/// a thread waits for each reply before its next write, so at most one write (the one in
/// flight at the kill) is uncertain per thread and round.
struct Model {
    t: usize,
    /// Next unique value number (values are `"{t}-{seq}"`, never reused).
    seq: u64,
    strings: Vec<Slot>,
    counter: i64,
    counter_maybe: bool,
    list: Vec<String>,
    list_maybe: Option<String>,
    hash: Vec<Slot>,
    acked_total: u64,
}

impl Model {
    fn new(t: usize) -> Model {
        Model {
            t,
            seq: 0,
            strings: vec![Slot::default(); STRING_KEYS],
            counter: 0,
            counter_maybe: false,
            list: Vec::new(),
            list_maybe: None,
            hash: vec![Slot::default(); HASH_FIELDS],
            acked_total: 0,
        }
    }

    fn string_key(&self, j: usize) -> String {
        format!("s:{}:{j}", self.t)
    }
    fn counter_key(&self) -> String {
        format!("c:{}", self.t)
    }
    fn list_key(&self) -> String {
        format!("l:{}", self.t)
    }
    fn hash_key(&self) -> String {
        format!("h:{}", self.t)
    }
    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = (0..STRING_KEYS).map(|j| self.string_key(j)).collect();
        k.extend([self.counter_key(), self.list_key(), self.hash_key()]);
        k
    }
}

/// How one write ended.
enum Outcome {
    /// A reply arrived: the write is acknowledged (if the reply is the right one).
    Reply(Value),
    /// The connection failed: the write may or may not have been applied.
    Unknown,
}

fn write(con: &mut redis::Connection, args: &[&str]) -> Result<Outcome, String> {
    match cmd(con, args) {
        Ok(v) => Ok(Outcome::Reply(v)),
        // The server answered with an error: nothing in this workload should fail.
        Err(e) if e.code().is_some() => Err(format!("{args:?}: unexpected error reply {e}")),
        Err(_) => Ok(Outcome::Unknown),
    }
}

/// Runs a random write mix until the connection dies (or `stop`). Returns the updated
/// model and, if something unexpected happened, why.
fn writer(
    port: u16,
    mut m: Model,
    seed: u64,
    go: Arc<Barrier>,
    stop: Arc<AtomicBool>,
) -> (Model, Option<String>) {
    let con =
        redis::Client::open(format!("redis://127.0.0.1:{port}/")).and_then(|c| c.get_connection());
    go.wait();
    let failure = match con {
        Ok(mut con) => {
            let _ = con.set_read_timeout(Some(Duration::from_secs(20)));
            write_loop(&mut con, &mut m, seed, &stop).err()
        }
        Err(e) => Some(format!("connect failed: {e}")),
    };
    let t = m.t;
    (m, failure.map(|f| format!("thread {t}: {f}")))
}

/// The writes of [`writer`]: Ok when the connection died (or `stop`), Err on a wrong reply.
fn write_loop(
    con: &mut redis::Connection,
    m: &mut Model,
    seed: u64,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut rng = Rng(seed);
    while !stop.load(Ordering::Relaxed) {
        m.seq += 1;
        let val = format!("{}-{}", m.t, m.seq);
        let op = rng.below(10);
        match op {
            0..=3 => {
                let j = rng.below(STRING_KEYS as u64) as usize;
                let key = m.string_key(j);
                match write(con, &["SET", &key, &val]) {
                    Err(e) => return Err(e),
                    Ok(Outcome::Unknown) => {
                        m.strings[j].maybe = Some(val);
                        return Ok(());
                    }
                    Ok(Outcome::Reply(Value::Okay)) => {
                        m.strings[j].acked = Some(val);
                        m.acked_total += 1;
                    }
                    Ok(Outcome::Reply(v)) => return Err(format!("SET {key}: reply {v:?}")),
                }
            }
            4..=5 => {
                let key = m.counter_key();
                match write(con, &["INCR", &key]) {
                    Err(e) => return Err(e),
                    Ok(Outcome::Unknown) => {
                        m.counter_maybe = true;
                        return Ok(());
                    }
                    Ok(Outcome::Reply(Value::Int(n))) if n == m.counter + 1 => {
                        m.counter = n;
                        m.acked_total += 1;
                    }
                    Ok(Outcome::Reply(v)) => {
                        return Err(format!("INCR {key}: expected {}, got {v:?}", m.counter + 1))
                    }
                }
            }
            6..=7 => {
                let key = m.list_key();
                match write(con, &["RPUSH", &key, &val]) {
                    Err(e) => return Err(e),
                    Ok(Outcome::Unknown) => {
                        m.list_maybe = Some(val);
                        return Ok(());
                    }
                    Ok(Outcome::Reply(Value::Int(n))) if n == m.list.len() as i64 + 1 => {
                        m.list.push(val);
                        m.acked_total += 1;
                    }
                    Ok(Outcome::Reply(v)) => {
                        return Err(format!(
                            "RPUSH {key}: expected {}, got {v:?}",
                            m.list.len() + 1
                        ))
                    }
                }
            }
            _ => {
                let j = rng.below(HASH_FIELDS as u64) as usize;
                let key = m.hash_key();
                let field = format!("f{j}");
                let new = i64::from(m.hash[j].acked.is_none());
                match write(con, &["HSET", &key, &field, &val]) {
                    Err(e) => return Err(e),
                    Ok(Outcome::Unknown) => {
                        m.hash[j].maybe = Some(val);
                        return Ok(());
                    }
                    Ok(Outcome::Reply(Value::Int(n))) if n == new => {
                        m.hash[j].acked = Some(val);
                        m.acked_total += 1;
                    }
                    Ok(Outcome::Reply(v)) => {
                        return Err(format!("HSET {key} {field}: expected {new}, got {v:?}"))
                    }
                }
            }
        }
    }
    Ok(())
}

/// Checks one single-writer value against what was acknowledged, then adopts what the
/// server has (an in-flight write either happened or not, from now on it is known).
fn check_slot(what: &str, slot: &mut Slot, got: Option<String>, errors: &mut Vec<String>) {
    let ok = got == slot.acked || (got.is_some() && got == slot.maybe);
    if !ok {
        let lost = match &slot.acked {
            Some(a) => format!("acknowledged value {a:?} lost"),
            None => "never written".to_string(),
        };
        errors.push(format!(
            "{what}: {lost}: expected {:?} (or in-flight {:?}), got {got:?}",
            slot.acked, slot.maybe
        ));
    }
    slot.acked = got;
    slot.maybe = None;
}

/// Compares the server's data with every model; returns what is wrong (empty if nothing)
/// and leaves the models at the server's state.
fn verify(con: &mut redis::Connection, models: &mut [Model]) -> Vec<String> {
    let mut errors = Vec::new();
    let known: HashSet<String> = models.iter().flat_map(|m| m.keys()).collect();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(con).unwrap();
    for k in &keys {
        if !known.contains(k) {
            errors.push(format!("key {k:?} exists but was never written"));
        }
    }
    for m in models.iter_mut() {
        for j in 0..STRING_KEYS {
            let key = m.string_key(j);
            let got = get(con, &key);
            check_slot(&format!("GET {key}"), &mut m.strings[j], got, &mut errors);
        }

        let key = m.counter_key();
        let got: i64 = get(con, &key).map(|s| s.parse().unwrap()).unwrap_or(0);
        if got != m.counter && !(m.counter_maybe && got == m.counter + 1) {
            errors.push(format!(
                "counter {key}: {} acknowledged INCRs (in flight: {}), value is {got}",
                m.counter, m.counter_maybe
            ));
        }
        m.counter = got;
        m.counter_maybe = false;

        let key = m.list_key();
        let got: Vec<String> = redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).query(con).unwrap();
        let with_maybe = m.list_maybe.as_ref().map(|v| {
            let mut l = m.list.clone();
            l.push(v.clone());
            l
        });
        if got != m.list && Some(&got) != with_maybe.as_ref() {
            let first_diff = m.list.iter().zip(&got).position(|(a, b)| a != b);
            let detail = match first_diff {
                Some(i) => format!(
                    "first difference at index {i}: expected {:?}, got {:?}",
                    m.list[i], got[i]
                ),
                None if got.len() < m.list.len() => {
                    format!("acknowledged elements lost from the end: {:?}", &m.list[got.len()..])
                }
                None => format!("extra elements never acknowledged: {:?}", &got[m.list.len()..]),
            };
            errors.push(format!(
                "list {key}: {} acknowledged RPUSHes (in flight: {:?}), server has {}; {detail}",
                m.list.len(),
                m.list_maybe,
                got.len()
            ));
        }
        m.list = got;
        m.list_maybe = None;

        let key = m.hash_key();
        let mut got: HashMap<String, String> = redis::cmd("HGETALL").arg(&key).query(con).unwrap();
        for j in 0..HASH_FIELDS {
            let field = format!("f{j}");
            let v = got.remove(&field);
            check_slot(&format!("HGET {key} {field}"), &mut m.hash[j], v, &mut errors);
        }
        for (f, v) in got {
            errors.push(format!("HGET {key} {f}: field never written, has {v:?}"));
        }
    }
    errors
}

/// Rounds on one data directory: concurrent writers, SIGKILL at a random moment (some
/// rounds during SAVE or BGSAVE, some also killing the next start while it recovers),
/// restart, and check every acknowledged write against the model; the state carries over.
#[test]
fn acknowledged_writes_survive_repeated_sigkill() {
    let rounds = env_u64("ENGRAM_SOAK_ROUNDS").unwrap_or(20);
    let seed = env_u64("ENGRAM_SOAK_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
    });
    eprintln!("durability soak: {rounds} rounds, ENGRAM_SOAK_SEED={seed}");
    let dir = DataDir::new("soak");
    // Small snapshot threshold: snapshots and log truncation happen between (and during)
    // rounds, so recovery goes through snapshot + log replay.
    let extra = ["--snapshot-log-bytes", "65536"];
    let mut server = TestServer::start_in(&dir.path, &extra);
    {
        let mut con = client(&server);
        assert_eq!(config_get(&mut con, "durability"), ["durability", "local"]);
        let info = info_persistence(&mut con);
        assert_eq!(info.get("durability").map(String::as_str), Some("local"), "{info:?}");
    }
    let mut models: Vec<Model> = (0..THREADS).map(Model::new).collect();
    let mut rng = Rng(seed);
    let started = Instant::now();
    for round in 0..rounds {
        let go = Arc::new(Barrier::new(THREADS + 1));
        let stop = Arc::new(AtomicBool::new(false));
        let port = server.port;
        let handles: Vec<_> = models
            .drain(..)
            .map(|m| {
                let (go, stop) = (go.clone(), stop.clone());
                let s = seed ^ (round << 16) ^ (m.t as u64) ^ 0x5eed;
                std::thread::spawn(move || writer(port, m, s, go, stop))
            })
            .collect();
        go.wait();
        // The kill moment: 50-300 ms into the load (a random point, not a synchronisation).
        let kill_after = Duration::from_millis(50 + rng.below(251));
        let load_start = Instant::now();
        let snapshot = match round % 4 {
            1 => Some("BGSAVE"),
            3 => Some("SAVE"),
            _ => None,
        };
        if let Some(kind) = snapshot {
            std::thread::sleep(kill_after / 2);
            let mut con = client(&server);
            match (kind, cmd(&mut con, &[kind])) {
                ("BGSAVE", Ok(Value::SimpleString(s))) if s.starts_with("Background") => {}
                ("SAVE", Ok(Value::Okay)) => {}
                (_, Err(e)) if e.to_string().contains("in progress") => {}
                (_, other) => panic!("round {round}: {kind} replied {other:?}"),
            }
        }
        std::thread::sleep(kill_after.saturating_sub(load_start.elapsed()));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for h in handles {
            let (m, failure) = h.join().unwrap();
            models.push(m);
            failures.extend(failure);
        }
        assert!(
            failures.is_empty(),
            "round {round} (ENGRAM_SOAK_SEED={seed}): {failures:#?}\nserver output:\n{}",
            server.output()
        );

        if round % 5 == 4 {
            // Crash during recovery too: recovery must leave the directory recoverable.
            let mut early = TestServer::spawn_in(&dir.path, &extra);
            std::thread::sleep(Duration::from_millis(rng.below(30)));
            early.kill9();
        }
        server = TestServer::start_in(&dir.path, &extra);
        let mut con = client(&server);
        let errors = verify(&mut con, &mut models);
        assert!(
            errors.is_empty(),
            "round {round} (ENGRAM_SOAK_SEED={seed}, killed {kill_after:?} into the load{}): \
             after restart, {} problems:\n{}\nrestarted server output:\n{}",
            snapshot.map(|s| format!(", after {s}")).unwrap_or_default(),
            errors.len(),
            errors.iter().take(30).cloned().collect::<Vec<_>>().join("\n"),
            server.output()
        );
    }
    let acked: u64 = models.iter().map(|m| m.acked_total).sum();
    eprintln!(
        "durability soak: {rounds} rounds, {acked} acknowledged writes, {:?}",
        started.elapsed()
    );
    assert!(acked >= rounds, "only {acked} writes acknowledged in {rounds} rounds");
    let snapshots = std::fs::read_dir(dir.path.join("snapshot")).map(|d| d.count()).unwrap_or(0);
    assert!(snapshots > 0, "no snapshot under {}/snapshot after SAVE/BGSAVE", dir.path.display());
}

// ---------------------------------------------------------------------------------------
// 2. A torn tail is cut off.

/// Writes `k{i}` = `v{i}` for `range`, each acknowledged.
fn write_keys(con: &mut redis::Connection, prefix: &str, range: std::ops::Range<usize>) {
    for i in range {
        set_ok(con, &[&format!("{prefix}{i}"), &format!("v{i}")]);
    }
}

/// Checks `k{i}` = `v{i}` for `range`.
fn check_keys(
    con: &mut redis::Connection,
    prefix: &str,
    range: std::ops::Range<usize>,
    when: &str,
) {
    for i in range {
        let key = format!("{prefix}{i}");
        let want = format!("v{i}");
        let got = get(con, &key);
        assert_eq!(got.as_deref(), Some(want.as_str()), "{when}: acknowledged {key} lost");
    }
}

/// The newest segment, which must hold records.
fn newest_segment(dir: &Path) -> Segment {
    let paths = segment_paths(dir);
    let path = paths
        .last()
        .unwrap_or_else(|| panic!("no segment files under {}/log", dir.display()))
        .clone();
    let seg = read_segment(&path);
    assert!(!seg.records.is_empty(), "newest segment {} holds no records", path.display());
    seg
}

#[test]
fn torn_tail_is_truncated() {
    for damage in ["cut in the payload", "cut in the record header", "bad CRC at the end"] {
        let dir = DataDir::new("torn");
        let mut server = TestServer::start_in(&dir.path, &[]);
        let mut con = client(&server);
        write_keys(&mut con, "k", 0..50);
        drop(con);
        server.kill9();

        let seg = newest_segment(&dir.path);
        let last = *seg.records.last().unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&seg.path).unwrap();
        match damage {
            "cut in the payload" => file.set_len((last.end() - 3) as u64).unwrap(),
            "cut in the record header" => file.set_len((last.offset + 6) as u64).unwrap(),
            _ => {
                let mut data = seg.data[..last.end()].to_vec();
                *data.last_mut().unwrap() ^= 0x01;
                std::fs::write(&seg.path, &data).unwrap();
            }
        }
        drop(file);

        let mut server = TestServer::start_in(&dir.path, &[]);
        let mut con = client(&server);
        let when = format!("after a torn tail ({damage}) at offset {}", last.offset);
        let output = server.output();
        assert!(
            output.to_lowercase().contains("warn"),
            "{when}: no warning about the cut in the output:\n{output}"
        );
        check_keys(&mut con, "k", 0..49, &when);
        let last_key = get(&mut con, "k49");
        assert!(
            last_key.is_none() || last_key.as_deref() == Some("v49"),
            "{when}: k49 = {last_key:?}"
        );
        let n = dbsize(&mut con);
        assert!(n == 49 || n == 50, "{when}: DBSIZE {n}, expected 49 or 50");
        // Writes work, and are appended where recovery cut: a second crash reads them back
        // (appending after the damaged bytes would look like corruption in the middle).
        write_keys(&mut con, "after", 0..20);
        drop(con);
        server.kill9();
        let server = TestServer::start_in(&dir.path, &[]);
        let mut con = client(&server);
        let when = format!("second restart after a torn tail ({damage})");
        check_keys(&mut con, "k", 0..49, &when);
        check_keys(&mut con, "after", 0..20, &when);
        let n = dbsize(&mut con);
        assert!(n == 69 || n == 70, "{when}: DBSIZE {n}, expected 69 or 70");
    }
}

// ---------------------------------------------------------------------------------------
// 3. Corruption before valid records: refuse to start, name the place.

#[test]
fn corruption_in_the_middle_refuses_to_start() {
    for damage in ["payload byte flipped", "length field changed", "index field changed"] {
        let dir = DataDir::new("corrupt");
        let mut server = TestServer::start_in(&dir.path, &[]);
        let mut con = client(&server);
        write_keys(&mut con, "k", 0..200);
        drop(con);
        server.kill9();

        let seg = newest_segment(&dir.path);
        assert!(
            seg.records.len() >= 20,
            "only {} records in {}",
            seg.records.len(),
            seg.path.display()
        );
        let rec = seg.records[seg.records.len() / 2];
        let mut data = seg.data.clone();
        let at = match damage {
            "payload byte flipped" => rec.offset + RECORD_HEADER_LEN + rec.len / 2,
            // +/- 16 KiB: the record runs past the end of the file or into the next one.
            "length field changed" => rec.offset + 1,
            _ => rec.offset + 8,
        };
        data[at] ^= 0x40;
        std::fs::write(&seg.path, &data).unwrap();
        let name = seg.path.file_name().unwrap().to_string_lossy().into_owned();
        let what = format!(
            "{damage} in record {} at offset {} (byte {at}) of {} ({} records, valid up to {})",
            rec.index,
            rec.offset,
            seg.path.display(),
            seg.records.len(),
            seg.valid_len
        );

        let mut server = TestServer::spawn_in(&dir.path, &[]);
        let status = server.wait_exit_status(Duration::from_secs(30));
        let output = server.output();
        let Some(status) = status else {
            let serving = server.wait_serving(Duration::from_millis(1));
            server.kill9();
            panic!(
                "{what}: the server did not exit within 30 s (serving: {serving}); output:\n{output}"
            );
        };
        assert!(!status.success(), "{what}: the server exited with {status}; output:\n{output}");
        assert!(
            output.contains(&name),
            "{what}: the output does not name the segment file {name}:\n{output}"
        );
        assert!(
            mentions_number(&output, rec.offset) || mentions_number(&output, at),
            "{what}: the output does not name the offset {} (or {at}):\n{output}",
            rec.offset
        );
        // Refusing to start must not repair anything behind our back.
        let after = std::fs::read(&seg.path).unwrap();
        assert!(
            after == data,
            "{what}: the server changed the damaged segment ({} -> {} bytes)",
            data.len(),
            after.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// 4. A failed write or fsync poisons the log.

#[test]
fn disk_fault_poisons_writes_but_reads_work() {
    for fault in ["fsync", "write"] {
        let dir = DataDir::new("fault");
        let mut server = TestServer::start_in(&dir.path, &[]);
        let mut con = client(&server);
        write_keys(&mut con, "a", 0..10);
        let r = cmd(&mut con, &["DEBUG", "LOG-FAULT", fault]);
        assert!(r.is_ok(), "DEBUG LOG-FAULT {fault}: {r:?}");

        let misconf = |r: redis::RedisResult<Value>, what: &str| match r {
            Err(e) if e.code() == Some("MISCONF") => {}
            other => panic!("{fault} fault: {what}: expected a MISCONF error, got {other:?}"),
        };
        misconf(cmd(&mut con, &["SET", "hit", "x"]), "the write that hit the fault");
        misconf(cmd(&mut con, &["SET", "later", "y"]), "a later SET");
        misconf(cmd(&mut con, &["INCR", "a0n"]), "a later INCR");
        misconf(cmd(&mut con, &["RPUSH", "list", "z"]), "a later RPUSH");
        misconf(cmd(&mut con, &["DEL", "a1"]), "a later DEL");
        // Reads keep working, on this connection and a new one.
        check_keys(&mut con, "a", 0..10, &format!("reads after a {fault} fault"));
        let mut other = client(&server);
        check_keys(
            &mut other,
            "a",
            0..10,
            &format!("reads on a new connection after a {fault} fault"),
        );
        let info = info_persistence(&mut other);
        assert_eq!(info.get("log_poisoned").map(String::as_str), Some("1"), "{info:?}");
        let reason = info.get("log_poison_reason");
        assert!(reason.is_some_and(|r| !r.is_empty()), "log_poison_reason: {reason:?} in {info:?}");
        drop((con, other));
        server.kill9();

        let mut server = TestServer::start_in(&dir.path, &[]);
        let mut con = client(&server);
        let when = format!("restart after a {fault} fault");
        check_keys(&mut con, "a", 0..10, &when);
        let hit = get(&mut con, "hit");
        assert!(hit.is_none() || hit.as_deref() == Some("x"), "{when}: hit = {hit:?}");
        let info = info_persistence(&mut con);
        if let Some(p) = info.get("log_poisoned") {
            assert_eq!(p, "0", "{when}: {info:?}");
        }
        set_ok(&mut con, &["post", "ok"]);
        drop(con);
        server.kill9();
        let server = TestServer::start_in(&dir.path, &[]);
        let mut con = client(&server);
        let when = format!("second restart after a {fault} fault");
        check_keys(&mut con, "a", 0..10, &when);
        assert_eq!(get(&mut con, "post").as_deref(), Some("ok"), "{when}: acknowledged post lost");
    }
}

/// What one writer saw while the log was poisoned under it.
struct FaultWriter {
    /// `t{t}:{i}` for i below this was acknowledged.
    acked: usize,
    /// The reply to the write after the first MISCONF.
    after: Option<String>,
}

#[test]
fn disk_fault_under_concurrent_writes_loses_no_acknowledged_write() {
    for fault in ["write", "fsync"] {
        let dir = DataDir::new("fault-concurrent");
        let mut server = TestServer::start_in(&dir.path, &[]);
        let go = Arc::new(Barrier::new(THREADS + 1));
        let port = server.port;
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let go = go.clone();
                std::thread::spawn(move || -> Result<FaultWriter, String> {
                    let con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                        .and_then(|c| c.get_connection());
                    go.wait();
                    let mut con = con.map_err(|e| format!("thread {t}: connect: {e}"))?;
                    con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    let deadline = Instant::now() + Duration::from_secs(30);
                    for i in 0.. {
                        let key = format!("t{t}:{i}");
                        match cmd(&mut con, &["SET", &key, &format!("v{t}-{i}")]) {
                            Ok(Value::Okay) => {}
                            Err(e) if e.code() == Some("MISCONF") => {
                                // From now on every write fails the same way.
                                let after = cmd(&mut con, &["INCR", &format!("t{t}:after")]);
                                let after = match after {
                                    Err(e) => e.code().map(str::to_string),
                                    Ok(v) => Some(format!("{v:?}")),
                                };
                                return Ok(FaultWriter { acked: i, after });
                            }
                            other => return Err(format!("thread {t}: SET {key}: {other:?}")),
                        }
                        if Instant::now() > deadline {
                            return Err(format!("thread {t}: no MISCONF after 30 s"));
                        }
                    }
                    unreachable!()
                })
            })
            .collect();
        go.wait();
        // Let the writers get going (any moment will do: this is not a synchronisation).
        std::thread::sleep(Duration::from_millis(60));
        let mut con = client(&server);
        let r = cmd(&mut con, &["DEBUG", "LOG-FAULT", fault]);
        assert!(r.is_ok(), "DEBUG LOG-FAULT {fault}: {r:?}");
        let writers: Vec<FaultWriter> =
            handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
        for (t, w) in writers.iter().enumerate() {
            assert_eq!(
                w.after.as_deref(),
                Some("MISCONF"),
                "{fault} fault: thread {t}'s write after its first MISCONF"
            );
        }
        let acked: usize = writers.iter().map(|w| w.acked).sum();
        assert!(acked > 0, "{fault} fault: no write acknowledged before the fault");
        // Reads work while poisoned.
        for (t, w) in writers.iter().enumerate() {
            if w.acked > 0 {
                let i = w.acked - 1;
                let got = get(&mut con, &format!("t{t}:{i}"));
                assert_eq!(got, Some(format!("v{t}-{i}")), "read while poisoned");
            }
        }
        let info = info_persistence(&mut con);
        assert_eq!(info.get("log_poisoned").map(String::as_str), Some("1"), "{info:?}");
        drop(con);
        server.kill9();

        let server = TestServer::start_in(&dir.path, &[]);
        let mut con = client(&server);
        let mut lost = Vec::new();
        for (t, w) in writers.iter().enumerate() {
            for i in 0..w.acked {
                let key = format!("t{t}:{i}");
                let got = get(&mut con, &key);
                if got.as_deref() != Some(format!("v{t}-{i}").as_str()) {
                    lost.push(format!("{key}: expected v{t}-{i}, got {got:?}"));
                }
            }
            // The write that hit the fault may or may not be there; nothing later is.
            let hit = format!("t{t}:{}", w.acked);
            let got = get(&mut con, &hit);
            assert!(got.is_none() || got == Some(format!("v{t}-{}", w.acked)), "{hit}: {got:?}");
            let never = format!("t{t}:{}", w.acked + 1);
            assert_eq!(get(&mut con, &never), None, "{never} was never written");
        }
        assert!(
            lost.is_empty(),
            "{fault} fault with {THREADS} writers: {} of {acked} acknowledged writes lost after \
             restart:\n{}",
            lost.len(),
            lost.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
        );
        set_ok(&mut con, &["post", "ok"]);
    }
}

// ---------------------------------------------------------------------------------------
// 5. Snapshot, then log truncation.

#[test]
fn snapshot_then_truncation_keeps_everything() {
    let dir = DataDir::new("snapshot");
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = client(&server);
    // Strings, some with TTLs far enough away not to expire during the test.
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..3000 {
        let (k, v) = (format!("k{i}"), format!("value-{i}-{}", "x".repeat(i % 50)));
        if i % 10 == 0 {
            set_ok(&mut con, &[&k, &v, "PX", &(3_600_000 + i * 1000).to_string()]);
        } else {
            set_ok(&mut con, &[&k, &v]);
        }
        expected.insert(k, v);
    }
    for i in 0..100 {
        let _: i64 = redis::cmd("RPUSH").arg("list").arg(i).query(&mut con).unwrap();
        let _: i64 =
            redis::cmd("HSET").arg("hash").arg(format!("f{i}")).arg(i).query(&mut con).unwrap();
    }
    let _: i64 = redis::cmd("EXPIRE").arg("hash").arg(7200).query(&mut con).unwrap();
    // Overwritten and deleted keys must stay so.
    set_ok(&mut con, &["k1", "overwritten"]);
    expected.insert("k1".into(), "overwritten".into());
    let _: i64 = redis::cmd("DEL").arg("k2").query(&mut con).unwrap();
    expected.remove("k2");

    let before: Vec<PathBuf> = segment_paths(&dir.path);
    assert!(!before.is_empty(), "no log segments after 3200 writes");
    let lastsave0: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    // LASTSAVE has a resolution of one second: let the clock pass it first.
    let deadline = Instant::now() + Duration::from_secs(3);
    while unix_now() <= lastsave0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    match cmd(&mut con, &["SAVE"]) {
        Ok(Value::Okay) => {}
        other => panic!("SAVE: {other:?}"),
    }
    let lastsave1: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(lastsave1 > lastsave0, "LASTSAVE {lastsave0} -> {lastsave1} after SAVE");
    let snapshots = std::fs::read_dir(dir.path.join("snapshot")).map(|d| d.count()).unwrap_or(0);
    assert!(snapshots > 0, "SAVE left no file under {}/snapshot", dir.path.display());

    // More writes after the snapshot: they live only in the log.
    for i in 0..500 {
        let (k, v) = (format!("m{i}"), format!("after-{i}"));
        set_ok(&mut con, &[&k, &v]);
        expected.insert(k, v);
    }
    let _: i64 = redis::cmd("DEL").arg("k3").query(&mut con).unwrap();
    expected.remove("k3");

    // The segments the snapshot covers are deleted (possibly just after SAVE returns).
    let oldest = before[0].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while oldest.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = segment_paths(&dir.path);
    assert!(
        !oldest.exists(),
        "log not truncated after SAVE: segments before {before:?}, after {after:?}"
    );

    let ttls: Vec<(String, i64)> = ["k0", "k10", "k2990", "hash"]
        .iter()
        .map(|k| (k.to_string(), redis::cmd("PEXPIRETIME").arg(*k).query(&mut con).unwrap()))
        .collect();
    for (k, t) in &ttls {
        assert!(*t > 0, "{k} has no deadline before the restart: {t}");
    }
    let size = dbsize(&mut con);
    assert_eq!(size as usize, expected.len() + 2, "DBSIZE before the restart");
    drop(con);
    server.kill9();

    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = client(&server);
    assert_eq!(dbsize(&mut con), size, "DBSIZE after snapshot + log replay");
    for (k, v) in &expected {
        let got = get(&mut con, k);
        assert_eq!(got.as_ref(), Some(v), "after restart: {k} expected {v:?}, got {got:?}");
    }
    for k in ["k2", "k3"] {
        assert_eq!(get(&mut con, k), None, "after restart: deleted {k} is back");
    }
    let list: Vec<i64> = redis::cmd("LRANGE").arg("list").arg(0).arg(-1).query(&mut con).unwrap();
    assert_eq!(list, (0..100).collect::<Vec<i64>>(), "list after restart");
    let hash: HashMap<String, i64> = redis::cmd("HGETALL").arg("hash").query(&mut con).unwrap();
    assert_eq!(hash.len(), 100, "hash fields after restart");
    for (k, t) in &ttls {
        let got: i64 = redis::cmd("PEXPIRETIME").arg(k).query(&mut con).unwrap();
        assert_eq!(got, *t, "{k}: absolute deadline (PEXPIRETIME) changed across the restart");
    }
    let no_ttl: i64 = redis::cmd("PEXPIRETIME").arg("k5").query(&mut con).unwrap();
    assert_eq!(no_ttl, -1, "k5 gained a TTL across the restart");
}

// ---------------------------------------------------------------------------------------
// 6. Without fsync, a clean shutdown still keeps everything.

#[test]
fn durability_none_still_recovers_after_clean_shutdown() {
    let dir = DataDir::new("none");
    let extra = ["--durability", "none"];
    let mut server = TestServer::start_in(&dir.path, &extra);
    let mut con = client(&server);
    assert_eq!(config_get(&mut con, "durability"), ["durability", "none"]);
    let info = info_persistence(&mut con);
    assert_eq!(info.get("durability").map(String::as_str), Some("none"), "{info:?}");
    write_keys(&mut con, "k", 0..1000);
    for _ in 0..100 {
        let _: i64 = redis::cmd("INCR").arg("counter").query(&mut con).unwrap();
    }
    let _ = cmd(&mut con, &["SHUTDOWN"]); // the connection closes: no reply expected
    let status = server.wait_exit_status(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "SHUTDOWN: exit status {status:?}; output:\n{}",
        server.output()
    );

    let server = TestServer::start_in(&dir.path, &extra);
    let mut con = client(&server);
    check_keys(&mut con, "k", 0..1000, "after SHUTDOWN with durability none");
    assert_eq!(get(&mut con, "counter").as_deref(), Some("100"), "counter after SHUTDOWN");
    assert_eq!(dbsize(&mut con), 1001);
}

/// DEBUG RELOAD writes a snapshot and loads the state back from it: every type, TTLs,
/// hash-field TTLs, stream groups and encodings must come back identical, and so after
/// a SIGKILL that recovers from that snapshot alone.
#[test]
fn debug_reload_and_restart_rebuild_every_type_from_the_snapshot() {
    let dir = DataDir::new("reload");
    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    let script: &[&[&str]] = &[
        &["SET", "s", "plain"],
        &["SET", "n", "12345"],
        &["SET", "ttl", "v", "PX", "3600000"],
        &["RPUSH", "small-list", "a", "b", "c"],
        &["HSET", "h", "f1", "v1", "f2", "v2", "f3", "v3"],
        &["HPEXPIRE", "h", "3600000", "FIELDS", "1", "f2"],
        &["SADD", "ints", "1", "2", "3"],
        &["SADD", "words", "x", "y", "z"],
        &["ZADD", "z", "1.5", "a", "-0", "b", "inf", "c"],
        &["XADD", "st", "1-1", "f", "v"],
        &["XADD", "st", "2-1", "f", "w"],
        &["XGROUP", "CREATE", "st", "g", "0"],
        &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "st", ">"],
        &["XDEL", "st", "2-1"],
        &["PFADD", "hll", "a", "b", "c"],
        &["SELECT", "3"],
        &["SET", "other-db", "yes"],
        &["SELECT", "0"],
    ];
    for argv in script {
        cmd(&mut con, argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    }
    let big: Vec<String> = (0..2000).map(|i| format!("item-{i}")).collect();
    let mut rpush = vec!["RPUSH", "big-list"];
    rpush.extend(big.iter().map(String::as_str));
    cmd(&mut con, &rpush).unwrap();

    let snapshot_of = |con: &mut redis::Connection| -> Vec<Value> {
        let mut out = vec![cmd(con, &["DEBUG", "DIGEST"]).unwrap()];
        for key in ["s", "n", "small-list", "big-list", "h", "ints", "words", "z", "st"] {
            out.push(cmd(con, &["OBJECT", "ENCODING", key]).unwrap());
        }
        out.push(cmd(con, &["PEXPIRETIME", "ttl"]).unwrap());
        out.push(cmd(con, &["HPEXPIRETIME", "h", "FIELDS", "2", "f1", "f2"]).unwrap());
        out.push(cmd(con, &["XPENDING", "st", "g"]).unwrap());
        out.push(cmd(con, &["XINFO", "STREAM", "st"]).unwrap());
        out.push(cmd(con, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]).unwrap());
        out
    };
    let before = snapshot_of(&mut con);
    assert_eq!(cmd(&mut con, &["DEBUG", "RELOAD"]).unwrap(), Value::Okay);
    assert_eq!(snapshot_of(&mut con), before, "state after DEBUG RELOAD");
    let info = info_persistence(&mut con);
    assert_ne!(info.get("snapshot_index").map(String::as_str), Some("0"), "{info:?}");

    // Recovery from that snapshot (the segments it covers are deleted meanwhile).
    server.kill9();
    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    assert_eq!(snapshot_of(&mut con), before, "state after SIGKILL and restart");
    let other: Option<String> = redis::cmd("SELECT").arg(3).query(&mut con).ok();
    assert!(other.is_some());
    assert_eq!(get(&mut con, "other-db").as_deref(), Some("yes"));
}

/// A data directory written by the first durable version (snapshot at entry 11, then log
/// entries 12-16 incl. a MULTI/EXEC) must load in this and every later version: the
/// segment, snapshot and entry formats are frozen. Never regenerate the fixture; add a
/// new one next to it when a format gains a version.
#[test]
fn a_data_directory_from_format_version_1_still_loads() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/data-v1");
    let dir = DataDir::new("fixture-v1");
    for sub in ["log", "snapshot"] {
        std::fs::create_dir_all(dir.path.join(sub)).unwrap();
        for file in std::fs::read_dir(fixture.join(sub)).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), dir.path.join(sub).join(file.file_name())).unwrap();
        }
    }
    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    let q = |con: &mut redis::Connection, args: &[&str]| cmd(con, args).unwrap();
    assert_eq!(get(&mut con, "str").as_deref(), Some("hello"));
    assert_eq!(q(&mut con, &["PEXPIRETIME", "str"]), Value::Int(4102444800000));
    assert_eq!(get(&mut con, "counter").as_deref(), Some("43"));
    let list: Vec<String> =
        redis::cmd("LRANGE").arg("list").arg(0).arg(-1).query(&mut con).unwrap();
    assert_eq!(list, ["z", "a", "b", "c", "d"]);
    let hash: Vec<String> = redis::cmd("HGETALL").arg("hash").query(&mut con).unwrap();
    assert_eq!(hash, ["f1", "v1", "f2", "v2"]);
    assert_eq!(
        q(&mut con, &["HPEXPIRETIME", "hash", "FIELDS", "2", "f1", "f2"]),
        Value::Array(vec![Value::Int(-1), Value::Int(4102444800000)])
    );
    assert_eq!(q(&mut con, &["EXISTS", "set"]), Value::Int(0));
    let zset: Vec<String> =
        redis::cmd("ZRANGE").arg("zset").arg(0).arg(-1).arg("WITHSCORES").query(&mut con).unwrap();
    assert_eq!(zset, ["one", "1.5", "two", "2"]);
    assert_eq!(q(&mut con, &["XLEN", "stream"]), Value::Int(1));
    let groups: Vec<Vec<Value>> =
        redis::cmd("XINFO").arg("GROUPS").arg("stream").query(&mut con).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(q(&mut con, &["PFCOUNT", "hll"]), Value::Int(3));
    assert_eq!(q(&mut con, &["DBSIZE"]), Value::Int(7));
    let _: () = redis::cmd("SELECT").arg(2).query(&mut con).unwrap();
    assert_eq!(get(&mut con, "in-db-2").as_deref(), Some("yes"));
    assert_eq!(info_persistence(&mut con).get("log_applied_index").map(String::as_str), Some("16"));
}

/// A real full disk, not an injected fault: the data directory is a 1 MB tmpfs (skipped
/// where mounting needs a privilege the test does not have). The write that finds no
/// space is refused with MISCONF and so is every later one; reads go on; once there is
/// room again, a restart has every acknowledged write.
#[test]
fn a_real_full_disk_poisons_writes_and_loses_no_acknowledged_write() {
    use std::process::{Command, Stdio};
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).stderr(Stdio::null()).status();
        }
    }
    let dir = DataDir::new("enospc");
    let mount = |options: &str| {
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir.path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !mount("size=1m") {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _unmount = Unmount(dir.path.clone());

    let mut server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    let value = "x".repeat(1000);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..5000 {
        match cmd(&mut con, &["SET", &format!("k{i}"), &value]) {
            Ok(_) => acked.push(i),
            Err(e) => {
                refused = Some(e.to_string());
                break;
            }
        }
    }
    let refused = refused.expect("1 MB filled up without an error");
    assert!(
        refused.contains("MISCONF") && refused.contains("No space left"),
        "{refused} after {} writes; server running: {}; {}",
        acked.len(),
        server.is_running(),
        server.output()
    );
    assert!(acked.len() > 100, "only {} writes fit", acked.len());
    let later = cmd(&mut con, &["SET", "after", "1"]).unwrap_err().to_string();
    assert!(later.contains("MISCONF"), "{later}");
    assert_eq!(get(&mut con, "k0").as_deref(), Some(value.as_str()), "reads keep working");
    let info = info_persistence(&mut con);
    assert_eq!(info.get("log_poisoned").map(String::as_str), Some("1"), "{info:?}");
    server.kill9();

    // Room again (as an operator would make it), then recovery.
    assert!(Command::new("mount")
        .args(["-o", "remount,size=16m"])
        .arg(&dir.path)
        .status()
        .is_ok_and(|s| s.success()));
    let server = TestServer::start_in(&dir.path, &[]);
    let mut con = server.client();
    for i in &acked {
        let key = format!("k{i}");
        assert_eq!(get(&mut con, &key).as_deref(), Some(value.as_str()), "acknowledged {key} lost");
    }
    set_ok(&mut con, &["after", "1"]);
    assert_eq!(get(&mut con, "after").as_deref(), Some("1"));
    drop(con);
    drop(server);
}
