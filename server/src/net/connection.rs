//! One client connection: reads whatever arrived, parses every complete command, and
//! replies in request order.
//!
//! Pipelined writes are proposed back to back without waiting for each other (so a
//! durable log can commit them with one fsync); a read or session command that follows
//! in-flight writes waits for them first, which gives read-your-writes per connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::dispatch::{self, Outcome, Routed};
use crate::entry::Request;
use crate::reply::Reply;
use crate::resp::{self, Decoder, Limits, ProtocolError};
use crate::session::{After, ClientInfo, ClientView, ReplyMode, Session};
use crate::state::Shared;

/// A reply slot, kept in request order.
struct Slot {
    reply: SlotReply,
    id: Option<usize>,
    /// The command, for SLOWLOG.
    argv: Vec<bytes::Bytes>,
    /// Suppressed by CLIENT REPLY OFF/SKIP.
    silent: bool,
    /// Client-side caching: what this command holds back until it is answered.
    held: crate::tracking::InFlight,
}

enum SlotReply {
    Ready(Reply),
    /// The next reply of the oldest unfinished write batch.
    Write,
}

/// Writes parsed from the input but not yet proposed, and proposed batches whose replies
/// have not arrived. A pipeline's consecutive writes go to the log as one proposal.
#[derive(Default)]
struct Writes {
    staged: Vec<Request>,
    in_flight: VecDeque<oneshot::Receiver<Vec<Reply>>>,
    current: std::vec::IntoIter<Reply>,
}

impl Writes {
    /// Proposes the staged writes as one batch.
    async fn flush(&mut self, shared: &Shared) {
        if self.staged.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.staged);
        match shared.log.propose_batch(batch).await {
            Ok(rx) => self.in_flight.push_back(rx),
            Err(e) => {
                // Drain will answer each of these writes with an internal error.
                tracing::error!(error = %e, "proposal failed");
                let (tx, rx) = oneshot::channel();
                drop(tx);
                self.in_flight.push_back(rx);
            }
        }
    }

    /// The reply of the oldest write not yet answered.
    async fn next_reply(&mut self) -> Reply {
        loop {
            if let Some(r) = self.current.next() {
                return r;
            }
            let Some(rx) = self.in_flight.pop_front() else {
                return Reply::Error(crate::error::CmdError::Internal);
            };
            match rx.await {
                Ok(replies) => self.current = replies.into_iter(),
                Err(_) => {
                    tracing::error!("log dropped a proposal");
                    return Reply::Error(crate::error::CmdError::Internal);
                }
            }
        }
    }
}

/// Serves `socket` until the client leaves, is killed, or the server stops.
pub async fn run(socket: TcpStream, addr: SocketAddr, shared: Arc<Shared>) {
    let laddr = socket.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let info = Arc::new(ClientInfo {
        id: shared.clients.next_id(),
        addr: addr.to_string(),
        laddr,
        fd: crate::session::raw_fd(&socket),
        created_ms: crate::clock::now_ms(),
        view: parking_lot::Mutex::new(ClientView {
            resp: 2,
            user: "default".into(),
            ..Default::default()
        }),
        killed: Default::default(),
        kill_notify: Default::default(),
        last_interaction_ms: crate::clock::now_ms().into(),
    });
    shared.clients.add(info.clone());
    let needs_auth = shared.config.get("requirepass").is_some_and(|p| !p.is_empty());
    let mut session = Session::new(info.clone(), !needs_auth);
    if let Err(e) = serve(socket, &shared, &mut session).await {
        tracing::debug!(client = info.id, error = %e, "connection ended");
    }
    shared.clients.remove(info.id);
}

