//! Distance-kernel and HNSW benchmarks: `cargo bench -p engram-index --bench vector`.
//!
//! The HNSW group builds one index over clustered random data (ENGRAM_BENCH_N vectors,
//! default 20 000, of ENGRAM_BENCH_DIM dims, default 384; M 16, EF_CONSTRUCTION 200),
//! prints its build time and recall@10 per EF_RUNTIME against brute force, then times
//! single-threaded queries at each EF_RUNTIME. With ENGRAM_BENCH_NPY=<dir> it uses that
//! folder's `base.npy` and `queries.npy` (float32 rows, as `benches/ann.sh` datasets have)
//! instead, and ENGRAM_BENCH_METRIC (L2, IP or COSINE; default L2) picks the metric.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // bench code: wall clock on purpose

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use engram_index::vector::{
    distance, new_index, Algorithm, Metric, SearchOptions, VectorIndex, VectorParams, VectorType,
};
use roaring::RoaringBitmap;

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// `n` points with a low intrinsic dimension, as real embeddings have: latent points
/// (ENGRAM_BENCH_LATENT dims, default 24) around 100 Gaussian centres, mapped linearly
/// to `dim` dims plus a little noise.
fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let latent = env_usize("ENGRAM_BENCH_LATENT", 24);
    let mut rng = Rng(seed);
    let map: Vec<Vec<f32>> = (0..dim)
        .map(|_| (0..latent).map(|_| rng.gaussian() / (latent as f32).sqrt()).collect())
        .collect();
    let centres: Vec<Vec<f32>> =
        (0..100).map(|_| (0..latent).map(|_| rng.gaussian()).collect()).collect();
    (0..n)
        .map(|_| {
            let c = &centres[(rng.next_u64() % 100) as usize];
            let z: Vec<f32> = c.iter().map(|x| x + 0.5 * rng.gaussian()).collect();
            map.iter()
                .map(|row| {
                    row.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>() + 0.05 * rng.gaussian()
                })
                .collect()
        })
        .collect()
}

/// The rows of a 2-D little-endian float32 `.npy` file (format 1.0 / 2.0 header).
fn read_npy(path: &str) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{path}: not an .npy file");
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(header.contains("'<f4'") && header.contains("False"), "{path}: {header}");
    let shape = &header[header.find("'shape': (").unwrap() + 10..];
    let cols: usize =
        shape.split(',').nth(1).unwrap().trim().trim_end_matches(')').parse().unwrap();
    let floats: Vec<f32> = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    floats.chunks_exact(cols).map(<[f32]>::to_vec).collect()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn kernels(c: &mut Criterion) {
    for dim in [128usize, 384] {
        let vs = clustered(256, dim, 42);
        let q = &vs[0];
        let mut g = c.benchmark_group(format!("kernel_{dim}_x256"));
        g.bench_function("l2_simsimd", |b| {
            b.iter(|| vs.iter().map(|v| distance::l2_squared(black_box(q), v)).sum::<f32>())
        });
        g.bench_function("l2_portable", |b| {
            b.iter(|| {
                vs.iter().map(|v| distance::l2_squared_portable(black_box(q), v)).sum::<f32>()
            })
        });
        g.bench_function("dot_simsimd", |b| {
            b.iter(|| vs.iter().map(|v| distance::dot(black_box(q), v)).sum::<f32>())
        });
        g.bench_function("dot_portable", |b| {
            b.iter(|| vs.iter().map(|v| distance::dot_portable(black_box(q), v)).sum::<f32>())
        });
        let codes: Vec<Vec<i8>> = vs
            .iter()
            .map(|v| v.iter().map(|x| (x * 40.0).round().clamp(-127.0, 127.0) as i8).collect())
            .collect();
        let qc = &codes[0];
        g.bench_function("dot_i8_simsimd", |b| {
            b.iter(|| codes.iter().map(|v| distance::dot_i8(black_box(qc), v)).sum::<i32>())
        });
        g.finish();
    }
}

