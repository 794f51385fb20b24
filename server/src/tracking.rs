//! Client-side caching (Redis 6+ "tracking"): `CLIENT TRACKING`, `CLIENT CACHING`,
//! `CLIENT GETREDIR`, `CLIENT TRACKINGINFO`, and the invalidation messages.
//!
//! ```text
//!  a tracking client's read (connection, before it runs) ─> Tracking::remember
//!                                                            key -> {client ids}
//!  applied entry ─> KeyEvents ─> Invalidator (apply path) ─> Tracking::invalidate
//!     default mode: each client remembered for the key, once; the key is forgotten
//!     BCAST:        each client with a matching prefix, one message per prefix
//!     FLUSHDB/ALL:  a null invalidation to every tracking client; the table is emptied
//!  messages ─> PubSub::push_to (the target's inbox) ─> written between its replies
//! ```
//!
//! Invariants and choices:
//! - Invalidation follows applied key events, so every write path (MULTI/EXEC, active and
//!   lazy expiry, blocking pops) invalidates, in log order.
//! - Keys are remembered *before* the read runs: a write applied between the read and a
//!   later registration would be missed and the client would keep a stale value. The
//!   price is at worst one spurious invalidation.
//! - The key table is global across databases, as in Redis.
//! - A client that turns tracking off stays in the key sets until those keys change (no
//!   id clean-up, as Redis); it is skipped then. When no client tracks any more, the
//!   table is dropped.
//! - NOLOOP: the apply path has no "current client" (one batch holds entries of many
//!   connections), so a NOLOOP client registers the keys of its writes while they are in
//!   flight and gets no invalidation for those keys meanwhile. A write by another client
//!   to the same key inside that window is not reported to it either.
//! - With no tracking client the apply path pays one relaxed atomic load per entry, and
//!   connections of non-tracking clients check one session field per command.
//! - The tracking lock is never held while the pub/sub lock is taken: deliveries are
//!   collected first and sent after.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hashbrown::{HashMap, HashSet};
use parking_lot::Mutex;

use crate::cmd::spec::{CmdResult, CommandSpec, Flags, Group};
use crate::cmd::{Args, SessionCtx};
use crate::config::ConfigStore;
use crate::error::CmdError;
use crate::fsm::KeyspaceObserver;
use crate::keyspace::{KeyEvent, Keyspace};
use crate::pubsub::PubSub;
use crate::reply::Reply;
use crate::session::Session;
use crate::state::Shared;

/// The channel RESP2 clients subscribe to for redirected invalidations.
pub const INVALIDATE_CHANNEL: &str = "__redis__:invalidate";

/// Tracking options of one client (`CLIENT TRACKING ON ...`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// A connection's own view of its tracking state, read without a lock on every command.
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionTracking {
    /// `Some` while tracking is on.
    pub mode: Option<Mode>,
    /// `CLIENT CACHING YES|NO` was given for the next command (or transaction).
    pub caching: bool,
}

/// The server-side state of one tracking client.
#[derive(Debug, Default)]
struct Client {
    mode: Mode,
    /// Client id invalidations go to; 0 = this client.
    redirect: u64,
    /// The redirect target was gone when a message was due.
    broken: bool,
    /// BCAST prefixes.
    prefixes: BTreeSet<Bytes>,
    /// NOLOOP: keys this client's in-flight writes change (with a count per key).
    writes: HashMap<Bytes, u32>,
    /// Keys its in-flight transaction reads after changing them (see [`before_command`]).
    reads: HashMap<Bytes, u32>,
}

impl Client {
    /// Whether a change of `key` is this NOLOOP client's own write.
    fn own_write(&self, key: &[u8]) -> bool {
        self.writes.contains_key(key)
    }
}

#[derive(Default)]
struct Inner {
    /// Clients with tracking on.
    clients: HashMap<u64, Client>,
    /// Default mode: key -> clients that may hold it in their cache.
    keys: HashMap<Bytes, HashSet<u64>>,
    /// Sum of the key sets' sizes (INFO `tracking_total_items`).
    items: usize,
    /// BCAST: prefix -> clients.
    prefixes: BTreeMap<Bytes, Vec<u64>>,
}

