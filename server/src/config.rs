//! Configuration: one table of parameters serves the command line (`--port 7000`), the
//! redis.conf-style file, `CONFIG GET` and `CONFIG SET`.
//!
//! Values are kept as their canonical text (what CONFIG GET prints); parameters read on
//! hot paths are mirrored into atomics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::RwLock;

/// How a parameter's value is validated and normalised.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// A byte size with optional unit (`1gb`, `64mb`, `100k`); printed as plain bytes.
    Memory,
    /// `yes` / `no`.
    Bool,
    /// One of the listed words (case-insensitive; printed lowercase).
    Enum(&'static [&'static str]),
    /// Free text.
    Text,
    /// `save`: pairs of integers (seconds changes ...), or empty.
    SavePairs,
    /// A list of percentiles in 0..=100, printed as doubles.
    Percentiles,
    /// A memory size or a percentage up to 100 (`maxmemory-clients`).
    MemoryOrPercent,
}

/// Whether and how CONFIG SET may change a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// CONFIG SET changes it.
    Mutable,
    /// Only at start-up.
    Immutable,
    /// Redis can change it at run time, Engram cannot yet: setting the current value is
    /// accepted (tools round-trip CONFIG GET * through CONFIG SET), anything else fails.
    SameValueOnly,
}

/// One configuration parameter.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    /// Whether CONFIG SET may change it at run time.
    pub mutable: Mutability,
    /// Hidden parameters are only returned by CONFIG GET when named exactly.
    pub hidden: bool,
}

const fn p(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param { name, default, kind, mutable: Mutability::Mutable, hidden: false }
}

const fn fixed(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param { name, default, kind, mutable: Mutability::Immutable, hidden: false }
}

const fn same(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param { name, default, kind, mutable: Mutability::SameValueOnly, hidden: false }
}

const fn hidden(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param { name, default, kind, mutable: Mutability::Mutable, hidden: true }
}

