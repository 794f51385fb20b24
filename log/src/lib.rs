//! engram-log: the replicated log that every write passes through before its reply.
//!
//! The server proposes requests; the log orders them, makes them durable (in the durable
//! log issue: fsynced WAL, then raft quorum) and hands them, in log order and in batches, to
//! a [`StateMachine`] running on one dedicated apply thread. The reply to each proposal is
//! whatever the state machine returned for it.
//!
//! This crate knows nothing of Redis: requests and responses are type parameters.
//!
//! Today the log is in memory ([`MemLog`]): ordering and batching are real, durability is
//! not. Batching is already the shape group commit needs: the apply thread takes everything
//! queued since its last turn as one batch, so a durable log will pay one fsync per batch.
#![warn(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot_free::Retained;
use tokio::sync::{mpsc, oneshot};

mod parking_lot_free {
    //! A tiny mutex-protected vector, kept here so the crate needs no lock crate.
    use std::sync::Mutex;

    /// Entries kept for inspection (tests replay them into a fresh state machine).
    pub struct Retained<R>(pub Mutex<Vec<(u64, R)>>);
}

/// The deterministic state machine fed by the log.
///
/// `apply_batch` is called on one thread, in log order. It must be a pure function of its
/// state and the entries (no clock, no randomness but what the entries carry), so every
/// replica and every replay reaches the same state.
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
    /// The log is shutting down (or its apply thread died); nothing was appended.
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

/// One channel message: a single request or a connection's whole pipeline of writes.
struct Proposal<R, S> {
    requests: Vec<R>,
    reply: ReplyTo<S>,
}

/// A handle to the log: cheap to clone, shared by all connections.
pub struct MemLog<SM: StateMachine> {
    tx: mpsc::Sender<Proposal<SM::Request, SM::Response>>,
    applied: Arc<AtomicU64>,
    retained: Option<Arc<Retained<SM::Request>>>,
}

impl<SM: StateMachine> Clone for MemLog<SM> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), applied: self.applied.clone(), retained: self.retained.clone() }
    }
}

impl<SM> MemLog<SM>
where
    SM: StateMachine,
    SM::Request: Clone,
{
    /// Starts the apply thread that owns `sm` and returns the handle proposals go through.
    ///
    /// The thread stops when every handle is dropped.
    pub fn start(mut sm: SM, options: LogOptions) -> std::io::Result<Self> {
        let (tx, mut rx) = mpsc::channel::<Proposal<SM::Request, SM::Response>>(16 * 1024);
        let applied = Arc::new(AtomicU64::new(0));
        let retained =
            options.retain_entries.then(|| Arc::new(Retained(std::sync::Mutex::new(Vec::new()))));
        let max_batch = if options.max_batch == 0 { 4096 } else { options.max_batch };
        let thread_applied = applied.clone();
        let thread_retained = retained.clone();
        std::thread::Builder::new().name("engram-apply".into()).spawn(move || {
            let mut next_index = 1u64;
            let mut proposals = Vec::with_capacity(max_batch);
            while let Some(first) = rx.blocking_recv() {
                proposals.push(first);
                while proposals.len() < max_batch {
                    match rx.try_recv() {
                        Ok(p) => proposals.push(p),
                        Err(_) => break,
                    }
                }
                let mut batch = Vec::new();
                let mut replies = Vec::with_capacity(proposals.len());
                for p in proposals.drain(..) {
                    replies.push((p.reply, p.requests.len()));
                    for request in p.requests {
                        batch.push((next_index, request));
                        next_index += 1;
                    }
                }
                if let Some(r) = &thread_retained {
                    if let Ok(mut kept) = r.0.lock() {
                        kept.extend(batch.iter().map(|(i, req)| (*i, req.clone())));
                    }
                }
                let mut responses = sm.apply_batch(batch).into_iter();
                thread_applied.store(next_index - 1, Ordering::Release);
                // The proposer may have gone (client disconnected); its entries are
                // applied regardless, as they would be on every replica.
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
            tracing::debug!("apply thread stopped");
        })?;
        Ok(Self { tx, applied, retained })
    }

    /// Appends `request` and returns a receiver for its response, without waiting for it.
    ///
    /// Callers keep several proposals in flight (a pipeline) and await the receivers in
    /// order; the log batches whatever is queued together.
    pub async fn propose(
        &self,
        request: SM::Request,
    ) -> Result<oneshot::Receiver<SM::Response>, LogError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Proposal { requests: vec![request], reply: ReplyTo::One(reply) })
            .await
            .map_err(|_| LogError::Shutdown)?;
        Ok(rx)
    }

    /// Appends `requests` (consecutive in the log) and returns a receiver for their
    /// responses, in order. One channel message for a connection's whole pipeline.
    pub async fn propose_batch(
        &self,
        requests: Vec<SM::Request>,
    ) -> Result<oneshot::Receiver<Vec<SM::Response>>, LogError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Proposal { requests, reply: ReplyTo::Many(reply) })
            .await
            .map_err(|_| LogError::Shutdown)?;
        Ok(rx)
    }

    /// Appends `request` whose response nobody waits for (e.g. expiry deletions).
    pub async fn propose_detached(&self, request: SM::Request) -> Result<(), LogError> {
        self.tx
            .send(Proposal { requests: vec![request], reply: ReplyTo::Nobody })
            .await
            .map_err(|_| LogError::Shutdown)
    }

    /// The index of the last applied entry (0 before the first).
    pub fn applied_index(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Entries applied so far, if the log was started with `retain_entries`.
    pub fn retained_entries(&self) -> Vec<(u64, SM::Request)> {
        match &self.retained {
            Some(r) => r.0.lock().map(|kept| kept.clone()).unwrap_or_default(),
            None => Vec::new(),
        }
    }
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