/// One message to send: `keys: None` is the null invalidation of a flush.
struct Delivery {
    to: u64,
    redirect: u64,
    keys: Option<Vec<Bytes>>,
}

/// Tracking state of one client as CLIENT TRACKINGINFO / CLIENT LIST show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    pub mode: Mode,
    pub redirect: u64,
    pub broken: bool,
    pub prefixes: Vec<Bytes>,
}

/// The numbers INFO shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackingStats {
    pub clients: usize,
    pub keys: usize,
    pub items: usize,
    pub prefixes: usize,
}

/// The server's tracking table (one per server, inside [`PubSub`], whose inboxes carry
/// the messages).
#[derive(Default)]
pub struct Tracking {
    /// Clients with tracking on: the apply path's gate.
    clients_on: AtomicUsize,
    /// `tracking-table-max-keys` (0: no limit), refreshed by [`run`].
    max_keys: AtomicUsize,
    inner: Mutex<Inner>,
}

impl Tracking {
    /// Whether any client has tracking on.
    pub fn is_active(&self) -> bool {
        self.clients_on.load(Ordering::Relaxed) > 0
    }

    /// INFO `tracking_clients`, `tracking_total_keys/items/prefixes`.
    pub fn stats(&self) -> TrackingStats {
        let inner = self.inner.lock();
        TrackingStats {
            clients: inner.clients.len(),
            keys: inner.keys.len(),
            items: inner.items,
            prefixes: inner.prefixes.len(),
        }
    }

    /// Client `id`'s tracking state, `None` when it does not track.
    pub fn view(&self, id: u64) -> Option<ClientView> {
        let inner = self.inner.lock();
        inner.clients.get(&id).map(|c| ClientView {
            mode: c.mode,
            redirect: c.redirect,
            broken: c.broken,
            prefixes: c.prefixes.iter().cloned().collect(),
        })
    }

