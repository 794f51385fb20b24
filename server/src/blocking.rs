//! Blocked clients (BLPOP, BZPOPMIN, XREAD BLOCK, ...).
//!
//! A blocking command that finds nothing returns `Reply::Blocked` from apply (or from its
//! read). The connection then registers here for the keys and sleeps. The observer below
//! runs on the apply path: a change to a key wakes the client that blocked on it first,
//! which runs its command again as a normal write through the log. If that succeeds, its
//! own pop is a key change that wakes the next waiter; if not, it sleeps again at the head
//! of the queue. So clients are served in the order they blocked, and every pop is a log
//! entry like any other write.
//!
//! ```text
//!   LPUSH applied -> KeyEvent(db, key) -> BlockingObserver -> head waiter.notify
//!   waiter wakes  -> dispatch(argv) -> propose -> apply: served | Blocked again
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::dispatch::{self, Outcome};
use crate::error::CmdError;
use crate::fsm::KeyspaceObserver;
use crate::keyspace::{KeyEvent, Keyspace};
use crate::reply::{BlockedOn, Reply};
use crate::session::Session;
use crate::state::Shared;

/// How CLIENT UNBLOCK ends a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// As if the timeout passed.
    Timeout,
    /// With `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
}

struct Waiter {
    client_id: u64,
    keys: Vec<(usize, Bytes)>,
    /// The wait also ends when a key is deleted (XREADGROUP: the group goes with it);
    /// Redis counts such keys apart (INFO `total_blocking_keys_on_nokey`).
    on_nokey: bool,
    notify: Arc<Notify>,
    unblocked: Option<Unblock>,
}

#[derive(Default)]
struct Inner {
    /// (db, key) -> waiter ids, in the order they blocked.
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
    next_id: u64,
}

/// The registry of blocked clients, shared by connections and the apply path.
#[derive(Default)]
pub struct BlockedClients {
    inner: Mutex<Inner>,
    /// Registered waiters, readable without the lock: the apply path checks it for every
    /// entry and takes the lock only when someone waits.
    waiting: std::sync::atomic::AtomicUsize,
}

/// A registration; dropping it unregisters.
pub struct Registration<'a> {
    registry: &'a BlockedClients,
    id: u64,
    notify: Arc<Notify>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut inner = self.registry.inner.lock();
        if let Some(w) = inner.waiters.remove(&self.id) {
            self.registry.waiting.fetch_sub(1, Ordering::AcqRel);
            for k in w.keys {
                let Some(q) = inner.by_key.get_mut(&k) else { continue };
                q.retain(|&id| id != self.id);
                match q.front().copied() {
                    None => {
                        inner.by_key.remove(&k);
                    }
                    // Pass the turn on: this waiter may have been woken and left without
                    // taking anything (error, timeout, hang-up). A needless wake-up costs
                    // the next waiter one retry that blocks again.
                    Some(next) => {
                        if let Some(n) = inner.waiters.get(&next) {
                            n.notify.notify_one();
                        }
                    }
                }
            }
        }
    }
}

