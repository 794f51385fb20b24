//! engram-log: the log every write passes through before its reply.
//!
//! The server proposes requests; the log orders them, makes them durable and hands them,
//! in log order and in batches, to a [`StateMachine`]. The reply to each proposal is what
//! the state machine returned for it, and it is sent only once the entry is durable
//! (with [`Durability::Local`]: fsynced).
//!
//! This crate knows nothing of Redis: requests and responses are type parameters.
//!
//! How a write travels (one node):
//! - A proposer queues its requests. Whoever gets the *appender* lock frames everything
//!   queued into the write buffer and assigns indexes (combining: no thread hop).
//! - The *writer* thread takes the buffer and the batches behind it, writes them to the
//!   current segment, `fdatasync`s once for all of them (group commit), then applies them
//!   and replies. While it syncs, the next batch gathers in the buffer.
//! - With [`Durability::None`] the combiner applies at once and the writer only flushes
//!   the buffer every few milliseconds (a cache: a crash loses the last moments).
//!
//! Snapshots freeze the state machine (it copies on write), are written by a background
//! thread as a compacted log ([`snapshot`]), and let the segments before them go.
//! Recovery loads the newest snapshot and replays the segments after it.
#![warn(missing_docs)]

pub mod raft;
pub mod segment;
pub mod snapshot;

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use crate::segment::{ScanEnd, SegmentWriter};
use crate::snapshot::{SnapshotReader, SnapshotWriter};

/// How a request is stored in the log and in snapshots.
pub trait Codec: Sized {
    /// Appends the stored form to `out`.
    fn encode_into(&self, out: &mut Vec<u8>);
    /// Reads the stored form back.
    fn decode_from(bytes: Bytes) -> Result<Self, String>;
}

/// The deterministic state machine fed by the log.
///
/// `apply_batch` is called by one caller at a time, in log order. It must be a pure
/// function of its state and the entries (no clock, no randomness but what the entries
/// carry), so every replica and every replay reaches the same state.
pub trait StateMachine: Send + 'static {
    /// What is proposed and stored in the log.
    type Request: Codec + Send + 'static;
    /// What apply returns to the proposer.
    type Response: Send + 'static;

    /// Applies `batch` (consecutive log indexes) and returns one response per entry.
    fn apply_batch(&mut self, batch: Vec<(u64, Self::Request)>) -> Vec<Self::Response>;

    /// The response for a request the log could not take (shut down, disk failed).
    fn refused(error: &LogError) -> Self::Response;

    /// Freezes the current state (cheaply: later changes copy what they touch) and returns
    /// the requests that recreate it from empty, to be drained on another thread.
    fn freeze(&mut self) -> Box<dyn Iterator<Item = Self::Request> + Send>;

    /// Empties the state (before a snapshot is loaded into it).
    fn reset(&mut self);
}

/// Why a proposal was not accepted.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LogError {
    /// The log is shutting down; nothing was appended.
    #[error("log is shut down")]
    Shutdown,
    /// A write or fsync failed; the log accepts no more writes.
    #[error("{0}")]
    Poisoned(String),
    /// A snapshot is already being made.
    #[error("a snapshot is already in progress")]
    SnapshotInProgress,
    /// Making a snapshot failed.
    #[error("snapshot failed: {0}")]
    Snapshot(String),
    /// This node is a replica: writes go to the leader (its client address, if known).
    #[error("not the leader")]
    NotLeader(Option<String>),
    /// This node leads, but no majority has acknowledged it within its lease (followers
    /// slow or cut off), so raft refused the write before appending it: a retry may
    /// succeed once they answer.
    #[error("the leader's lease lapsed")]
    LeaseLapsed,
    /// The shard could not say whether the write was committed (leadership changed
    /// while it was in flight).
    #[error("{0}")]
    Unknown(String),
}

/// When a write counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After `fdatasync` on this node.
    Local,
    /// At once; the log reaches the disk within milliseconds, unsynced (a cache).
    None,
}

/// A failure to inject (tests of disk faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next segment write fails with ENOSPC.
    Write = 1,
    /// The next fdatasync fails with ENOSPC.
    Fsync = 2,
}

/// Options for [`Log::open`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Where segments (`log/`) and snapshots (`snapshot/`) live; `None` keeps the log in
    /// memory only (tests).
    pub dir: Option<PathBuf>,
    /// When a write counts as done.
    pub durability: Durability,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// A snapshot starts once this many log bytes were written since the last (0: never).
    pub snapshot_log_bytes: u64,
    /// Keep a copy of every applied entry (replay tests); memory grows without bound.
    pub retain_entries: bool,
    /// Upper bound on entries per apply batch (0 means the default of 4096).
    pub max_batch: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            dir: None,
            durability: Durability::Local,
            segment_bytes: 64 << 20,
            snapshot_log_bytes: 0,
            retain_entries: false,
            max_batch: 0,
        }
    }
}

/// What one node of a replicated shard knows of it (ROLE, INFO replication, CLUSTER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardView {
    /// This node's id.
    pub me: u64,
    /// The node this one follows or is (None during an election).
    pub leader: Option<u64>,
    /// The last leader this node knew, kept while `leader` is None: clients are shown
    /// it as a failed master (as Redis Cluster shows a master until its failover ends)
    /// rather than a shard with no slots, which they treat as a broken cluster.
    pub previous_leader: Option<u64>,
    /// The current raft term.
    pub term: u64,
    /// The newest log index known committed.
    pub committed: u64,
    /// The newest log index applied here.
    pub applied: u64,
    /// Every member, by id.
    pub members: Vec<MemberView>,
}

/// One member of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Its node id.
    pub id: u64,
    /// Its client address, `host:port`.
    pub addr: String,
    /// A voter (false: a learner, a non-voting read replica).
    pub voter: bool,
    /// On the leader: the newest index this member is known to hold (None: unknown).
    pub matched: Option<u64>,
}

/// Why the log could not be recovered: the file and offset of the damage.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Damaged acknowledged data: refuse to start rather than drop it.
    #[error("{path}: corrupt at offset {offset}: {reason}; refusing to start (acknowledged writes could be lost; restore the file or move it away knowingly)")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The disk could not be read or written.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Where the responses of one proposal go.
enum ReplyTo<S> {
    One(oneshot::Sender<S>),
    Many(oneshot::Sender<Vec<S>>),
    Nobody,
}

/// One queued proposal: a single request or a connection's whole pipeline of writes.
struct Proposal<R, S> {
    requests: Vec<R>,
    reply: ReplyTo<S>,
}

impl<R, S> Proposal<R, S> {
    fn refuse<SM: StateMachine<Request = R, Response = S>>(self, error: &LogError) {
        match self.reply {
            ReplyTo::One(tx) => {
                let _ = tx.send(SM::refused(error));
            }
            ReplyTo::Many(tx) => {
                let _ = tx.send(self.requests.iter().map(|_| SM::refused(error)).collect());
            }
            ReplyTo::Nobody => {}
        }
    }
}

/// Proposals framed into the buffer, waiting for the disk; `first` is the index of their
/// first request.
struct Batch<R, S> {
    first: u64,
    proposals: Vec<Proposal<R, S>>,
}

/// Why writes are refused after the apply stage panicked (a bug).
const APPLY_STAGE_DIED: &str = "the apply stage stopped (internal error)";

/// Durable batches on their way to the apply stage, in log order.
struct ApplyQueue<R, S> {
    batches: VecDeque<Batch<R, S>>,
    /// The writer has stopped: the stage applies what is left and ends.
    closed: bool,
    /// The stage died (a bug in apply): what arrives is refused, not queued forever.
    dead: bool,
}

/// State behind the appender lock: the next index and what the writer has not taken.
struct Appender<R, S> {
    next_index: u64,
    buffer: Vec<u8>,
    waiting: VecDeque<Batch<R, S>>,
    /// Proposals in `waiting`.
    waiting_proposals: usize,
    /// While the writer gathers: the count of waiting proposals that ends the gathering
    /// (0 otherwise). Proposers wake it only then, not once per arrival.
    gather_until: usize,
}

struct Applier<SM> {
    sm: SM,
    applied: u64,
}