async fn serve(
    mut socket: TcpStream,
    shared: &Arc<Shared>,
    session: &mut Session,
) -> std::io::Result<()> {
    let mut decoder = Decoder::new(limits(shared, session));
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = BytesMut::with_capacity(16 * 1024);
    let mut slots: VecDeque<Slot> = VecDeque::new();
    // Commands decoded ahead of running them; kept across reads to keep its buffer.
    let mut ahead: VecDeque<Decoded> = VecDeque::new();
    let mut writes = Writes::default();
    let mut shutdown = shared.shutdown.subscribe();
    let info = session.info.clone();
    // Pub/sub messages for this client; dropping it ends its subscriptions.
    let mut inbox = shared.pubsub.attach(&info);
    loop {
        if info.is_killed() {
            return Ok(());
        }
        let want = decoder.wanted(input.len()).max(4096);
        input.reserve(want);
        let n = tokio::select! {
            r = socket.read_buf(&mut input) => r?,
            // Pushes go out between replies: only while no command is in progress.
            Some(msg) = inbox.recv() => {
                let n = inbox.deliver(msg, session.proto, &mut socket).await?;
                shared.stats.net_output_bytes.fetch_add(n as u64, Ordering::Relaxed);
                continue;
            }
            _ = info.kill_notify.notified() => return Ok(()),
            _ = shutdown.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
        let limit = shared.config.client_query_buffer_limit.load(Ordering::Relaxed) as usize;
        if input.len() > limit {
            tracing::warn!(
                client = info.id,
                "closing client that exceeded client-query-buffer-limit"
            );
            return Ok(());
        }
        decoder.set_limits(limits(shared, session));
        let mut segment_start = crate::clock::monotonic();
        session.now_ms = crate::clock::now_ms();
        session.input_batch += 1;
        info.last_interaction_ms.store(session.now_ms, Ordering::Relaxed);
        let mut close = false;
        decode_ahead(&mut decoder, &mut input, shared, session, &mut ahead);
        loop {
            let next = match ahead.pop_front() {
                Some(decoded) => decoded.map(|(argv, routed)| Some((argv, Some(routed)))),
                None => decoder.next(&mut input).map(|d| d.map(|argv| (argv, None))),
            };
            let (argv, routed) = match next {
                Ok(Some(decoded)) => decoded,
                Ok(None) => break,
                Err(e) => {
                    drain(
                        &mut slots,
                        &mut writes,
                        session,
                        shared,
                        &mut output,
                        &mut segment_start,
                        &socket,
                    )
                    .await;
                    resp::encode(
                        &Reply::Error(crate::error::CmdError::Custom(format!("ERR {}", e.0))),
                        session.proto,
                        &mut output,
                    );
                    socket.write_all(&output).await?;
                    return Ok(());
                }
            };
            let routed = routed.unwrap_or_else(|| dispatch::route(&argv));
            let blocking = routed.is_blocking();
            let read_script = matches!(&routed.resolved, Ok((spec, _, _))
                if crate::cmd::scripting::runs_as_read(shared, &session.script_flags, spec, &argv));
            if (!routed.is_write() || blocking || read_script) && !slots.is_empty() {
                drain(
                    &mut slots,
                    &mut writes,
                    session,
                    shared,
                    &mut output,
                    &mut segment_start,
                    &socket,
                )
                .await;
            }
            if blocking && !output.is_empty() {
                // Earlier replies go out before this command may block.
                socket.write_all(&output).await?;
                output.clear();
            }
            // A SKIP set by the previous command silences this one.
            let skip_this = session.reply_mode == ReplyMode::Skip;
            let id = routed.id();
            if let Some(id) = id {
                if let Some((name, _)) = crate::cmd::table().get(id) {
                    let mut view = info.view.lock();
                    if view.last_cmd != name {
                        view.last_cmd = name.to_string();
                    }
                }
            }
            // Client-side caching: a tracking client's reads are remembered before they run.
            let held = match (&session.tracking.mode, &routed.resolved) {
                (Some(_), Ok((spec, _, _))) => {
                    crate::tracking::before_command(shared, session, spec, &argv)
                }
                _ => Default::default(),
            };
            let was_authenticated = session.authenticated;
            let outcome = dispatch::dispatch(shared, session, &argv, routed).await;
            if session.tracking.caching {
                crate::tracking::after_command(session, &argv);
            }
            if session.authenticated != was_authenticated {
                decoder.set_limits(limits(shared, session));
            }
            // The command that turned replies OFF (or SKIP) is itself silent; CLIENT
            // REPLY ON is answered.
            // CLIENT REPLY ON during a SKIP cancels it and is answered.
            let silent = session.reply_mode != ReplyMode::On;
            if skip_this && session.reply_mode == ReplyMode::Skip {
                session.reply_mode = ReplyMode::On;
            }
            let reply = match outcome {
                Outcome::Ready(r) => SlotReply::Ready(r),
                Outcome::Write(request) => {
                    writes.staged.push(request);
                    SlotReply::Write
                }
            };
            slots.push_back(Slot { reply, id, argv, silent, held });
            if blocking {
                // Nothing after a blocking command runs until it is served (as Redis).
                drain(
                    &mut slots,
                    &mut writes,
                    session,
                    shared,
                    &mut output,
                    &mut segment_start,
                    &socket,
                )
                .await;
            }
            if let Some(after) = session.after.take() {
                drain(
                    &mut slots,
                    &mut writes,
                    session,
                    shared,
                    &mut output,
                    &mut segment_start,
                    &socket,
                )
                .await;
                match after {
                    After::Sleep(d) => {
                        socket.write_all(&output).await?;
                        output.clear();
                        tokio::time::sleep(d).await;
                    }
                    After::Close => close = true,
                    After::Shutdown => {
                        close = true;
                        shared.request_shutdown();
                    }
                }
                if close {
                    break;
                }
            }
        }
        drain(&mut slots, &mut writes, session, shared, &mut output, &mut segment_start, &socket)
            .await;
        if !output.is_empty() {
            shared.stats.net_output_bytes.fetch_add(output.len() as u64, Ordering::Relaxed);
            socket.write_all(&output).await?;
            output.clear();
        }
        if close {
            return Ok(());
        }
    }
}

/// A decoded command (or the protocol error that ends the input) and its lookup.
type Decoded = Result<(Vec<Bytes>, Routed), ProtocolError>;

/// Decodes every complete command already read onto `ahead` (after any still queued, so
/// order holds), and loads the keys of the reads among them
/// ([`crate::keyspace::Db::prefetch`]), so a pipeline's reads wait for memory together
/// instead of one by one. Only for an authenticated session: the decoder's limits could
/// change with AUTH halfway through.
fn decode_ahead(
    decoder: &mut Decoder,
    input: &mut BytesMut,
    shared: &Shared,
    session: &Session,
    ahead: &mut VecDeque<Decoded>,
) {
    if !session.authenticated {
        return;
    }
    loop {
        match decoder.next(input) {
            Ok(Some(argv)) => {
                let routed = dispatch::route(&argv);
                ahead.push_back(Ok((argv, routed)));
            }
            Ok(None) => break,
            Err(e) => {
                ahead.push_back(Err(e));
                break;
            }
        }
    }
    let mut keys: Vec<&[u8]> = Vec::new();
    for (argv, routed) in ahead.iter().flatten() {
        if let Routed { resolved: Ok((spec, _, _)) } = routed {
            if spec.is_write() || spec.keys.is_empty() {
                continue;
            }
            // GET key, TTL key ...: the key is the one argument (no list to build).
            match argv.len() {
                2 => keys.extend(argv.get(1).map(|k| &k[..])),
                _ => keys.extend(crate::cmd::keys_of(spec, argv).into_iter().map(|k| &k[..])),
            }
        }
    }
    // A lone key gains nothing from going first (a lone MGET's many do).
    if keys.len() < 2 {
        return;
    }
    if let Some(ks) = shared.keyspace.try_read() {
        ks.db(session.db).prefetch(keys.into_iter());
    }
}

fn limits(shared: &Shared, session: &Session) -> Limits {
    let max = shared.config.proto_max_bulk_len.load(Ordering::Relaxed);
    Limits { max_bulk_len: max.min(i64::MAX as u64) as i64, authenticated: session.authenticated }
}

/// Waits for every slot in order, records stats, and encodes the replies.
async fn drain(
    slots: &mut VecDeque<Slot>,
    writes: &mut Writes,
    session: &mut Session,
    shared: &Arc<Shared>,
    out: &mut BytesMut,
    segment_start: &mut std::time::Instant,
    socket: &TcpStream,
) {
    if slots.is_empty() {
        return;
    }
    writes.flush(shared).await;
    let mut done = Vec::with_capacity(slots.len());
    let mut waited = false;
    while let Some(slot) = slots.pop_front() {
        let mut reply = match slot.reply {
            SlotReply::Ready(r) => r,
            SlotReply::Write => {
                waited = true;
                writes.next_reply().await
            }
        };
        if let Reply::Blocked(blocked) = reply {
            waited = true;
            reply =
                crate::blocking::wait(shared, session, slot.argv.clone(), *blocked, socket).await;
        }
        if !slot.held.is_empty() {
            shared.pubsub.tracking.release(session.info.id, &slot.held);
        }
        done.push((slot.id, slot.argv, slot.silent, reply));
    }
    // One clock read per drained segment: its time is shared evenly by its commands
    // (exact for a lone command, the usual case for a slow one).
    let end = crate::clock::monotonic();
    let segment_us = end.saturating_duration_since(*segment_start).as_micros() as u64;
    *segment_start = end;
    if waited {
        // Later commands of this batch must not run with a clock from before the wait.
        session.now_ms = crate::clock::now_ms();
        session.input_batch += 1;
    }
    let elapsed_us = segment_us / done.len() as u64;
    let threshold = shared.config.slowlog_slower_than_us.load(Ordering::Relaxed);
    let mut local = LocalStats::default();
    for (id, argv, silent, reply) in done {
        local.record(shared, id, elapsed_us, &reply);
        if threshold >= 0 && elapsed_us >= threshold as u64 {
            let max_len = shared.config.slowlog_max_len.load(Ordering::Relaxed) as usize;
            shared.slowlog.record(&argv, elapsed_us, threshold, max_len, &session.info);
        }
        // Pub/sub confirmations are pushes: CLIENT REPLY OFF does not silence them.
        if !silent || matches!(reply, Reply::Push(_)) {
            resp::encode(&reply, session.proto, out);
        }
    }
    local.flush(shared);
}

/// Command counters gathered over one drain and added to the shared ones once: the
/// shared atomics are contended between cores, a pipeline's worth of updates is not.
#[derive(Default)]
struct LocalStats {
    processed: u64,
    /// (command id, calls, usec, failed)
    commands: Vec<(usize, u64, u64, u64)>,
}

impl LocalStats {
    fn record(&mut self, shared: &Shared, id: Option<usize>, elapsed_us: u64, reply: &Reply) {
        self.processed += 1;
        if let Reply::Error(e) = reply {
            if !matches!(e, crate::error::CmdError::Reported(_)) {
                shared.stats.error(e.code());
            }
            // Refused before running (arity, auth): Redis counts these as rejected.
            let rejected = match e {
                crate::error::CmdError::WrongArity(name) => crate::cmd::table().id(name),
                crate::error::CmdError::NoAuth => id,
                _ => None,
            };
            if let Some(cmd) = rejected.and_then(|id| shared.stats.commands.get(id)) {
                cmd.rejected_calls.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let Some(id) = id else { return };
        let failed = u64::from(reply.is_error());
        match self.commands.iter_mut().find(|(c, ..)| *c == id) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += elapsed_us;
                entry.3 += failed;
            }
            None => self.commands.push((id, 1, elapsed_us, failed)),
        }
    }

    fn flush(self, shared: &Shared) {
        let stats = &shared.stats;
        if self.processed > 0 {
            stats.total_commands_processed.fetch_add(self.processed, Ordering::Relaxed);
        }
        for (id, calls, usec, failed) in self.commands {
            if let Some(cmd) = stats.commands.get(id) {
                cmd.calls.fetch_add(calls, Ordering::Relaxed);
                cmd.usec.fetch_add(usec, Ordering::Relaxed);
                if failed > 0 {
                    cmd.failed_calls.fetch_add(failed, Ordering::Relaxed);
                }
            }
        }
    }
}
