//! The pub/sub registry: who is subscribed to which channel, pattern and shard channel,
//! and the per-connection inbox messages travel through.
//!
//! ```text
//!  PUBLISH / SPUBLISH (any connection) ──┐
//!  keyspace notifications (apply path) ──┴─> PubSub::publish ──> Outbox (per client,
//!                                                 unbounded, byte-counted)
//!                                                        │
//!  connection task: select! { input, inbox.recv() } <────┘  writes pushes between replies
//! ```
//!
//! Invariants:
//! - A publisher never waits for a subscriber: sends are non-blocking. A subscriber whose
//!   undelivered messages exceed the pub/sub hard limit of `client-output-buffer-limit`
//!   (32mb by default) is disconnected, as Redis does; the soft limit is not enforced.
//! - Publishing is not a log entry: in this single-node version a message is delivered
//!   to the local subscribers only. Keyspace notifications, in contrast, are produced on
//!   the apply path (`notify.rs`), so they follow log order.
//! - A connection's subscriptions end with it: dropping its [`Inbox`] detaches it.
//! - Nothing here touches the keyspace; no keyspace guard is ever taken under our lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hashbrown::HashSet;
use parking_lot::RwLock;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::cmd::CommandSpec;
use crate::config::ConfigStore;
use crate::error::CmdError;
use crate::reply::Reply;
use crate::resp::Proto;
use crate::session::{ClientInfo, Session};

/// Which namespace a subscription lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `SUBSCRIBE` / `PUBLISH`.
    Channel,
    /// `PSUBSCRIBE`: glob patterns over channel names.
    Pattern,
    /// `SSUBSCRIBE` / `SPUBLISH`.
    Shard,
}

impl Kind {
    fn subscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    fn unsubscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// Undelivered bytes above which we read the configured hard limit at all (the common
/// case pays nothing for it).
const CHECK_LIMIT_ABOVE: usize = 1 << 20;
/// Redis's default pub/sub hard limit, used when the config cannot be parsed.
const DEFAULT_HARD_LIMIT: u64 = 32 * 1024 * 1024;

/// The sending side of one connection's inbox.
struct Outbox {
    tx: mpsc::UnboundedSender<Reply>,
    /// Bytes sent but not yet written to the socket (approximate: payload plus framing).
    pending: Arc<AtomicUsize>,
    info: Arc<ClientInfo>,
}

impl Outbox {
    /// Queues `msg`; disconnects the client if it is too far behind.
    fn send(&self, msg: Reply, size: usize, config: &ConfigStore) {
        if self.info.is_killed() {
            return;
        }
        let pending = self.pending.fetch_add(size, Ordering::Relaxed) + size;
        if pending > CHECK_LIMIT_ABOVE {
            let limit = hard_limit(config);
            if limit > 0 && pending as u64 > limit {
                tracing::warn!(
                    client = self.info.id,
                    pending,
                    "closing pub/sub client over client-output-buffer-limit"
                );
                self.info.kill();
                return;
            }
        }
        let _ = self.tx.send(msg);
    }
}

/// The pub/sub hard limit in bytes from `client-output-buffer-limit` (0 = none).
fn hard_limit(config: &ConfigStore) -> u64 {
    let Some(text) = config.get("client-output-buffer-limit") else { return DEFAULT_HARD_LIMIT };
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .chunks(4)
        .find(|c| c.len() == 4 && c[0].eq_ignore_ascii_case("pubsub"))
        .and_then(|c| crate::config::parse_memory(c[1]))
        .map_or(DEFAULT_HARD_LIMIT, |n| n.max(0) as u64)
}

/// One attached connection: its inbox and its subscriptions.
struct Client {
    outbox: Outbox,
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard: HashSet<Bytes>,
}

impl Client {
    fn set(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count SUBSCRIBE-family replies carry: channels and patterns together, shard
    /// channels on their own (as Redis reports them).
    fn count(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Channel | Kind::Pattern => (self.channels.len() + self.patterns.len()) as i64,
            Kind::Shard => self.shard.len() as i64,
        }
    }