fn hnsw_search(c: &mut Criterion) {
    let (data, n, dim);
    let (base, queries): (&[Vec<f32>], &[Vec<f32>]) = match std::env::var("ENGRAM_BENCH_NPY") {
        Ok(dir) => {
            let base = read_npy(&format!("{dir}/base.npy"));
            let queries = read_npy(&format!("{dir}/queries.npy"));
            (n, dim) = (base.len(), base[0].len());
            data = [base, queries].concat();
            data.split_at(n)
        }
        Err(_) => {
            n = env_usize("ENGRAM_BENCH_N", 20_000);
            dim = env_usize("ENGRAM_BENCH_DIM", 384);
            data = clustered(n + 200, dim, 7);
            data.split_at(n)
        }
    };
    let metric = match std::env::var("ENGRAM_BENCH_METRIC").as_deref() {
        Ok("COSINE") => Metric::Cosine,
        Ok("IP") => Metric::InnerProduct,
        _ => Metric::L2,
    };
    if let Ok(dir) = std::env::var("ENGRAM_BENCH_DUMP") {
        // Raw little-endian f32 rows, for running another library on the same data.
        for (name, rows) in [("base.f32", base), ("queries.f32", queries)] {
            let bytes: Vec<u8> = rows.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
            std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
        }
    }
    let mut params = VectorParams::new(Algorithm::Hnsw, VectorType::Float32, dim, metric);
    params.ef_construction = env_usize("ENGRAM_BENCH_EFC", 200);
    let mut hnsw = new_index(&params);
    params.algorithm = Algorithm::Flat;
    let mut flat = new_index(&params);
    let started = Instant::now();
    for (id, v) in base.iter().enumerate() {
        hnsw.upsert(id as u32, v);
    }
    let build = started.elapsed();
    for (id, v) in base.iter().enumerate() {
        flat.upsert(id as u32, v);
    }
    eprintln!(
        "hnsw build: {n} x {dim} in {:.2} s ({:.0} inserts/s), {} MB",
        build.as_secs_f64(),
        n as f64 / build.as_secs_f64(),
        hnsw.memory_bytes() >> 20
    );
    eprintln!("{hnsw:?}");
    report("fresh", hnsw.as_ref(), flat.as_ref(), queries, None, &[10, 50, 100, 200]);
    let tenth: RoaringBitmap = (0..n as u32).filter(|id| id % 10 == 3).collect();
    report("filter 10%", hnsw.as_ref(), flat.as_ref(), queries, Some(&tenth), &[100]);
    let hundredth: RoaringBitmap = (0..n as u32).filter(|id| id % 100 == 7).collect();
    report("filter 1%", hnsw.as_ref(), flat.as_ref(), queries, Some(&hundredth), &[100]);

    let mut g = c.benchmark_group(format!("hnsw_{n}x{dim}"));
    for ef in [10usize, 50, 100, 200] {
        let options = SearchOptions { ef_runtime: Some(ef), epsilon: None };
        let mut next = 0;
        g.bench_function(format!("knn10_ef{ef}"), |b| {
            b.iter(|| {
                next = (next + 1) % queries.len();
                hnsw.knn(black_box(&queries[next]), 10, None, &options)
            })
        });
    }
    g.finish();

    // Churn: delete 20 %, give 10 % new vectors, then measure again.
    let fresh = clustered(n / 10, dim, 99);
    let started = Instant::now();
    let mut changes = 0;
    for id in 0..n as u32 {
        match id % 10 {
            0 | 5 => hnsw.remove(id),
            3 => hnsw.upsert(id, &fresh[(id / 10) as usize]),
            _ => continue,
        }
        changes += 1;
    }
    let churn = started.elapsed().as_secs_f64();
    for id in 0..n as u32 {
        match id % 10 {
            0 | 5 => flat.remove(id),
            3 => flat.upsert(id, &fresh[(id / 10) as usize]),
            _ => {}
        }
    }
    eprintln!("churn: {changes} removes/updates in {churn:.2} s ({:.0}/s)", changes as f64 / churn);
    eprintln!("{hnsw:?}");
    report("after churn", hnsw.as_ref(), flat.as_ref(), queries, None, &[10, 50, 100, 200]);
}

/// Prints recall@10 against brute force and single-thread QPS (best of five passes:
/// the machine is shared, the minimum is the signal) at each EF_RUNTIME.
fn report(
    label: &str,
    hnsw: &dyn VectorIndex,
    flat: &dyn VectorIndex,
    queries: &[Vec<f32>],
    allowed: Option<&RoaringBitmap>,
    efs: &[usize],
) {
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| {
            flat.knn(q, 10, allowed, &SearchOptions::default()).into_iter().map(|r| r.0).collect()
        })
        .collect();
    for &ef in efs {
        let options = SearchOptions { ef_runtime: Some(ef), epsilon: None };
        let mut hits = 0;
        for (q, t) in queries.iter().zip(&truth) {
            hits += hnsw.knn(q, 10, allowed, &options).iter().filter(|r| t.contains(&r.0)).count();
        }
        let secs = (0..5)
            .map(|_| {
                let started = Instant::now();
                for q in queries {
                    black_box(hnsw.knn(q, 10, allowed, &options));
                }
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        eprintln!(
            "{label} ef {ef}: recall@10 {:.4}, {:.0} QPS",
            hits as f64 / (10 * queries.len()) as f64,
            queries.len() as f64 / secs
        );
    }
}

criterion_group!(benches, kernels, hnsw_search);
criterion_main!(benches);
