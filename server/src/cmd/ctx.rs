//! The contexts handlers run in: `ApplyCtx` (writes, on the apply thread, deterministic),
//! `ReadCtx` (reads, under the keyspace read guard) and `SessionCtx` (connection and
//! server commands, no keyspace guard held).

use std::sync::Arc;

use crate::keyspace::{Db, DbMut, Keyspace};
use crate::rng::Rng;
use crate::session::Session;
use crate::state::Shared;

/// What a write's `apply` may touch. Everything here is the same on every replica.
pub struct ApplyCtx<'a> {
    /// All databases.
    pub ks: &'a mut Keyspace,
    /// The database the client had selected when it proposed the write.
    pub db: usize,
    /// The leader's clock at proposal time: the only "now" apply may use.
    pub now_ms: u64,
    /// Seed for the only randomness apply may use (derived from the log index).
    pub seed: u64,
    /// The entry's log index.
    pub index: u64,
    /// `proto-max-bulk-len`, the largest string a command may build.
    pub max_bulk_len: u64,
    /// `hll-sparse-max-bytes`, where a sparse HyperLogLog turns dense.
    pub hll_sparse_max_bytes: u64,
    /// `stream-node-max-entries` / `stream-node-max-bytes`: where approximate trimming
    /// cuts a stream.
    pub stream_node_max_entries: u64,
    pub stream_node_max_bytes: u64,
    /// Whether a blocking command may return `Reply::Blocked` (false inside MULTI/EXEC).
    pub may_block: bool,
    /// The server, for what scripts read through `redis.call` (config); unset in tests
    /// that apply entries without one.
    pub shared: Option<&'a Arc<Shared>>,
    /// The command runs inside a script (SORT then orders a set even BY a constant).
    pub in_script: bool,
}

impl ApplyCtx<'_> {
    /// The selected database, for writing.
    pub fn db(&mut self) -> DbMut<'_> {
        self.ks.db_mut(self.db)
    }

    /// A generator whose sequence depends only on the entry.
    pub fn rng(&self) -> Rng {
        Rng::new(self.seed)
    }
}

/// What a read may touch.
pub struct ReadCtx<'a> {
    /// All databases (read guard held by the caller).
    pub ks: &'a Keyspace,
    /// The selected database.
    pub db: usize,
    /// The reader's clock, used to hide expired keys.
    pub now_ms: u64,
    /// Server-wide state (config, stats).
    pub shared: &'a Arc<Shared>,
    /// Whether a blocking command may return `Reply::Blocked` (false inside MULTI/EXEC).
    pub may_block: bool,
    /// Where random reads (SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY) draw from:
    /// set inside a script that runs in apply, whose later writes may depend on the
    /// draw; `None` elsewhere (any draw will do).
    pub seed: Option<u64>,
    /// The command runs inside a script (see `ApplyCtx::in_script`).
    pub in_script: bool,
}

impl ReadCtx<'_> {
    /// The selected database.
    pub fn db(&self) -> &Db {
        self.ks.db(self.db)
    }

    /// The generator random reads use (see `seed`).
    pub fn rng(&self) -> Rng {
        match self.seed {
            Some(seed) => Rng::new(seed),
            None => {
                // Calls within the same microsecond must still differ.
                static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Rng::new(crate::clock::now_us() ^ calls.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            }
        }
    }
}

/// What a connection/server command may touch.
pub struct SessionCtx<'a> {
    /// This connection's state.
    pub session: &'a mut Session,
    /// Server-wide state.
    pub shared: &'a Arc<Shared>,
}
