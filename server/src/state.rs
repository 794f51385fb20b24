//! Server-wide shared state: configuration, the keyspace guard, the log handle, the
//! client registry and statistics. One `Arc<Shared>` per server.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::config::ConfigStore;
use crate::fsm::Fsm;
use crate::keyspace::Keyspace;
use crate::session::ClientInfo;

/// The log the server proposes writes to.
pub type Log = engram_log::Log<Fsm>;

/// Per-command counters (`INFO commandstats`).
#[derive(Debug, Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
}

/// Server counters (`INFO stats`).
#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub expired_keys: AtomicU64,
    /// Key changes applied (`rdb_changes_since_last_save`; reset by a snapshot later).
    pub dirty: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub total_error_replies: AtomicU64,
    /// Indexed by command id (`cmd::Table` order).
    pub commands: Vec<CommandStats>,
    /// Error code -> count (`INFO errorstats`).
    pub errors: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    fn new(commands: usize) -> Self {
        Self {
            commands: (0..commands).map(|_| CommandStats::default()).collect(),
            ..Default::default()
        }
    }

    /// Counts an error reply under its code.
    pub fn error(&self, code: String) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        *self.errors.lock().entry(code).or_default() += 1;
    }

    /// Zeroes what CONFIG RESETSTAT resets.
    pub fn reset(&self) {
        for c in &self.commands {
            c.calls.store(0, Ordering::Relaxed);
            c.usec.store(0, Ordering::Relaxed);
            c.rejected_calls.store(0, Ordering::Relaxed);
            c.failed_calls.store(0, Ordering::Relaxed);
        }
        self.errors.lock().clear();
        for a in [
            &self.total_connections_received,
            &self.rejected_connections,
            &self.total_commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.expired_keys,
            &self.keyspace_hits,
            &self.keyspace_misses,
            &self.total_error_replies,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

/// One SLOWLOG entry.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix seconds when the command finished.
    pub time_s: u64,
    pub duration_us: u64,
    /// The arguments, already cut as Redis cuts them (32 args, 128 bytes each).
    pub argv: Vec<bytes::Bytes>,
    pub addr: String,
    pub name: bytes::Bytes,
}

/// The slow log (`SLOWLOG GET/LEN/RESET`), newest first.
#[derive(Debug, Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<SlowEntry>>,
    next_id: AtomicU64,
}

/// Most arguments a slow-log entry keeps, and most bytes per argument.
const SLOWLOG_MAX_ARGC: usize = 32;
const SLOWLOG_MAX_ARGLEN: usize = 128;

impl SlowLog {
    /// Records `argv` if it took longer than `threshold_us` (negative: disabled), keeping
    /// at most `max_len` entries.
    pub fn record(
        &self,
        argv: &[bytes::Bytes],
        duration_us: u64,
        threshold_us: i64,
        max_len: usize,
        client: &ClientInfo,
    ) {
        if threshold_us < 0 || duration_us < threshold_us as u64 {
            return;
        }
        let mut kept = Vec::with_capacity(argv.len().min(SLOWLOG_MAX_ARGC));
        for (i, a) in argv.iter().enumerate() {
            if i == SLOWLOG_MAX_ARGC - 1 && argv.len() > SLOWLOG_MAX_ARGC {
                let more = argv.len() - i;
                kept.push(bytes::Bytes::from(format!("... ({more} more arguments)")));
                break;
            }
            if a.len() > SLOWLOG_MAX_ARGLEN {
                let mut cut = a[..SLOWLOG_MAX_ARGLEN].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_ARGLEN).as_bytes(),
                );
                kept.push(bytes::Bytes::from(cut));
            } else {
                kept.push(a.clone());
            }
        }
        // AUTH and HELLO ... AUTH carry passwords: keep only the command name.
        if argv
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"auth") || n.eq_ignore_ascii_case(b"hello"))
        {
            for a in kept.iter_mut().skip(1) {
                *a = bytes::Bytes::from_static(b"(redacted)");
            }
        }
        let entry = SlowEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time_s: crate::clock::now_ms() / 1000,
            duration_us,
            argv: kept,
            addr: client.addr.clone(),
            name: client.view.lock().name.clone().unwrap_or_default(),
        };
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// Up to `count` newest entries.
    pub fn newest(&self, count: usize) -> Vec<SlowEntry> {
        self.entries.lock().iter().take(count).cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (ids keep counting, as in Redis).
    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

/// The last sample behind `instantaneous_ops_per_sec`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpsSample {
    pub at_ms: u64,
    pub commands: u64,
    pub per_sec: u64,
}

/// Connected clients by id.
#[derive(Debug, Default)]
pub struct Clients {
    by_id: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    open: std::sync::atomic::AtomicUsize,
}

impl Clients {
    /// A fresh client id (ids start at 1 and never repeat).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers a connected client.
    pub fn add(&self, info: Arc<ClientInfo>) {
        self.by_id.lock().insert(info.id, info);
    }

    /// Unregisters a client.
    pub fn remove(&self, id: u64) {
        self.by_id.lock().remove(&id);
    }