    /// Turns tracking on (or changes its options) for client `id`. BCAST prefixes are
    /// added to the ones it has (the empty prefix when none is given).
    fn enable(&self, id: u64, mode: Mode, redirect: u64, prefixes: &[Bytes]) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        let client = inner.clients.entry(id).or_insert_with(|| {
            self.clients_on.fetch_add(1, Ordering::Relaxed);
            Client::default()
        });
        client.mode = mode;
        client.redirect = redirect;
        client.broken = false;
        if mode.bcast {
            let empty = [Bytes::new()];
            let wanted = if prefixes.is_empty() { &empty[..] } else { prefixes };
            for p in wanted {
                if client.prefixes.insert(p.clone()) {
                    inner.prefixes.entry(p.clone()).or_default().push(id);
                }
            }
        }
    }

    /// Turns tracking off for client `id` (CLIENT TRACKING OFF, RESET, disconnect).
    pub fn disable(&self, id: u64) {
        let mut inner = self.inner.lock();
        let Some(client) = inner.clients.remove(&id) else { return };
        self.clients_on.fetch_sub(1, Ordering::Relaxed);
        for p in &client.prefixes {
            if let Some(ids) = inner.prefixes.get_mut(p) {
                ids.retain(|&i| i != id);
                if ids.is_empty() {
                    inner.prefixes.remove(p);
                }
            }
        }
        if inner.clients.is_empty() {
            // Nobody can be told about these keys any more.
            inner.keys = HashMap::new();
            inner.items = 0;
        }
    }

    /// Remembers that client `id` may cache `reads`, and holds back what `held` names
    /// (dropping held reads the client already tracked). Returns whether the table is
    /// now over `tracking-table-max-keys`.
    fn register(&self, id: u64, reads: &[&Bytes], held: &mut InFlight) -> bool {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        let Some(client) = inner.clients.get_mut(&id) else { return false };
        held.reads.retain(|k| !inner.keys.get(&k[..]).is_some_and(|ids| ids.contains(&id)));
        for k in &held.writes {
            *client.writes.entry(k.clone()).or_default() += 1;
        }
        for k in &held.reads {
            *client.reads.entry(k.clone()).or_default() += 1;
        }
        for key in reads {
            let added = match inner.keys.get_mut(&key[..]) {
                Some(ids) => ids.insert(id),
                None => {
                    // Our own copy: the argument is a slice of the connection's read buffer.
                    inner.keys.insert(Bytes::copy_from_slice(key), HashSet::from_iter([id]));
                    true
                }
            };
            if added {
                inner.items += 1;
            }
        }
        let max = self.max_keys.load(Ordering::Relaxed);
        max > 0 && inner.keys.len() > max
    }

    /// The command that registered `held` was applied and answered.
    pub fn release(&self, id: u64, held: &InFlight) {
        let mut inner = self.inner.lock();
        let Some(client) = inner.clients.get_mut(&id) else { return };
        for (map, keys) in [(&mut client.writes, &held.writes), (&mut client.reads, &held.reads)] {
            for key in keys {
                if let Some(n) = map.get_mut(&key[..]) {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(&key[..]);
                    }
                }
            }
        }
    }

    /// Sends the invalidations one applied entry's `events` cause.
    pub fn invalidate(&self, pubsub: &PubSub, config: &ConfigStore, events: &[KeyEvent]) {
        if !self.is_active() {
            return;
        }
        let deliveries = {
            let mut inner = self.inner.lock();
            let inner = &mut *inner;
            let mut out = Vec::new();
            let mut flushed = false;
            // (client, prefix) -> keys: one message per prefix, keys sorted and unique.
            let mut bcast: BTreeMap<(u64, Bytes), BTreeSet<Bytes>> = BTreeMap::new();
            for ev in events {
                if ev.event == crate::keyspace::DB_EVENT_FLUSHED {
                    // FLUSHALL flushes every database: one message for the entry.
                    if !flushed {
                        flushed = true;
                        inner.keys = HashMap::new();
                        inner.items = 0;
                        out.extend(inner.clients.iter().map(|(id, c)| Delivery {
                            to: *id,
                            redirect: c.redirect,
                            keys: None,
                        }));
                    }
                    continue;
                }
                if crate::keyspace::is_db_event(ev.event) {
                    continue;
                }
                if let Some(ids) = inner.keys.remove(&ev.key[..]) {
                    inner.items -= ids.len();
                    let mut kept = HashSet::new();
                    for id in ids {
                        let Some(c) = inner.clients.get(&id) else { continue };
                        if c.reads.contains_key(&ev.key[..]) {
                            // Its transaction reads the key after this change.
                            kept.insert(id);
                        } else if !c.mode.bcast && !c.own_write(&ev.key) {
                            out.push(Delivery {
                                to: id,
                                redirect: c.redirect,
                                keys: Some(vec![ev.key.clone()]),
                            });
                        }
                    }
                    if !kept.is_empty() {
                        inner.items += kept.len();
                        inner.keys.insert(ev.key.clone(), kept);
                    }
                }
                for (prefix, ids) in &inner.prefixes {
                    if !ev.key.starts_with(prefix) {
                        continue;
                    }
                    for id in ids {
                        if inner.clients.get(id).is_some_and(|c| !c.own_write(&ev.key)) {
                            bcast.entry((*id, prefix.clone())).or_default().insert(ev.key.clone());
                        }
                    }
                }
            }
            for ((id, _), keys) in bcast {
                let redirect = inner.clients.get(&id).map_or(0, |c| c.redirect);
                out.push(Delivery { to: id, redirect, keys: Some(keys.into_iter().collect()) });
            }
            out
        };
        self.deliver(pubsub, config, deliveries);
    }

    /// Forgets keys until the table fits `tracking-table-max-keys`, telling their
    /// clients as if the keys had changed.
    pub fn evict_over_limit(&self, pubsub: &PubSub, config: &ConfigStore) {
        let max = self.max_keys.load(Ordering::Relaxed);
        if max == 0 || !self.is_active() {
            return;
        }
        let deliveries = {
            let mut inner = self.inner.lock();
            let excess = inner.keys.len().saturating_sub(max);
            if excess == 0 {
                return;
            }
            let victims: Vec<Bytes> = inner.keys.keys().take(excess).cloned().collect();
            let mut out = Vec::new();
            for key in victims {
                let Some(ids) = inner.keys.remove(&key[..]) else { continue };
                inner.items -= ids.len();
                for id in ids {
                    if let Some(c) = inner.clients.get(&id).filter(|c| !c.mode.bcast) {
                        out.push(Delivery {
                            to: id,
                            redirect: c.redirect,
                            keys: Some(vec![key.clone()]),
                        });
                    }
                }
            }
            out
        };
        self.deliver(pubsub, config, deliveries);
    }

    /// Sends each message to its client or redirect target; a gone target marks the
    /// redirect broken and tells a RESP3 client so.
    fn deliver(&self, pubsub: &PubSub, config: &ConfigStore, deliveries: Vec<Delivery>) {
        let mut broken = Vec::new();
        for d in deliveries {
            let target = if d.redirect != 0 { d.redirect } else { d.to };
            let reached = pubsub.push_to(target, config, |resp3, subscribed| {
                invalidation(resp3, subscribed, d.keys.as_deref())
            });
            if !reached && d.redirect != 0 {
                broken.push((d.to, d.redirect));
            }
        }
        if broken.is_empty() {
            return;
        }
        {
            let mut inner = self.inner.lock();
            for (id, redirect) in &broken {
                if let Some(c) = inner.clients.get_mut(id).filter(|c| c.redirect == *redirect) {
                    c.broken = true;
                }
            }
        }
        for (id, redirect) in broken {
            pubsub.push_to(id, config, |resp3, _| {
                let msg = vec![Reply::bulk("tracking-redir-broken"), Reply::Int(redirect as i64)];
                resp3.then_some((Reply::Push(msg), 48))
            });
        }
    }
}

