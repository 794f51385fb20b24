//! Replication: a shard of nodes sharing one raft log (openraft), behind the same
//! [`crate::Log`] interface the single node uses.
//!
//! Every openraft type stays inside this module. A proposal becomes one raft entry per
//! request (the entry's raft index is the request's log index, so seeds and replay are
//! as on one node); a connection's pipeline is submitted in one `client_write_many`, in
//! order, by a single proposer task, so pipelined writes stay in flight together and in
//! order. The reply comes from apply, once a quorum holds the entry on disk.
//!
//! Reads on the leader pass a read barrier (raft's read-index: the leader confirms with
//! a quorum that it still leads, then waits until it has applied that far). Callers that
//! arrive while a confirmation is running share the next one, so a burst of reads costs
//! one round of heartbeats.

pub mod machine;
pub mod net;
pub mod store;

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use openraft::async_runtime::WatchReceiver;
use openraft::error::ClientWriteError;
use openraft::raft::ReadPolicy;
use openraft::{ChangeMembers, ServerState};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use self::machine::Machine;
use self::store::LogStore;
use crate::{Codec, Inner, LogError, MemberView, Proposal, ReplyTo, ShardView, StateMachine};

/// An encoded request: what a raft entry carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Payload(pub Bytes);

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request({} bytes)", self.0.len())
    }
}

/// A state machine's response, handed from apply to the proposer on this node.
///
/// Responses never cross the network (raft replicates requests, and each node applies
/// them itself), but openraft's serde feature asks every response type to be
/// serializable: these impls refuse, and are never called.
pub struct Response(Mutex<Option<Box<dyn Any + Send>>>);

impl Response {
    fn new<T: Send + 'static>(value: T) -> Self {
        Self(Mutex::new(Some(Box::new(value))))
    }

    fn empty() -> Self {
        Self(Mutex::new(None))
    }

    fn take<T: 'static>(&self) -> Option<T> {
        self.0.lock().take()?.downcast::<T>().ok().map(|b| *b)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Response")
    }
}

impl Serialize for Response {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("responses stay on the node that applied them"))
    }
}

impl<'de> Deserialize<'de> for Response {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("responses stay on the node that applied them"))
    }
}

/// A member's addresses: clients connect to `addr`, peers to `bus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Client address, `host:port`.
    pub addr: String,
    /// Cluster bus address, `host:port`.
    pub bus: String,
}

openraft::declare_raft_types!(
    /// The raft types of an Engram shard.
    pub Types:
        D = Payload,
        R = Response,
        NodeId = u64,
        Node = Member,
);

type Raft<SM> = openraft::Raft<Types, Machine<SM>>;

/// How this node joins its shard.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    /// This node's id.
    pub node_id: u64,
    /// The founding members (node 1 initializes the shard with them on first start).
    pub members: BTreeMap<u64, Member>,
    /// Where this node's raft log and snapshots live.
    pub dir: PathBuf,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Election timeout (a random time between this and twice this).
    pub election_timeout: Duration,
    /// Log entries between automatic snapshots.
    pub snapshot_entries: u64,
    /// Log entries kept behind a snapshot, for replicas that lag a little (one further
    /// behind is sent the snapshot).
    pub keep_entries: u64,
    /// Bytes of log that trigger a snapshot and a purge up to it, whatever the entry
    /// count (0: count only). Entries stay in memory until purged, so this bounds that
    /// memory when values are large.
    pub snapshot_bytes: u64,
    /// Skip fdatasync (`durability none`).
    pub unsynced: bool,
    /// Bus addresses to dial instead of the membership's, per peer (tests).
    pub routes: BTreeMap<u64, String>,
    /// Join as a learner: a read replica that does not vote (nor count for a quorum).
    pub learner: bool,
    /// Sees every request as it is appended to this node's log, before it is applied
    /// (the server learns there of records that concern an entry still being applied).
    pub on_append: Option<AppendHook>,
}