    /// Counts an accepted connection (until `connection_closed`).
    pub fn connection_opened(&self) {
        self.open.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a connection whose task ended.
    pub fn connection_closed(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Accepted connections whose task is still running (the maxclients check).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.by_id.lock().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All connected clients, by id.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.by_id.lock().values().cloned().collect()
    }
}

/// Everything connections share.
pub struct Shared {
    /// FT.AGGREGATE WITHCURSOR results waiting for FT.CURSOR READ.
    pub search_cursors: Mutex<crate::search::cursor::Cursors>,
    /// FT.CONFIG SET values (node-local, as RediSearch's module options).
    pub search_config: Mutex<std::collections::HashMap<String, String>>,
    /// Shared with the state machine, which reads the limits apply enforces.
    pub config: Arc<ConfigStore>,
    /// Clients blocked in BLPOP & co, woken from the apply path.
    pub blocked: Arc<crate::blocking::BlockedClients>,
    pub keyspace: Arc<RwLock<Keyspace>>,
    pub log: Log,
    pub clients: Clients,
    pub stats: Arc<Stats>,
    /// Unix ms at start.
    pub started_ms: u64,
    pub started: std::time::Instant,
    /// 40 hex chars, new at every start (INFO run_id).
    pub run_id: String,
    /// The port actually bound (0 in config means "pick one").
    pub port: AtomicU64,
    /// Flips to true when the server should stop.
    pub shutdown: watch::Sender<bool>,
    /// SLOWLOG entries.
    pub slowlog: SlowLog,
    /// `DEBUG SET-ACTIVE-EXPIRE`: when false, the leader's expiry task proposes nothing.
    pub active_expire: AtomicBool,
    /// For `instantaneous_ops_per_sec`.
    pub ops_sample: Mutex<OpsSample>,
    /// Pub/sub channels, patterns and shard channels (also fed by keyspace notifications).
    pub pubsub: Arc<crate::pubsub::PubSub>,
    /// The running script (busy replies, SCRIPT KILL, FUNCTION STATS).
    pub scripts: Arc<crate::script::runtime::ScriptRuntime>,
}

impl Shared {
    /// Builds shared state around an already-started log.
    pub fn new(
        config: Arc<ConfigStore>,
        keyspace: Arc<RwLock<Keyspace>>,
        log: Log,
        stats: Arc<Stats>,
        blocked: Arc<crate::blocking::BlockedClients>,
    ) -> Self {
        let started_ms = crate::clock::now_ms();
        let mut rng = crate::rng::Rng::new(crate::clock::now_us() ^ u64::from(std::process::id()));
        let run_id = (0..5).map(|_| format!("{:08x}", rng.next_u64() as u32)).collect();
        Self {
            blocked,
            config,
            keyspace,
            log,
            clients: Clients::default(),
            stats,
            started_ms,
            started: crate::clock::monotonic(),
            run_id,
            port: AtomicU64::new(0),
            shutdown: watch::channel(false).0,
            slowlog: SlowLog::default(),
            active_expire: AtomicBool::new(true),
            ops_sample: Mutex::new(OpsSample { at_ms: started_ms, ..Default::default() }),
            pubsub: Default::default(),
            scripts: Default::default(),
            search_cursors: Default::default(),
            search_config: Default::default(),
        }
    }

    /// The keyspace for reading, for code on connection threads. A script holds the
    /// write guard for as long as it runs: past `busy-reply-threshold` this answers
    /// `-BUSY` (as Redis does) instead of waiting, which would also stall every other
    /// connection served by this thread.
    pub fn read_keyspace(
        &self,
    ) -> Result<parking_lot::RwLockReadGuard<'_, Keyspace>, crate::error::CmdError> {
        loop {
            if let Some(guard) = self.keyspace.try_read_for(std::time::Duration::from_millis(2)) {
                return Ok(guard);
            }
            if let Some(is_function) = self.scripts.busy() {
                return Err(crate::script::runtime::ScriptRuntime::busy_error(is_function));
            }
        }
    }

    /// Builds the stats block sized for the command table.
    pub fn new_stats() -> Arc<Stats> {
        Arc::new(Stats::new(crate::cmd::table().len()))
    }

    /// Commands per second since the previous sample (samples at most every 100 ms).
    pub fn ops_per_sec(&self) -> u64 {
        let now_ms = crate::clock::now_ms();
        let total = self.stats.total_commands_processed.load(Ordering::Relaxed);
        let mut s = self.ops_sample.lock();
        let elapsed = now_ms.saturating_sub(s.at_ms);
        if elapsed >= 100 {
            s.per_sec = total.saturating_sub(s.commands) * 1000 / elapsed;
            s.at_ms = now_ms;
            s.commands = total;
        }
        s.per_sec
    }

    /// Pushes the log's run-time settings (`durability`, `snapshot-log-bytes`) from the
    /// config to the log; called at start and after CONFIG SET.
    pub fn configure_log(&self) {
        self.log.set_durability(log_durability(&self.config));
        self.log.set_snapshot_log_bytes(self.config.get_i64("snapshot-log-bytes").max(0) as u64);
    }

    /// Asks every task to stop.
    pub fn request_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// The log's durability for the `durability` setting: on a single node `quorum` is its
/// own quorum, so it means `local`.
pub fn log_durability(config: &ConfigStore) -> engram_log::Durability {
    match config.get("durability").as_deref() {
        Some("none") => engram_log::Durability::None,
        _ => engram_log::Durability::Local,
    }
}

/// Bytes allocated by the process (jemalloc's `stats.allocated`, refreshed by an epoch
/// advance), for the maxmemory check and INFO memory.
pub fn allocated_bytes() -> u64 {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    stats::allocated::read().map_or(0, |n| n as u64)
}