impl BlockedClients {
    /// Registers `client_id` as waiting for any of `keys` in `db` (and for their deletion
    /// with `on_nokey`).
    pub fn register(
        &self,
        client_id: u64,
        db: usize,
        keys: &[Bytes],
        on_nokey: bool,
    ) -> Registration<'_> {
        let notify = Arc::new(Notify::new());
        let mut inner = self.inner.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let keys: Vec<(usize, Bytes)> = keys.iter().map(|k| (db, k.clone())).collect();
        for k in &keys {
            inner.by_key.entry(k.clone()).or_default().push_back(id);
        }
        inner.waiters.insert(
            id,
            Waiter { client_id, keys, on_nokey, notify: notify.clone(), unblocked: None },
        );
        self.waiting.fetch_add(1, Ordering::AcqRel);
        Registration { registry: self, id, notify }
    }

    /// Wakes the first client blocked on (db, key), if any: data arrived or was taken,
    /// and serving in blocking order means the head tries first.
    pub fn wake(&self, db: usize, key: &Bytes) {
        let inner = self.inner.lock();
        if inner.by_key.is_empty() {
            return;
        }
        let head = inner.by_key.get(&(db, key.clone())).and_then(|q| q.front());
        if let Some(w) = head.and_then(|id| inner.waiters.get(id)) {
            w.notify.notify_one();
        }
    }

    /// Wakes every client blocked on (db, key): the key was deleted, replaced or lost its
    /// group, which may end every wait (with an error or by a retry that blocks again).
    pub fn wake_all(&self, db: usize, key: &Bytes) {
        let inner = self.inner.lock();
        for id in inner.by_key.get(&(db, key.clone())).into_iter().flatten() {
            if let Some(w) = inner.waiters.get(id) {
                w.notify.notify_one();
            }
        }
    }

    /// Wakes every client blocked on any key of `db` (FLUSHDB, SWAPDB).
    pub fn wake_db(&self, db: usize) {
        let inner = self.inner.lock();
        for w in inner.waiters.values() {
            if w.keys.iter().any(|(d, _)| *d == db) {
                w.notify.notify_one();
            }
        }
    }

    /// Number of distinct keys clients are blocked on (INFO `total_blocking_keys`).
    pub fn keys_len(&self) -> usize {
        self.inner.lock().by_key.len()
    }

    /// Number of those keys with a client whose wait also ends on the key's deletion
    /// (INFO `total_blocking_keys_on_nokey`).
    pub fn keys_on_nokey_len(&self) -> usize {
        let inner = self.inner.lock();
        let on_nokey = |id: &u64| inner.waiters.get(id).is_some_and(|w| w.on_nokey);
        inner.by_key.values().filter(|q| q.iter().any(on_nokey)).count()
    }

    /// CLIENT UNBLOCK: ends `client_id`'s wait; false if it is not blocked.
    pub fn unblock(&self, client_id: u64, how: Unblock) -> bool {
        let mut inner = self.inner.lock();
        match inner.waiters.values_mut().find(|w| w.client_id == client_id) {
            Some(w) => {
                w.unblocked = Some(how);
                w.notify.notify_one();
                true
            }
            None => false,
        }
    }

    /// Number of blocked clients (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.inner.lock().waiters.len()
    }

    /// Whether no client is blocked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn unblocked(&self, reg: &Registration<'_>) -> Option<Unblock> {
        self.inner.lock().waiters.get(&reg.id).and_then(|w| w.unblocked)
    }

    /// Whether `client_id` is blocked right now.
    pub fn is_blocked(&self, client_id: u64) -> bool {
        self.inner.lock().waiters.values().any(|w| w.client_id == client_id)
    }
}

/// Wakes blocked clients when a key they wait for changes. Runs on the apply path.
pub struct BlockingObserver(pub Arc<BlockedClients>);

impl KeyspaceObserver for BlockingObserver {
    fn on_events(&mut self, events: &[KeyEvent], _ks: &Keyspace, _now_ms: u64) {
        if self.0.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        for e in events {
            match e.event {
                // Data added or taken: serve waiters one at a time, in blocking order.
                "lpush" | "rpush" | "linsert" | "lpop" | "rpop" | "zadd" | "zincr" | "zpopmin"
                | "zpopmax" | "xadd" => self.0.wake(e.db, &e.key),
                event if crate::keyspace::is_db_event(event) => self.0.wake_db(e.db),
                _ => self.0.wake_all(e.db, &e.key),
            }
        }
    }
}

/// Whether one of the keys a client blocks on exists with a type other than `wants`.
fn blocking_key_has_other_type(shared: &Shared, db: usize, keys: &[Bytes], wants: &str) -> bool {
    if wants.is_empty() {
        return false;
    }
    let ks = shared.keyspace.read();
    let now_ms = crate::clock::now_ms();
    keys.iter().any(|k| ks.db(db).get(k, now_ms).is_some_and(|v| v.type_name() != wants))
}

