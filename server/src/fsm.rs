//! The state machine: applies committed log entries to the keyspace, in log order, on
//! every node. The only caller of `WriteFns::apply`. Reads no clock and no ambient
//! randomness: time and seed come from the entry (ARCHITECTURE.md §2.5).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::cmd::{self, ApplyCtx, Args, Exec, ReadCtx};
use crate::config::ConfigStore;
use crate::entry::Request;
use crate::error::CmdError;
use crate::keyspace::{KeyEvent, Keyspace};
use crate::reply::Reply;
use crate::state::Stats;

/// Something that must see every key change, in log order: search indexes, keyspace
/// notifications, WATCH invalidation, blocked-client wake-ups.
///
/// Called on the apply thread after each entry. Must not block and cannot fail.
pub trait KeyspaceObserver: Send {
    /// `events` are the changes one entry made; `ks` is the state after them.
    fn on_events(&mut self, events: &[KeyEvent], ks: &Keyspace, now_ms: u64);
}

/// Counts changes for `INFO`: `expired_keys`, and `rdb_changes_since_last_save` (one per
/// key event, as Redis's dirty counter counts changed keys; a no-op write records none).
struct StatsObserver(Arc<Stats>);

impl KeyspaceObserver for StatsObserver {
    fn on_events(&mut self, events: &[KeyEvent], _ks: &Keyspace, _now_ms: u64) {
        self.0.dirty.fetch_add(events.len() as u64, Ordering::Relaxed);
        let expired = events.iter().filter(|e| e.event == "expired").count() as u64;
        if expired > 0 {
            self.0.expired_keys.fetch_add(expired, Ordering::Relaxed);
        }
    }
}

/// The Redis state machine fed by the log.
pub struct Fsm {
    keyspace: Arc<RwLock<Keyspace>>,
    observers: Vec<Box<dyn KeyspaceObserver>>,
    /// Node configuration: the size limits apply enforces (as on a Redis replica, they
    /// are the node's own settings).
    config: Arc<ConfigStore>,
    /// The server, for read commands inside EXEC (unset in replay tests).
    shared: Arc<std::sync::OnceLock<std::sync::Weak<crate::state::Shared>>>,
    /// The newest leader time applied: the clock a snapshot's rewritten entries carry.
    last_now_ms: u64,
    /// Log indexes of scripts that were killed or abandoned mid-run (see
    /// `script::runtime`): replay answers them with an error instead of running them.
    aborted: std::collections::BTreeSet<u64>,
}

impl Fsm {
    /// A state machine over `keyspace`, reporting to `stats`.
    pub fn new(
        keyspace: Arc<RwLock<Keyspace>>,
        stats: Option<Arc<Stats>>,
        config: Arc<ConfigStore>,
    ) -> Self {
        let mut observers: Vec<Box<dyn KeyspaceObserver>> = Vec::new();
        if let Some(stats) = stats {
            observers.push(Box::new(StatsObserver(stats)));
        }
        Self {
            keyspace,
            observers,
            config,
            shared: Arc::default(),
            last_now_ms: 0,
            aborted: Default::default(),
        }
    }

    /// Applies one entry (also used directly by replay tests).
    pub fn apply_one(&mut self, ks: &mut Keyspace, index: u64, request: &Request) -> Reply {
        ks.set_apply_index(index);
        let shared = self.shared.get().and_then(std::sync::Weak::upgrade);
        let aborted_remotely =
            || shared.as_ref().is_some_and(|s| s.scripts.aborted_remotely(index));
        let (reply, now_ms) = match request {
            Request::ScriptAborted { now_ms, index: aborted } => {
                self.aborted.insert(*aborted);
                (Reply::ok(), *now_ms)
            }
            _ if self.aborted.contains(&index) || aborted_remotely() => {
                (Reply::Error(CmdError::err("the script was killed")), request.now_ms())
            }
            Request::Write { db, now_ms, argv } => {
                let mut cx = ApplyCtx {
                    ks,
                    db: *db as usize,
                    now_ms: *now_ms,
                    seed: seed_for(index),
                    index,
                    max_bulk_len: self.config.proto_max_bulk_len.load(Ordering::Relaxed),
                    hll_sparse_max_bytes: self.config.hll_sparse_max_bytes.load(Ordering::Relaxed),
                    stream_node_max_entries: self
                        .config
                        .stream_node_max_entries
                        .load(Ordering::Relaxed),
                    stream_node_max_bytes: self
                        .config
                        .stream_node_max_bytes
                        .load(Ordering::Relaxed),
                    may_block: true,
                    shared: shared.as_ref(),
                    in_script: false,
                };
                (apply_write(argv, &mut cx), *now_ms)
            }
            Request::Exec { db, now_ms, watched, cmds } => {
                (self.apply_exec(ks, index, *db as usize, *now_ms, watched, cmds), *now_ms)
            }
            Request::Expire { db, now_ms, keys } => {
                let mut dbm = ks.db_mut(*db as usize);
                let n = keys.iter().filter(|k| dbm.expire_now(k, *now_ms)).count();
                (Reply::Int(n as i64), *now_ms)
            }
        };
        ks.sync_search(now_ms);
        let events = ks.take_events();
        if !events.is_empty() {
            for o in &mut self.observers {
                o.on_events(&events, ks, now_ms);
            }
        }
        ks.recycle_events(events);
        reply
    }
}