    fn is_subscribed(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}

/// Subscribers per name, in subscription order (delivery follows it).
type Subscribers = HashMap<Bytes, Vec<u64>>;

#[derive(Default)]
struct Inner {
    channels: Subscribers,
    patterns: Subscribers,
    shard: Subscribers,
    clients: HashMap<u64, Client>,
}

impl Inner {
    fn map(&mut self, kind: Kind) -> &mut Subscribers {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Removes `id` from `name`'s subscribers, dropping the name when none remain.
    fn remove_subscriber(&mut self, kind: Kind, name: &[u8], id: u64) {
        let map = self.map(kind);
        if let Some(ids) = map.get_mut(name) {
            ids.retain(|&i| i != id);
            if ids.is_empty() {
                map.remove(name);
            }
        }
    }
}

/// The server's pub/sub registry (one per server, in `Shared`, also fed by the state
/// machine's keyspace notifications).
#[derive(Default)]
pub struct PubSub {
    inner: RwLock<Inner>,
    /// Clients with at least one subscription: the subscribed-mode gate and keyspace
    /// notifications check this before taking any lock.
    subscribed_clients: AtomicUsize,
    /// Client-side caching: its invalidations travel through these inboxes.
    pub tracking: crate::tracking::Tracking,
}

/// A message frame: `[kind, parts...]`, a push in RESP3, an array in RESP2.
fn frame(kind: &'static str, parts: &[&Bytes]) -> Reply {
    let mut items = Vec::with_capacity(parts.len() + 1);
    items.push(Reply::Bulk(Bytes::from_static(kind.as_bytes())));
    items.extend(parts.iter().map(|p| Reply::Bulk((*p).clone())));
    Reply::Push(items)
}

/// Several frames as one reply: a push whose items are pushes is written as consecutive
/// frames (SUBSCRIBE a b answers with one frame per channel).
fn frames(mut list: Vec<Reply>) -> Reply {
    if list.len() == 1 {
        list.pop().unwrap_or(Reply::Null)
    } else {
        Reply::Push(list)
    }
}

impl PubSub {
    /// Whether any client has any subscription.
    pub fn any_subscribed(&self) -> bool {
        self.subscribed_clients.load(Ordering::Relaxed) > 0
    }

    /// Attaches a connection; messages for it arrive in the returned inbox until it is
    /// dropped, which also ends every subscription.
    pub fn attach(self: &Arc<Self>, info: &Arc<ClientInfo>) -> Inbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let client = Client {
            outbox: Outbox { tx, pending: pending.clone(), info: info.clone() },
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard: HashSet::new(),
        };
        self.inner.write().clients.insert(info.id, client);
        Inbox { rx, pending, registry: self.clone(), info: info.clone() }
    }

    fn detach(&self, id: u64) {
        self.unsubscribe_all(id);
        self.inner.write().clients.remove(&id);
        self.tracking.disable(id);
    }

    /// Queues a message built for client `id` by `build(resp3, subscribed)` (client-side
    /// caching invalidations; `None` sends nothing). Returns whether the client exists.
    pub fn push_to(
        &self,
        id: u64,
        config: &ConfigStore,
        build: impl FnOnce(bool, bool) -> Option<(Reply, usize)>,
    ) -> bool {
        let inner = self.inner.read();
        let Some(client) = inner.clients.get(&id) else { return false };
        let resp3 = client.outbox.info.view.lock().resp == 3;
        if let Some((msg, size)) = build(resp3, client.is_subscribed()) {
            client.outbox.send(msg, size, config);
        }
        true
    }

    /// Whether client `id` has any subscription (RESP2 subscribed mode).
    pub fn is_subscribed(&self, id: u64) -> bool {
        self.any_subscribed()
            && self.inner.read().clients.get(&id).is_some_and(Client::is_subscribed)
    }

    /// (channels, patterns, shard channels) client `id` is subscribed to (CLIENT LIST
    /// `sub=`, `psub=`, `ssub=`).
    pub fn counts(&self, id: u64) -> (usize, usize, usize) {
        self.inner
            .read()
            .clients
            .get(&id)
            .map_or((0, 0, 0), |c| (c.channels.len(), c.patterns.len(), c.shard.len()))
    }