/// Alternative names (alias, canonical), as Redis keeps for renamed parameters. CONFIG
/// GET lists both; setting either changes the one value.
pub static ALIASES: &[(&str, &str)] = &[
    ("slaveof", "replicaof"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("slave-read-only", "replica-read-only"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("lua-time-limit", "busy-reply-threshold"),
];
const INT: Kind = Kind::Int { min: 0, max: i64::MAX };
const ANY_INT: Kind = Kind::Int { min: i64::MIN, max: i64::MAX };
const YESNO: Kind = Kind::Bool;

/// Every parameter Engram knows. Redis parameters without an Engram meaning are accepted
/// and reported (tools and test suites set them), documented as having no effect.
pub static PARAMS: &[Param] = &[
    same("port", "6379", Kind::Int { min: 0, max: 65535 }),
    same("bind", "127.0.0.1", Kind::Text),
    same("replicaof", "", Kind::Text),
    p("maxmemory-clients", "0", Kind::MemoryOrPercent),
    hidden("key-load-delay", "0", ANY_INT),
    hidden("rdb-key-save-delay", "0", ANY_INT),
    p("shutdown-timeout", "10", INT),
    p("shutdown-on-sigint", "default", Kind::Text),
    p("shutdown-on-sigterm", "default", Kind::Text),
    p("repl-diskless-sync", "yes", YESNO),
    p("lazyfree-lazy-user-flush", "no", YESNO),
    fixed("dir", "./data", Kind::Text),
    fixed("databases", "16", Kind::Int { min: 1, max: 1_000_000 }),
    fixed("daemonize", "no", YESNO),
    fixed("pidfile", "", Kind::Text),
    fixed("logfile", "", Kind::Text),
    fixed("unixsocket", "", Kind::Text),
    fixed("cluster-enabled", "no", YESNO),
    // Shard membership (issue 7): this node's number (1-based position in the peers
    // list) and every node's client address; node-to-node traffic uses the bus port.
    fixed("node-id", "0", Kind::Int { min: 0, max: 1_000_000 }),
    fixed("cluster-peers", "", Kind::Text),
    fixed("cluster-port", "0", Kind::Int { min: 0, max: 65535 }),
    Param {
        name: "cluster-bus-routes",
        default: "",
        kind: Kind::Text,
        mutable: Mutability::Immutable,
        hidden: true,
    },
    // Entries between a shard's automatic snapshots (0: the default, 200000) and entries
    // kept behind a snapshot for lagging replicas.
    fixed("raft-snapshot-entries", "0", INT),
    fixed("raft-log-keep", "10000", INT),
    // A node added with CLUSTER MEET joins as a non-voting read replica.
    fixed("cluster-learner", "no", YESNO),
    fixed("raft-heartbeat-ms", "100", Kind::Int { min: 10, max: 60_000 }),
    fixed("raft-election-timeout-ms", "500", Kind::Int { min: 50, max: 600_000 }),
    p("requirepass", "", Kind::Text),
    p("maxclients", "10000", Kind::Int { min: 1, max: 1_000_000 }),
    p("proto-max-bulk-len", "536870912", Kind::Memory),
    p("client-query-buffer-limit", "1073741824", Kind::Memory),
    p("durability", "local", Kind::Enum(&["local", "quorum", "none"])),
    p("timeout", "0", INT),
    p("tcp-keepalive", "300", INT),
    p("loglevel", "notice", Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"])),
    // Redis accepts any value and clamps it to 1..=500.
    p("hz", "10", Kind::Int { min: 0, max: i32::MAX as i64 }),
    p("maxmemory", "0", Kind::Memory),
    p(
        "maxmemory-policy",
        "noeviction",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
    ),
    p("maxmemory-samples", "5", Kind::Int { min: 1, max: 64 }),
    p("slowlog-log-slower-than", "10000", ANY_INT),
    p("slowlog-max-len", "128", INT),
    p("latency-monitor-threshold", "0", INT),
    p("latency-tracking", "yes", YESNO),
    p("latency-tracking-info-percentiles", "50 99 99.9", Kind::Percentiles),
    p("notify-keyspace-events", "", Kind::Text),
    p("save", "3600 1 300 100 60 10000", Kind::SavePairs),
    p("appendonly", "no", YESNO),
    p("appendfsync", "everysec", Kind::Enum(&["always", "everysec", "no"])),
    p("dbfilename", "dump.rdb", Kind::Text),
    p("appendfilename", "appendonly.aof", Kind::Text),
    p("lazyfree-lazy-eviction", "no", YESNO),
    p("lazyfree-lazy-expire", "no", YESNO),
    p("lazyfree-lazy-server-del", "no", YESNO),
    p("lazyfree-lazy-user-del", "no", YESNO),
    p("activedefrag", "no", YESNO),
    p("active-expire-effort", "1", Kind::Int { min: 1, max: 10 }),
    p("busy-reply-threshold", "5000", INT),
    p("list-max-listpack-size", "-2", ANY_INT),
    p("list-compress-depth", "0", INT),
    p("hash-max-listpack-entries", "128", INT),
    p("hash-max-listpack-value", "64", INT),
    p("set-max-intset-entries", "512", INT),
    p("set-max-listpack-entries", "128", INT),
    p("set-max-listpack-value", "64", INT),
    p("zset-max-listpack-entries", "128", INT),
    p("zset-max-listpack-value", "64", INT),
    p("stream-node-max-bytes", "4096", Kind::Memory),
    p("stream-node-max-entries", "100", INT),
    p("hll-sparse-max-bytes", "3000", Kind::Memory),
    p("activerehashing", "yes", YESNO),
    p("close-on-oom", "no", YESNO),
    p(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Kind::Text,
    ),
    p("repl-backlog-size", "1048576", Kind::Memory),
    p("min-replicas-to-write", "0", INT),
    p("min-replicas-max-lag", "10", INT),
    p("replica-read-only", "yes", YESNO),
    p("replica-serve-stale-data", "yes", YESNO),
    p("enable-debug-command", "yes", Kind::Enum(&["yes", "no", "local"])),
    p("enable-protected-configs", "no", Kind::Enum(&["yes", "no", "local"])),
    p("enable-module-command", "no", Kind::Enum(&["yes", "no", "local"])),
    p("protected-mode", "no", YESNO),
    p("io-threads", "1", Kind::Int { min: 1, max: 128 }),
    p("lfu-log-factor", "10", INT),
    p("lfu-decay-time", "1", INT),
    p("acllog-max-len", "128", INT),
    p("tracking-table-max-keys", "1000000", INT),
    p("max-new-connections-per-cycle", "10", INT),
    p("rdbcompression", "yes", YESNO),
    p("rdbchecksum", "yes", YESNO),
    p("stop-writes-on-bgsave-error", "yes", YESNO),
    p("set-proc-title", "yes", YESNO),
    p("crash-log-enabled", "yes", YESNO),
    p("snapshot-log-bytes", "67108864", Kind::Memory),
];

/// Parses a Redis memory size (`100`, `1k`, `1kb`, `5mb`, `1gb`; units are case-insensitive).
pub fn parse_memory(text: &str) -> Option<i64> {
    let lower = text.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: i64 = num.parse().ok()?;
    let mul: i64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// The live configuration.
#[derive(Debug)]
pub struct ConfigStore {
    values: RwLock<BTreeMap<&'static str, String>>,
    /// Hot values, mirrored on every set.
    pub proto_max_bulk_len: AtomicU64,
    pub hll_sparse_max_bytes: AtomicU64,
    pub stream_node_max_entries: AtomicU64,
    /// `maxmemory` in bytes (0 = no limit), checked before every DENYOOM command.
    pub maxmemory: AtomicU64,
    pub stream_node_max_bytes: AtomicU64,
    /// Read on every command, so mirrored: `slowlog-log-slower-than` (µs; negative = off).
    pub slowlog_slower_than_us: AtomicI64,
    pub slowlog_max_len: AtomicU64,
    pub client_query_buffer_limit: AtomicU64,
    pub maxclients: AtomicU64,
    /// `busy-reply-threshold` (`lua-time-limit`) in milliseconds.
    pub busy_reply_threshold_ms: AtomicU64,
    /// `min-replicas-to-write` and `min-replicas-max-lag`, asked before every write.
    pub min_replicas_to_write: AtomicU64,
    pub min_replicas_max_lag: AtomicU64,
}

impl Default for ConfigStore {
    fn default() -> Self {
        let store = ConfigStore {
            values: RwLock::new(PARAMS.iter().map(|p| (p.name, p.default.to_string())).collect()),
            proto_max_bulk_len: AtomicU64::new(0),
            hll_sparse_max_bytes: AtomicU64::new(0),
            stream_node_max_entries: AtomicU64::new(100),
            maxmemory: AtomicU64::new(0),
            stream_node_max_bytes: AtomicU64::new(4096),
            slowlog_slower_than_us: AtomicI64::new(10_000),
            slowlog_max_len: AtomicU64::new(128),
            client_query_buffer_limit: AtomicU64::new(0),
            maxclients: AtomicU64::new(0),
            busy_reply_threshold_ms: AtomicU64::new(5000),
            min_replicas_to_write: AtomicU64::new(0),
            min_replicas_max_lag: AtomicU64::new(10),
        };
        for p in PARAMS {
            store.mirror(p.name, p.default);
        }
        store
    }
}

/// Why a CONFIG SET failed; `server.rs` turns it into Redis's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetError {
    /// No such parameter (`Unknown option or number of arguments ...`).
    Unknown(String),
    /// The parameter named `arg` was refused for `reason`.
    Failed { arg: String, reason: String },
}

impl ConfigStore {
    /// The parameter named `name` or one of its aliases (case-insensitive).
    pub fn param(name: &str) -> Option<&'static Param> {
        let canonical = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
            .map_or(name, |(_, c)| c);
        PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(canonical))
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        let p = Self::param(name)?;
        self.values.read().get(p.name).cloned()
    }

    /// The current value of `name` as an integer (0 if absent or not numeric).
    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// All (name, value) pairs whose name (or alias) matches the glob `pattern`. Hidden
    /// parameters only match when named exactly, as in Redis.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        let exact = |name: &str| pattern.eq_ignore_ascii_case(name.as_bytes());
        let mut out: Vec<(&'static str, String)> = PARAMS
            .iter()
            .filter(|p| {
                if p.hidden {
                    exact(p.name)
                } else {
                    crate::glob::matches(pattern, p.name.as_bytes(), true)
                }
            })
            .filter_map(|p| values.get(p.name).map(|v| (p.name, v.clone())))
            .collect();
        for (alias, canonical) in ALIASES {
            if crate::glob::matches(pattern, alias.as_bytes(), true) {
                if let Some(v) = values.get(canonical) {
                    out.push((alias, v.clone()));
                }
            }
        }
        out
    }

    /// Validates and sets `name`; `startup` allows immutable parameters. The error is the
    /// reason text Redis puts after `CONFIG SET failed (...) - `.
    pub fn set(&self, name: &str, value: &str, startup: bool) -> Result<(), String> {
        let p = Self::param(name).ok_or_else(|| "unknown option".to_string())?;
        let canonical = self.validate(p, value, startup)?;
        self.store(p, canonical);
        Ok(())
    }

    /// CONFIG SET with several pairs: every pair is validated first, in order, and
    /// nothing changes unless all are valid (Redis's all-or-nothing semantics).
    pub fn set_many(&self, pairs: &[(String, String)]) -> Result<(), SetError> {
        let mut staged: Vec<(&'static Param, String)> = Vec::with_capacity(pairs.len());
        for (name, _) in pairs {
            if Self::param(name).is_none() {
                return Err(SetError::Unknown(name.clone()));
            }
        }
        for (name, value) in pairs {
            let failed = |reason: String| SetError::Failed { arg: name.clone(), reason };
            let Some(p) = Self::param(name) else { return Err(SetError::Unknown(name.clone())) };
            if staged.iter().any(|(q, _)| q.name == p.name) {
                return Err(failed("duplicate parameter".into()));
            }
            let canonical = self.validate(p, value, false).map_err(failed)?;
            staged.push((p, canonical));
        }
        for (p, v) in staged {
            self.store(p, v);
        }
        Ok(())
    }

    fn validate(&self, p: &Param, value: &str, startup: bool) -> Result<String, String> {
        if !startup && p.mutable == Mutability::Immutable {
            return Err("can't set immutable config".into());
        }
        let canonical = normalise(p, value)?;
        if !startup && p.mutable == Mutability::SameValueOnly {
            let current = self.values.read().get(p.name).cloned().unwrap_or_default();
            if current != canonical {
                return Err(match p.name {
                    // What Redis reports when the new port cannot be bound.
                    "port" => match std::net::TcpListener::bind(("127.0.0.1", port_of(&canonical)))
                    {
                        Err(e) => format!("Unable to listen on this port: {e}"),
                        Ok(_) => "changing the port at run time is not supported".into(),
                    },
                    _ => format!("changing {} at run time is not supported", p.name),
                });
            }
        }
        Ok(canonical)
    }

    fn store(&self, p: &Param, canonical: String) {
        self.mirror(p.name, &canonical);
        self.values.write().insert(p.name, canonical);
    }

    fn mirror(&self, name: &str, value: &str) {
        let n = value.parse::<u64>().unwrap_or(0);
        match name {
            "proto-max-bulk-len" => self.proto_max_bulk_len.store(n, Ordering::Relaxed),
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes.store(n, Ordering::Relaxed),
            "maxmemory" => self.maxmemory.store(n, Ordering::Relaxed),
            "stream-node-max-entries" => self.stream_node_max_entries.store(n, Ordering::Relaxed),
            "stream-node-max-bytes" => self.stream_node_max_bytes.store(n, Ordering::Relaxed),
            "slowlog-log-slower-than" => self
                .slowlog_slower_than_us
                .store(value.parse::<i64>().unwrap_or(-1), Ordering::Relaxed),
            "slowlog-max-len" => self.slowlog_max_len.store(n, Ordering::Relaxed),
            "client-query-buffer-limit" => {
                self.client_query_buffer_limit.store(n, Ordering::Relaxed)
            }
            "maxclients" => self.maxclients.store(n, Ordering::Relaxed),
            "busy-reply-threshold" => self.busy_reply_threshold_ms.store(n, Ordering::Relaxed),
            "min-replicas-to-write" => self.min_replicas_to_write.store(n, Ordering::Relaxed),
            "min-replicas-max-lag" => self.min_replicas_max_lag.store(n, Ordering::Relaxed),
            _ => {}
        }
    }
}

fn port_of(text: &str) -> u16 {
    text.parse().unwrap_or(0)
}

fn normalise(p: &Param, value: &str) -> Result<String, String> {
    if p.name == "notify-keyspace-events" {
        return crate::notify::normalise_flags(value);
    }
    match p.kind {
        Kind::Int { min, max } => {
            let n: i64 = value
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(format!("argument must be between {min} and {max} inclusive"));
            }
            if p.name == "hz" {
                return Ok(n.clamp(1, 500).to_string());
            }
            Ok(n.to_string())
        }
        Kind::Memory => {
            let n =
                parse_memory(value).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n < 0 {
                return Err("argument must be a memory value".into());
            }
            Ok(n.to_string())
        }
        Kind::MemoryOrPercent => {
            if let Some(pct) = value.strip_suffix('%') {
                let n: i64 = pct
                    .parse()
                    .map_err(|_| "argument must be a memory or percent value".to_string())?;
                if n > 100 {
                    return Err("percentage argument must be less or equal to 100".into());
                }
                if n < 0 {
                    return Err("argument must be a memory or percent value".into());
                }
                return Ok(format!("{n}%"));
            }
            match parse_memory(value) {
                Some(n) if n >= 0 => Ok(n.to_string()),
                _ => Err("argument must be a memory or percent value".into()),
            }
        }
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Enum(words) => {
            let lower = value.to_ascii_lowercase();
            if words.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err("argument(s) must be one of the following: ".to_string() + &words.join(", "))
            }
        }
        Kind::SavePairs => {
            let words: Vec<&str> = value.split_whitespace().collect();
            let ok =
                words.len().is_multiple_of(2) && words.iter().all(|w| w.parse::<u64>().is_ok());
            if !ok {
                return Err("Invalid save parameters".into());
            }
            Ok(words.join(" "))
        }
        Kind::Percentiles => {
            let mut out = Vec::new();
            for w in value.split_whitespace() {
                match crate::cmd::args::parse_f64(w.as_bytes()) {
                    Some(f) if (0.0..=100.0).contains(&f) => {
                        out.push(crate::reply::format_double(f))
                    }
                    _ => return Err(format!("Invalid {} parameters", p.name)),
                }
            }
            Ok(out.join(" "))
        }
        Kind::Text => Ok(value.to_string()),
    }
}

