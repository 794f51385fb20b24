//! Per-connection state: selected database, protocol, authentication, name, reply mode.
//!
//! The parts other connections must see (CLIENT LIST, CLIENT KILL) live in the shared
//! [`ClientInfo`]; the rest is private to the connection task.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::resp::Proto;

/// `CLIENT REPLY` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
}

/// What the connection does after a session command returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Flush the reply and close (QUIT).
    Close,
    /// Sleep before replying (DEBUG SLEEP).
    Sleep(std::time::Duration),
    /// Flush the reply and stop the server (SHUTDOWN).
    Shutdown,
}

/// A connection's state that other connections can see.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    /// The socket's file descriptor (CLIENT LIST `fd=`), -1 where there is none.
    pub fd: i64,
    pub created_ms: u64,
    /// Mutable fields shown by CLIENT LIST / CLIENT INFO.
    pub view: Mutex<ClientView>,
    /// Set by CLIENT KILL; the connection closes at its next wake-up.
    pub killed: AtomicBool,
    pub kill_notify: Notify,
    /// Unix ms of the last command (for `idle=`).
    pub last_interaction_ms: AtomicU64,
}

/// The CLIENT LIST fields a connection updates as it runs.
#[derive(Debug, Clone)]
pub struct ClientView {
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub db: usize,
    pub resp: u8,
    pub user: String,
    pub last_cmd: String,
    pub no_evict: bool,
    pub no_touch: bool,
    /// Commands queued in MULTI, or -1 outside a transaction.
    pub multi: i64,
}

impl Default for ClientView {
    fn default() -> Self {
        Self {
            name: None,
            lib_name: None,
            lib_ver: None,
            db: 0,
            resp: 2,
            user: "default".into(),
            last_cmd: String::new(),
            no_evict: false,
            no_touch: false,
            multi: -1,
        }
    }
}

/// The raw descriptor of `socket`, for CLIENT LIST.
pub fn raw_fd(socket: &tokio::net::TcpStream) -> i64 {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        i64::from(socket.as_raw_fd())
    }
    #[cfg(not(unix))]
    {
        let _ = socket;
        -1
    }
}

impl ClientInfo {
    /// Marks the client killed and wakes its connection task.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_notify.notify_one();
    }

    /// Whether CLIENT KILL hit this client.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }
}

/// The connection task's own state.
#[derive(Debug)]
pub struct Session {
    pub info: Arc<ClientInfo>,
    pub db: usize,
    pub proto: Proto,
    pub authenticated: bool,
    pub user: String,
    pub reply_mode: ReplyMode,
    pub after: Option<After>,
    /// The wall clock when the current batch of input was read: one clock read per batch,
    /// not per command (clock reads are not free on every machine).
    pub now_ms: u64,
    /// Counts batches of input; a read barrier passed after a batch arrived covers every
    /// read in it (on a shard's leader, one read-index round per pipeline, not per read).
    pub input_batch: u64,
    /// The input batch whose reads a read barrier already covers.
    pub fenced_batch: u64,
    /// Commands queued since MULTI (`None` outside a transaction).
    pub multi: Option<Vec<Vec<bytes::Bytes>>>,
    /// A command was refused while queueing: EXEC will answer EXECABORT.
    pub multi_failed: bool,
    /// Keys WATCHed, with the version each had when watched.
    pub watched: Vec<crate::entry::Watched>,
    /// Client-side caching (CLIENT TRACKING / CACHING) as this connection set it.
    pub tracking: crate::tracking::SessionTracking,
    /// READONLY was sent (cluster mode): the client accepts reads served by a replica
    /// from its own state. READWRITE and RESET clear it.
    pub readonly: bool,
    /// Flags of the scripts this connection ran by EVALSHA.
    pub script_flags: crate::script::KnownFlags,
}

impl Session {
    /// A fresh session; `authenticated` is false when a password is required.
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Self {
        Self {
            info,
            db: 0,
            proto: Proto::Resp2,
            authenticated,
            user: "default".into(),
            reply_mode: ReplyMode::On,
            after: None,
            now_ms: crate::clock::now_ms(),
            input_batch: 1,
            fenced_batch: 0,
            multi: None,
            multi_failed: false,
            watched: Vec::new(),
            tracking: Default::default(),
            readonly: false,
            script_flags: Default::default(),
        }
    }

    /// Publishes the fields CLIENT LIST shows.
    pub fn sync_view(&self) {
        let mut v = self.info.view.lock();
        v.db = self.db;
        v.resp = if self.proto == Proto::Resp3 { 3 } else { 2 };
        v.user.clone_from(&self.user);
    }
}
