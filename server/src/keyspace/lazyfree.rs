//! Frees big values on a background thread, so apply does not pay for tearing down a
//! large collection or document (Redis's lazyfree): the apply thread is the one every
//! write waits for. Dropping a value changes no state, so where it happens does not
//! matter to determinism.

use std::sync::mpsc::{self, Sender};
use std::sync::OnceLock;

use super::{Db, Value};

/// Something whose drop is worth a trip to the freeing thread.
type Garbage = Box<dyn Send>;

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
                .spawn(move || rx.into_iter().for_each(drop))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

fn is_big(value: &Value) -> bool {
    match value {
        Value::Str(_) => false,
        Value::Json(_) => true,
        Value::List(v) => v.len() >= LAZY_MIN_ELEMENTS,
        Value::Hash(v) => v.len() >= LAZY_MIN_ELEMENTS,
        Value::Set(v) => v.len() >= LAZY_MIN_ELEMENTS,
        Value::ZSet(v) => v.len() >= LAZY_MIN_ELEMENTS,
        Value::Stream(v) => v.len() >= LAZY_MIN_ELEMENTS,
    }
}

/// Drops `value`, on the freeing thread if it is big.
pub fn drop_value(value: Value) {
    if is_big(&value) {
        if let Some(tx) = freer() {
            // A send fails only if the thread is gone; then the value comes back and is
            // dropped here.
            if let Err(mpsc::SendError(garbage)) = tx.send(Box::new(value)) {
                drop(garbage);
            }
            return;
        }
    }
    drop(value);
}

/// Drops a whole database (FLUSHDB / FLUSHALL) on the freeing thread.
pub fn drop_db(db: Db) {
    if db.is_empty() {
        return;
    }
    match freer() {
        Some(tx) => {
            if let Err(mpsc::SendError(garbage)) = tx.send(Box::new(db)) {
                drop(garbage);
            }
        }
        None => drop(db),
    }
}
