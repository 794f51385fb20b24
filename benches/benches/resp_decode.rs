//! RESP request parsing throughput: pipelined SETs fed as 64 KiB socket reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engram_server::resp::Decoder;

fn pipelined_sets(value_len: usize, count: usize) -> Vec<u8> {
    let value = "x".repeat(value_len);
    let mut wire = Vec::new();
    for i in 0..count {
        let key = format!("key:{i:012}");
        wire.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .as_bytes(),
        );
    }
    wire
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("resp_decode");
    for value_len in [16usize, 512] {
        let wire = pipelined_sets(value_len, 10_000);
        group.throughput(Throughput::Elements(10_000));
        group.bench_function(format!("set_{value_len}b_x10000"), |b| {
            b.iter(|| {
                let mut decoder = Decoder::default();
                let mut buf = BytesMut::new();
                let mut n = 0;
                for chunk in wire.chunks(64 * 1024) {
                    buf.extend_from_slice(chunk);
                    while let Some(cmd) = decoder.next(&mut buf).unwrap() {
                        n += cmd.len();
                    }
                }
                n
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