/// Counters for INFO.
#[derive(Debug, Default)]
pub struct LogStats {
    /// fdatasync calls.
    pub fsyncs: AtomicU64,
    /// Entries made durable by them.
    pub synced_entries: AtomicU64,
    /// Bytes written to segments.
    pub bytes_written: AtomicU64,
    /// Microseconds of the last fdatasync.
    pub last_fsync_us: AtomicU64,
    /// Bytes written since the last snapshot.
    pub bytes_since_snapshot: AtomicU64,
}

/// Snapshot bookkeeping for INFO / LASTSAVE.
#[derive(Debug, Default)]
pub struct SnapshotStatus {
    /// A snapshot is being written.
    pub in_progress: AtomicBool,
    /// Unix seconds of the last successful snapshot (or of startup).
    pub last_save_unix: AtomicU64,
    /// Whether the last attempt failed.
    pub last_failed: AtomicBool,
    /// Seconds the last snapshot took.
    pub last_duration_secs: AtomicU64,
    /// Bytes of the last snapshot written.
    pub last_bytes: AtomicU64,
    /// Index of the newest snapshot on disk (0: none).
    pub index: AtomicU64,
    /// Unix seconds the current snapshot started (when in progress).
    pub started_unix: AtomicU64,
}

/// Loading progress for INFO (`loading`, `loading_loaded_perc`).
#[derive(Debug, Default)]
pub struct LoadProgress {
    /// Recovery has not finished.
    pub loading: AtomicBool,
    /// Bytes of snapshot and log to read.
    pub total_bytes: AtomicU64,
    /// Bytes read so far.
    pub loaded_bytes: AtomicU64,
    /// Unix seconds loading started.
    pub started_unix: AtomicU64,
    /// Unix second of the last progress line in the log.
    reported_unix: AtomicU64,
}

struct Inner<SM: StateMachine> {
    queue: Mutex<Vec<Proposal<SM::Request, SM::Response>>>,
    appender: Mutex<Appender<SM::Request, SM::Response>>,
    writer_wake: Condvar,
    applier: Mutex<Applier<SM>>,
    applied: AtomicU64,
    /// Recent apply cost per entry in nanoseconds (a moving average), which decides
    /// whether a batch is worth handing to the writer thread.
    apply_nanos_per_entry: AtomicU64,
    apply_queue: Mutex<ApplyQueue<SM::Request, SM::Response>>,
    apply_wake: Condvar,
    durability: AtomicU8,
    poison: Mutex<Option<String>>,
    poisoned: AtomicBool,
    shutdown: AtomicBool,
    fault: AtomicU8,
    dir: Option<PathBuf>,
    segment_bytes: u64,
    snapshot_log_bytes: AtomicU64,
    /// First indexes of the segments on disk, oldest first (the last is being written).
    segments: Mutex<Vec<u64>>,
    /// A finished snapshot's index: the writer deletes the segments it covers.
    truncate_through: Mutex<Option<u64>>,
    retained: Option<Mutex<Vec<(u64, Bytes)>>>,
    max_batch: usize,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Counters for INFO.
    stats: LogStats,
    snapshots: SnapshotStatus,
    load: LoadProgress,
    /// Set once this node has joined its shard (replicated mode only).
    shard: OnceLock<Arc<raft::Shard<SM>>>,
    /// Whether this log replicates through a shard (then `shard` is set once started).
    replicated: AtomicBool,
}

/// A handle to the log: cheap to clone, shared by all connections.
pub struct Log<SM: StateMachine> {
    inner: Arc<Inner<SM>>,
}

impl<SM: StateMachine> Clone for Log<SM> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

// The log's own clock readings are bookkeeping (INFO times, snapshot headers, fsync
// latency), never input to apply: apply's time comes from the entries.
#[allow(clippy::disallowed_methods)]
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn unix_secs() -> u64 {
    unix_ms() / 1000
}

#[allow(clippy::disallowed_methods)]
fn monotonic() -> Instant {
    Instant::now()
}

const DURABILITY_LOCAL: u8 = 0;
const DURABILITY_NONE: u8 = 1;
/// How often the writer flushes the buffer when nothing waits for a sync.
const FLUSH_INTERVAL: Duration = Duration::from_millis(5);
/// Apply work (in nanoseconds, by the recent cost per entry) worth a hand-off to the
/// writer thread when nothing waits for a sync. Below it the proposer applies at once:
/// waking the writer costs both threads a context switch. A pipeline of 16 LPUSHes on a
/// hot key took 2.2 µs of server CPU per request handed off and 1.6 applied in place
/// (2 cores, 3 runs each); 16 HSETs over 100k keys (a cache miss each) were alike either
/// way. Only a heavy batch (scripts, big set operations) gains from applying on another
/// core while this one parses the next requests.
const HANDOFF_NANOS: u64 = 50_000;
/// Entries per apply call during recovery.
const REPLAY_BATCH: usize = 1024;

impl<SM: StateMachine> Log<SM> {
    /// A log applying to `sm`. With a directory, nothing is accepted until
    /// [`Log::recover`] has loaded what is on disk.
    pub fn open(sm: SM, options: LogOptions) -> Self {
        let max_batch = if options.max_batch == 0 { 4096 } else { options.max_batch };
        let inner = Inner {
            queue: Mutex::new(Vec::new()),
            appender: Mutex::new(Appender {
                next_index: 1,
                buffer: Vec::new(),
                waiting: VecDeque::new(),
                waiting_proposals: 0,
                gather_until: 0,
            }),
            writer_wake: Condvar::new(),
            applier: Mutex::new(Applier { sm, applied: 0 }),
            applied: AtomicU64::new(0),
            apply_nanos_per_entry: AtomicU64::new(0),
            apply_queue: Mutex::new(ApplyQueue {
                batches: VecDeque::new(),
                closed: false,
                dead: false,
            }),
            apply_wake: Condvar::new(),
            durability: AtomicU8::new(match options.durability {
                Durability::Local => DURABILITY_LOCAL,
                Durability::None => DURABILITY_NONE,
            }),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            fault: AtomicU8::new(0),
            dir: options.dir.clone(),
            segment_bytes: options.segment_bytes.max(4096),
            snapshot_log_bytes: AtomicU64::new(options.snapshot_log_bytes),
            segments: Mutex::new(Vec::new()),
            truncate_through: Mutex::new(None),
            retained: options.retain_entries.then(|| Mutex::new(Vec::new())),
            max_batch,
            writer: Mutex::new(None),
            stats: LogStats::default(),
            snapshots: SnapshotStatus::default(),
            load: LoadProgress::default(),
            shard: OnceLock::new(),
            replicated: AtomicBool::new(false),
        };
        inner.snapshots.last_save_unix.store(unix_secs(), Ordering::Relaxed);
        inner.load.loading.store(options.dir.is_some(), Ordering::Release);
        Self { inner: Arc::new(inner) }
    }

    /// An in-memory log (no directory): ready at once.
    pub fn in_memory(sm: SM, options: LogOptions) -> Self {
        Self::open(sm, LogOptions { dir: None, ..options })
    }

