//! Node-to-node traffic on the cluster bus port: raft's RPCs as postcard frames
//! (`len u32 | payload`) over one TCP connection per peer and purpose, one request in
//! flight per connection (raft sends a stream's requests one after another). A snapshot
//! is a header frame followed by the file's bytes.
//!
//! Any transport failure reports the peer unreachable, so raft backs off and retries
//! with a fresh connection; a node that is down costs a refused connect, not a stall.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use openraft::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, VoteRequest,
    VoteResponse,
};
use openraft::raft::{TransferLeaderRequest, TransferLeaderResponse};
use openraft::OptionalSend;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

use super::machine::SnapshotFile;
use super::{Member, Raft, Types};
use crate::StateMachine;

/// Frames larger than this are refused (a corrupt or hostile length).
const MAX_FRAME: usize = 1 << 30;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Serialize, Deserialize)]
enum Rpc {
    Append(AppendEntriesRequest<Types>),
    Vote(VoteRequest<Types>),
    PreVote(VoteRequest<Types>),
    /// The file's `len` bytes follow the frame.
    Snapshot {
        vote: VoteOf<Types>,
        meta: SnapshotMetaOf<Types>,
        len: u64,
    },
    /// The connection turns into a replication pipeline: from here on the leader sends
    /// bare `AppendEntriesRequest` frames without waiting, and the follower answers each
    /// with a `Result<StreamAppendResult, String>` frame, in order, once it is durable.
    Stream,
    /// Which node is this? (A leader adding a member asks it before the raft change.)
    Hello,
    /// From a leader handing over: the target takes leadership.
    TransferLeader(TransferLeaderRequest<Types>),
    /// From a replica asked to fail over (CLUSTER FAILOVER): the leader hands over to it.
    HandOverTo(u64),
}

/// Aborts the task sending a pipeline's requests when its response stream is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Serialize, Deserialize)]
enum RpcReply {
    Append(AppendEntriesResponse<Types>),
    Vote(VoteResponse<Types>),
    Snapshot(SnapshotResponse<Types>),
    /// Node id, whether it asks to join as a non-voting learner, and whether it already
    /// belongs to an initialized shard.
    Hello(u64, bool, bool),
    TransferLeader(TransferLeaderResponse<Types>),
    Done,
    Error(String),
}

async fn write_frame<W: AsyncWriteExt + Unpin, T: Serialize>(
    w: &mut W,
    value: &T,
) -> io::Result<()> {
    let payload = postcard::to_stdvec(value).map_err(io::Error::other)?;
    w.write_all(&(payload.len() as u32).to_le_bytes()).await?;
    w.write_all(&payload).await
}

async fn read_frame<R: AsyncReadExt + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
) -> io::Result<T> {
    let len = r.read_u32_le().await? as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "cluster bus frame too large"));
    }
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).await?;
    postcard::from_bytes(&payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Makes a connection to a peer per raft replication stream.
#[derive(Clone, Default)]
pub struct Network {
    /// Per-peer bus addresses that override the membership's (fault-injection tests put
    /// a proxy per link here to cut a node off).
    pub routes: std::collections::BTreeMap<u64, String>,
}

impl RaftNetworkFactory<Types> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &Member) -> Peer {
        let bus = self.routes.get(&target).cloned().unwrap_or_else(|| node.bus.clone());
        Peer { target, bus, conn: None, pipe: None }
    }
}

/// One connection to one peer.
pub struct Peer {
    target: u64,
    bus: String,
    /// The replication pipeline connection, kept between `stream_append` calls.
    pipe: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    )>,
    conn: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    )>,
}

fn unreachable(target: u64, e: impl std::fmt::Display) -> Unreachable<Types> {
    Unreachable::from_string(format!("node {target}: {e}"))
}

