//! The gate every command passes (ARCHITECTURE.md §2.3/§2.4): lookup, arity, auth, then
//! read / write / session routing. Writes are checked (fully parsed) and proposed to the
//! log; their reply arrives when the entry is applied.

use std::sync::Arc;

use bytes::Bytes;

use crate::cmd::{self, transactions, Args, CommandSpec, Exec, Flags, ReadCtx, SessionCtx};
use crate::entry::Request;
use crate::error::CmdError;
use crate::reply::Reply;
use crate::session::Session;
use crate::state::Shared;

/// The result of dispatching one command.
pub enum Outcome {
    /// The reply is ready.
    Ready(Reply),
    /// A checked write for the caller to propose (connections batch a pipeline's writes
    /// into one proposal); the reply comes when its entry is applied.
    Write(Request),
}

/// A command looked up once, before it runs: connections use `is_write` to order reads
/// after in-flight writes, and the lookup result is reused by [`dispatch`].
pub struct Routed {
    /// The spec, stats id and number of name arguments, or the lookup/arity error.
    pub resolved: Result<(&'static CommandSpec, usize, usize), CmdError>,
}

impl Routed {
    /// Stats id, if the command was found.
    pub fn id(&self) -> Option<usize> {
        self.resolved.as_ref().ok().map(|(_, id, _)| *id)
    }

    /// Whether the command may block the connection (BLPOP, XREAD ...).
    pub fn is_blocking(&self) -> bool {
        self.resolved.as_ref().is_ok_and(|(spec, _, _)| spec.flags.has(Flags::BLOCKING))
    }

    /// Whether the command goes through the log.
    pub fn is_write(&self) -> bool {
        self.resolved.as_ref().is_ok_and(|(spec, _, _)| spec.is_write())
    }
}

/// Looks the command up (name, subcommand, arity).
pub fn route(argv: &[Bytes]) -> Routed {
    Routed { resolved: cmd::resolve(argv) }
}

/// Runs the gate and the command.
pub async fn dispatch(
    shared: &Arc<Shared>,
    session: &mut Session,
    argv: &[Bytes],
    routed: Routed,
) -> Outcome {
    let resolved = match routed.resolved {
        Ok(r) => r,
        Err(e) => {
            // An unknown command or bad arity while queueing dooms the transaction.
            if session.multi.is_some() {
                session.multi_failed = true;
            }
            return Outcome::Ready(Reply::Error(e));
        }
    };
    match gate(shared, session, argv, resolved).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Ready(Reply::Error(e)),
    }
}

/// Keys the read touched that are past their deadline but still stored. Only computed
/// when the database has keys with a TTL at all, so plain reads pay nothing.
fn stale_keys(
    ks: &crate::keyspace::Keyspace,
    db: usize,
    spec: &CommandSpec,
    argv: &[Bytes],
    now_ms: u64,
) -> Vec<Bytes> {
    let db = ks.db(db);
    if db.volatile_len() == 0 {
        return Vec::new();
    }
    cmd::keys_of(spec, argv).into_iter().filter(|k| db.is_stale(k, now_ms)).cloned().collect()
}

/// Lazy expiry, as a Redis primary does on access: but here the deletion is a log entry
/// (DESIGN.md invariant 4), proposed by the leader with the read's clock. Waiting for it
/// keeps DBSIZE and the next command consistent with what this read saw.
async fn expire_lazily(shared: &Arc<Shared>, db: usize, now_ms: u64, keys: Vec<Bytes>) {
    let request = Request::Expire { db: db as u32, now_ms, keys };
    if let Ok(rx) = shared.log.propose(request).await {
        let _ = rx.await;
    }
}

/// Copies a write's arguments into one exact-size buffer. Arguments are slices of the
/// connection's read buffer, and whatever a write stores (keys, members) would otherwise
/// keep that whole buffer alive: a 16-byte key could pin 16 KiB. Bulks the decoder already
/// gave a buffer of their own (large values) are kept as they are.
pub fn compact(argv: &[Bytes]) -> Vec<Bytes> {
    const OWN_BUFFER: usize = 32 * 1024;
    let small: usize = argv.iter().filter(|a| a.len() < OWN_BUFFER).map(|a| a.len()).sum();
    let mut buf = bytes::BytesMut::with_capacity(small);
    for a in argv.iter().filter(|a| a.len() < OWN_BUFFER) {
        buf.extend_from_slice(a);
    }
    let mut shared = buf.freeze();
    argv.iter()
        .map(|a| if a.len() < OWN_BUFFER { shared.split_to(a.len()) } else { a.clone() })
        .collect()
}

