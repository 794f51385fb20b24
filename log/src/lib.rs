//! engram-log: the replicated log that every write passes through before its reply.
//!
//! The server proposes requests; the log orders them, makes them durable (in the durable
//! log issue: fsynced WAL, then raft quorum) and hands them, in log order and in batches, to
//! a [`StateMachine`]. The reply to each proposal is whatever the state machine returned
//! for it.
//!
//! This crate knows nothing of Redis: requests and responses are type parameters.
//!
//! Today the log is in memory ([`MemLog`]): ordering and batching are real, durability is
//! not. It applies by *combining*: a proposer queues its requests, and whoever gets the
//! state machine lock applies everything queued, in queue order, for everyone. Without a
//! disk to wait for, this avoids a thread hop per write; the log order is the order in
//! which requests entered the queue, and the state machine is only ever driven by one
//! caller at a time. A durable log keeps the same interface and batches into one fsync.
#![warn(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// The deterministic state machine fed by the log.
///
/// `apply_batch` is called by one caller at a time, in log order. It must be a pure
/// function of its state and the entries (no clock, no randomness but what the entries
/// carry), so every replica and every replay reaches the same state.
pub trait StateMachine: Send + 'static {
    /// What is proposed and stored in the log.
    type Request: Send + 'static;
    /// What apply returns to the proposer.
    type Response: Send + 'static;

    /// Applies `batch` (consecutive log indexes) and returns one response per entry.
    fn apply_batch(&mut self, batch: Vec<(u64, Self::Request)>) -> Vec<Self::Response>;
}

/// Why a proposal was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogError {
    /// The log is shutting down; nothing was appended.
    #[error("log is shut down")]
    Shutdown,
}

/// Options for [`MemLog::start`].
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep a copy of every applied entry (for replay tests); memory grows without bound.
    pub retain_entries: bool,
    /// Upper bound on entries per apply batch (0 means the default of 4096).
    pub max_batch: usize,
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

/// Entries with their log indexes.
type Indexed<R> = Vec<(u64, R)>;

struct Applier<SM> {
    sm: SM,
    next_index: u64,
}

struct Inner<SM: StateMachine> {
    queue: Mutex<Vec<Proposal<SM::Request, SM::Response>>>,
    applier: Mutex<Applier<SM>>,
    applied: AtomicU64,
    retained: Option<Mutex<Indexed<SM::Request>>>,
    max_batch: usize,
}

/// A handle to the log: cheap to clone, shared by all connections.
pub struct MemLog<SM: StateMachine> {
    inner: Arc<Inner<SM>>,
}

impl<SM: StateMachine> Clone for MemLog<SM> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<SM> MemLog<SM>
where
    SM: StateMachine,
    SM::Request: Clone,
{
    /// A log that applies to `sm`.
    pub fn start(sm: SM, options: LogOptions) -> std::io::Result<Self> {
        let max_batch = if options.max_batch == 0 { 4096 } else { options.max_batch };
        Ok(Self {
            inner: Arc::new(Inner {
                queue: Mutex::new(Vec::new()),
                applier: Mutex::new(Applier { sm, next_index: 1 }),
                applied: AtomicU64::new(0),
                retained: options.retain_entries.then(|| Mutex::new(Vec::new())),
                max_batch,
            }),
        })
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

    /// The index of the last applied entry (0 before the first).
    pub fn applied_index(&self) -> u64 {
        self.inner.applied.load(Ordering::Acquire)
    }

    /// Entries applied so far, if the log was started with `retain_entries`.
    pub fn retained_entries(&self) -> Vec<(u64, SM::Request)> {
        self.inner.retained.as_ref().map(|r| r.lock().clone()).unwrap_or_default()
    }

    fn submit(&self, proposal: Proposal<SM::Request, SM::Response>) {
        self.inner.queue.lock().push(proposal);
        // Whoever holds the applier drains the queue until it is empty, and checks again
        // after letting go: a proposal queued while the lock was held is seen either by
        // the holder's re-check or by its own proposer's next try_lock.
        loop {
            let Some(mut applier) = self.inner.applier.try_lock() else { return };
            loop {
                let proposals = {
                    let mut queue = self.inner.queue.lock();
                    if queue.is_empty() {
                        break;
                    }
                    let take = count_prefix(&queue, self.inner.max_batch);
                    queue.drain(..take).collect::<Vec<_>>()
                };
                self.apply(&mut applier, proposals);
            }
            drop(applier);
            if self.inner.queue.lock().is_empty() {
                return;
            }
        }
    }

    fn apply(
        &self,
        applier: &mut Applier<SM>,
        proposals: Vec<Proposal<SM::Request, SM::Response>>,
    ) {
        let mut batch = Vec::new();
        let mut replies = Vec::with_capacity(proposals.len());
        for p in proposals {
            replies.push((p.reply, p.requests.len()));
            for request in p.requests {
                batch.push((applier.next_index, request));
                applier.next_index += 1;
            }
        }
        if let Some(r) = &self.inner.retained {
            r.lock().extend(batch.iter().map(|(i, req)| (*i, req.clone())));
        }
        let mut responses = applier.sm.apply_batch(batch).into_iter();
        self.inner.applied.store(applier.next_index - 1, Ordering::Release);
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

    struct Counter(u64);
    impl StateMachine for Counter {
        type Request = u64;
        type Response = (u64, u64);
        fn apply_batch(&mut self, batch: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
            batch
                .into_iter()
                .map(|(index, add)| {
                    self.0 += add;
                    (index, self.0)
                })
                .collect()
        }
    }

    #[tokio::test]
    async fn proposals_are_applied_in_order_with_consecutive_indexes() {
        let log =
            MemLog::start(Counter(0), LogOptions { retain_entries: true, max_batch: 0 }).unwrap();
        let mut pending = Vec::new();
        for i in 1..=100u64 {
            pending.push(log.propose(i).await.unwrap());
        }
        let mut total = 0;
        for (n, rx) in pending.into_iter().enumerate() {
            let (index, sum) = rx.await.unwrap();
            total += n as u64 + 1;
            assert_eq!(index, n as u64 + 1);
            assert_eq!(sum, total);
        }
        assert_eq!(log.applied_index(), 100);
        let batch = log.propose_batch(vec![1, 2, 3]).await.unwrap().await.unwrap();
        assert_eq!(batch, vec![(101, total + 1), (102, total + 3), (103, total + 6)]);
        assert_eq!(log.retained_entries().len(), 103);
    }
}