    /// Keeps the subscribed-clients counter in step with one client's change.
    fn track(&self, was: bool, is: bool) {
        match (was, is) {
            (false, true) => {
                self.subscribed_clients.fetch_add(1, Ordering::Relaxed);
            }
            (true, false) => {
                self.subscribed_clients.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// `(P|S)SUBSCRIBE names...`: one confirmation frame per name, with the running count.
    pub fn subscribe(&self, id: u64, kind: Kind, names: &[Bytes]) -> Reply {
        let mut inner = self.inner.write();
        let inner = &mut *inner;
        let Some(client) = inner.clients.get_mut(&id) else { return Reply::Array(vec![]) };
        let was = client.is_subscribed();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if client.set(kind).insert(name.clone()) {
                let map = match kind {
                    Kind::Channel => &mut inner.channels,
                    Kind::Pattern => &mut inner.patterns,
                    Kind::Shard => &mut inner.shard,
                };
                map.entry(name.clone()).or_default().push(id);
            }
            let mut f = frame(kind.subscribe_name(), &[name]);
            if let Reply::Push(items) = &mut f {
                items.push(Reply::Int(client.count(kind)));
            }
            out.push(f);
        }
        let is = client.is_subscribed();
        self.track(was, is);
        frames(out)
    }

    /// `(P|S)UNSUBSCRIBE [names...]`: no names means all of that kind; a frame per name,
    /// or a single frame with a null name when there was nothing to leave.
    pub fn unsubscribe(&self, id: u64, kind: Kind, names: &[Bytes]) -> Reply {
        let mut inner = self.inner.write();
        let Some(client) = inner.clients.get_mut(&id) else { return Reply::Array(vec![]) };
        let was = client.is_subscribed();
        let targets: Vec<Bytes> = if names.is_empty() {
            client.set(kind).iter().cloned().collect()
        } else {
            names.to_vec()
        };
        let mut out = Vec::with_capacity(targets.len().max(1));
        let mut left = Vec::new();
        for name in &targets {
            if client.set(kind).remove(name) {
                left.push(name.clone());
            }
            let mut f = frame(kind.unsubscribe_name(), &[name]);
            if let Reply::Push(items) = &mut f {
                items.push(Reply::Int(client.count(kind)));
            }
            out.push(f);
        }
        if out.is_empty() {
            out.push(Reply::Push(vec![
                Reply::Bulk(Bytes::from_static(kind.unsubscribe_name().as_bytes())),
                Reply::Null,
                Reply::Int(client.count(kind)),
            ]));
        }
        let is = client.is_subscribed();
        for name in left {
            inner.remove_subscriber(kind, &name, id);
        }
        drop(inner);
        self.track(was, is);
        frames(out)
    }

    /// Ends every subscription of client `id` silently (RESET, disconnect).
    pub fn unsubscribe_all(&self, id: u64) {
        let mut inner = self.inner.write();
        let Some(client) = inner.clients.get_mut(&id) else { return };
        let was = client.is_subscribed();
        let mut gone = Vec::new();
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            gone.extend(client.set(kind).drain().map(|n| (kind, n)));
        }
        for (kind, name) in gone {
            inner.remove_subscriber(kind, &name, id);
        }
        drop(inner);
        self.track(was, false);
    }

    /// Delivers `payload` on `channel` (`Kind::Channel`: subscribers then matching
    /// patterns; `Kind::Shard`: shard subscribers). Returns the number of receivers.
    pub fn publish(
        &self,
        kind: Kind,
        channel: &Bytes,
        payload: &Bytes,
        config: &ConfigStore,
    ) -> i64 {
        if !self.any_subscribed() {
            return 0;
        }
        let inner = self.inner.read();
        let size = channel.len() + payload.len() + 48;
        let mut receivers = 0;
        let (map, tag) = match kind {
            Kind::Shard => (&inner.shard, "smessage"),
            _ => (&inner.channels, "message"),
        };
        if let Some(ids) = map.get(channel) {
            for id in ids {
                if let Some(c) = inner.clients.get(id) {
                    c.outbox.send(frame(tag, &[channel, payload]), size, config);
                    receivers += 1;
                }
            }
        }
        if kind == Kind::Channel {
            for (pattern, ids) in &inner.patterns {
                if !crate::glob::matches(pattern, channel, false) {
                    continue;
                }
                for id in ids {
                    if let Some(c) = inner.clients.get(id) {
                        let msg = frame("pmessage", &[pattern, channel, payload]);
                        c.outbox.send(msg, size + pattern.len(), config);
                        receivers += 1;
                    }
                }
            }
        }
        receivers
    }

    /// Active channel names (or shard channel names) matching `pattern` (all if none).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let inner = self.inner.read();
        let map = if kind == Kind::Shard { &inner.shard } else { &inner.channels };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| crate::glob::matches(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscriber count of each channel (patterns not counted).
    pub fn numsub(&self, kind: Kind, names: &[Bytes]) -> Vec<(Bytes, i64)> {
        let inner = self.inner.read();
        let map = if kind == Kind::Shard { &inner.shard } else { &inner.channels };
        names.iter().map(|n| (n.clone(), map.get(n).map_or(0, |ids| ids.len() as i64))).collect()
    }

    /// Number of distinct patterns subscribed to.
    pub fn numpat(&self) -> i64 {
        self.inner.read().patterns.len() as i64
    }
}

/// A connection's receiving end. Dropping it ends the connection's subscriptions.
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Reply>,
    pending: Arc<AtomicUsize>,
    registry: Arc<PubSub>,
    info: Arc<ClientInfo>,
}

impl Inbox {
    /// The next message (cancel-safe: use it in `select!` next to the socket read).
    pub async fn recv(&mut self) -> Option<Reply> {
        self.rx.recv().await
    }

