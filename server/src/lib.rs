//! engram-server: a Redis-compatible server whose every write passes through a log.
//!
//! A tour, following a command:
//! - [`net`] accepts connections; each connection task parses RESP ([`resp`]) and keeps
//!   replies in request order.
//! - [`dispatch`] is the gate: [`cmd`] lookup and arity, auth, then a read runs against
//!   the [`keyspace`] under a read guard, a session command against [`session`] and
//!   [`state`], and a write is fully parsed, stamped into an [`entry::Request`] and
//!   proposed to the log (`engram-log`).
//! - [`fsm`] applies committed entries in log order on the apply thread: the command's
//!   `apply` mutates the keyspace through `DbMut`, which records key events for the
//!   observers; the reply goes back to the waiting connection.
//! - [`expire`] is the leader's active expiry, itself a writer through the log.
//!
//! Invariants (DESIGN.md): a write's reply is sent only after its entry is applied; apply
//! reads no clock and no ambient randomness ([`clock`] is the only wall-clock reader); bad
//! input gets Redis's error and changes nothing.

pub mod blocking;
pub mod clock;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod dispatch;
pub mod entry;
pub mod error;
pub mod expire;
pub mod fsm;
pub mod glob;
pub mod keyspace;
pub mod net;
pub mod notify;
pub mod pubsub;
pub mod reply;
pub mod resp;
pub mod rewrite;
pub mod rng;
pub mod script;
pub mod search;
pub mod session;
pub mod shard;
pub mod snapshot;
pub mod state;
pub mod tracking;
pub mod types;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::ConfigStore;
use crate::error::EngineError;
use crate::fsm::Fsm;
use crate::keyspace::Keyspace;
use crate::state::Shared;

/// Engram's own version (INFO `engram_version`).
pub const ENGRAM_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version we are compatible with; clients gate features on it.
pub const REDIS_VERSION: &str = "7.4.0";

/// A running server.
pub struct ServerHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its shared state (tests inspect it).
    pub shared: Arc<Shared>,
    stopped: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// Waits until the server has stopped (SHUTDOWN, a signal, or [`ServerHandle::stop`]).
    pub async fn wait(self) {
        let _ = self.stopped.await;
    }

    /// Asks the server to stop and waits for it.
    pub async fn stop(self) {
        self.shared.request_shutdown();
        self.wait().await;
    }
}

/// Starts a server with `config` on the current tokio runtime.
pub async fn start(config: ConfigStore) -> Result<ServerHandle, EngineError> {
    let dir = config.get("dir").unwrap_or_else(|| "./data".into());
    std::fs::create_dir_all(&dir)?;
    let databases = config.get_i64("databases").max(1) as usize;
    let keyspace = Arc::new(RwLock::new(Keyspace::new(databases)));
    let stats = Shared::new_stats();
    let config = Arc::new(config);
    let blocked = Arc::new(blocking::BlockedClients::default());
    let mut fsm = Fsm::new(keyspace.clone(), Some(stats.clone()), config.clone());
    fsm.add_observer(Box::new(blocking::BlockingObserver(blocked.clone())));
    let pubsub = Arc::new(pubsub::PubSub::default());
    fsm.add_observer(Box::new(notify::Notifier::new(pubsub.clone(), config.clone())));
    fsm.add_observer(Box::new(tracking::Invalidator::new(pubsub.clone(), config.clone())));
    fsm.set_aborted(script::runtime::load_aborted(std::path::Path::new(&dir)));
    let fsm_shared = fsm.shared_slot();
    let options = engram_log::LogOptions {
        dir: Some(dir.clone().into()),
        durability: state::log_durability(&config),
        snapshot_log_bytes: config.get_i64("snapshot-log-bytes").max(0) as u64,
        ..Default::default()
    };
    let bind = config.get("bind").unwrap_or_else(|| "127.0.0.1".into());
    let port = config.get_i64("port");
    let host = bind.split_whitespace().next().unwrap_or("127.0.0.1").to_string();
    let listener = tokio::net::TcpListener::bind((host.as_str(), port as u16)).await?;
    let addr = listener.local_addr()?;
    let shard = shard::shard_options(&config, &dir, addr.port())
        .map_err(|e| EngineError::Io(std::io::Error::other(e)))?;
    let log = match &shard {
        Some(_) => engram_log::Log::replicated(fsm, options),
        None => engram_log::Log::open(fsm, options),
    };
    let scripts = Arc::new(script::runtime::ScriptRuntime::new(Some(dir.clone().into()), 5000));
    let mut shard = shard;
    if let Some(options) = &mut shard {
        options.on_append = Some(shard::script_abort_hook(scripts.clone()));
    }
    let shared =
        Arc::new(Shared { pubsub, scripts, ..Shared::new(config, keyspace, log, stats, blocked) });
    let _ = fsm_shared.set(Arc::downgrade(&shared));
    shared.port.store(u64::from(addr.port()), Ordering::Relaxed);
    tracing::info!(%addr, dir, "engram-server listening; loading the data directory");
    // Recovery runs while the listener answers -LOADING (as Redis while it loads): a big
    // log must not look like a dead server to health checks.
    let recovering = shared.log.clone();
    match shard {
        Some(options) => {
            tokio::spawn(shard::announce_aborted_scripts(shared.clone()));
            tokio::spawn(async move {
                match recovering.start_shard(options).await {
                    Ok(()) => tracing::info!("engram-server ready to accept connections"),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot join the shard");
                        eprintln!("engram-server: cannot join the shard: {e}");
                        std::process::exit(1);
                    }
                }
            });
        }
        None => {
            tokio::task::spawn_blocking(move || match recovering.recover() {
                Ok(()) => tracing::info!("engram-server ready to accept connections"),
                Err(e) => {
                    tracing::error!(error = %e, "cannot load the data directory");
                    eprintln!("engram-server: cannot load the data directory: {e}");
                    std::process::exit(1);
                }
            });
        }
    }
    tokio::spawn(expire::run(shared.clone()));
    search::backfill::spawn(&shared.keyspace);
    tokio::spawn(tracking::run(shared.clone()));
    let serve_shared = shared.clone();
    let stopped = tokio::spawn(async move {
        net::serve(listener, serve_shared.clone()).await;
        // Whatever is buffered (durability none) reaches the disk before we exit.
        let log = serve_shared.log.clone();
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
    });
    Ok(ServerHandle { addr, shared, stopped })
}
