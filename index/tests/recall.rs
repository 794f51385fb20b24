//! Recall of the HNSW index against exact brute force (the FLAT index) on fixed-seed
//! clustered data: unfiltered, filtered at 1/10/50 % selectivity, after deleting 20 %
//! and updating 10 % of the vectors, and for range queries, for L2, IP and COSINE.
//! Debug builds run a smaller data set so `cargo test` stays quick.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the assertion

use std::collections::HashSet;

use engram_index::vector::{
    new_index, Algorithm, Metric, SearchOptions, VectorIndex, VectorParams, VectorType,
};
use roaring::RoaringBitmap;

#[cfg(debug_assertions)]
const N: u32 = 4_000;
#[cfg(debug_assertions)]
const DIM: usize = 32;
#[cfg(not(debug_assertions))]
const N: u32 = 10_000;
#[cfg(not(debug_assertions))]
const DIM: usize = 96;

const QUERIES: usize = 50;
const K: usize = 10;
const SEED: u64 = 0x5EED_2026;

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

/// Points around 50 Gaussian centres, sigma 0.35 around each.
struct Data {
    centres: Vec<Vec<f32>>,
    rng: Rng,
}

impl Data {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let centres = (0..50).map(|_| (0..DIM).map(|_| rng.gaussian()).collect()).collect();
        Self { centres, rng }
    }

    fn point(&mut self) -> Vec<f32> {
        let c = (self.rng.next_u64() % self.centres.len() as u64) as usize;
        (0..DIM).map(|i| self.centres[c][i] + 0.35 * self.rng.gaussian()).collect()
    }
}

struct Pair {
    hnsw: Box<dyn VectorIndex>,
    flat: Box<dyn VectorIndex>,
    data: Data,
}

impl Pair {
    fn build(metric: Metric) -> Self {
        let mut params = VectorParams::new(Algorithm::Hnsw, VectorType::Float32, DIM, metric);
        params.ef_construction = 100;
        let mut hnsw = new_index(&params);
        params.algorithm = Algorithm::Flat;
        let mut flat = new_index(&params);
        let mut data = Data::new(SEED);
        for id in 0..N {
            let v = data.point();
            hnsw.upsert(id, &v);
            flat.upsert(id, &v);
        }
        Pair { hnsw, flat, data }
    }

    fn upsert(&mut self, id: u32, v: &[f32]) {
        self.hnsw.upsert(id, v);
        self.flat.upsert(id, v);
    }

    fn remove(&mut self, id: u32) {
        self.hnsw.remove(id);
        self.flat.remove(id);
    }

    /// Mean recall@K over fresh queries; checks every result is allowed and counts.
    fn recall(
        &mut self,
        ef: usize,
        allowed: Option<&RoaringBitmap>,
        forbidden: &HashSet<u32>,
    ) -> f64 {
        let options = SearchOptions { ef_runtime: Some(ef), epsilon: None };
        let mut hits = 0usize;
        let mut wanted = 0usize;
        for _ in 0..QUERIES {
            let q = self.data.point();
            let truth = self.flat.knn(&q, K, allowed, &options);
            let got = self.hnsw.knn(&q, K, allowed, &options);
            assert_eq!(got.len(), truth.len(), "result count");
            for w in got.windows(2) {
                assert!(w[0].1 <= w[1].1, "nearest first");
            }
            for (id, _) in &got {
                assert!(!forbidden.contains(id), "deleted id {id} returned");
                if let Some(a) = allowed {
                    assert!(a.contains(*id), "id {id} not allowed");
                }
            }
            let truth_ids: HashSet<u32> = truth.iter().map(|r| r.0).collect();
            hits += got.iter().filter(|r| truth_ids.contains(&r.0)).count();
            wanted += truth.len();
        }
        hits as f64 / wanted.max(1) as f64
    }
}

/// Ids whose hash falls under `percent`: a filter uncorrelated with the clusters.
fn selection_of(percent: u64) -> RoaringBitmap {
    (0..N)
        .filter(|&id| ((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 100 < percent)
        .collect()
}

fn check_metric(metric: Metric) {
    let mut pair = Pair::build(metric);
    let none = HashSet::new();
    let r = pair.recall(128, None, &none);
    assert!(r >= 0.95, "{metric:?} unfiltered recall {r} (seed {SEED:#x})");

    // At ef 64 the 90 % filter walks the graph (the planner scans smaller sets).
    for percent in [1, 10, 50, 90] {
        let allowed = selection_of(percent);
        let r = pair.recall(64, Some(&allowed), &none);
        assert!(r >= 0.95, "{metric:?} filter {percent}% recall {r} (seed {SEED:#x})");
    }

    // Delete 20 %, update 10 % (new vectors for the same ids).
    let mut deleted = HashSet::new();
    for id in 0..N {
        match id % 10 {
            0 | 5 => {
                pair.remove(id);
                deleted.insert(id);
            }
            3 => {
                let v = pair.data.point();
                pair.upsert(id, &v);
            }
            _ => {}
        }
    }
    assert_eq!(pair.hnsw.len(), pair.flat.len());
    let r = pair.recall(128, None, &deleted);
    assert!(r >= 0.95, "{metric:?} recall after deletes/updates {r} (seed {SEED:#x})");
    let allowed = selection_of(10);
    let r = pair.recall(64, Some(&allowed), &deleted);
    let allowed = selection_of(90);
    let r90 = pair.recall(64, Some(&allowed), &deleted);
    assert!(
        r90 >= 0.95,
        "{metric:?} 90% filtered recall after deletes/updates {r90} (seed {SEED:#x})"
    );
    assert!(r >= 0.95, "{metric:?} filtered recall after deletes/updates {r} (seed {SEED:#x})");

    // Range: radius at the 20th neighbour's distance.
    let options = SearchOptions::default();
    let (mut hits, mut wanted) = (0, 0);
    for _ in 0..QUERIES / 2 {
        let q = pair.data.point();
        let radius = pair.flat.knn(&q, 20, None, &options)[19].1;
        let truth: HashSet<u32> =
            pair.flat.range(&q, radius, None, &options).iter().map(|r| r.0).collect();
        let got = pair.hnsw.range(&q, radius, None, &options);
        for (id, d) in &got {
            assert!(*d <= radius && !deleted.contains(id));
        }
        hits += got.iter().filter(|r| truth.contains(&r.0)).count();
        wanted += truth.len();
    }
    let r = hits as f64 / wanted as f64;
    assert!(r >= 0.9, "{metric:?} range recall {r} (seed {SEED:#x})");
}

#[test]
fn selection_sizes_match_their_percent() {
    let n = N as f64;
    for percent in [1u64, 10, 50] {
        let got = selection_of(percent).len() as f64 / n * 100.0;
        assert!((got - percent as f64).abs() < percent as f64 * 0.3 + 0.5, "{percent}%: {got}");
    }
}

#[test]
fn l2_recall_filtered_and_after_churn() {
    check_metric(Metric::L2);
}

#[test]
fn inner_product_recall_filtered_and_after_churn() {
    check_metric(Metric::InnerProduct);
}

#[test]
fn cosine_recall_filtered_and_after_churn() {
    check_metric(Metric::Cosine);
}
