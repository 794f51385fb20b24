//! Frees big values on a background thread, so apply does not pay for tearing down a
//! large collection (Redis's lazyfree): the apply thread is the one every
//! write waits for. Dropping a value changes no state, so where it happens does not
//! matter to determinism.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::OnceLock;

use super::{Db, Value};

/// Something whose drop is worth a trip to the freeing thread, and how many objects it
/// counts as in INFO (one value; a database's keys; a flushed library set's functions).
type Garbage = (Box<dyn Send>, u64);

/// INFO's `lazyfree_pending_objects`: sent to the freeing thread, not yet dropped.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// INFO's `lazyfreed_objects`: dropped by the freeing thread since the last RESETSTAT.
static FREED: AtomicU64 = AtomicU64::new(0);

/// (pending, freed) objects for INFO.
pub fn stats() -> (u64, u64) {
    (PENDING.load(Ordering::Relaxed), FREED.load(Ordering::Relaxed))
}

/// CONFIG RESETSTAT (Redis resets the freed count only).
pub fn reset_stats() {
    FREED.store(0, Ordering::Relaxed);
}

/// Collections with fewer elements than this are freed in place: sending them costs
/// about as much as freeing them.
const LAZY_MIN_ELEMENTS: usize = 64;

fn freer() -> Option<&'static Sender<Garbage>> {
    static FREER: OnceLock<Option<Sender<Garbage>>> = OnceLock::new();
    FREER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Garbage>();
            std::thread::Builder::new()
                .name("engram-lazyfree".into())
                .spawn(move || {
                    for (garbage, objects) in rx {
                        drop(garbage);
                        PENDING.fetch_sub(objects, Ordering::Relaxed);
                        FREED.fetch_add(objects, Ordering::Relaxed);
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

fn is_big(value: &Value) -> bool {
    match value {
        Value::Str(_) => false,
        // One allocation (see engram_json's stored form); RedisJSON gives Redis no free
        // effort either, so Redis frees documents in place and does not count them.
        Value::Json(_) => false,
        Value::List(v) => v.len() >= LAZY_MIN_ELEMENTS,
        Value::Hash(v) => v.len() >= LAZY_MIN_ELEMENTS,
        Value::Set(v) => v.len() >= LAZY_MIN_ELEMENTS,
        Value::ZSet(v) => v.len() >= LAZY_MIN_ELEMENTS,
        Value::Stream(v) => v.len() >= LAZY_MIN_ELEMENTS,
    }
}

/// Drops `garbage` on the freeing thread, or here if there is none.
pub fn drop_later(garbage: Box<dyn Send>, objects: u64) {
    let Some(tx) = freer() else { return drop(garbage) };
    PENDING.fetch_add(objects, Ordering::Relaxed);
    // A send fails only if the thread is gone; then the garbage comes back and is
    // dropped here.
    if let Err(mpsc::SendError((garbage, objects))) = tx.send((garbage, objects)) {
        PENDING.fetch_sub(objects, Ordering::Relaxed);
        drop(garbage);
    }
}

/// Drops `value`, on the freeing thread if it is big.
pub fn drop_value(value: Value) {
    if is_big(&value) {
        drop_later(Box::new(value), 1);
    } else {
        drop(value);
    }
}

/// Drops a whole database (FLUSHDB / FLUSHALL) on the freeing thread, always. Its keys
/// count as lazily freed objects only when Redis would free them lazily (`counted`): an
/// asynchronous flush, or a synchronous one from a client that may block (Redis 7.4 runs
/// those as a blocking asynchronous flush), not one inside MULTI or a script.
pub fn drop_db(db: Db, counted: bool) {
    if db.is_empty() {
        return;
    }
    let keys = if counted { db.len() as u64 } else { 0 };
    drop_later(Box::new(db), keys);
}
