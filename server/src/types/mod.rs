//! Value types with their own encodings, as pure data structures: no keyspace, no
//! protocol, no clock.

pub mod hash;
pub mod hll;
pub mod list;
pub mod set;
pub mod stream;
pub mod zset;

/// Spare room a packed collection's buffer may keep after a change.
const PACKED_SPARE_ROOM: usize = 32;

/// Gives back a packed buffer's spare room once it passes [`PACKED_SPARE_ROOM`], as a
/// listpack is reallocated to its size on every change.
fn give_back_room(buf: &mut Vec<u8>) {
    if buf.capacity() - buf.len() > PACKED_SPARE_ROOM {
        buf.shrink_to_fit();
    }
}