/// What an [`AppendHook`] calls with each appended request's encoded bytes.
pub type OnAppend = dyn Fn(&[u8]) + Send + Sync;

/// A callback on each appended request's encoded bytes.
#[derive(Clone)]
pub struct AppendHook(pub Arc<OnAppend>);

impl fmt::Debug for AppendHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppendHook")
    }
}

/// A running shard member.
pub(crate) struct Shard<SM: StateMachine> {
    raft: Raft<SM>,
    me: u64,
    store: LogStore,
    proposer: mpsc::UnboundedSender<Proposal<SM::Request, SM::Response>>,
    reads: Arc<ReadBarrier>,
    /// The leader as last seen in the metrics (0: none), for the write check.
    leader: Arc<AtomicU64>,
    view: Arc<Mutex<ShardView>>,
    routes: BTreeMap<u64, String>,
    /// When a leader last replicated to this node.
    contact: Arc<net::Contact>,
    /// Silence from the leader longer than this: the link is reported down.
    stale_after: Duration,
}

#[derive(Default)]
struct ReadBarrier {
    state: Mutex<ReadState>,
}

#[derive(Default)]
struct ReadState {
    running: bool,
    waiting: Vec<oneshot::Sender<Result<(), LogError>>>,
}

/// Why raft sent a write to the leader: another node leads, or this one does but its
/// lease lapsed (raft refuses writes then, which a client must not read as "replica").
fn not_leader(view: &ShardView) -> LogError {
    if view.leader == Some(view.me) {
        return LogError::LeaseLapsed;
    }
    let leader = view.leader.filter(|l| *l != view.me);
    let addr = leader.and_then(|l| view.members.iter().find(|m| m.id == l)).map(|m| m.addr.clone());
    LogError::NotLeader(addr)
}

