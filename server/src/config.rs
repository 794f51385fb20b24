//! Configuration: one table of parameters serves the command line (`--port 7000`), the
//! redis.conf-style file, `CONFIG GET` and `CONFIG SET`.
//!
//! Values are kept as their canonical text (what CONFIG GET prints); parameters read on
//! hot paths are mirrored into atomics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

/// One configuration parameter.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    /// Whether CONFIG SET may change it at run time.
    pub mutable: bool,
}

const fn p(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param { name, default, kind, mutable: true }
}

const fn fixed(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param { name, default, kind, mutable: false }
}

const INT: Kind = Kind::Int { min: 0, max: i64::MAX };
const ANY_INT: Kind = Kind::Int { min: i64::MIN, max: i64::MAX };
const YESNO: Kind = Kind::Bool;

/// Every parameter Engram knows. Redis parameters without an Engram meaning are accepted
/// and reported (tools and test suites set them), documented as having no effect.
pub static PARAMS: &[Param] = &[
    fixed("port", "6379", Kind::Int { min: 0, max: 65535 }),
    fixed("bind", "127.0.0.1", Kind::Text),
    fixed("dir", "./data", Kind::Text),
    fixed("databases", "16", Kind::Int { min: 1, max: 1_000_000 }),
    fixed("daemonize", "no", YESNO),
    fixed("pidfile", "", Kind::Text),
    fixed("logfile", "", Kind::Text),
    fixed("unixsocket", "", Kind::Text),
    fixed("cluster-enabled", "no", YESNO),
    p("requirepass", "", Kind::Text),
    p("maxclients", "10000", Kind::Int { min: 1, max: 1_000_000 }),
    p("proto-max-bulk-len", "536870912", Kind::Memory),
    p("client-query-buffer-limit", "1073741824", Kind::Memory),
    p("durability", "local", Kind::Enum(&["local", "quorum", "none"])),
    p("timeout", "0", INT),
    p("tcp-keepalive", "300", INT),
    p("loglevel", "notice", Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"])),
    p("hz", "10", Kind::Int { min: 1, max: 500 }),
    p("maxmemory", "0", Kind::Memory),
    p(
        "maxmemory-policy",
        "noeviction",
        Kind::Enum(&[
            "volatile-lru",
            "allkeys-lru",
            "volatile-lfu",
            "allkeys-lfu",
            "volatile-random",
            "allkeys-random",
            "volatile-ttl",
            "noeviction",
        ]),
    ),
    p("maxmemory-samples", "5", Kind::Int { min: 1, max: 64 }),
    p("slowlog-log-slower-than", "10000", ANY_INT),
    p("slowlog-max-len", "128", INT),
    p("latency-monitor-threshold", "0", INT),
    p("latency-tracking", "yes", YESNO),
    p("latency-tracking-info-percentiles", "50 99 99.9", Kind::Text),
    p("notify-keyspace-events", "", Kind::Text),
    p("save", "3600 1 300 100 60 10000", Kind::Text),
    p("appendonly", "no", YESNO),
    p("appendfsync", "everysec", Kind::Enum(&["always", "everysec", "no"])),
    p("dbfilename", "dump.rdb", Kind::Text),
    p("appendfilename", "appendonly.aof", Kind::Text),
    p("lazyfree-lazy-eviction", "no", YESNO),
    p("lazyfree-lazy-expire", "no", YESNO),
    p("lazyfree-lazy-server-del", "no", YESNO),
    p("lazyfree-lazy-user-del", "no", YESNO),
    p("lazyfree-lazy-user-flush", "no", YESNO),
    p("activedefrag", "no", YESNO),
    p("active-expire-effort", "1", Kind::Int { min: 1, max: 10 }),
    p("busy-reply-threshold", "5000", INT),
    p("lua-time-limit", "5000", INT),
    p("list-max-listpack-size", "-2", ANY_INT),
    p("list-max-ziplist-size", "-2", ANY_INT),
    p("list-compress-depth", "0", INT),
    p("hash-max-listpack-entries", "128", INT),
    p("hash-max-listpack-value", "64", INT),
    p("hash-max-ziplist-entries", "128", INT),
    p("hash-max-ziplist-value", "64", INT),
    p("set-max-intset-entries", "512", INT),
    p("set-max-listpack-entries", "128", INT),
    p("set-max-listpack-value", "64", INT),
    p("zset-max-listpack-entries", "128", INT),
    p("zset-max-listpack-value", "64", INT),
    p("zset-max-ziplist-entries", "128", INT),
    p("zset-max-ziplist-value", "64", INT),
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
    pub client_query_buffer_limit: AtomicU64,
    pub maxclients: AtomicU64,
}

impl Default for ConfigStore {
    fn default() -> Self {
        let store = ConfigStore {
            values: RwLock::new(PARAMS.iter().map(|p| (p.name, p.default.to_string())).collect()),
            proto_max_bulk_len: AtomicU64::new(0),
            client_query_buffer_limit: AtomicU64::new(0),
            maxclients: AtomicU64::new(0),
        };
        for p in PARAMS {
            store.mirror(p.name, p.default);
        }
        store
    }
}

impl ConfigStore {
    /// The parameter named `name` (case-insensitive).
    pub fn param(name: &str) -> Option<&'static Param> {
        PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
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

    /// All (name, value) pairs whose name matches the glob `pattern`.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        values
            .iter()
            .filter(|(name, _)| crate::glob::matches(pattern, name.as_bytes(), true))
            .map(|(n, v)| (*n, v.clone()))
            .collect()
    }

    /// Validates and sets `name`; `startup` allows immutable parameters. The error is the
    /// reason text Redis puts after `- argument(s) must be ...`-style messages.
    pub fn set(&self, name: &str, value: &str, startup: bool) -> Result<(), String> {
        let p = Self::param(name).ok_or_else(|| "unknown option".to_string())?;
        if !p.mutable && !startup {
            return Err("can't set immutable config".into());
        }
        let canonical = normalise(p, value)?;
        self.mirror(p.name, &canonical);
        self.values.write().insert(p.name, canonical);
        Ok(())
    }

    fn mirror(&self, name: &str, value: &str) {
        let n = value.parse::<u64>().unwrap_or(0);
        match name {
            "proto-max-bulk-len" => self.proto_max_bulk_len.store(n, Ordering::Relaxed),
            "client-query-buffer-limit" => {
                self.client_query_buffer_limit.store(n, Ordering::Relaxed)
            }
            "maxclients" => self.maxclients.store(n, Ordering::Relaxed),
            _ => {}
        }
    }
}

fn normalise(p: &Param, value: &str) -> Result<String, String> {
    match p.kind {
        Kind::Int { min, max } => {
            let n: i64 = value
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(format!("argument must be between {min} and {max} inclusive"));
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