/// Whether writes are refused for lack of replicas, as a Redis primary refuses them
/// (`min-replicas-to-write` set and `min-replicas-max-lag` not 0): members that have
/// acknowledged the log count as good replicas (INFO's `min_slaves_good_slaves`); a single
/// node has none.
pub(crate) fn too_few_replicas(shared: &Shared) -> bool {
    let wanted = shared.config.min_replicas_to_write.load(std::sync::atomic::Ordering::Relaxed);
    if wanted == 0
        || shared.config.min_replicas_max_lag.load(std::sync::atomic::Ordering::Relaxed) == 0
    {
        return false;
    }
    let good = shared.log.shard().map_or(0, |view| {
        view.members.iter().filter(|m| m.id != view.me && m.matched.is_some()).count()
    });
    (good as u64) < wanted
}

/// Whether `maxmemory` is set and allocated memory exceeds it (policy `noeviction`:
/// commands that may grow memory are refused; eviction is not implemented).
pub(crate) fn over_maxmemory(shared: &Shared) -> bool {
    let max = shared.config.maxmemory.load(std::sync::atomic::Ordering::Relaxed);
    max != 0 && crate::state::allocated_bytes() > max
}

/// On a member of a replicated shard: writes only on the leader (`-READONLY`, or
/// `-MOVED` in cluster mode), key reads on a replica only after READONLY in cluster mode,
/// and reads on the leader only once it has confirmed it still leads and applied
/// everything acknowledged before the read arrived (one confirmation per input batch).
async fn shard_gate(
    shared: &Arc<Shared>,
    session: &mut Session,
    spec: &'static CommandSpec,
    argv: &[Bytes],
) -> Result<(), CmdError> {
    // Only consulted when redirecting: a config lookup per command would cost the hot path.
    let cluster = || shared.config.get("cluster-enabled").as_deref() == Some("yes");
    let moved = |leader: Option<String>| -> CmdError {
        let slot = cmd::keys_of(spec, argv).first().map_or(0, |k| crate::cluster::key_slot(k));
        match leader {
            Some(addr) => CmdError::Custom(format!("MOVED {slot} {addr}")),
            None => CmdError::Custom("CLUSTERDOWN The cluster is down".into()),
        }
    };
    if spec.name == "kill" && spec.group == cmd::Group::Scripting && shared.log.writable().is_err()
    {
        // A replica runs the leader's scripts in apply: only the leader may decide to
        // stop one (its decision reaches the replicas through the log).
        return Err(CmdError::Custom(
            "ERR scripts run on every replica of the shard: send SCRIPT KILL / FUNCTION KILL to the primary"
                .into(),
        ));
    }
    let exec = spec.name == "exec" && spec.group == cmd::Group::Transactions;
    if exec {
        // A transaction of reads only runs where it is sent, as a read; one with writes
        // is proposed, and refused if this node no longer leads (its writes were
        // checked as they were queued).
        let writes = session.multi.as_ref().is_some_and(|queued| {
            queued.iter().any(|argv| cmd::resolve(argv).is_ok_and(|(s, _, _)| s.is_write()))
        });
        if writes {
            return Ok(());
        }
    }
    if spec.is_write() {
        return match shared.log.writable() {
            Err(engram_log::LogError::Poisoned(reason)) => Err(CmdError::LogPoisoned(reason)),
            Err(engram_log::LogError::NotLeader(leader)) => {
                // As Redis: a write queued in MULTI on a replica is refused at once and
                // the transaction fails at EXEC.
                if session.multi.is_some() {
                    session.multi_failed = true;
                }
                if cluster() {
                    Err(moved(leader))
                } else {
                    Err(CmdError::Custom(crate::fsm::READONLY_REPLICA.into()))
                }
            }
            _ => Ok(()),
        };
    }
    if !matches!(spec.exec, Exec::Read(_)) && !exec {
        return Ok(());
    }
    match shared.log.writable() {
        Err(engram_log::LogError::NotLeader(leader)) => {
            if !session.readonly && !cmd::keys_of(spec, argv).is_empty() && cluster() {
                return Err(moved(leader));
            }
            Ok(())
        }
        _ if session.fenced_batch == session.input_batch => Ok(()),
        _ => {
            let batch = session.input_batch;
            match shared.log.read_barrier().await {
                Ok(()) => {
                    session.fenced_batch = batch;
                    Ok(())
                }
                Err(engram_log::LogError::NotLeader(leader)) if cluster() => Err(moved(leader)),
                Err(engram_log::LogError::NotLeader(_)) => Err(CmdError::Custom(
                    "TRYAGAIN this node lost the leadership during the read".into(),
                )),
                Err(e) => Err(CmdError::Custom(format!("ERR {e}"))),
            }
        }
    }
}