impl Fsm {
    /// MULTI/EXEC: abort on a changed watched key, else run every command in order;
    /// errors are per-command replies and do not stop the others (as Redis).
    fn apply_exec(
        &mut self,
        ks: &mut Keyspace,
        index: u64,
        start_db: usize,
        now_ms: u64,
        watched: &[crate::entry::Watched],
        cmds: &[Vec<Bytes>],
    ) -> Reply {
        if !crate::cmd::transactions::watched_unchanged(ks, now_ms, watched) {
            return Reply::NullArray;
        }
        let shared = self.shared.get().and_then(std::sync::Weak::upgrade);
        let mut db = start_db;
        let mut replies = Vec::with_capacity(cmds.len());
        for (i, argv) in cmds.iter().enumerate() {
            let reply = match cmd::resolve(argv) {
                Err(e) => Reply::Error(e),
                Ok((spec, _, skip)) => match spec.exec {
                    Exec::Write(fns) => {
                        let mut cx = ApplyCtx {
                            ks,
                            db,
                            now_ms,
                            seed: seed_for(index) ^ seed_for(i as u64 + 1),
                            index,
                            max_bulk_len: self.config.proto_max_bulk_len.load(Ordering::Relaxed),
                            hll_sparse_max_bytes: self
                                .config
                                .hll_sparse_max_bytes
                                .load(Ordering::Relaxed),
                            stream_node_max_entries: self
                                .config
                                .stream_node_max_entries
                                .load(Ordering::Relaxed),
                            stream_node_max_bytes: self
                                .config
                                .stream_node_max_bytes
                                .load(Ordering::Relaxed),
                            may_block: false,
                            shared: shared.as_ref(),
                            in_script: false,
                        };
                        let reply = (fns.apply)(&mut Args::new(&argv[skip..]), &mut cx)
                            .unwrap_or_else(Reply::Error);
                        ks.sync_search(now_ms);
                        reply
                    }
                    // Reads answer the client only; a node without a server (replay)
                    // skips them, which changes no state.
                    Exec::Read(f) => match &shared {
                        Some(shared) => {
                            let cx = ReadCtx {
                                ks,
                                db,
                                now_ms,
                                shared,
                                may_block: false,
                                seed: None,
                                in_script: false,
                            };
                            f(&mut Args::new(&argv[skip..]), &cx).unwrap_or_else(Reply::Error)
                        }
                        None => Reply::Null,
                    },
                    // The connection runs session commands after EXEC; SELECT also moves
                    // the rest of the transaction to its database.
                    Exec::Session(_) => {
                        let target =
                            crate::cmd::transactions::select_target(spec, &argv[skip..], ks.len());
                        if let Some(target) = target {
                            db = target;
                        }
                        Reply::Null
                    }
                    Exec::Container => Reply::Error(CmdError::Internal),
                },
            };
            replies.push(reply);
        }
        Reply::Array(replies)
    }

    /// Log indexes whose scripts never completed (read from the data directory before
    /// recovery).
    pub fn set_aborted(&mut self, aborted: std::collections::BTreeSet<u64>) {
        self.aborted = aborted;
    }

    /// Adds an observer of every applied change (before the log starts).
    pub fn add_observer(&mut self, observer: Box<dyn KeyspaceObserver>) {
        self.observers.push(observer);
    }

    /// Lets reads inside EXEC reach server state (config); set once the server exists.
    pub fn shared_slot(&self) -> Arc<std::sync::OnceLock<std::sync::Weak<crate::state::Shared>>> {
        self.shared.clone()
    }
}

/// The deterministic seed of entry `index` (SplitMix64 finaliser of the index).
fn seed_for(index: u64) -> u64 {
    crate::rng::Rng::new(index).next_u64()
}

