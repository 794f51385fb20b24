//! The state machine: applies committed log entries to the keyspace, in log order, on
//! every node. The only caller of `WriteFns::apply`. Reads no clock and no ambient
//! randomness: time and seed come from the entry (ARCHITECTURE.md §2.5).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::cmd::{self, ApplyCtx, Args, Exec};
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

/// Counts expirations for `INFO stats` (`expired_keys`).
struct ExpiryCounter(Arc<Stats>);

impl KeyspaceObserver for ExpiryCounter {
    fn on_events(&mut self, events: &[KeyEvent], _ks: &Keyspace, _now_ms: u64) {
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
    max_bulk_len: Arc<std::sync::atomic::AtomicU64>,
}

impl Fsm {
    /// A state machine over `keyspace`, reporting to `stats`.
    pub fn new(keyspace: Arc<RwLock<Keyspace>>, stats: Option<Arc<Stats>>) -> Self {
        let mut observers: Vec<Box<dyn KeyspaceObserver>> = Vec::new();
        if let Some(stats) = stats {
            observers.push(Box::new(ExpiryCounter(stats)));
        }
        Self {
            keyspace,
            observers,
            max_bulk_len: Arc::new(std::sync::atomic::AtomicU64::new(512 * 1024 * 1024)),
        }
    }

    /// Shares the `proto-max-bulk-len` value apply enforces.
    pub fn max_bulk_len_handle(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.max_bulk_len.clone()
    }

    /// Applies one entry (also used directly by replay tests).
    pub fn apply_one(&mut self, ks: &mut Keyspace, index: u64, request: &Request) -> Reply {
        let (reply, now_ms) = match request {
            Request::Write { db, now_ms, argv } => {
                let mut cx = ApplyCtx {
                    ks,
                    db: *db as usize,
                    now_ms: *now_ms,
                    seed: seed_for(index),
                    index,
                    max_bulk_len: self.max_bulk_len.load(Ordering::Relaxed),
                };
                (apply_write(argv, &mut cx), *now_ms)
            }
            Request::Expire { db, now_ms, keys } => {
                let mut dbm = ks.db_mut(*db as usize);
                let n = keys.iter().filter(|k| dbm.expire_now(k, *now_ms)).count();
                (Reply::Int(n as i64), *now_ms)
            }
        };
        let events = ks.take_events();
        if !events.is_empty() {
            for o in &mut self.observers {
                o.on_events(&events, ks, now_ms);
            }
        }
        reply
    }
}

/// The deterministic seed of entry `index` (SplitMix64 finaliser of the index).
fn seed_for(index: u64) -> u64 {
    crate::rng::Rng::new(index).next_u64()
}

fn apply_write(argv: &[Bytes], cx: &mut ApplyCtx<'_>) -> Reply {
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

impl engram_log::StateMachine for Fsm {
    type Request = Request;
    type Response = Reply;

    fn apply_batch(&mut self, batch: Vec<(u64, Request)>) -> Vec<Reply> {
        let keyspace = self.keyspace.clone();
        let mut ks = keyspace.write();
        batch.iter().map(|(index, request)| self.apply_one(&mut ks, *index, request)).collect()
    }
}