/// The invalidation message for a client: a push in RESP3; in RESP2 a pub/sub message on
/// `__redis__:invalidate` if the client is subscribed (else it cannot receive one).
/// Returns the message and its approximate size.
fn invalidation(resp3: bool, subscribed: bool, keys: Option<&[Bytes]>) -> Option<(Reply, usize)> {
    let size = 48 + keys.map_or(0, |k| k.iter().map(|k| k.len() + 16).sum());
    let keys =
        keys.map_or(Reply::Null, |k| Reply::Array(k.iter().cloned().map(Reply::Bulk).collect()));
    if resp3 {
        Some((Reply::Push(vec![Reply::bulk("invalidate"), keys]), size))
    } else if subscribed {
        let frame = vec![Reply::bulk("message"), Reply::bulk(INVALIDATE_CHANNEL), keys];
        Some((Reply::Push(frame), size))
    } else {
        None
    }
}

/// Sends invalidations for applied key events (registered in `lib.rs::start`).
pub struct Invalidator {
    pubsub: Arc<PubSub>,
    config: Arc<ConfigStore>,
}

impl Invalidator {
    /// An invalidator delivering through `pubsub`'s inboxes.
    pub fn new(pubsub: Arc<PubSub>, config: Arc<ConfigStore>) -> Self {
        Self { pubsub, config }
    }
}

impl KeyspaceObserver for Invalidator {
    fn on_events(&mut self, events: &[KeyEvent], _ks: &Keyspace, _now_ms: u64) {
        self.pubsub.tracking.invalidate(&self.pubsub, &self.config, events);
    }
}

/// Keeps `tracking-table-max-keys` in step with the config and enforces it (Redis does
/// so from its cron too), until the server stops.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        refresh_limit(&shared);
        shared.pubsub.tracking.evict_over_limit(&shared.pubsub, &shared.config);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn refresh_limit(shared: &Shared) {
    let max = shared.config.get_i64("tracking-table-max-keys").max(0) as usize;
    shared.pubsub.tracking.max_keys.store(max, Ordering::Relaxed);
}

/// Whether `spec` is `EXEC`.
fn is_exec(spec: &CommandSpec) -> bool {
    spec.name == "exec" && spec.group == Group::Transactions
}

/// What a tracking client's command holds back while it is in flight; the connection
/// hands it to [`Tracking::release`] once the reply is in.
#[derive(Debug, Default)]
pub struct InFlight {
    /// NOLOOP: keys the command changes.
    writes: Vec<Bytes>,
    /// Keys a transaction reads after changing them itself.
    reads: Vec<Bytes>,
}

impl InFlight {
    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.reads.is_empty()
    }
}

