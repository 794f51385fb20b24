//! RESP: the request parser (RESP2 multibulk and inline commands) and the reply encoder
//! (RESP2 and RESP3). Clients always send arrays of bulk strings, even over RESP3, so the
//! decoder only needs the request shapes; the encoder covers every reply type.

pub mod decode;
pub mod encode;

pub use decode::{Decoder, Limits, ProtocolError};
pub use encode::{encode, Proto};