/// Whether the peer closed the connection (EOF or error), once the socket is readable.
async fn peer_closed(socket: &tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    !matches!(socket.peek(&mut byte).await, Ok(n) if n > 0)
}

/// Runs `argv` again for a blocked client.
async fn run_again(shared: &Arc<Shared>, session: &mut Session, argv: &[Bytes]) -> Reply {
    session.now_ms = crate::clock::now_ms();
    let routed = dispatch::route(argv);
    match dispatch::dispatch(shared, session, argv, routed).await {
        Outcome::Ready(reply) => reply,
        Outcome::Write(request) => match shared.log.propose(request).await {
            Ok(rx) => rx.await.unwrap_or(Reply::Error(CmdError::Internal)),
            Err(_) => Reply::Error(CmdError::Internal),
        },
    }
}

/// Blocks the connection until the command `argv` (which answered `blocked`) can be
/// served, its timeout passes, it is unblocked, or the client is killed.
pub async fn wait(
    shared: &Arc<Shared>,
    session: &mut Session,
    argv: Vec<Bytes>,
    blocked: BlockedOn,
    socket: &tokio::net::TcpStream,
) -> Reply {
    let deadline = (blocked.timeout_ms > 0)
        .then(|| tokio::time::Instant::now() + Duration::from_millis(blocked.timeout_ms));
    let on_timeout = *blocked.on_timeout;
    let (keys, wants) = (blocked.keys.clone(), blocked.wants);
    let mut argv = blocked.retry.unwrap_or(argv);
    let registry = shared.blocked.clone();
    let registration =
        registry.register(session.info.id, session.db, &blocked.keys, blocked.on_nokey);
    let info = session.info.clone();
    let mut shutdown = shared.shutdown.subscribe();
    // The key may have changed between the first attempt and the registration: try once
    // before sleeping so that change is not missed.
    let mut check_now = true;
    // A client that hangs up while blocked must stop waiting at once: served later, its
    // pop would be applied and its element lost. Input pipelined after the blocking
    // command is left for later, and ends this watch (it cannot tell EOF any more).
    let mut watch_socket = true;
    let mut retried_wrong_type = false;
    loop {
        if !check_now {
            let timeout = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = registration.notify.notified() => {}
                _ = timeout => return on_timeout,
                _ = info.kill_notify.notified() => {
                    info.killed.store(true, Ordering::Release);
                    return on_timeout;
                }
                _ = shutdown.changed() => return on_timeout,
                hung_up = peer_closed(socket), if watch_socket => {
                    if hung_up {
                        info.killed.store(true, Ordering::Release);
                        return on_timeout;
                    }
                    watch_socket = false;
                    continue;
                }
            }
            match registry.unblocked(&registration) {
                Some(Unblock::Timeout) => return on_timeout,
                Some(Unblock::Error) => {
                    return Reply::Error(CmdError::Custom(
                        "UNBLOCKED client unblocked via CLIENT UNBLOCK".into(),
                    ))
                }
                None => {}
            }
        }
        check_now = false;
        match run_again(shared, session, &argv).await {
            Reply::Blocked(again) => {
                retried_wrong_type = false;
                if let Some(retry) = again.retry {
                    argv = retry;
                }
            }
            // A blocking key now holds another type: Redis keeps such a client blocked
            // (only the first attempt reports WRONGTYPE).
            Reply::Error(CmdError::WrongType)
                if blocking_key_has_other_type(shared, session.db, &keys, wants) => {}
            // The keys are read after the attempt was applied: a key that had another type
            // then may since have been replaced by the wanted type (DEL, then LPUSH), and
            // that push's wake-up was spent on this attempt. Try once more at once rather
            // than hand the client a stale WRONGTYPE; a second one (a BLMOVE destination
            // of another type) is the answer.
            Reply::Error(CmdError::WrongType) if !retried_wrong_type => {
                retried_wrong_type = true;
                check_now = true;
                continue;
            }
            served => return served,
        }
    }
}