/// Runs before each command of a tracking client: remembers the keys a read (or the
/// reads of an EXEC) will fetch, and returns what is held back while it runs.
///
/// Redis remembers a transaction's reads where they run, so a write earlier in the same
/// transaction does not invalidate a key read after it. Here keys are registered before
/// the entry is applied (see the module doc), so such keys are held: while the EXEC is
/// in flight their invalidations are not sent and the client stays registered. A key the
/// client already tracked is not held (Redis reports that write).
pub fn before_command(
    shared: &Shared,
    session: &Session,
    spec: &CommandSpec,
    argv: &[Bytes],
) -> InFlight {
    let Some(mode) = session.tracking.mode else { return InFlight::default() };
    let caching = session.tracking.caching;
    // OPTIN caches only after CACHING YES, OPTOUT all but after CACHING NO.
    let remember = !mode.bcast && (!mode.optin || caching) && (!mode.optout || !caching);
    let own = |k: &Bytes| Bytes::copy_from_slice(k);
    let mut reads: Vec<&Bytes> = Vec::new();
    let mut held = InFlight::default();
    match &session.multi {
        // Queued, not run (or MULTI/DISCARD/WATCH themselves).
        Some(_) if !is_exec(spec) => return held,
        Some(queued) => {
            let mut written: HashSet<&[u8]> = HashSet::new();
            let mut read_after_write: Vec<&Bytes> = Vec::new();
            let mut written_after_read: HashSet<&[u8]> = HashSet::new();
            let mut read: HashSet<&[u8]> = HashSet::new();
            for cmd in queued {
                let Ok((spec, _, _)) = crate::cmd::resolve(cmd) else { continue };
                let keys = crate::cmd::keys_of(spec, cmd);
                if spec.flags.has(Flags::READONLY) {
                    if remember {
                        for k in keys {
                            if written.contains(&k[..]) && read.insert(&k[..]) {
                                read_after_write.push(k);
                            }
                            read.insert(&k[..]);
                            reads.push(k);
                        }
                    }
                } else if spec.is_write() {
                    for k in keys {
                        if read.contains(&k[..]) {
                            written_after_read.insert(&k[..]);
                        }
                        written.insert(&k[..]);
                        if mode.noloop {
                            held.writes.push(own(k));
                        }
                    }
                }
            }
            held.reads = read_after_write
                .into_iter()
                .filter(|k| !written_after_read.contains(&k[..]))
                .map(own)
                .collect();
        }
        None => {
            let keys = crate::cmd::keys_of(spec, argv);
            if spec.flags.has(Flags::READONLY) {
                if remember {
                    reads = keys;
                }
            } else if mode.noloop && spec.is_write() {
                held.writes = keys.into_iter().map(own).collect();
            }
        }
    }
    let tracking = &shared.pubsub.tracking;
    if reads.is_empty() && held.is_empty() {
        return held;
    }
    if tracking.register(session.info.id, &reads, &mut held) {
        // The limit may have been raised since the cron last read it.
        refresh_limit(shared);
        tracking.evict_over_limit(&shared.pubsub, &shared.config);
    }
    held
}

/// Runs after each command of a client that gave CLIENT CACHING: the choice covers the
/// next command (a whole transaction inside MULTI); CLIENT subcommands do not use it up.
pub fn after_command(session: &mut Session, argv: &[Bytes]) {
    let client_cmd = argv.first().is_some_and(|n| n.eq_ignore_ascii_case(b"client"));
    if session.multi.is_none() && !client_cmd {
        session.tracking.caching = false;
    }
}