    /// Appends `request` and returns a receiver for its response.
    ///
    /// Callers keep several proposals in flight (a pipeline) and await the receivers in
    /// order; the log batches whatever is queued together.
    pub async fn propose(
        &self,
        request: SM::Request,
    ) -> Result<oneshot::Receiver<SM::Response>, LogError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Proposal { requests: vec![request], reply: ReplyTo::One(reply) });
        Ok(rx)
    }

    /// Appends `requests` (consecutive in the log) and returns a receiver for their
    /// responses, in order. One proposal for a connection's whole pipeline.
    pub async fn propose_batch(
        &self,
        requests: Vec<SM::Request>,
    ) -> Result<oneshot::Receiver<Vec<SM::Response>>, LogError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Proposal { requests, reply: ReplyTo::Many(reply) });
        Ok(rx)
    }

    /// Appends `request` whose response nobody waits for (e.g. expiry deletions).
    pub async fn propose_detached(&self, request: SM::Request) -> Result<(), LogError> {
        self.submit(Proposal { requests: vec![request], reply: ReplyTo::Nobody });
        Ok(())
    }

    /// A log that replicates through a shard of nodes: nothing is accepted until
    /// [`Log::start_shard`] has joined it.
    pub fn replicated(sm: SM, options: LogOptions) -> Self {
        let log = Self::open(sm, LogOptions { dir: None, ..options });
        log.inner.replicated.store(true, Ordering::Release);
        log.inner.load.loading.store(true, Ordering::Release);
        log.inner.load.started_unix.store(unix_secs(), Ordering::Relaxed);
        log
    }

    /// Whether this log replicates through a shard.
    pub fn is_replicated(&self) -> bool {
        self.inner.replicated.load(Ordering::Relaxed)
    }

    /// Loads this node's raft state and joins the shard (see [`raft`]).
    pub async fn start_shard(&self, options: raft::ShardOptions) -> Result<(), String> {
        let shard = raft::Shard::start(self.inner.clone(), options).await?;
        let _ = self.inner.shard.set(Arc::new(shard));
        self.inner.load.loading.store(false, Ordering::Release);
        Ok(())
    }

    /// The shard this node belongs to; `None` for a single node without replication.
    pub fn shard(&self) -> Option<ShardView> {
        self.inner.shard.get().map(|s| s.view())
    }

    /// Whether this node takes writes: always on a single node; on a shard, only the
    /// leader (the error names the leader's client address when known).
    pub fn writable(&self) -> Result<(), LogError> {
        match self.inner.shard.get() {
            Some(shard) => shard.writable(),
            None if self.inner.replicated.load(Ordering::Acquire) => Err(LogError::NotLeader(None)),
            None => Ok(()),
        }
    }

    /// Waits until a read here sees every write acknowledged before the call (on a
    /// shard's leader: a read-index round); at once on a single node or a replica.
    pub async fn read_barrier(&self) -> Result<(), LogError> {
        match self.inner.shard.get() {
            Some(shard) => shard.read_barrier().await,
            None => Ok(()),
        }
    }

    /// Adds node `id` (client address `addr`, bus address `bus`) to the shard, as a
    /// voter or as a learner (a read replica outside the quorum).
    pub async fn add_member(
        &self,
        id: u64,
        addr: String,
        bus: String,
        voter: bool,
    ) -> Result<(), String> {
        let shard = self.inner.shard.get().ok_or("this node is not part of a shard")?;
        shard.add_member(id, raft::Member { addr, bus }, voter).await
    }

    /// The node id of the node whose cluster bus is at `bus`, and whether it asks to be a
    /// learner.
    pub async fn node_at(&self, bus: &str) -> Result<(u64, bool), String> {
        raft::net::hello(bus).await
    }

    /// Removes node `id` from the shard.
    pub async fn remove_member(&self, id: u64) -> Result<(), String> {
        let shard = self.inner.shard.get().ok_or("this node is not part of a shard")?;
        shard.remove_member(id).await
    }

    /// Makes this node the shard's leader (manual failover).
    pub async fn take_over(&self) -> Result<(), String> {
        let shard = self.inner.shard.get().ok_or("this node is not part of a shard")?;
        shard.take_over().await
    }

    /// The index of the last applied entry (0 before the first).
    pub fn applied_index(&self) -> u64 {
        self.inner.applied.load(Ordering::Acquire)
    }

    /// Encoded entries applied so far, if the log was started with `retain_entries`.
    pub fn retained_entries(&self) -> Vec<(u64, Bytes)> {
        self.inner.retained.as_ref().map(|r| r.lock().clone()).unwrap_or_default()
    }

    /// The current durability mode.
    pub fn durability(&self) -> Durability {
        match self.inner.durability.load(Ordering::Relaxed) {
            DURABILITY_NONE => Durability::None,
            _ => Durability::Local,
        }
    }

    /// Changes the durability mode; writes already waiting keep their order.
    pub fn set_durability(&self, durability: Durability) {
        let v = match durability {
            Durability::Local => DURABILITY_LOCAL,
            Durability::None => DURABILITY_NONE,
        };
        self.inner.durability.store(v, Ordering::Relaxed);
        if let Some(shard) = self.inner.shard.get() {
            shard.set_unsynced(durability == Durability::None);
        }
    }

    /// Changes the automatic snapshot threshold (0: never).
    pub fn set_snapshot_log_bytes(&self, bytes: u64) {
        self.inner.snapshot_log_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<String> {
        if let Some(shard) = self.inner.shard.get() {
            return shard.poisoned();
        }
        if !self.inner.poisoned.load(Ordering::Acquire) {
            return None;
        }
        self.inner.poison.lock().clone()
    }

    /// Makes the next segment write or fsync fail (disk-fault tests).
    pub fn inject_fault(&self, fault: Fault) {
        if let Some(shard) = self.inner.shard.get() {
            shard.inject_fault(fault);
        }
        self.inner.fault.store(fault as u8, Ordering::Release);
    }

    /// Counters for INFO.
    pub fn stats(&self) -> &LogStats {
        &self.inner.stats
    }

    /// Snapshot bookkeeping for INFO and LASTSAVE.
    pub fn snapshot_status(&self) -> &SnapshotStatus {
        &self.inner.snapshots
    }

    /// Loading progress for INFO.
    pub fn load_progress(&self) -> &LoadProgress {
        &self.inner.load
    }

    /// Whether recovery is still running.
    pub fn is_loading(&self) -> bool {
        self.inner.load.loading.load(Ordering::Acquire)
    }

    /// Bytes of log segments on disk.
    pub fn log_bytes_on_disk(&self) -> u64 {
        let Some(dir) = &self.inner.dir else { return 0 };
        let segments = self.inner.segments.lock().clone();
        segments
            .iter()
            .filter_map(|first| {
                std::fs::metadata(log_dir(dir).join(segment::segment_name(*first))).ok()
            })
            .map(|m| m.len())
            .sum()
    }

    fn submit(&self, proposal: Proposal<SM::Request, SM::Response>) {
        if self.inner.replicated.load(Ordering::Acquire) {
            match self.inner.shard.get() {
                Some(shard) => shard.submit(proposal),
                None => proposal.refuse::<SM>(&LogError::NotLeader(None)),
            }
            return;
        }
        if self.inner.shutdown.load(Ordering::Acquire) {
            proposal.refuse::<SM>(&LogError::Shutdown);
            return;
        }
        if let Some(reason) = self.poisoned() {
            proposal.refuse::<SM>(&LogError::Poisoned(reason));
            return;
        }
        self.inner.queue.lock().push(proposal);
        self.combine();
    }

    /// Frames everything queued, if nobody else holds the appender.
    ///
    /// Whoever holds the appender frames the queue until it is empty, and checks again
    /// after letting go: a proposal queued while the lock was held is seen either by the
    /// holder's re-check or by its own proposer's next try_lock. The writer thread holds
    /// the appender too (briefly, to take the buffer) and calls this after letting go,
    /// so a proposal whose try_lock met the writer is not stranded.
    fn combine(&self) {
        loop {
            let Some(mut appender) = self.inner.appender.try_lock() else { return };
            loop {
                let proposals = {
                    let mut queue = self.inner.queue.lock();
                    if queue.is_empty() {
                        break;
                    }
                    let take = count_prefix(&queue, self.inner.max_batch);
                    queue.drain(..take).collect::<Vec<_>>()
                };
                self.append(&mut appender, proposals);
            }
            drop(appender);
            if self.inner.queue.lock().is_empty() {
                return;
            }
        }
    }

    /// Frames `proposals` and either applies them now (no disk to wait for) or hands
    /// them to the writer.
    fn append(
        &self,
        appender: &mut Appender<SM::Request, SM::Response>,
        proposals: Vec<Proposal<SM::Request, SM::Response>>,
    ) {
        let first = appender.next_index;
        let on_disk = self.inner.dir.is_some();
        let mut retained = self.inner.retained.as_ref().map(|r| r.lock());
        for p in &proposals {
            for request in &p.requests {
                let index = appender.next_index;
                let start = appender.buffer.len() + segment::RECORD_HEADER_LEN;
                segment::append_record(&mut appender.buffer, index, |out| request.encode_into(out));
                if let Some(retained) = retained.as_mut() {
                    retained.push((index, Bytes::copy_from_slice(&appender.buffer[start..])));
                }
                appender.next_index += 1;
            }
        }
        drop(retained);
        if !on_disk {
            appender.buffer.clear();
        }
        // Without a disk to wait for, a small batch is applied right here (a thread hop
        // would cost more than the apply); a pipeline's worth goes to the writer thread,
        // so parsing the next requests and applying these run on two cores at once.
        let entries = appender.next_index - first;
        let work = entries.saturating_mul(self.inner.apply_nanos_per_entry.load(Ordering::Relaxed));
        let immediate = !on_disk
            || (self.inner.durability.load(Ordering::Relaxed) == DURABILITY_NONE
                && appender.waiting.is_empty()
                && work < HANDOFF_NANOS);
        if immediate {
            // Still holding the appender: nobody can append (or apply) a later index first.
            let mut applier = self.inner.applier.lock();
            if applier.applied + 1 == first {
                self.apply(&mut applier, first, proposals);
                return;
            }
        }
        let was_empty = appender.waiting.is_empty();
        appender.waiting_proposals += proposals.len();
        appender.waiting.push_back(Batch { first, proposals });
        // Wake the writer when it may be idle (first arrival) or its gathering is done;
        // a wake per arrival costs the writer a context switch each on a small machine.
        let gathered =
            appender.gather_until > 0 && appender.waiting_proposals >= appender.gather_until;
        if was_empty || gathered {
            self.inner.writer_wake.notify_one();
        }
    }

    fn apply(
        &self,
        applier: &mut Applier<SM>,
        first: u64,
        proposals: Vec<Proposal<SM::Request, SM::Response>>,
    ) {
        let mut batch = Vec::new();
        let mut replies = Vec::with_capacity(proposals.len());
        let mut index = first;
        for p in proposals {
            replies.push((p.reply, p.requests.len()));
            for request in p.requests {
                batch.push((index, request));
                index += 1;
            }
        }
        let started = monotonic();
        let entries = batch.len() as u64;
        let mut responses = applier.sm.apply_batch(batch).into_iter();
        if let Some(per_entry) = (started.elapsed().as_nanos() as u64).checked_div(entries) {
            let average = &self.inner.apply_nanos_per_entry;
            let old = average.load(Ordering::Relaxed);
            average.store(old - old / 8 + per_entry / 8, Ordering::Relaxed);
        }
        applier.applied = index - 1;
        self.inner.applied.store(applier.applied, Ordering::Release);
        // The proposer may have gone (client disconnected); its entries are applied
        // regardless, as they would be on every replica.
        for (reply, count) in replies {
            match reply {
                ReplyTo::One(tx) => {
                    if let Some(r) = responses.next() {
                        let _ = tx.send(r);
                    }
                }
                ReplyTo::Many(tx) => {
                    let _ = tx.send(responses.by_ref().take(count).collect());
                }
                ReplyTo::Nobody => responses.by_ref().take(count).for_each(drop),
            }
        }
    }

    fn poison(&self, what: &str, error: &io::Error) -> String {
        let reason = format!("Errors writing to the log ({what}): {error}");
        let mut poison = self.inner.poison.lock();
        if poison.is_none() {
            tracing::error!(%reason, "log poisoned: refusing writes until restart; reads keep working");
            *poison = Some(reason.clone());
            self.inner.poisoned.store(true, Ordering::Release);
        }
        poison.clone().unwrap_or(reason)
    }

    fn take_fault(&self, fault: Fault) -> io::Result<()> {
        if self
            .inner
            .fault
            .compare_exchange(fault as u8, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return Err(io::Error::from_raw_os_error(28));
        }
        Ok(())
    }

    /// The writer thread: write, sync once for everything taken, and hand it to the
    /// apply stage, which applies and replies while the writer syncs the next batch.
    /// Applying on the writer thread instead serialized the two: a pipeline of scripts
    /// took as long to apply as its fsync took, and each batch waited for both.
    fn write_loop(self, segment: SegmentWriter) {
        std::thread::scope(|scope| {
            let stage = std::thread::Builder::new()
                .name("engram-apply".into())
                .spawn_scoped(scope, || self.apply_stage());
            if let Err(e) = &stage {
                tracing::warn!(error = %e, "cannot start the apply stage; the writer applies");
            }
            // Ends the stage once the writer stops, by return or by panic (the scope
            // would otherwise wait for the stage forever).
            struct CloseStage<'a, R, S>(&'a Mutex<ApplyQueue<R, S>>, &'a Condvar);
            impl<R, S> Drop for CloseStage<'_, R, S> {
                fn drop(&mut self) {
                    self.0.lock().closed = true;
                    self.1.notify_one();
                }
            }
            let _close = CloseStage(&self.inner.apply_queue, &self.inner.apply_wake);
            self.write_batches(segment, stage.is_ok());
        });
    }

    /// The apply stage: applies durable batches in log order and replies.
    fn apply_stage(&self) {
        loop {
            let batches = {
                let mut queue = self.inner.apply_queue.lock();
                while queue.batches.is_empty() && !queue.closed {
                    self.inner.apply_wake.wait(&mut queue);
                }
                if queue.batches.is_empty() {
                    return;
                }
                std::mem::take(&mut queue.batches)
            };
            let run = std::panic::AssertUnwindSafe(|| {
                let mut applier = self.inner.applier.lock();
                for batch in batches {
                    self.apply(&mut applier, batch.first, batch.proposals);
                }
            });
            if std::panic::catch_unwind(run).is_err() {
                // Proposals of the failed batches lost their reply channels (an error for
                // their clients); everything after is refused.
                self.poison("apply", &io::Error::other(APPLY_STAGE_DIED));
                let left = {
                    let mut queue = self.inner.apply_queue.lock();
                    queue.dead = true;
                    std::mem::take(&mut queue.batches)
                };
                let error = LogError::Poisoned(APPLY_STAGE_DIED.into());
                for p in left.into_iter().flat_map(|b| b.proposals) {
                    p.refuse::<SM>(&error);
                }
                return;
            }
        }
    }

    /// Applies written batches: now, on this thread, when nothing before them waits in
    /// the apply stage and they need no sync (a thread hop costs more than the apply);
    /// otherwise through the stage, in order.
    fn apply_written(&self, mut batches: VecDeque<Batch<SM::Request, SM::Response>>, staged: bool) {
        if !staged {
            let mut applier = self.inner.applier.lock();
            // The stage takes batches before it locks the applier: `applied` (not the
            // queue's emptiness) says whether everything before this batch is applied.
            while batches.front().is_some_and(|b| applier.applied + 1 == b.first) {
                if let Some(batch) = batches.pop_front() {
                    self.apply(&mut applier, batch.first, batch.proposals);
                }
            }
        }
        if batches.is_empty() {
            return;
        }
        let mut queue = self.inner.apply_queue.lock();
        if queue.dead {
            drop(queue);
            let error = LogError::Poisoned(APPLY_STAGE_DIED.into());
            for p in batches.into_iter().flat_map(|b| b.proposals) {
                p.refuse::<SM>(&error);
            }
            return;
        }
        queue.batches.extend(batches);
        drop(queue);
        self.inner.apply_wake.notify_one();
    }

    fn write_batches(&self, mut segment: SegmentWriter, stage: bool) {
        let mut spare = Vec::new();
        // Proposals the last two syncs answered: their clients are likely sending again.
        let (mut answered, mut answered_before) = (0usize, 0usize);
        // The last index this thread wrote (unknown until its first batch).
        let mut written_through: Option<u64> = None;
        loop {
            let (buffer, batches, taken, last_index) = {
                let mut appender = self.inner.appender.lock();
                if appender.waiting.is_empty() && !self.inner.shutdown.load(Ordering::Acquire) {
                    self.inner.writer_wake.wait_for(&mut appender, FLUSH_INTERVAL);
                }
                // Group commit gathers: the clients recent syncs answered come back within
                // a round trip, and syncing before most are back splits them into cohorts
                // that each pay an fsync (and the CPU of one: on a fast disk that is what
                // limits throughput). The last two syncs' clients are the estimate, which
                // merges two alternating cohorts; wait for three quarters of them, at most
                // about one fsync's time. A lone client never waits.
                let expected = answered + answered_before;
                if answered > 1 && self.durability() == Durability::Local {
                    let fsync_us = self.inner.stats.last_fsync_us.load(Ordering::Relaxed);
                    let deadline = monotonic() + Duration::from_micros(fsync_us.clamp(50, 500));
                    appender.gather_until = (expected * 3).div_ceil(4);
                    while appender.waiting_proposals < appender.gather_until
                        && !self.inner.shutdown.load(Ordering::Acquire)
                    {
                        if self.inner.writer_wake.wait_until(&mut appender, deadline).timed_out() {
                            break;
                        }
                    }
                    appender.gather_until = 0;
                }
                let buffer = std::mem::replace(&mut appender.buffer, std::mem::take(&mut spare));
                let batches = std::mem::take(&mut appender.waiting);
                let taken = std::mem::take(&mut appender.waiting_proposals);
                (buffer, batches, taken, appender.next_index - 1)
            };
            self.combine();
            let stop = self.inner.shutdown.load(Ordering::Acquire);
            let sync = !batches.is_empty() && self.durability() == Durability::Local || stop;
            // A snapshot finished since the last batch: cut the segment before this batch,
            // so everything the snapshot covers ends in segments it can delete. After the
            // batch, the old segment would also hold entries the snapshot lacks, and stay.
            if let Some(through) = written_through {
                let pending = self.inner.truncate_through.lock().is_some();
                if pending && !self.inner.poisoned.load(Ordering::Acquire) {
                    self.maintain(&mut segment, through);
                }
            }
            let result = self.write_out(&mut segment, &buffer, sync);
            written_through = Some(last_index);
            let count: usize =
                batches.iter().flat_map(|b| &b.proposals).map(|p| p.requests.len()).sum();
            answered_before = answered;
            answered = taken;
            match result {
                Ok(()) => {
                    if sync {
                        self.inner.stats.synced_entries.fetch_add(count as u64, Ordering::Relaxed);
                    }
                    if !batches.is_empty() {
                        self.apply_written(batches, stage && sync);
                    }
                }
                Err(reason) => {
                    let error = LogError::Poisoned(reason);
                    for batch in batches {
                        for p in batch.proposals {
                            p.refuse::<SM>(&error);
                        }
                    }
                }
            }
            spare = buffer;
            spare.clear();
            if stop {
                return;
            }
            if !self.inner.poisoned.load(Ordering::Acquire) {
                self.maintain(&mut segment, last_index);
            }
        }
    }

    /// The writer thread panicked (a bug): nothing more can become durable, so refuse
    /// what waits and everything after, rather than leave clients waiting forever.
    fn writer_died(&self) {
        let reason = "Errors writing to the log: the log writer stopped (internal error)";
        self.poison("writer", &io::Error::other(reason));
        let waiting = {
            let mut appender = self.inner.appender.lock();
            appender.waiting_proposals = 0;
            std::mem::take(&mut appender.waiting)
        };
        let error = LogError::Poisoned(reason.into());
        for batch in waiting {
            for p in batch.proposals {
                p.refuse::<SM>(&error);
            }
        }
    }

    /// Writes `buffer` and (if `sync`) fdatasyncs; on failure poisons the log.
    fn write_out(
        &self,
        segment: &mut SegmentWriter,
        buffer: &[u8],
        sync: bool,
    ) -> Result<(), String> {
        if let Some(reason) = self.poisoned() {
            return Err(reason);
        }
        if !buffer.is_empty() {
            if let Err(e) = self.take_fault(Fault::Write).and_then(|()| segment.write(buffer)) {
                return Err(self.poison("write", &e));
            }
            let n = buffer.len() as u64;
            self.inner.stats.bytes_written.fetch_add(n, Ordering::Relaxed);
            self.inner.stats.bytes_since_snapshot.fetch_add(n, Ordering::Relaxed);
        }
        if sync {
            let started = monotonic();
            if let Err(e) = self.take_fault(Fault::Fsync).and_then(|()| segment.sync()) {
                return Err(self.poison("fsync", &e));
            }
            self.inner.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            self.inner
                .stats
                .last_fsync_us
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Between writes: start a new segment when the current one is full, delete what a
    /// snapshot covers, and start a snapshot when enough log has accumulated.
    fn maintain(&self, segment: &mut SegmentWriter, last_index: u64) {
        let truncate = self.inner.truncate_through.lock().take();
        let has_records = last_index >= segment.first_index;
        let full = segment.size >= self.inner.segment_bytes;
        if has_records && (full || truncate.is_some()) {
            if let Err(e) = self.rotate(segment, last_index + 1) {
                self.poison("new segment", &e);
                return;
            }
        }
        if let Some(through) = truncate {
            self.delete_segments_through(through);
        }
        let threshold = self.inner.snapshot_log_bytes.load(Ordering::Relaxed);
        // As Redis's AOF rewrite (auto-aof-rewrite-percentage 100): the log also grows as
        // large as the last snapshot first, so rewriting a big state is paid for by as
        // many bytes of log, not repeated every `snapshot-log-bytes`; replay after a crash
        // stays bounded by the state's own size.
        let last = self.inner.snapshots.last_bytes.load(Ordering::Relaxed);
        if threshold > 0
            && self.inner.stats.bytes_since_snapshot.load(Ordering::Relaxed) >= threshold.max(last)
            && !self.inner.snapshots.in_progress.load(Ordering::Acquire)
        {
            match self.start_snapshot() {
                Ok(_) | Err(LogError::SnapshotInProgress) => {}
                Err(e) => tracing::warn!(error = %e, "automatic snapshot did not start"),
            }
        }
    }

    fn rotate(&self, segment: &mut SegmentWriter, first_index: u64) -> io::Result<()> {
        segment.sync()?;
        let next = SegmentWriter::create(segment.dir(), first_index)?;
        *segment = next;
        self.inner.segments.lock().push(first_index);
        tracing::debug!(first_index, "log segment started");
        Ok(())
    }

    /// Deletes closed segments whose every entry is at or before `through`.
    fn delete_segments_through(&self, through: u64) {
        let Some(dir) = &self.inner.dir else { return };
        let dir = log_dir(dir);
        let mut segments = self.inner.segments.lock();
        let mut removed = 0;
        while segments.len() > 1 && segments[1] <= through + 1 {
            let path = dir.join(segment::segment_name(segments[0]));
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not delete a truncated segment");
                break;
            }
            segments.remove(0);
            removed += 1;
        }
        drop(segments);
        if removed > 0 {
            let _ = segment::sync_dir(&dir);
            tracing::info!(removed, through, "log truncated after snapshot");
        }
    }

    /// Starts a snapshot of the state as of now; the returned receiver reports its end.
    pub fn start_snapshot(&self) -> Result<oneshot::Receiver<Result<(), LogError>>, LogError> {
        if let Some(shard) = self.inner.shard.get() {
            return shard.start_snapshot();
        }
        let Some(dir) = self.inner.dir.clone() else {
            return Err(LogError::Snapshot("the log is in memory".into()));
        };
        if let Some(reason) = self.poisoned() {
            return Err(LogError::Poisoned(reason));
        }
        if self.inner.snapshots.in_progress.swap(true, Ordering::AcqRel) {
            return Err(LogError::SnapshotInProgress);
        }
        let (index, requests) = {
            let mut applier = self.inner.applier.lock();
            (applier.applied, applier.sm.freeze())
        };
        self.inner.stats.bytes_since_snapshot.store(0, Ordering::Relaxed);
        self.inner.snapshots.started_unix.store(unix_secs(), Ordering::Relaxed);
        let (done, rx) = oneshot::channel();
        let log = self.clone();
        let spawned = std::thread::Builder::new().name("engram-snapshot".into()).spawn(move || {
            let started = monotonic();
            // A panic while rewriting fails this snapshot (nothing is truncated) instead
            // of leaving it in progress for good, which would block every later one.
            let write = std::panic::AssertUnwindSafe(|| {
                write_snapshot(&snapshot_dir(&dir), index, requests)
            });
            let result = std::panic::catch_unwind(write)
                .unwrap_or_else(|_| Err(io::Error::other("the state machine's rewrite panicked")));
            let status = &log.inner.snapshots;
            status.last_duration_secs.store(started.elapsed().as_secs(), Ordering::Relaxed);
            let result = match result {
                Ok(bytes) => {
                    status.last_bytes.store(bytes, Ordering::Relaxed);
                    status.last_save_unix.store(unix_secs(), Ordering::Relaxed);
                    status.last_failed.store(false, Ordering::Relaxed);
                    status.index.store(index, Ordering::Relaxed);
                    tracing::info!(
                        index,
                        bytes,
                        secs = started.elapsed().as_secs_f64(),
                        "snapshot written"
                    );
                    *log.inner.truncate_through.lock() = Some(index);
                    log.inner.writer_wake.notify_one();
                    Ok(())
                }
                Err(e) => {
                    status.last_failed.store(true, Ordering::Relaxed);
                    tracing::error!(index, error = %e, "snapshot failed");
                    Err(LogError::Snapshot(e.to_string()))
                }
            };
            status.in_progress.store(false, Ordering::Release);
            let _ = done.send(result);
        });
        if let Err(e) = spawned {
            self.inner.snapshots.in_progress.store(false, Ordering::Release);
            return Err(LogError::Snapshot(e.to_string()));
        }
        Ok(rx)
    }

    /// Loads the newest snapshot and replays the log after it, then starts the writer.
    /// Blocking: run it on a thread of its own. `-LOADING` is the server's to answer
    /// meanwhile ([`Log::is_loading`]).
    pub fn recover(&self) -> Result<(), RecoveryError> {
        let Some(dir) = self.inner.dir.clone() else {
            self.inner.load.loading.store(false, Ordering::Release);
            return Ok(());
        };
        let started = monotonic();
        self.inner.load.started_unix.store(unix_secs(), Ordering::Relaxed);
        let (log_dir, snap_dir) = (log_dir(&dir), snapshot_dir(&dir));
        std::fs::create_dir_all(&log_dir)?;
        std::fs::create_dir_all(&snap_dir)?;
        let snapshot = newest_snapshot(&snap_dir)?;
        let mut segments = list_segments(&log_dir)?;
        let total: u64 = snapshot.iter().map(|(_, p)| file_len(p)).sum::<u64>()
            + segments
                .iter()
                .map(|s| file_len(&log_dir.join(segment::segment_name(*s))))
                .sum::<u64>();
        self.inner.load.total_bytes.store(total, Ordering::Relaxed);
        tracing::info!(dir = %dir.display(), bytes = total, segments = segments.len(), "loading");

        let mut applier = self.inner.applier.lock();
        if let Some((index, path)) = &snapshot {
            self.load_snapshot(&mut applier, *index, path)?;
            self.inner.snapshots.index.store(*index, Ordering::Relaxed);
            self.inner.snapshots.last_bytes.store(file_len(path), Ordering::Relaxed);
        }
        // Reading, checking and decoding run on their own thread, a few batches ahead
        // of apply: recovery time is then about apply time alone.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Replayed<SM::Request>>(8);
        let reader = {
            let (log_dir, segments, snapshot_index) =
                (log_dir.clone(), segments.clone(), applier.applied);
            let retain = self.inner.retained.is_some();
            std::thread::Builder::new().name("engram-log-replay".into()).spawn(move || {
                if let Err(e) =
                    read_segments::<SM::Request>(&log_dir, &segments, snapshot_index, retain, &tx)
                {
                    let _ = tx.send(Replayed::Failed(e));
                }
            })?
        };
        let mut tail = None;
        let mut failure = None;
        for message in rx {
            match message {
                Replayed::Entries(batch, payloads) => {
                    if let (Some(retained), Some(payloads)) = (&self.inner.retained, payloads) {
                        retained.lock().extend(payloads);
                    }
                    replay(&mut applier, batch);
                    self.inner.applied.store(applier.applied, Ordering::Release);
                }
                Replayed::Read(bytes) => {
                    self.inner.load.loaded_bytes.fetch_add(bytes, Ordering::Relaxed);
                    self.report_progress();
                }
                Replayed::Removed => {
                    segments.pop();
                }
                Replayed::Tail { first, valid_len, last } => tail = Some((first, valid_len, last)),
                Replayed::Failed(e) => failure = Some(e),
            }
        }
        let _ = reader.join();
        if let Some(e) = failure {
            return Err(e);
        }
        let applied = applier.applied;
        drop(applier);
        self.inner.appender.lock().next_index = applied + 1;
        // Append to the last segment if it ends where the state does; otherwise (no
        // segment yet, or a snapshot newer than the log) start a new one.
        let writer = match tail {
            Some((first, valid_len, last)) if last == applied => {
                SegmentWriter::reopen(&log_dir, first, valid_len)?
            }
            _ => {
                let w = SegmentWriter::create(&log_dir, applied + 1)?;
                segments.push(applied + 1);
                w
            }
        };
        *self.inner.segments.lock() = segments;
        if let Some((index, _)) = snapshot {
            self.delete_segments_through(index);
        }
        let log = self.clone();
        let handle =
            std::thread::Builder::new().name("engram-log-writer".into()).spawn(move || {
                let survivor = log.clone();
                let run = std::panic::AssertUnwindSafe(|| log.write_loop(writer));
                if std::panic::catch_unwind(run).is_err() {
                    survivor.writer_died();
                }
            })?;
        *self.inner.writer.lock() = Some(handle);
        self.inner.load.loaded_bytes.store(total, Ordering::Relaxed);
        self.inner.load.loading.store(false, Ordering::Release);
        tracing::info!(applied, secs = started.elapsed().as_secs_f64(), "loading finished");
        Ok(())
    }

    /// Logs loading progress, at most once a second.
    fn report_progress(&self) {
        report_load_progress(&self.inner.load);
    }

    fn load_snapshot(
        &self,
        applier: &mut Applier<SM>,
        index: u64,
        path: &Path,
    ) -> Result<(), RecoveryError> {
        let corrupt = |e: snapshot::SnapshotError| RecoveryError::Corrupt {
            path: path.to_path_buf(),
            offset: e.offset,
            reason: e.reason,
        };
        let mut reader = SnapshotReader::open(path).map_err(corrupt)?;
        if reader.index != index {
            return Err(RecoveryError::Corrupt {
                path: path.to_path_buf(),
                offset: 16,
                reason: format!("header says index {}", reader.index),
            });
        }
        applier.sm.reset();
        // Reading, checking and decoding records run on their own thread, a few batches
        // ahead of apply (as log replay does): a snapshot of large values spent a fifth
        // of its load checksumming and decoding on the applying thread.
        type Decoded<R> = Result<(Vec<(u64, R)>, u64), RecoveryError>;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded<SM::Request>>(4);
        std::thread::scope(|scope| -> Result<(), RecoveryError> {
            let read = move || {
                let mut batch = Vec::with_capacity(REPLAY_BATCH);
                loop {
                    let payload = match reader.next_record() {
                        Ok(Some(payload)) => payload,
                        Ok(None) => break,
                        Err(e) => return tx.send(Err(corrupt(e))),
                    };
                    let offset = reader.offset();
                    match SM::Request::decode_from(payload) {
                        Ok(request) => batch.push((index, request)),
                        Err(reason) => {
                            let path = path.to_path_buf();
                            return tx.send(Err(RecoveryError::Corrupt { path, offset, reason }));
                        }
                    }
                    if batch.len() == REPLAY_BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(REPLAY_BATCH));
                        tx.send(Ok((full, offset)))?;
                    }
                }
                tx.send(Ok((batch, reader.offset())))
            };
            std::thread::Builder::new()
                .name("engram-snapshot-read".into())
                .spawn_scoped(scope, read)
                .map_err(RecoveryError::Io)?;
            let mut last_offset = 0;
            for decoded in rx {
                let (batch, offset) = decoded?;
                applier.sm.apply_batch(batch);
                self.inner.load.loaded_bytes.fetch_add(offset - last_offset, Ordering::Relaxed);
                last_offset = offset;
                self.report_progress();
            }
            Ok(())
        })?;
        applier.applied = index;
        self.inner.applied.store(index, Ordering::Release);
        self.inner.load.loaded_bytes.store(file_len(path), Ordering::Relaxed);
        Ok(())
    }

    /// Writes a snapshot now and loads the state back from it (DEBUG RELOAD: proves the
    /// snapshot recreates the state). Blocks the caller and every writer meanwhile.
    pub fn reload(&self) -> Result<(), LogError> {
        let Some(dir) = self.inner.dir.clone() else {
            return Err(LogError::Snapshot("the log is in memory".into()));
        };
        if self.inner.snapshots.in_progress.swap(true, Ordering::AcqRel) {
            return Err(LogError::SnapshotInProgress);
        }
        let result = self.reload_locked(&dir);
        self.inner.snapshots.in_progress.store(false, Ordering::Release);
        result
    }

    fn reload_locked(&self, dir: &Path) -> Result<(), LogError> {
        // Hold the appender (no new entries) once everything appended is applied.
        let _appender = loop {
            let appender = self.inner.appender.lock();
            let drained = appender.waiting.is_empty()
                && self.inner.applied.load(Ordering::Acquire) + 1 == appender.next_index;
            if drained {
                break appender;
            }
            drop(appender);
            if let Some(reason) = self.poisoned() {
                return Err(LogError::Poisoned(reason));
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let mut applier = self.inner.applier.lock();
        let index = applier.applied;
        let failed = |e: &dyn std::fmt::Display| LogError::Snapshot(e.to_string());
        write_snapshot(&snapshot_dir(dir), index, applier.sm.freeze()).map_err(|e| failed(&e))?;
        self.inner.snapshots.index.store(index, Ordering::Relaxed);
        self.inner.snapshots.last_save_unix.store(unix_secs(), Ordering::Relaxed);
        let path = snapshot_dir(dir).join(snapshot::snapshot_name(index));
        self.load_snapshot(&mut applier, index, &path).map_err(|e| failed(&e))?;
        *self.inner.truncate_through.lock() = Some(index);
        self.inner.writer_wake.notify_one();
        Ok(())
    }

    /// Stops accepting proposals, writes and syncs what is buffered, and stops the
    /// writer. Proposals already queued are applied (or refused if the disk failed).
    pub fn close(&self) {
        if let Some(shard) = self.inner.shard.get() {
            shard.close();
        }
        self.inner.shutdown.store(true, Ordering::Release);
        self.inner.writer_wake.notify_one();
        let handle = self.inner.writer.lock().take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// What the replay reader hands to apply.
enum Replayed<R> {
    /// Entries to apply, with their stored bytes when the log retains entries.
    Entries(Vec<(u64, R)>, Option<Vec<(u64, Bytes)>>),
    /// A segment's bytes were read (progress).
    Read(u64),
    /// The last segment was an incomplete new one and was removed.
    Removed,
    /// The last segment: its first index, valid length and last index.
    Tail { first: u64, valid_len: u64, last: u64 },
    /// Recovery must stop.
    Failed(RecoveryError),
}

/// Reads, checks and decodes every segment in order, sending entries after
/// `snapshot_index`; truncation of a torn tail is logged here and done by the writer.
fn read_segments<R: Codec>(
    log_dir: &Path,
    segments: &[u64],
    snapshot_index: u64,
    retain: bool,
    tx: &std::sync::mpsc::SyncSender<Replayed<R>>,
) -> Result<(), RecoveryError> {
    let mut last_record = snapshot_index;
    for (n, &first) in segments.iter().enumerate() {
        let path = log_dir.join(segment::segment_name(first));
        let is_last = n + 1 == segments.len();
        let data = Bytes::from(std::fs::read(&path)?);
        if is_last && data.len() < segment::HEADER_LEN {
            // A crash while the segment was being created: it never held a record.
            tracing::warn!(path = %path.display(), "removing an incomplete new segment");
            std::fs::remove_file(&path)?;
            let _ = tx.send(Replayed::Removed);
            break;
        }
        let scan = segment::scan(&data, is_last).map_err(|reason| RecoveryError::Corrupt {
            path: path.clone(),
            offset: 0,
            reason,
        })?;
        if scan.first_index != first {
            return Err(RecoveryError::Corrupt {
                path,
                offset: 16,
                reason: format!("header says first index {}", scan.first_index),
            });
        }
        if first > last_record + 1 {
            return Err(RecoveryError::Corrupt {
                path,
                offset: segment::HEADER_LEN as u64,
                reason: format!(
                    "log gap: entries {} to {} are missing",
                    last_record + 1,
                    first - 1
                ),
            });
        }
        let mut valid_len = data.len() as u64;
        match scan.end {
            ScanEnd::Clean => {}
            ScanEnd::TornTail { offset, reason } => {
                tracing::warn!(path = %path.display(), offset, %reason, cut = data.len() as u64 - offset,
                    "truncating a torn log tail (a write interrupted by a crash, never acknowledged)");
                valid_len = offset;
            }
            ScanEnd::Corrupt { offset, reason } => {
                return Err(RecoveryError::Corrupt { path, offset, reason });
            }
        }
        let segment_last = (first + scan.records.len() as u64).saturating_sub(1);
        last_record = last_record.max(segment_last);
        let mut batch = Vec::with_capacity(REPLAY_BATCH);
        let mut stored = Vec::new();
        for (index, payload) in scan.records {
            if index <= snapshot_index {
                continue;
            }
            let request =
                R::decode_from(payload.clone()).map_err(|reason| RecoveryError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    reason: format!("entry {index}: {reason}"),
                })?;
            if retain {
                stored.push((index, payload));
            }
            batch.push((index, request));
            if batch.len() == REPLAY_BATCH {
                let payloads = retain.then(|| std::mem::take(&mut stored));
                if tx.send(Replayed::Entries(std::mem::take(&mut batch), payloads)).is_err() {
                    return Ok(());
                }
            }
        }
        let payloads = retain.then(|| std::mem::take(&mut stored));
        let _ = tx.send(Replayed::Entries(batch, payloads));
        let _ = tx.send(Replayed::Read(data.len() as u64));
        if is_last {
            let _ = tx.send(Replayed::Tail { first, valid_len, last: segment_last });
        }
    }
    Ok(())
}

fn replay<SM: StateMachine>(applier: &mut Applier<SM>, batch: Vec<(u64, SM::Request)>) {
    if let Some((last, _)) = batch.last() {
        let last = *last;
        applier.sm.apply_batch(batch);
        applier.applied = last;
    }
}

fn write_snapshot<R: Codec>(
    dir: &Path,
    index: u64,
    requests: Box<dyn Iterator<Item = R> + Send>,
) -> io::Result<u64> {
    let mut writer = SnapshotWriter::create(dir, index, unix_ms())?;
    for request in requests {
        writer.record(|out| request.encode_into(out))?;
    }
    let bytes = writer.bytes;
    writer.finish()?;
    // Only the newest snapshot is kept: the log before it is deleted, so an older one
    // could not be completed by replay anyway.
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let older = snapshot::parse_snapshot_name(&name).is_some_and(|i| i < index);
        let stale_tmp =
            name.ends_with(".snap.tmp") && !name.starts_with(&snapshot::snapshot_name(index));
        if older || stale_tmp {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(bytes)
}

fn log_dir(dir: &Path) -> PathBuf {
    dir.join("log")
}

fn snapshot_dir(dir: &Path) -> PathBuf {
    dir.join("snapshot")
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn newest_snapshot(dir: &Path) -> io::Result<Option<(u64, PathBuf)>> {
    let mut newest: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".snap.tmp") {
            // An interrupted snapshot: the log it would replace is still there.
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if let Some(index) = snapshot::parse_snapshot_name(&name) {
            if newest.as_ref().is_none_or(|(i, _)| index > *i) {
                newest = Some((index, entry.path()));
            }
        }
    }
    Ok(newest)
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(first) = segment::parse_segment_name(&name.to_string_lossy()) {
            segments.push(first);
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// Logs loading progress, at most once a second (recovery and shard snapshot loads).
pub(crate) fn report_load_progress(load: &LoadProgress) {
    let now = unix_secs();
    if load.reported_unix.swap(now, Ordering::Relaxed) == now {
        return;
    }
    let (done, total) =
        (load.loaded_bytes.load(Ordering::Relaxed), load.total_bytes.load(Ordering::Relaxed));
    let percent = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
    tracing::info!(loaded_bytes = done, total_bytes = total, "loading: {percent:.1}%");
}

/// How many queued proposals to apply together: at least one, then up to `max` entries.
fn count_prefix<R, S>(queue: &[Proposal<R, S>], max: usize) -> usize {
    let mut entries = 0;
    let mut n = 0;
    for p in queue {
        if n > 0 && entries + p.requests.len() > max {
            break;
        }
        entries += p.requests.len();
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter: `Add(n)` entries, frozen as one `Set(total)`.
    #[derive(Debug, Clone, PartialEq)]
    enum Op {
        Add(u64),
        Set(u64),
    }

    impl Codec for Op {
        fn encode_into(&self, out: &mut Vec<u8>) {
            let (tag, n) = match self {
                Op::Add(n) => (0u8, *n),
                Op::Set(n) => (1u8, *n),
            };
            out.push(tag);
            out.extend_from_slice(&n.to_le_bytes());
        }

        fn decode_from(bytes: Bytes) -> Result<Self, String> {
            if bytes.len() != 9 {
                return Err("bad length".into());
            }
            let mut n = [0u8; 8];
            n.copy_from_slice(&bytes[1..]);
            let n = u64::from_le_bytes(n);
            Ok(if bytes[0] == 0 { Op::Add(n) } else { Op::Set(n) })
        }
    }

    struct Counter(Arc<AtomicU64>);

    /// A total whose snapshot rewrite panics midway.
    const PANIC_ON_FREEZE: u64 = 666;

    impl StateMachine for Counter {
        type Request = Op;
        type Response = Result<(u64, u64), LogError>;

        fn apply_batch(&mut self, batch: Vec<(u64, Op)>) -> Vec<Self::Response> {
            batch
                .into_iter()
                .map(|(index, op)| {
                    let total = match op {
                        Op::Add(n) => self.0.fetch_add(n, Ordering::Relaxed) + n,
                        Op::Set(n) => {
                            self.0.store(n, Ordering::Relaxed);
                            n
                        }
                    };
                    Ok((index, total))
                })
                .collect()
        }

        fn refused(error: &LogError) -> Self::Response {
            Err(error.clone())
        }

        fn freeze(&mut self) -> Box<dyn Iterator<Item = Op> + Send> {
            let total = self.0.load(Ordering::Relaxed);
            let fail = std::iter::from_fn(move || {
                assert_ne!(total, PANIC_ON_FREEZE, "rewrite failed");
                None
            });
            Box::new(std::iter::once(Op::Set(total)).chain(fail))
        }

        fn reset(&mut self) {
            self.0.store(0, Ordering::Relaxed);
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("engram-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn open(dir: &Path, durability: Durability) -> (Log<Counter>, Arc<AtomicU64>) {
        let total = Arc::new(AtomicU64::new(0));
        let options = LogOptions {
            dir: Some(dir.to_path_buf()),
            durability,
            segment_bytes: 4096,
            ..Default::default()
        };
        let log = Log::open(Counter(total.clone()), options);
        log.recover().unwrap();
        (log, total)
    }

    /// Four proposers with pipelines in flight; returns the sum they added.
    async fn load(log: &Log<Counter>, per_task: u64) -> u64 {
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut pending = Vec::new();
                for i in 0..per_task {
                    pending.push(log.propose(Op::Add(t * 1000 + i)).await.unwrap());
                }
                let mut last = 0;
                for rx in pending {
                    let (index, _) = rx.await.unwrap().unwrap();
                    assert!(index > last, "replies of one proposer come in log order");
                    last = index;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        (0..4u64).map(|t| (0..per_task).map(|i| t * 1000 + i).sum::<u64>()).sum()
    }

    /// Polls `done` until it holds or 5 s pass.
    async fn eventually(done: impl Fn() -> bool) -> bool {
        let deadline = monotonic() + Duration::from_secs(5);
        while !done() && monotonic() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        done()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_entries_survive_a_restart_in_both_modes() {
        for durability in [Durability::Local, Durability::None] {
            let dir = temp_dir(&format!("restart-{durability:?}"));
            let (log, total) = open(&dir, durability);
            let mut sum = 0;
            for _ in 0..6 {
                sum += load(&log, 50).await;
            }
            assert_eq!(total.load(Ordering::Relaxed), sum);
            assert_eq!(log.applied_index(), 1200);
            assert!(
                eventually(|| log.inner.segments.lock().len() > 1).await,
                "4 KB segments rotate"
            );
            log.close();
            let (again, restored) = open(&dir, durability);
            assert_eq!(restored.load(Ordering::Relaxed), sum, "{durability:?}");
            assert_eq!(again.applied_index(), 1200);
            let more = load(&again, 10).await;
            assert_eq!(restored.load(Ordering::Relaxed), sum + more);
            again.close();
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_truncates_the_log_and_recovery_starts_from_it() {
        let dir = temp_dir("snapshot");
        let (log, _) = open(&dir, Durability::Local);
        let mut first = 0;
        for _ in 0..4 {
            first += load(&log, 50).await;
        }
        assert!(eventually(|| log.inner.segments.lock().len() >= 3).await);
        let segments_before = log.inner.segments.lock().len();
        log.start_snapshot().unwrap().await.unwrap().unwrap();
        let second = load(&log, 50).await;
        // The writer deletes the covered segments at its next round.
        let truncated = eventually(|| log.inner.segments.lock().len() < segments_before).await;
        assert!(truncated, "segments were truncated");
        assert_eq!(log.snapshot_status().index.load(Ordering::Relaxed), 800);
        log.close();
        let (again, restored) = open(&dir, Durability::Local);
        assert_eq!(restored.load(Ordering::Relaxed), first + second);
        assert_eq!(again.applied_index(), 1000);
        again.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A rewrite that panics fails its snapshot (nothing truncated) and the next one runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_rewrite_fails_the_snapshot_and_the_next_one_runs() {
        let dir = temp_dir("snapshot-panic");
        let (log, _) = open(&dir, Durability::Local);
        log.propose(Op::Set(PANIC_ON_FREEZE)).await.unwrap().await.unwrap().unwrap();
        let failed = log.start_snapshot().unwrap().await.unwrap();
        assert!(matches!(failed, Err(LogError::Snapshot(ref e)) if e.contains("panicked")));
        assert!(log.snapshot_status().last_failed.load(Ordering::Relaxed));
        assert_eq!(log.snapshot_status().index.load(Ordering::Relaxed), 0);
        log.propose(Op::Set(1)).await.unwrap().await.unwrap().unwrap();
        log.start_snapshot().unwrap().await.unwrap().unwrap();
        assert_eq!(log.snapshot_status().index.load(Ordering::Relaxed), 2);
        log.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn automatic_snapshots_wait_for_as_much_log_as_the_last_snapshot() {
        let dir = temp_dir("snapshot-growth");
        let (log, _) = open(&dir, Durability::Local);
        log.set_snapshot_log_bytes(1);
        // As if the last snapshot were a gigabyte: a few KB of log start nothing.
        log.inner.snapshots.last_bytes.store(1 << 30, Ordering::Relaxed);
        load(&log, 50).await;
        load(&log, 50).await;
        assert_eq!(log.snapshot_status().index.load(Ordering::Relaxed), 0);
        assert!(log.inner.stats.bytes_since_snapshot.load(Ordering::Relaxed) > 1000);
        // A small last snapshot: the threshold alone decides, and the next writes start one.
        log.inner.snapshots.last_bytes.store(10, Ordering::Relaxed);
        load(&log, 50).await;
        assert!(eventually(|| log.snapshot_status().index.load(Ordering::Relaxed) > 0).await);
        log.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_fsync_refuses_the_write_and_everything_after() {
        let dir = temp_dir("fault");
        let (log, total) = open(&dir, Durability::Local);
        let acked = load(&log, 10).await;
        log.inject_fault(Fault::Fsync);
        let refused = log.propose(Op::Add(5)).await.unwrap().await.unwrap();
        assert!(
            matches!(refused, Err(LogError::Poisoned(ref r)) if r.contains("fsync")),
            "{refused:?}"
        );
        let later = log.propose(Op::Add(7)).await.unwrap().await.unwrap();
        assert!(matches!(later, Err(LogError::Poisoned(_))), "{later:?}");
        assert_eq!(total.load(Ordering::Relaxed), acked, "refused writes were not applied");
        assert!(log.poisoned().is_some());
        log.close();
        // The refused write reached the page cache before its fsync failed: after a
        // restart it may be there (never acknowledged, so either is allowed).
        let (again, restored) = open(&dir, Durability::Local);
        let now = restored.load(Ordering::Relaxed);
        assert!(now == acked || now == acked + 5, "{now} vs {acked}");
        assert!(again.poisoned().is_none());
        again.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damage_in_a_closed_segment_refuses_to_start_naming_file_and_offset() {
        let dir = temp_dir("corrupt");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (log, _) = open(&dir, Durability::Local);
        runtime.block_on(load(&log, 100));
        log.close();
        let first = log_dir(&dir).join(segment::segment_name(1));
        let mut data = std::fs::read(&first).unwrap();
        let at = segment::HEADER_LEN + 100;
        data[at] ^= 0x55;
        std::fs::write(&first, &data).unwrap();
        let log = Log::open(
            Counter(Arc::default()),
            LogOptions { dir: Some(dir.clone()), ..Default::default() },
        );
        let e = log.recover().unwrap_err().to_string();
        assert!(e.contains(&first.display().to_string()) && e.contains("offset"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