    /// Writes `first` and every message already queued to `socket`, in order.
    pub async fn deliver<W: AsyncWrite + Unpin>(
        &mut self,
        first: Reply,
        proto: Proto,
        socket: &mut W,
    ) -> std::io::Result<usize> {
        let mut out = BytesMut::new();
        crate::resp::encode(&first, proto, &mut out);
        let mut count = 1;
        // Bounded so one busy channel cannot starve the connection's own commands.
        while count < 1024 {
            match self.rx.try_recv() {
                Ok(m) => crate::resp::encode(&m, proto, &mut out),
                Err(_) => break,
            }
            count += 1;
        }
        // A subscriber that stopped reading is disconnected when it falls too far behind
        // (see `Outbox::send`); the kill must also end a write stuck on its full socket.
        tokio::select! {
            r = socket.write_all(&out) => r?,
            _ = self.info.kill_notify.notified() => {
                return Err(std::io::Error::other("client-output-buffer-limit exceeded"));
            }
        }
        // Accounting is approximate; never let it wrap below zero.
        let written = out.len();
        let _ = self.pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
            Some(p.saturating_sub(written))
        });
        Ok(written)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.registry.detach(self.info.id);
    }
}

/// Commands a RESP2 client may run while subscribed.
fn allowed_in_subscribed_mode(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "ssubscribe"
            | "psubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "punsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// The pub/sub part of the command gate, run for every command after auth: RESET ends
/// the client's subscriptions; a RESP2 client in subscribed mode may only run the
/// SUBSCRIBE family, PING (answered `["pong", arg]`), QUIT and RESET. `Some` is the
/// reply to give instead of running the command.
///
/// Connections run in parallel, not in one event loop as in Redis: an UNSUBSCRIBE sent
/// on one connection just before a PUBLISH on another may be processed after it (the
/// Tcl tests "... after (P)UNSUBSCRIBE without arguments" race on this, ~10% of runs).
pub fn gate(
    pubsub: &PubSub,
    session: &Session,
    spec: &CommandSpec,
    argv: &[Bytes],
) -> Option<Reply> {
    if !pubsub.any_subscribed() {
        return None;
    }
    // A subcommand's spec carries only its own name; the container is argv[0].
    let is_sub = argv.first().is_some_and(|n| !n.eq_ignore_ascii_case(spec.name.as_bytes()));
    if spec.name == "reset" && !is_sub {
        pubsub.unsubscribe_all(session.info.id);
        return None;
    }
    if session.proto != Proto::Resp2 || !pubsub.is_subscribed(session.info.id) {
        return None;
    }
    if is_sub {
        let container = argv.first().map(|n| String::from_utf8_lossy(n).to_lowercase());
        let full = format!("{}|{}", container.unwrap_or_default(), spec.name);
        return Some(Reply::Error(CmdError::PubsubContext(full)));
    }
    if spec.name == "ping" {
        let arg = argv.get(1).cloned().unwrap_or_default();
        let pong = Reply::Bulk(Bytes::from_static(b"pong"));
        return Some(Reply::Array(vec![pong, Reply::Bulk(arg)]));
    }
    if allowed_in_subscribed_mode(spec.name) {
        return None;
    }
    Some(Reply::Error(CmdError::PubsubContext(spec.name.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: u64) -> Arc<ClientInfo> {
        Arc::new(ClientInfo {
            id,
            addr: String::new(),
            laddr: String::new(),
            fd: -1,
            created_ms: 0,
            view: Default::default(),
            killed: Default::default(),
            kill_notify: Default::default(),
            last_interaction_ms: Default::default(),
        })
    }

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[tokio::test]
    async fn a_subscriber_gets_channel_and_pattern_messages_in_order() {
        let ps = Arc::new(PubSub::default());
        let config = ConfigStore::default();
        let mut inbox = ps.attach(&info(1));
        ps.subscribe(1, Kind::Channel, &[b("news")]);
        ps.subscribe(1, Kind::Pattern, &[b("n*")]);
        assert_eq!(ps.publish(Kind::Channel, &b("news"), &b("hi"), &config), 2);
        assert_eq!(ps.publish(Kind::Channel, &b("other"), &b("x"), &config), 0);
        assert_eq!(inbox.recv().await, Some(frame("message", &[&b("news"), &b("hi")])));
        assert_eq!(inbox.recv().await, Some(frame("pmessage", &[&b("n*"), &b("news"), &b("hi")])));
    }

    #[test]
    fn dropping_the_inbox_ends_every_subscription() {
        let ps = Arc::new(PubSub::default());
        let inbox = ps.attach(&info(7));
        ps.subscribe(7, Kind::Channel, &[b("a"), b("b")]);
        ps.subscribe(7, Kind::Shard, &[b("s")]);
        assert!(ps.is_subscribed(7));
        drop(inbox);
        assert!(!ps.any_subscribed());
        assert!(ps.channels(Kind::Channel, None).is_empty());
        assert_eq!(ps.numsub(Kind::Shard, &[b("s")]), vec![(b("s"), 0)]);
    }

    #[test]
    fn counts_mix_channels_and_patterns_but_not_shard_channels() {
        let ps = Arc::new(PubSub::default());
        let _inbox = ps.attach(&info(2));
        ps.subscribe(2, Kind::Channel, &[b("a")]);
        ps.subscribe(2, Kind::Shard, &[b("s"), b("t")]);
        let reply = ps.subscribe(2, Kind::Pattern, &[b("p*")]);
        assert_eq!(
            reply,
            Reply::Push(vec![Reply::Bulk(b("psubscribe")), Reply::Bulk(b("p*")), Reply::Int(2)])
        );
        let reply = ps.unsubscribe(2, Kind::Shard, &[b("s")]);
        assert_eq!(
            reply,
            Reply::Push(vec![Reply::Bulk(b("sunsubscribe")), Reply::Bulk(b("s")), Reply::Int(1)])
        );
        assert_eq!(ps.counts(2), (1, 1, 1));
    }

    #[test]
    fn unsubscribing_with_nothing_subscribed_names_no_channel() {
        let ps = Arc::new(PubSub::default());
        let _inbox = ps.attach(&info(3));
        assert_eq!(
            ps.unsubscribe(3, Kind::Pattern, &[]),
            Reply::Push(vec![Reply::Bulk(b("punsubscribe")), Reply::Null, Reply::Int(0)])
        );
    }

    #[test]
    fn the_hard_limit_comes_from_the_pubsub_class() {
        let config = ConfigStore::default();
        assert_eq!(hard_limit(&config), 33_554_432);
        config.set("client-output-buffer-limit", "pubsub 1mb 0 0", false).unwrap();
        assert_eq!(hard_limit(&config), 1_048_576);
    }

    #[test]
    fn a_subscriber_too_far_behind_is_disconnected() {
        let ps = Arc::new(PubSub::default());
        let config = ConfigStore::default();
        config.set("client-output-buffer-limit", "pubsub 2mb 0 0", false).unwrap();
        let client = info(4);
        let _inbox = ps.attach(&client);
        ps.subscribe(4, Kind::Channel, &[b("c")]);
        let big = Bytes::from(vec![b'x'; 100_000]);
        for _ in 0..30 {
            ps.publish(Kind::Channel, &b("c"), &big, &config);
        }
        assert!(client.is_killed());
    }
}