impl Peer {
    async fn connect(&mut self) -> io::Result<()> {
        if self.conn.is_none() {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.bus))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
            stream.set_nodelay(true)?;
            let (r, w) = stream.into_split();
            self.conn = Some((BufReader::new(r), BufWriter::new(w)));
        }
        Ok(())
    }

    async fn exchange(&mut self, rpc: &Rpc, file: Option<&PathBuf>) -> io::Result<RpcReply> {
        self.connect().await?;
        let Some((r, w)) = self.conn.as_mut() else {
            return Err(io::Error::other("not connected"));
        };
        write_frame(w, rpc).await?;
        if let Some(path) = file {
            let mut f = tokio::fs::File::open(path).await?;
            tokio::io::copy(&mut f, w).await?;
        }
        w.flush().await?;
        read_frame(r).await
    }

    /// One request and its reply within `ttl`; any failure drops the connection.
    async fn call(&mut self, rpc: Rpc, ttl: Duration) -> Result<RpcReply, Unreachable<Types>> {
        let result = tokio::time::timeout(ttl, self.exchange(&rpc, None)).await;
        match result {
            Ok(Ok(RpcReply::Error(e))) => Err(unreachable(self.target, e)),
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.conn = None;
                Err(unreachable(self.target, e))
            }
            Err(_) => {
                self.conn = None;
                Err(unreachable(self.target, "timed out"))
            }
        }
    }
}

/// One request to the node whose bus is at `bus`, on a connection of its own.
async fn ask(bus: &str, rpc: Rpc, ttl: Duration) -> Result<RpcReply, String> {
    let mut peer = Peer { target: 0, bus: bus.to_string(), conn: None, pipe: None };
    peer.call(rpc, ttl).await.map_err(|e| e.to_string())
}

/// Asks the node whose bus is at `bus` for its node id and whether it is to be a
/// learner (a non-voting read replica).
pub async fn hello(bus: &str) -> Result<(u64, bool), String> {
    match ask(bus, Rpc::Hello, Duration::from_secs(2)).await? {
        RpcReply::Hello(id, learner, _) => Ok((id, learner)),
        _ => Err("unexpected reply".into()),
    }
}

/// Whether the node whose bus is at `bus` belongs to an initialized shard (None: it did
/// not answer).
pub async fn initialized(bus: &str) -> Option<bool> {
    match ask(bus, Rpc::Hello, Duration::from_millis(500)).await.ok()? {
        RpcReply::Hello(_, _, initialized) => Some(initialized),
        _ => None,
    }
}

/// Asks the leader whose bus is at `bus` to hand leadership to node `to`.
pub async fn hand_over(bus: &str, to: u64) -> Result<(), String> {
    match ask(bus, Rpc::HandOverTo(to), Duration::from_secs(5)).await? {
        RpcReply::Done => Ok(()),
        _ => Err("unexpected reply".into()),
    }
}

fn unexpected(target: u64) -> Unreachable<Types> {
    unreachable(target, "unexpected reply")
}

impl RaftNetworkV2<Types> for Peer {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Types>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<Types>, RPCError<Types>> {
        match self.call(Rpc::Append(rpc), option.hard_ttl()).await? {
            RpcReply::Append(r) => Ok(r),
            _ => Err(unexpected(self.target).into()),
        }
    }