async fn gate(
    shared: &Arc<Shared>,
    session: &mut Session,
    argv: &[Bytes],
    (spec, _, skip): (&'static CommandSpec, usize, usize),
) -> Result<Outcome, CmdError> {
    if !session.authenticated && !spec.flags.has(Flags::NO_AUTH) {
        return Err(CmdError::NoAuth);
    }
    if !spec.flags.has(Flags::LOADING) && shared.log.is_loading() {
        return Err(CmdError::Loading);
    }
    if !spec.flags.has(Flags::ALLOW_BUSY) {
        if let Some(is_function) = shared.scripts.busy() {
            let busy = crate::script::runtime::ScriptRuntime::busy_error(is_function);
            return Err(transactions::rejected(session, spec, busy));
        }
    }
    // After the -BUSY check: a read barrier on the leader waits for apply, which a busy
    // script holds.
    if shared.log.is_replicated() {
        shard_gate(shared, session, spec, argv).await?;
    }
    if let Some(reply) = crate::pubsub::gate(&shared.pubsub, session, spec, argv) {
        return Ok(Outcome::Ready(reply));
    }
    if spec.flags.has(Flags::DENYOOM) && over_maxmemory(shared) {
        if session.multi.is_some() {
            session.multi_failed = true;
        }
        return Err(CmdError::Oom);
    }
    if spec.flags.has(Flags::WRITE) && too_few_replicas(shared) {
        return Err(transactions::rejected(session, spec, CmdError::NoReplicas));
    }
    if session.multi.is_some() && !transactions::runs_inside_multi(spec.name) {
        return Ok(Outcome::Ready(transactions::queue(session, spec, compact(argv))?));
    }
    if spec.name == "save" && spec.group == crate::cmd::Group::Server {
        return Ok(Outcome::Ready(crate::cmd::server::save(shared).await?));
    }
    if spec.group == cmd::Group::Server && matches!(spec.name, "replicaof" | "slaveof") {
        return Ok(Outcome::Ready(crate::shard::replicaof(shared, argv).await?));
    }
    if spec.group == cmd::Group::Cluster && matches!(spec.name, "meet" | "forget" | "failover") {
        return Ok(Outcome::Ready(crate::shard::membership(shared, spec.name, argv).await?));
    }
    if shared.log.is_replicated() && (spec.name == "wait" || spec.name == "waitaof") {
        return Ok(Outcome::Ready(
            crate::shard::wait_replicas(shared, argv, spec.name == "waitaof").await?,
        ));
    }
    if spec.name == "exec" && spec.group == crate::cmd::Group::Transactions {
        // Redis counts EXEC as a write when it queued one: refused as a write would be,
        // even if replicas went missing after the commands were queued.
        // (Replicas are checked first: resolving every queued command is not free.)
        if too_few_replicas(shared)
            && session.multi.iter().flatten().any(|argv| {
                cmd::resolve(argv).is_ok_and(|(queued, _, _)| queued.flags.has(Flags::WRITE))
            })
        {
            return Err(transactions::rejected(session, spec, CmdError::NoReplicas));
        }
        return Ok(Outcome::Ready(transactions::exec(shared, session).await?));
    }
    match spec.exec {
        Exec::Session(f) => {
            let mut cx = SessionCtx { session, shared };
            Ok(Outcome::Ready(f(&mut Args::new(&argv[skip..]), &mut cx)?))
        }
        Exec::Read(f) => {
            let now_ms = session.now_ms;
            let (reply, stale) = {
                let ks = shared.read_keyspace()?;
                let cx = ReadCtx {
                    ks: &ks,
                    db: session.db,
                    now_ms,
                    shared,
                    may_block: true,
                    seed: None,
                    in_script: false,
                };
                let reply = f(&mut Args::new(&argv[skip..]), &cx);
                (reply, stale_keys(&ks, session.db, spec, argv, now_ms))
            };
            if !stale.is_empty() {
                expire_lazily(shared, session.db, now_ms, stale).await;
            }
            Ok(Outcome::Ready(reply?))
        }
        Exec::Write(fns) => {
            // Syntax errors never reach the log. EVAL, EVALSHA and FCALL are parsed (and
            // so checked) by `route`, once.
            let routed = spec.group == crate::cmd::Group::Scripting
                && matches!(spec.name, "eval" | "evalsha" | "fcall");
            if !routed {
                (fns.check)(&mut Args::new(&argv[skip..]))?;
            }
            if spec.group == crate::cmd::Group::Scripting {
                if let Some(reply) = cmd::scripting::route(shared, session, spec, argv, skip)? {
                    return Ok(Outcome::Ready(reply));
                }
            }
            let now_ms = session.now_ms;
            Ok(Outcome::Write(Request::Write {
                db: session.db as u32,
                now_ms,
                argv: compact(argv),
            }))
        }
        Exec::Container => Err(CmdError::Internal),
    }
}