/// Runs one write command in apply (entries, and RESTORE's rebuilding commands).
pub(crate) fn apply_write(argv: &[Bytes], cx: &mut ApplyCtx<'_>) -> Reply {
    let result = match cmd::resolve(argv) {
        Ok((spec, _, skip)) => match spec.exec {
            Exec::Write(fns) => (fns.apply)(&mut Args::new(&argv[skip..]), cx),
            // Only writes are ever proposed; an entry naming anything else is a bug in a
            // newer/older build, and must apply the same way everywhere: as an error.
            _ => Err(CmdError::Internal),
        },
        Err(e) => Err(e),
    };
    result.unwrap_or_else(Reply::Error)
}

/// Redis's answer to a write sent to a replica (outside cluster mode).
pub const READONLY_REPLICA: &str = "READONLY You can't write against a read only replica.";
/// The reply to a write a leader refused because no majority acknowledged it lately.
/// Redis has no such state; TRYAGAIN is the code its clients know as "retry later", and
/// nothing was written.
pub const LEASE_LAPSED: &str =
    "TRYAGAIN this node leads, but no majority has acknowledged it lately; nothing was written";

impl engram_log::StateMachine for Fsm {
    type Request = Request;
    type Response = Reply;

    fn apply_batch(&mut self, batch: Vec<(u64, Request)>) -> Vec<Reply> {
        let keyspace = self.keyspace.clone();
        let mut ks = keyspace.write();
        if let Some((_, last)) = batch.last() {
            self.last_now_ms = self.last_now_ms.max(last.now_ms());
        }
        let mut replies = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(WARM_CHUNK) {
            warm_keys(&ks, chunk);
            replies.extend(
                chunk.iter().map(|(index, request)| self.apply_one(&mut ks, *index, request)),
            );
        }
        replies
    }

    fn refused(error: &engram_log::LogError) -> Reply {
        Reply::Error(match error {
            engram_log::LogError::Poisoned(reason) => CmdError::LogPoisoned(reason.clone()),
            engram_log::LogError::Shutdown => CmdError::err("the server is shutting down"),
            engram_log::LogError::NotLeader(_) => CmdError::Custom(READONLY_REPLICA.into()),
            engram_log::LogError::LeaseLapsed => CmdError::Custom(LEASE_LAPSED.into()),
            other => CmdError::Custom(format!("ERR {other}")),
        })
    }

    fn freeze(&mut self) -> Box<dyn Iterator<Item = Request> + Send> {
        let ks = self.keyspace.read();
        let dbs: Vec<_> = ks.iter().map(|(i, db)| (i as u32, db.freeze())).collect();
        // Scripts and libraries first: they are small, and a snapshot taken while they
        // change sees one consistent set (taken under the same guard as the tables).
        let now_ms = self.last_now_ms;
        let state = |argv: Vec<Bytes>| Request::Write { db: 0, now_ms, argv };
        let mut prelude: Vec<Request> = ks
            .scripts
            .script_bodies()
            .map(|body| {
                state(vec![
                    Bytes::from_static(b"SCRIPT"),
                    Bytes::from_static(b"LOAD"),
                    body.clone(),
                ])
            })
            .collect();
        prelude.extend(ks.scripts.libraries.iter().map(|library| {
            state(vec![
                Bytes::from_static(b"FUNCTION"),
                Bytes::from_static(b"LOAD"),
                Bytes::from_static(b"REPLACE"),
                library.code.clone(),
            ])
        }));
        // Index definitions before the keys, so loading the keys indexes them.
        for (name, index) in ks.search.iter() {
            prelude.extend(index.history.iter().cloned().map(state));
            // The documents and graphs as of this instant (same guard as the tables), so a
            // restart does not rebuild HNSW graphs from scratch.
            if index.index.num_docs() > 0 {
                prelude.push(state(vec![
                    Bytes::from_static(b"FT._RESTOREINDEX"),
                    Bytes::copy_from_slice(name.as_bytes()),
                    Bytes::from(index.index.save()),
                ]));
            }
        }
        prelude.extend(ks.search.aliases().map(|(alias, index)| {
            state(vec![
                Bytes::from_static(b"FT.ALIASADD"),
                Bytes::copy_from_slice(alias.as_bytes()),
                Bytes::copy_from_slice(index.as_bytes()),
            ])
        }));
        Box::new(crate::snapshot::Rewriter::new(dbs, now_ms).with_prelude(prelude))
    }

    fn reset(&mut self) {
        let mut ks = self.keyspace.write();
        let databases = ks.len();
        *ks = Keyspace::new(databases);
    }
}

/// Entries whose keys are looked up together before they apply: enough for the misses
/// to overlap, few enough that what they bring in is still cached when used.
const WARM_CHUNK: usize = 16;