    /// Pipelined replication on a connection of its own: requests go out as raft produces
    /// them and responses come back in order as the follower makes each durable, so
    /// several fsyncs on the follower overlap instead of one round trip per batch.
    fn stream_append<'s, S>(
        &'s mut self,
        mut input: S,
        option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<BoxStream<'s, Result<StreamAppendResult<Types>, RPCError<Types>>>, RPCError<Types>>,
    >
    where
        S: futures_util::Stream<Item = AppendEntriesRequest<Types>>
            + OptionalSend
            + Unpin
            + 'static,
    {
        let (target, bus) = (self.target, self.bus.clone());
        Box::pin(async move {
            let (r, w) = match self.pipe.take() {
                Some(pipe) => pipe,
                None => {
                    let ttl = CONNECT_TIMEOUT.min(option.hard_ttl());
                    let stream = tokio::time::timeout(ttl, TcpStream::connect(&bus))
                        .await
                        .map_err(|_| unreachable(target, "connect timed out"))?
                        .map_err(|e| unreachable(target, e))?;
                    let _ = stream.set_nodelay(true);
                    let (r, w) = stream.into_split();
                    let mut w = BufWriter::new(w);
                    write_frame(&mut w, &Rpc::Stream).await.map_err(|e| unreachable(target, e))?;
                    (BufReader::new(r), w)
                }
            };
            // The sender reports how many requests it wrote and whether the input ended,
            // and hands the writer back when it did, so the connection serves the next
            // call once every response was read.
            let (progress_tx, progress) = tokio::sync::watch::channel((0u64, false));
            let (back_tx, back) = tokio::sync::oneshot::channel();
            let sender = tokio::spawn(async move {
                use futures_util::StreamExt;
                let mut w = w;
                let mut sent = 0u64;
                while let Some(request) = input.next().await {
                    if write_frame(&mut w, &request).await.is_err() || w.flush().await.is_err() {
                        progress_tx.send_replace((sent, true));
                        return;
                    }
                    sent += 1;
                    progress_tx.send_replace((sent, false));
                }
                progress_tx.send_replace((sent, true));
                let _ = back_tx.send(w);
            });
            let slot = &mut self.pipe;
            let state = (r, progress, back, 0u64, AbortOnDrop(sender), slot);
            let responses = futures_util::stream::unfold(Some(state), move |state| async move {
                let (mut r, mut progress, back, received, sender, slot) = state?;
                loop {
                    let (sent, done) = *progress.borrow_and_update();
                    if received < sent {
                        break;
                    }
                    if done {
                        if let Ok(w) = back.await {
                            *slot = Some((r, w));
                        }
                        return None;
                    }
                    if progress.changed().await.is_err() && progress.borrow().0 <= received {
                        return None;
                    }
                }
                match read_frame::<_, Result<StreamAppendResult<Types>, String>>(&mut r).await {
                    Ok(Ok(result)) => {
                        let next = result.is_ok().then_some((
                            r,
                            progress,
                            back,
                            received + 1,
                            sender,
                            slot,
                        ));
                        Some((Ok(result), next))
                    }
                    Ok(Err(e)) => Some((Err(unreachable(target, e).into()), None)),
                    Err(e) => Some((Err(unreachable(target, e).into()), None)),
                }
            });
            let boxed: BoxStream<'s, Result<StreamAppendResult<Types>, RPCError<Types>>> =
                Box::pin(responses);
            Ok(boxed)
        })
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<Types>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<Types>, RPCError<Types>> {
        match self.call(Rpc::TransferLeader(req), option.hard_ttl()).await? {
            RpcReply::TransferLeader(r) => Ok(r),
            _ => Err(unexpected(self.target).into()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<Types>,
        option: RPCOption,
    ) -> Result<VoteResponse<Types>, RPCError<Types>> {
        match self.call(Rpc::Vote(rpc), option.hard_ttl()).await? {
            RpcReply::Vote(r) => Ok(r),
            _ => Err(unexpected(self.target).into()),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<Types>,
        option: RPCOption,
    ) -> Result<VoteResponse<Types>, RPCError<Types>> {
        match self.call(Rpc::PreVote(rpc), option.hard_ttl()).await? {
            RpcReply::Vote(r) => Ok(r),
            _ => Err(unexpected(self.target).into()),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<Types>,
        snapshot: SnapshotOf<Types, SnapshotFile>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<Types>, StreamingError<Types>> {
        let path = snapshot.snapshot.path.clone();
        let len = tokio::fs::metadata(&path).await.map_err(|e| unreachable(self.target, e))?.len();
        let rpc = Rpc::Snapshot { vote, meta: snapshot.meta, len };
        tracing::info!(target = self.target, bytes = len, "sending a snapshot to a replica");
        let sent = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            sent = self.exchange(&rpc, Some(&path)) => sent,
        };
        match sent {
            Ok(RpcReply::Snapshot(r)) => Ok(r),
            Ok(RpcReply::Error(e)) => Err(unreachable(self.target, e).into()),
            Ok(_) => Err(unexpected(self.target).into()),
            Err(e) => {
                self.conn = None;
                Err(unreachable(self.target, e).into())
            }
        }
    }
}

/// When this node last heard from a leader (replication traffic, not votes): a replica
/// that has not for a while reports its link to the primary down, as Redis does.
#[derive(Debug)]
pub struct Contact {
    origin: std::time::Instant,
    last_ms: std::sync::atomic::AtomicU64,
}

impl Default for Contact {
    fn default() -> Self {
        Self { origin: crate::monotonic(), last_ms: Default::default() }
    }
}

impl Contact {
    fn touch(&self) {
        let now = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// Time since the last contact (or since start, if none yet).
    pub fn since(&self) -> Duration {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        self.origin.elapsed().saturating_sub(Duration::from_millis(last))
    }
}

/// Serves peers' RPCs to `raft` on `listener` until the process ends.
pub async fn serve<SM: StateMachine>(
    listener: TcpListener,
    raft: Raft<SM>,
    incoming: PathBuf,
    contact: std::sync::Arc<Contact>,
    learner: bool,
) {
    let mut received = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, say: back off instead of spinning.
                tracing::warn!(error = %e, "cluster bus accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        received += 1;
        let raft = raft.clone();
        let incoming = incoming.join(format!("recv-{received}.tmp"));
        let contact = contact.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_peer(stream, &raft, incoming, &contact, learner).await {
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    tracing::debug!(%peer, error = %e, "cluster bus connection closed");
                }
            }
        });
    }
}

/// The follower side of a replication pipeline: requests in, results out, in order.
async fn serve_stream<SM: StateMachine>(
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    mut w: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    raft: &Raft<SM>,
    contact: &std::sync::Arc<Contact>,
) -> io::Result<()> {
    use futures_util::StreamExt;
    let contact = contact.clone();
    let requests = futures_util::stream::unfold(r, move |mut r| {
        let contact = contact.clone();
        async move {
            let request: AppendEntriesRequest<Types> = read_frame(&mut r).await.ok()?;
            contact.touch();
            Some((request, r))
        }
    });
    let results = raft.stream_append(Box::pin(requests));
    let mut results = std::pin::pin!(results);
    while let Some(result) = results.next().await {
        let (reply, end) = match result {
            Ok(r) => {
                let end = r.is_err();
                (Ok(r), end)
            }
            Err(fatal) => (Err(fatal.to_string()), true),
        };
        write_frame(&mut w, &reply).await?;
        w.flush().await?;
        if end {
            break;
        }
    }
    Ok(())
}

async fn serve_peer<SM: StateMachine>(
    stream: TcpStream,
    raft: &Raft<SM>,
    incoming: PathBuf,
    contact: &std::sync::Arc<Contact>,
    learner: bool,
) -> io::Result<()> {
    let (r, w) = stream.into_split();
    let (mut r, mut w) = (BufReader::new(r), BufWriter::new(w));
    loop {
        let rpc: Rpc = read_frame(&mut r).await?;
        let reply = match rpc {
            Rpc::Stream => return serve_stream(r, w, raft, contact).await,
            Rpc::Hello => {
                let initialized = raft.is_initialized().await.unwrap_or(false);
                RpcReply::Hello(*raft.node_id(), learner, initialized)
            }
            Rpc::TransferLeader(req) => match raft.handle_transfer_leader(req).await {
                Ok(resp) => RpcReply::TransferLeader(resp),
                Err(e) => RpcReply::Error(e.to_string()),
            },
            Rpc::HandOverTo(id) => match raft.trigger().transfer_leader(id).await {
                Ok(()) => RpcReply::Done,
                Err(e) => RpcReply::Error(e.to_string()),
            },
            Rpc::Append(req) => {
                contact.touch();
                match raft.append_entries(req).await {
                    Ok(resp) => RpcReply::Append(resp),
                    Err(e) => RpcReply::Error(e.to_string()),
                }
            }
            Rpc::Vote(req) => match raft.vote(req).await {
                Ok(resp) => RpcReply::Vote(resp),
                Err(e) => RpcReply::Error(e.to_string()),
            },
            Rpc::PreVote(req) => match raft.pre_vote(req).await {
                Ok(resp) => RpcReply::Vote(resp),
                Err(e) => RpcReply::Error(e.to_string()),
            },
            Rpc::Snapshot { vote, meta, len } => {
                contact.touch();
                let mut file = tokio::fs::File::create(&incoming).await?;
                let copied = tokio::io::copy(&mut (&mut r).take(len), &mut file).await?;
                if copied != len {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "snapshot cut short"));
                }
                file.sync_all().await?;
                drop(file);
                let snapshot = SnapshotOf::<Types, SnapshotFile> {
                    meta,
                    snapshot: SnapshotFile { path: incoming.clone() },
                };
                match raft.install_full_snapshot(vote, snapshot).await {
                    Ok(resp) => RpcReply::Snapshot(resp),
                    Err(e) => RpcReply::Error(e.to_string()),
                }
            }
        };
        write_frame(&mut w, &reply).await?;
        w.flush().await?;
    }
}