/// Builds the store from `argv` as redis-server takes it: an optional config file first,
/// then `--name value...` pairs that override it.
pub fn from_args(args: &[String]) -> Result<ConfigStore, String> {
    let store = ConfigStore::default();
    let mut rest = args;
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            let text = std::fs::read_to_string(first)
                .map_err(|e| format!("can't open config file '{first}': {e}"))?;
            apply_text(&store, &text)?;
            rest = &args[1..];
        }
    }
    let mut i = 0;
    let mut lines = String::new();
    while i < rest.len() {
        let name = rest[i]
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument '{}'", rest[i]))?;
        let mut values = Vec::new();
        i += 1;
        while i < rest.len() && !rest[i].starts_with("--") {
            values.push(quote(&rest[i]));
            i += 1;
        }
        lines.push_str(&format!("{name} {}\n", values.join(" ")));
    }
    apply_text(&store, &lines)?;
    Ok(store)
}

fn quote(s: &str) -> String {
    if s.is_empty() || s.contains(char::is_whitespace) || s.contains('"') {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s.to_string()
    }
}

/// Applies redis.conf-syntax text (`name value ...` per line, `#` comments).
pub fn apply_text(store: &ConfigStore, text: &str) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = crate::resp::decode::split_args(line.as_bytes())
            .ok_or_else(|| format!("line {}: unbalanced quotes", n + 1))?;
        let Some((name, values)) = words.split_first() else { continue };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = values
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        store.set(&name, &value, true).map_err(|e| format!("line {}: '{name}': {e}", n + 1))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_like_redis_server() {
        let dir = std::env::temp_dir().join(format!("engram-conf-{}", std::process::id()));
        std::fs::write(&dir, "# comment\nport 7000\nmaxmemory 1mb\nsave \"\"\n").unwrap();
        let args = vec![
            dir.display().to_string(),
            "--port".into(),
            "7001".into(),
            "--dir".into(),
            "/tmp/x".into(),
        ];
        let c = from_args(&args).unwrap();
        assert_eq!(c.get("port").unwrap(), "7001");
        assert_eq!(c.get("maxmemory").unwrap(), "1048576");
        assert_eq!(c.get("dir").unwrap(), "/tmp/x");
        assert_eq!(c.get("save").unwrap(), "");
        std::fs::remove_file(dir).ok();
    }

    #[test]
    fn bad_values_are_refused() {
        let c = ConfigStore::default();
        assert!(c.set("maxclients", "abc", false).is_err());
        assert!(c.set("appendonly", "maybe", false).is_err());
        assert!(c.set("port", "1", false).is_err());
        assert!(c.set("nosuch", "1", false).is_err());
        c.set("proto-max-bulk-len", "1mb", false).unwrap();
        assert_eq!(c.proto_max_bulk_len.load(Ordering::Relaxed), 1024 * 1024);
    }
}