impl<SM: StateMachine> Shard<SM> {
    /// Opens this node's raft state and joins the shard. Blocking parts (snapshot load,
    /// log read) run on blocking threads.
    pub(crate) async fn start(
        inner: Arc<Inner<SM>>,
        options: ShardOptions,
    ) -> Result<Self, String> {
        let raft_dir = options.dir.clone();
        let snap_dir = raft_dir.join("snapshot");
        let incoming = raft_dir.join("incoming");
        let _ = std::fs::remove_dir_all(&incoming);
        std::fs::create_dir_all(&incoming).map_err(|e| e.to_string())?;
        let (machine, store) = {
            let (inner, dir, unsynced) = (inner.clone(), raft_dir.clone(), options.unsynced);
            let hook = options.on_append.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<(Machine<SM>, LogStore)> {
                let machine = Machine::open(inner, snap_dir)?;
                let store = LogStore::open(&dir, unsynced, hook)?;
                Ok((machine, store))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
        };
        let heartbeat = options.heartbeat.as_millis().max(1) as u64;
        let election = options.election_timeout.as_millis().max(heartbeat as u128 * 3) as u64;
        let config = openraft::Config {
            cluster_name: "engram".into(),
            heartbeat_interval: heartbeat,
            election_timeout_min: election,
            election_timeout_max: election * 2,
            install_snapshot_timeout: 60_000,
            // A follower's fsync per batch bounds replication: batches must be large
            // enough to carry every client's pipeline (openraft's default is 300).
            max_payload_entries: 4096,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(
                options.snapshot_entries.max(100),
            ),
            max_in_snapshot_log_to_keep: options.keep_entries,
            enable_pre_vote: Some(true),
            ..Default::default()
        }
        .validate()
        .map_err(|e| e.to_string())?;
        let me = options.node_id;
        let me_member = options
            .members
            .get(&me)
            .cloned()
            .ok_or_else(|| format!("node {me} is not in the peers list"))?;
        let raft = Raft::<SM>::new(
            me,
            Arc::new(config),
            net::Network { routes: options.routes.clone() },
            store.clone(),
            machine,
        )
        .await
        .map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(&me_member.bus)
            .await
            .map_err(|e| format!("cannot listen on the cluster bus {}: {e}", me_member.bus))?;
        tracing::info!(node = me, bus = %me_member.bus, "cluster bus listening");
        let contact = Arc::new(net::Contact::default());
        tokio::spawn(net::serve(
            listener,
            raft.clone(),
            incoming,
            contact.clone(),
            options.learner,
        ));
        let fresh = !raft.is_initialized().await.map_err(|e| e.to_string())?;
        // Node 1 founds the shard, unless a peer already has one: then node 1 lost its
        // data directory and must be brought back by the leader (a snapshot, then the
        // log), not found a second shard under the same names.
        let mut founded_elsewhere = false;
        if fresh && me == 1 {
            for (id, member) in options.members.iter().filter(|(id, _)| **id != me) {
                let bus = options.routes.get(id).unwrap_or(&member.bus);
                if net::initialized(bus).await == Some(true) {
                    founded_elsewhere = true;
                }
            }
        }
        if founded_elsewhere {
            tracing::warn!("this node has no raft state but its peers have a shard: waiting for the leader to restore it");
        } else if fresh && me == 1 {
            tracing::info!(members = options.members.len(), "initializing a new shard");
            if let Err(e) = raft.initialize(options.members.clone()).await {
                tracing::warn!(error = %e, "shard initialization");
            }
        } else if fresh {
            tracing::info!("waiting to be added to the shard");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let view = Arc::new(Mutex::new(ShardView {
            me,
            leader: None,
            previous_leader: None,
            term: 0,
            committed: 0,
            applied: 0,
            members: Vec::new(),
        }));
        let leader = Arc::new(AtomicU64::new(0));
        tokio::spawn(propose_loop::<SM>(raft.clone(), store.clone(), rx, view.clone()));
        tokio::spawn(watch_metrics::<SM>(raft.clone(), view.clone(), leader.clone()));
        tokio::spawn(bound_log::<SM>(raft.clone(), store.clone(), options.snapshot_bytes));
        Ok(Self {
            raft,
            me,
            store,
            proposer: tx,
            reads: Arc::default(),
            leader,
            view,
            routes: options.routes,
            contact,
            stale_after: Duration::from_millis(election * 4),
        })
    }

    pub(crate) fn submit(&self, proposal: Proposal<SM::Request, SM::Response>) {
        if let Some(reason) = self.store.poisoned() {
            proposal.refuse::<SM>(&LogError::Poisoned(reason));
            return;
        }
        if let Err(mpsc::error::SendError(proposal)) = self.proposer.send(proposal) {
            proposal.refuse::<SM>(&LogError::Shutdown);
        }
    }

    pub(crate) fn writable(&self) -> Result<(), LogError> {
        if let Some(reason) = self.store.poisoned() {
            return Err(LogError::Poisoned(reason));
        }
        if self.leader.load(Ordering::Acquire) == self.me {
            Ok(())
        } else {
            Err(not_leader(&self.view.lock()))
        }
    }

    /// The shard as this node sees it. A replica that has not heard from its leader for
    /// a few election timeouts reports no leader (the leader died and no majority is
    /// left to elect another), rather than the last one it knew.
    pub(crate) fn view(&self) -> ShardView {
        let mut view = self.view.lock().clone();
        if view.leader.is_some_and(|l| l != self.me) && self.contact.since() > self.stale_after {
            view.previous_leader = view.leader.take();
        }
        if self.store.poisoned().is_some() && view.leader == Some(self.me) {
            // Its raft stopped at the storage failure: it leads nothing any more.
            view.previous_leader = view.leader.take();
        }
        view
    }

    /// Waits until this node has applied everything committed before the call, having
    /// confirmed it still leads; on a replica it returns at once (eventual reads).
    pub(crate) async fn read_barrier(&self) -> Result<(), LogError> {
        // A poisoned node's raft has stopped: it serves reads from its own state, as a
        // replica does (its clients see it as one: ROLE, INFO).
        if self.leader.load(Ordering::Acquire) != self.me || self.store.poisoned().is_some() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut state = self.reads.state.lock();
            state.waiting.push(tx);
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            let (raft, reads, view) = (self.raft.clone(), self.reads.clone(), self.view.clone());
            tokio::spawn(async move {
                loop {
                    let waiting = {
                        let mut state = reads.state.lock();
                        if state.waiting.is_empty() {
                            state.running = false;
                            return;
                        }
                        std::mem::take(&mut state.waiting)
                    };
                    let result = raft
                        .ensure_linearizable(ReadPolicy::ReadIndex)
                        .await
                        .map(|_| ())
                        .map_err(|_| not_leader(&view.lock()));
                    for w in waiting {
                        let _ = w.send(result.clone());
                    }
                }
            });
        }
        rx.await.unwrap_or(Err(LogError::Shutdown))
    }

    /// Adds `id` as a learner that catches up (a snapshot, then the log), then, unless
    /// it is to stay a learner, as a voter.
    pub(crate) async fn add_member(
        &self,
        id: u64,
        member: Member,
        voter: bool,
    ) -> Result<(), String> {
        self.raft.add_learner(id, member, true).await.map_err(|e| e.to_string())?;
        if !voter {
            return Ok(());
        }
        let add: BTreeSet<u64> = [id].into();
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(add), false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Removes `id` from the shard.
    pub(crate) async fn remove_member(&self, id: u64) -> Result<(), String> {
        let ids: BTreeSet<u64> = [id].into();
        self.raft
            .change_membership(ChangeMembers::RemoveVoters(ids.clone()), false)
            .await
            .map_err(|e| e.to_string())?;
        self.raft
            .change_membership(ChangeMembers::RemoveNodes(ids), false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Asks the shard to make this node the leader (a manual failover): the leader
    /// hands over once this node has its whole log, so no acknowledged write is lost.
    pub(crate) async fn take_over(&self) -> Result<(), String> {
        let view = self.view();
        if view.leader == Some(self.me) {
            return Ok(());
        }
        let leader = view.leader.ok_or("there is no leader to take over from")?;
        let bus = self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .nodes()
            .find(|(id, _)| **id == leader)
            .map(|(_, n)| n.bus.clone())
            .ok_or("the leader is not a member")?;
        let bus = self.routes.get(&leader).cloned().unwrap_or(bus);
        net::hand_over(&bus, self.me).await
    }

    /// Starts a snapshot (SAVE / BGSAVE); the receiver reports when raft has built it.
    pub(crate) fn start_snapshot(
        &self,
    ) -> Result<oneshot::Receiver<Result<(), LogError>>, LogError> {
        let (done, rx) = oneshot::channel();
        let raft = self.raft.clone();
        let before = raft.metrics().borrow_watched().snapshot.map(|l| l.index());
        tokio::spawn(async move {
            if let Err(e) = raft.trigger().snapshot().await {
                let _ = done.send(Err(LogError::Snapshot(e.to_string())));
                return;
            }
            let built = raft
                .wait(Some(Duration::from_secs(600)))
                .metrics(
                    |m| {
                        m.snapshot.map(|l| l.index()) != before
                            || m.snapshot.is_some() && before.is_none()
                    },
                    "snapshot built",
                )
                .await;
            let _ = done.send(built.map(|_| ()).map_err(|e| LogError::Snapshot(e.to_string())));
        });
        Ok(rx)
    }

    pub(crate) fn poisoned(&self) -> Option<String> {
        self.store.poisoned()
    }

    pub(crate) fn inject_fault(&self, fault: crate::Fault) {
        self.store.inject_fault(fault);
    }

    pub(crate) fn set_unsynced(&self, unsynced: bool) {
        self.store.set_unsynced(unsynced);
    }

    pub(crate) fn close(&self) {
        self.store.close();
    }
}

async fn propose_loop<SM: StateMachine>(
    raft: Raft<SM>,
    store: LogStore,
    mut rx: mpsc::UnboundedReceiver<Proposal<SM::Request, SM::Response>>,
    view: Arc<Mutex<ShardView>>,
) {
    let mut queued = Vec::new();
    while rx.recv_many(&mut queued, 4096).await > 0 {
        let proposals: Vec<_> = std::mem::take(&mut queued);
        let mut payloads = Vec::new();
        for p in &proposals {
            for request in &p.requests {
                let mut out = Vec::new();
                request.encode_into(&mut out);
                payloads.push(Payload(Bytes::from(out)));
            }
        }
        let results = match raft.client_write_many(payloads).await {
            Ok(stream) => stream,
            Err(e) => {
                let error = match store.poisoned() {
                    Some(reason) => LogError::Poisoned(reason),
                    None => LogError::Shutdown,
                };
                tracing::warn!(error = %e, "raft refused proposals");
                for p in proposals {
                    p.refuse::<SM>(&error);
                }
                continue;
            }
        };
        let (view, store) = (view.clone(), store.clone());
        tokio::spawn(async move {
            let mut results = results;
            for p in proposals {
                let mut responses = Vec::with_capacity(p.requests.len());
                for _ in 0..p.requests.len() {
                    let response = match results.next().await {
                        Some(Ok(Ok(written))) => written
                            .response
                            .take::<SM::Response>()
                            .unwrap_or_else(|| SM::refused(&LogError::Shutdown)),
                        Some(Ok(Err(ClientWriteError::ForwardToLeader(_)))) => {
                            SM::refused(&not_leader(&view.lock()))
                        }
                        Some(Ok(Err(e))) => SM::refused(&LogError::Unknown(e.to_string())),
                        Some(Err(_)) | None => SM::refused(&match store.poisoned() {
                            Some(reason) => LogError::Poisoned(reason),
                            None => LogError::Shutdown,
                        }),
                    };
                    responses.push(response);
                }
                match p.reply {
                    ReplyTo::One(tx) => {
                        if let Some(r) = responses.pop() {
                            let _ = tx.send(r);
                        }
                    }
                    ReplyTo::Many(tx) => {
                        let _ = tx.send(responses);
                    }
                    ReplyTo::Nobody => {}
                }
            }
        });
    }
}

/// Snapshots and purges the log whenever it holds more than `limit` bytes: raft's own
/// policy counts entries, and a few thousand large values would fill memory first.
async fn bound_log<SM: StateMachine>(raft: Raft<SM>, store: LogStore, limit: u64) {
    if limit == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        if store.live_bytes() <= limit {
            continue;
        }
        let (applied, snapshot, purged) = {
            let m = raft.metrics();
            let m = m.borrow_watched();
            let index = |l: Option<&openraft::alias::LogIdOf<Types>>| l.map(|l| l.index());
            (index(m.last_applied.as_ref()), index(m.snapshot.as_ref()), index(m.purged.as_ref()))
        };
        // Purge to the newest snapshot first; a new snapshot only once that is done.
        let result = if let (Some(upto), true) = (snapshot, purged < snapshot) {
            tracing::info!(
                upto,
                bytes = store.live_bytes(),
                "raft log over its byte bound: purging up to the snapshot"
            );
            raft.trigger().purge_log(upto).await
        } else if snapshot < applied {
            raft.trigger().snapshot().await
        } else {
            Ok(())
        };
        if result.is_err() {
            return; // raft has stopped
        }
    }
}

/// Keeps the leader id and the shard view current from raft's metrics.
async fn watch_metrics<SM: StateMachine>(
    raft: Raft<SM>,
    view: Arc<Mutex<ShardView>>,
    leader: Arc<AtomicU64>,
) {
    let mut metrics = raft.metrics();
    let mut last_leader = None;
    let mut previous_leader = None;
    loop {
        {
            let m = metrics.borrow_watched().clone();
            let me = m.id;
            // A leader that has not yet committed an entry of its own term could still
            // hold a stale state machine: it takes writes (they queue behind that entry)
            // but reads wait in the read barrier.
            // A restarted leader's persisted vote names itself until it hears from the
            // shard: only the Leader state makes this node the leader.
            let current = match m.state {
                ServerState::Leader => Some(me),
                _ => m.current_leader.filter(|l| *l != me),
            };
            if current != last_leader {
                tracing::info!(node = me, leader = ?current, term = m.current_term, "shard leader changed");
                previous_leader = last_leader.or(previous_leader);
                last_leader = current;
            }
            leader.store(current.unwrap_or(0), Ordering::Release);
            let membership = m.membership_config.membership();
            let voters: BTreeSet<u64> = membership.voter_ids().collect();
            let members = membership
                .nodes()
                .map(|(id, node)| MemberView {
                    id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    matched: m
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(id))
                        .map(|l| l.map_or(0, |l| l.index())),
                })
                .collect();
            *view.lock() = ShardView {
                me,
                leader: current,
                previous_leader: if current.is_none() { previous_leader } else { None },
                term: m.current_term,
                committed: m.local_committed.map_or(0, |l| l.index()),
                applied: m.last_applied.map_or(0, |l| l.index()),
                members,
            };
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::PathBuf;
    use std::sync::atomic::AtomicUsize;

    use openraft::testing::log::{StoreBuilder, Suite};
    use openraft::{ErrorSubject, ErrorVerb, StorageError};

    use super::*;
    use crate::{Log, LogOptions};

    /// Requests are numbers; the state is their sum (enough for the storage suite, which
    /// applies blank and membership entries and builds snapshots).
    struct Sum(u64);

    impl Codec for u64 {
        fn encode_into(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_le_bytes());
        }
        fn decode_from(bytes: Bytes) -> Result<Self, String> {
            Ok(u64::from_le_bytes(bytes.as_ref().try_into().map_err(|_| "bad length")?))
        }
    }

    impl StateMachine for Sum {
        type Request = u64;
        type Response = u64;
        fn apply_batch(&mut self, batch: Vec<(u64, u64)>) -> Vec<u64> {
            batch
                .into_iter()
                .map(|(_, n)| {
                    self.0 += n;
                    self.0
                })
                .collect()
        }
        fn refused(_: &LogError) -> u64 {
            u64::MAX
        }
        fn freeze(&mut self) -> Box<dyn Iterator<Item = u64> + Send> {
            Box::new(std::iter::once(self.0))
        }
        fn reset(&mut self) {
            self.0 = 0;
        }
    }

    struct Builder {
        root: PathBuf,
        next: AtomicUsize,
    }

    impl StoreBuilder<Types, LogStore, Machine<Sum>, PathBuf> for Builder {
        async fn build(&self) -> Result<(PathBuf, LogStore, Machine<Sum>), StorageError<Types>> {
            let dir = self.root.join(self.next.fetch_add(1, Ordering::Relaxed).to_string());
            let io = |e| StorageError::from_io_error(ErrorSubject::Store, ErrorVerb::Write, e);
            let log = Log::replicated(Sum(0), LogOptions::default());
            let machine = Machine::open(log.inner.clone(), dir.join("snapshot")).map_err(io)?;
            let store = LogStore::open(&dir, false, None).map_err(io)?;
            Ok((dir, store, machine))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn openraft_storage_conformance() {
        let root = std::env::temp_dir().join(format!("engram-raft-suite-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        Suite::test_all(Builder { root: root.clone(), next: AtomicUsize::new(0) }).await.unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }
}