/// Loads the keys of each write before the entries apply ([`crate::keyspace::Db::prefetch`]):
/// the misses of different keys overlap, where applying one entry after another waits
/// for each in turn (in a pipeline of SETs over 100k keys, that first lookup was a third
/// of apply). Short commands name their key at argv[1] and scripts their first at
/// argv[3]; longer ones (MSET, HSET ...) are looked up in the command table.
fn warm_keys(ks: &Keyspace, batch: &[(u64, Request)]) {
    let mut keys: Vec<(usize, &[u8])> = Vec::with_capacity(batch.len());
    for (_, request) in batch {
        let Request::Write { db, argv, .. } = request else { continue };
        let db = *db as usize;
        match argv.get(2).map(|n| &n[..]) {
            Some(numkeys) if numkeys != b"0" && argv.len() > 3 && is_script_call(&argv[0]) => {
                keys.push((db, &argv[3]));
            }
            _ if argv.len() <= 3 => keys.extend(argv.get(1).map(|k| (db, &k[..]))),
            _ => {
                if let Ok((spec, _, _)) = crate::cmd::resolve(argv) {
                    keys.extend(crate::cmd::keys_of(spec, argv).into_iter().map(|k| (db, &k[..])));
                }
            }
        }
    }
    // A lone key gains nothing from going first (a lone MSET's ten do).
    if keys.len() < 2 {
        return;
    }
    let mut keys = keys.into_iter().peekable();
    while let Some(&(db, _)) = keys.peek() {
        let mut run = Vec::new();
        while let Some((_, key)) = keys.next_if(|(d, _)| *d == db) {
            run.push(key);
        }
        ks.db(db).prefetch(run.into_iter());
    }
}

fn is_script_call(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"evalsha") || name.eq_ignore_ascii_case(b"eval")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use engram_log::{Log, LogOptions};

    fn argv(parts: &[&str]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::from(p.to_string())).collect()
    }

    /// A random write from a small key space, so commands collide on keys.
    fn random_write(rng: &mut Rng) -> Vec<Bytes> {
        let key = format!("k{}", rng.below(50));
        let value = format!("v{}", rng.next_u64());
        match rng.below(10) {
            0..=3 => argv(&["SET", &key, &value]),
            4 => argv(&["SET", &key, &value, "PX", &(1 + rng.below(30)).to_string()]),
            5 => argv(&["SET", &key, &value, "NX", "GET"]),
            6 => argv(&["SET", &key, &value, "XX", "KEEPTTL"]),
            7 => argv(&["DEL", &key, &format!("k{}", rng.below(50))]),
            8 => argv(&["SET", &key, &value, "EXAT", "1"]),
            _ => argv(&["NOSUCHCOMMAND", &key]),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replaying_the_recorded_log_rebuilds_the_same_keyspace() {
        let seed = 0x5eed_u64;
        let keyspace = Arc::new(RwLock::new(Keyspace::new(16)));
        let log = Log::in_memory(
            Fsm::new(keyspace.clone(), None, Arc::default()),
            LogOptions { retain_entries: true, ..Default::default() },
        );
        // Four concurrent proposers, each with its own pipeline of in-flight writes, plus
        // leader-style expiry entries: the log's order is whatever the race produced.
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(seed + t);
                let mut now_ms = 1_000_000u64;
                let mut pending = Vec::new();
                for i in 0..500 {
                    now_ms += rng.below(5);
                    let request = if i % 50 == 49 {
                        let keys =
                            (0..5).map(|_| Bytes::from(format!("k{}", rng.below(50)))).collect();
                        Request::Expire { db: 0, now_ms, keys }
                    } else {
                        Request::Write { db: (t % 2) as u32, now_ms, argv: random_write(&mut rng) }
                    };
                    pending.push(log.propose(request).await.unwrap());
                }
                for rx in pending {
                    rx.await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let entries = log.retained_entries();
        assert_eq!(entries.len(), 2000, "seed {seed}");
        let original = keyspace.read().digest();
        assert!(!keyspace.read().db(0).is_empty(), "the workload left keys behind");

        let mut replica = Keyspace::new(16);
        let mut fsm = Fsm::new(Arc::new(RwLock::new(Keyspace::new(16))), None, Arc::default());
        for (index, stored) in &entries {
            // Through the stored encoding: what the log wrote and recovery reads back.
            let decoded = Request::decode(stored.clone()).unwrap();
            fsm.apply_one(&mut replica, *index, &decoded);
        }
        assert_eq!(replica.digest(), original, "seed {seed}");
    }
}