/// Whether two prefixes overlap (one starts the other).
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Refuses BCAST prefixes that overlap each other or one the client already has.
fn check_prefixes(existing: &[Bytes], new: &[Bytes]) -> Result<(), CmdError> {
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlaps(old, p)) {
            return Err(CmdError::TrackingPrefixExisting(text(p), text(old)));
        }
        if let Some(other) = new[i + 1..].iter().find(|o| overlaps(p, o)) {
            return Err(CmdError::TrackingPrefixProvided(text(p), text(other)));
        }
    }
    Ok(())
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`
pub fn client_tracking(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let status = args.next_bytes()?;
    let mut redirect = None;
    let mut mode = Mode::default();
    let mut prefixes = Vec::new();
    // Options are checked before the status word, as Redis does.
    while !args.is_empty() {
        if args.remaining() >= 2 && args.peek_is("REDIRECT") {
            args.next_bytes()?;
            if redirect.is_some() {
                return Err(CmdError::TrackingOneRedirect);
            }
            let id = args.next_i64()?;
            let exists = cx.shared.clients.all().iter().any(|c| id > 0 && c.id == id as u64);
            if !exists {
                return Err(CmdError::TrackingNoSuchRedirect);
            }
            redirect = Some(id as u64);
        } else if args.remaining() >= 2 && args.peek_is("PREFIX") {
            args.next_bytes()?;
            prefixes.push(args.next_bytes()?);
        } else if args.eat("BCAST") {
            mode.bcast = true;
        } else if args.eat("OPTIN") {
            mode.optin = true;
        } else if args.eat("OPTOUT") {
            mode.optout = true;
        } else if args.eat("NOLOOP") {
            mode.noloop = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let tracking = &cx.shared.pubsub.tracking;
    let id = cx.session.info.id;
    if status.eq_ignore_ascii_case(b"off") {
        tracking.disable(id);
        cx.session.tracking = SessionTracking::default();
        return Ok(Reply::ok());
    }
    if !status.eq_ignore_ascii_case(b"on") {
        return Err(CmdError::Syntax);
    }
    if !prefixes.is_empty() && !mode.bcast {
        return Err(CmdError::TrackingPrefixNeedsBcast);
    }
    let current = cx.session.tracking.mode;
    if current.is_some_and(|c| c.bcast != mode.bcast) {
        return Err(CmdError::TrackingBcastSwitch);
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(CmdError::TrackingOptWithBcast);
    }
    if mode.optin && mode.optout {
        return Err(CmdError::TrackingOptinAndOptout);
    }
    if current.is_some_and(|c| (mode.optin && c.optout) || (mode.optout && c.optin)) {
        return Err(CmdError::TrackingOptSwitch);
    }
    if mode.bcast {
        let existing = tracking.view(id).map(|v| v.prefixes).unwrap_or_default();
        check_prefixes(&existing, &prefixes)?;
    }
    refresh_limit(cx.shared);
    tracking.enable(id, mode, redirect.unwrap_or(0), &prefixes);
    cx.session.tracking.mode = Some(mode);
    Ok(Reply::ok())
}

/// `CLIENT CACHING YES|NO`
pub fn client_caching(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let Some(mode) = cx.session.tracking.mode else { return Err(CmdError::TrackingCachingOff) };
    if args.eat("YES") {
        if !mode.optin {
            return Err(CmdError::TrackingCachingYes);
        }
    } else if args.eat("NO") {
        if !mode.optout {
            return Err(CmdError::TrackingCachingNo);
        }
    } else {
        return Err(CmdError::Syntax);
    }
    cx.session.tracking.caching = true;
    Ok(Reply::ok())
}

/// `CLIENT GETREDIR`: -1 when tracking is off, 0 when not redirected, else the id.
pub fn client_getredir(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let view = cx.shared.pubsub.tracking.view(cx.session.info.id);
    Ok(Reply::Int(view.map_or(-1, |v| v.redirect as i64)))
}

/// `CLIENT TRACKINGINFO`
pub fn client_trackinginfo(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let view = cx.shared.pubsub.tracking.view(cx.session.info.id);
    let caching = cx.session.tracking.caching;
    let mut flags = Vec::new();
    let (redirect, prefixes) = match &view {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(v) => {
            flags.push("on");
            let m = v.mode;
            for (set, name) in [
                (m.bcast, "bcast"),
                (m.optin, "optin"),
                (m.optout, "optout"),
                (caching && m.optin, "caching-yes"),
                (caching && m.optout, "caching-no"),
                (m.noloop, "noloop"),
                (v.broken, "broken_redirect"),
            ] {
                if set {
                    flags.push(name);
                }
            }
            (v.redirect as i64, v.prefixes.clone())
        }
    };
    Ok(Reply::Map(vec![
        (Reply::bulk("flags"), Reply::Set(flags.into_iter().map(Reply::bulk).collect())),
        (Reply::bulk("redirect"), Reply::Int(redirect)),
        (Reply::bulk("prefixes"), Reply::Array(prefixes.into_iter().map(Reply::Bulk).collect())),
    ]))
}

/// CLIENT LIST: the tracking flag letters (`t`, `R` broken redirect, `B` BCAST) and the
/// `redir=` value (-1 when tracking is off).
pub fn client_list_fields(tracking: &Tracking, id: u64) -> (&'static str, i64) {
    match tracking.view(id) {
        None => ("", -1),
        Some(v) => {
            let flags = match (v.broken, v.mode.bcast) {
                (false, false) => "t",
                (true, false) => "tR",
                (false, true) => "tB",
                (true, true) => "tRB",
            };
            (flags, v.redirect as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn prefixes_overlap_when_one_starts_the_other() {
        assert!(overlaps(b"FOO", b"FOOBAR"));
        assert!(overlaps(b"FOOBAR", b"FOO"));
        assert!(overlaps(b"", b"x"));
        assert!(!overlaps(b"FOO", b"BAR"));
        assert_eq!(
            check_prefixes(&[], &[b("FOOBAR"), b("FOO")]).unwrap_err().to_string(),
            "ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'. Prefixes for a single client must not overlap."
        );
        assert_eq!(
            check_prefixes(&[b("BAR"), b("FOO")], &[b("FO")]).unwrap_err().to_string(),
            "ERR Prefix 'FO' overlaps with an existing prefix 'FOO'. Prefixes for a single client must not overlap."
        );
        assert!(check_prefixes(&[b("a:")], &[b("b:"), b("c:")]).is_ok());
    }

    #[test]
    fn keys_are_counted_once_per_client_and_dropped_with_the_last_client() {
        let t = Tracking::default();
        t.enable(1, Mode::default(), 0, &[]);
        t.enable(2, Mode::default(), 0, &[]);
        t.register(1, &[&b("a"), &b("b")], &mut InFlight::default());
        t.register(2, &[&b("a"), &b("a")], &mut InFlight::default());
        assert_eq!(t.stats(), TrackingStats { clients: 2, keys: 2, items: 3, prefixes: 0 });
        t.disable(1);
        assert_eq!(t.stats().keys, 2, "ids are cleaned lazily while others track");
        t.disable(2);
        assert_eq!(t.stats(), TrackingStats::default());
        assert!(!t.is_active());
    }

    #[test]
    fn bcast_without_prefixes_tracks_the_empty_prefix_and_off_releases_it() {
        let t = Tracking::default();
        let bcast = Mode { bcast: true, ..Mode::default() };
        t.enable(7, bcast, 0, &[b("a"), b("b")]);
        t.enable(7, bcast, 0, &[]);
        assert_eq!(t.view(7).unwrap().prefixes, vec![b(""), b("a"), b("b")]);
        assert_eq!(t.stats().prefixes, 3);
        t.disable(7);
        assert_eq!(t.stats().prefixes, 0);
    }

    #[test]
    fn held_keys_are_counted_per_key_and_tracked_reads_are_not_held() {
        let t = Tracking::default();
        t.enable(3, Mode { noloop: true, ..Mode::default() }, 0, &[]);
        let mut held = InFlight { writes: vec![b("k")], reads: vec![] };
        t.register(3, &[], &mut held);
        t.register(3, &[], &mut held);
        t.release(3, &held);
        assert!(t.inner.lock().clients[&3].own_write(b"k"));
        t.release(3, &held);
        assert!(!t.inner.lock().clients[&3].own_write(b"k"));

        t.register(3, &[&b("seen")], &mut InFlight::default());
        let mut held = InFlight { writes: vec![], reads: vec![b("seen"), b("new")] };
        t.register(3, &[&b("seen"), &b("new")], &mut held);
        assert_eq!(held.reads, vec![b("new")]);
    }

    #[test]
    fn messages_take_the_receivers_protocol() {
        let keys = [b("k")];
        let (push, _) = invalidation(true, false, Some(&keys)).unwrap();
        assert_eq!(
            push,
            Reply::Push(vec![Reply::bulk("invalidate"), Reply::Array(vec![Reply::bulk("k")])])
        );
        let (msg, _) = invalidation(false, true, None).unwrap();
        assert_eq!(
            msg,
            Reply::Push(vec![Reply::bulk("message"), Reply::bulk(INVALIDATE_CHANNEL), Reply::Null])
        );
        assert!(invalidation(false, false, Some(&keys)).is_none());
    }
}
