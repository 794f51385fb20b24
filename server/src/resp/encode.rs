//! Reply encoder: the one place where RESP2 and RESP3 differ.

use bytes::{BufMut, BytesMut};

use crate::reply::{format_double, Reply};

/// The protocol a connection speaks (chosen by `HELLO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    /// RESP2, the default.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// Appends `reply` to `out` in `proto`.
pub fn encode(reply: &Reply, proto: Proto, out: &mut BytesMut) {
    match reply {
        Reply::Status(s) => line(out, b'+', s.as_bytes()),
        Reply::Error(e) => line(out, b'-', &sanitize(&e.wire_text())),
        Reply::Int(n) => int_line(out, b':', *n as i128),
        Reply::Bulk(b) => bulk(out, b),
        Reply::Null => match proto {
            Proto::Resp2 => out.put_slice(b"$-1\r\n"),
            Proto::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::NullArray => match proto {
            Proto::Resp2 => out.put_slice(b"*-1\r\n"),
            Proto::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::Array(items) => {
            int_line(out, b'*', items.len() as i128);
            for r in items {
                encode(r, proto, out);
            }
        }
        Reply::Set(items) => {
            let tag = if proto == Proto::Resp3 { b'~' } else { b'*' };
            int_line(out, tag, items.len() as i128);
            for r in items {
                encode(r, proto, out);
            }
        }
        Reply::Pairs(pairs) => {
            match proto {
                Proto::Resp3 => int_line(out, b'*', pairs.len() as i128),
                Proto::Resp2 => int_line(out, b'*', 2 * pairs.len() as i128),
            }
            for (a, b) in pairs {
                if proto == Proto::Resp3 {
                    out.put_slice(b"*2\r\n");
                }
                encode(a, proto, out);
                encode(b, proto, out);
            }
        }
        Reply::KeyedArrays(pairs) => {
            match proto {
                Proto::Resp3 => int_line(out, b'%', pairs.len() as i128),
                Proto::Resp2 => int_line(out, b'*', pairs.len() as i128),
            }
            for (k, v) in pairs {
                if proto == Proto::Resp2 {
                    out.put_slice(b"*2\r\n");
                }
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        // A push of pushes is a sequence of frames: SUBSCRIBE a b answers one per channel.
        Reply::Push(items) if matches!(items.first(), Some(Reply::Push(_))) => {
            for r in items {
                encode(r, proto, out);
            }
        }
        Reply::Push(items) => {
            let tag = if proto == Proto::Resp3 { b'>' } else { b'*' };
            int_line(out, tag, items.len() as i128);
            for r in items {
                encode(r, proto, out);
            }
        }
        Reply::Map(pairs) => {
            match proto {
                Proto::Resp3 => int_line(out, b'%', pairs.len() as i128),
                Proto::Resp2 => int_line(out, b'*', 2 * pairs.len() as i128),
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Double(d) => {
            let text = format_double(*d);
            match proto {
                Proto::Resp3 => line(out, b',', text.as_bytes()),
                Proto::Resp2 => bulk(out, text.as_bytes()),
            }
        }
        Reply::DoubleText(text) => match proto {
            Proto::Resp3 => line(out, b',', text.as_bytes()),
            Proto::Resp2 => bulk(out, text.as_bytes()),
        },
        Reply::Bool(b) => match proto {
            Proto::Resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Proto::Resp2 => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        },
        Reply::Blocked(blocked) => encode(&blocked.on_timeout, proto, out),
        Reply::PerProto(both) => match proto {
            Proto::Resp2 => encode(&both.0, proto, out),
            Proto::Resp3 => encode(&both.1, proto, out),
        },
        Reply::BigNumber(digits) => match proto {
            Proto::Resp3 => line(out, b'(', digits),
            Proto::Resp2 => bulk(out, digits),
        },
        Reply::Verbatim(text) => match proto {
            Proto::Resp3 => {
                int_line(out, b'=', text.len() as i128 + 4);
                out.put_slice(b"txt:");
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Proto::Resp2 => bulk(out, text),
        },
    }
}

fn line(out: &mut BytesMut, tag: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(tag);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn int_line(out: &mut BytesMut, tag: u8, n: i128) {
    let mut buf = itoa::Buffer::new();
    line(out, tag, buf.format(n).as_bytes());
}

fn bulk(out: &mut BytesMut, b: &[u8]) {
    int_line(out, b'$', b.len() as i128);
    out.reserve(b.len() + 2);
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

/// User text inside an error must not break framing.
fn sanitize(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if text.iter().any(|&c| c == b'\r' || c == b'\n') {
        text.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }).collect()
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CmdError;
    use bytes::Bytes;

    fn enc(r: &Reply, p: Proto) -> String {
        let mut out = BytesMut::new();
        encode(r, p, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn null_and_map_differ_by_protocol() {
        assert_eq!(enc(&Reply::Null, Proto::Resp2), "$-1\r\n");
        assert_eq!(enc(&Reply::NullArray, Proto::Resp2), "*-1\r\n");
        assert_eq!(enc(&Reply::Null, Proto::Resp3), "_\r\n");
        let m = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(enc(&m, Proto::Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, Proto::Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Proto::Resp3), ",1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Proto::Resp2), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::DoubleText("1.50".into()), Proto::Resp3), ",1.50\r\n");
        assert_eq!(enc(&Reply::DoubleText("1.50".into()), Proto::Resp2), "$4\r\n1.50\r\n");
    }

    #[test]
    fn error_text_cannot_break_framing() {
        let e = Reply::Error(CmdError::Custom("ERR bad\r\nthing".into()));
        assert_eq!(enc(&e, Proto::Resp2), "-ERR bad  thing\r\n");
        assert_eq!(
            enc(&Reply::Bulk(Bytes::from_static(b"a\r\n")), Proto::Resp2),
            "$3\r\na\r\n\r\n"
        );
    }
}
