//! Vector indexes: the `VectorIndex` trait, its parameters (as FT.CREATE declares them),
//! the FLAT (exact) and HNSW (approximate) implementations and their distance kernels.
//!
//! Every vector is kept as `f32` whatever its declared element type: FLOAT16 and
//! BFLOAT16 blobs are widened on the way in, so one set of kernels serves all types.
//! HNSW also keeps an `i8` (SQ8) copy of each vector to walk its graph on; results are
//! re-ranked and reported with the `f32` distances.
//! Distances are reported as RediSearch reports them: squared L2, `1 - dot` for IP and
//! `1 - cosine` for COSINE.

use roaring::RoaringBitmap;

use crate::DocId;

/// The element type of a vector field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorType {
    /// 4-byte IEEE floats.
    Float32,
    /// 8-byte IEEE floats.
    Float64,
    /// 2-byte IEEE half floats.
    Float16,
    /// 2-byte brain floats.
    BFloat16,
}

/// The distance a vector field orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// `1 - a·b`.
    InnerProduct,
    /// `1 - cos(a, b)`.
    Cosine,
}

/// Which index structure a vector field uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Exact brute force.
    Flat,
    /// Hierarchical navigable small world graph.
    Hnsw,
}

/// A vector field's parameters, as FT.CREATE declares them.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorParams {
    /// FLAT or HNSW.
    pub algorithm: Algorithm,
    /// Element type of the blobs clients send.
    pub ty: VectorType,
    /// Number of elements per vector.
    pub dim: usize,
    /// Distance metric.
    pub metric: Metric,
    /// Capacity to reserve up front.
    pub initial_cap: usize,
    /// FLAT block size (accepted; storage grows as needed).
    pub block_size: usize,
    /// HNSW: links per node on upper layers (layer 0 has `2 * m`).
    pub m: usize,
    /// HNSW: beam width while inserting.
    pub ef_construction: usize,
    /// HNSW: default beam width while searching.
    pub ef_runtime: usize,
    /// HNSW: range-search boundary expansion factor.
    pub epsilon: f64,
}

impl VectorParams {
    /// RediSearch's defaults for `algorithm` (M 16, EF_CONSTRUCTION 200, EF_RUNTIME 10,
    /// EPSILON 0.01, BLOCK_SIZE 1024).
    pub fn new(algorithm: Algorithm, ty: VectorType, dim: usize, metric: Metric) -> Self {
        Self {
            algorithm,
            ty,
            dim,
            metric,
            initial_cap: 0,
            block_size: 1024,
            m: 16,
            ef_construction: 200,
            ef_runtime: 10,
            epsilon: 0.01,
        }
    }

    /// The blob length a vector of this field must have, in bytes.
    pub fn blob_len(&self) -> usize {
        self.dim
            * match self.ty {
                VectorType::Float32 => 4,
                VectorType::Float64 => 8,
                VectorType::Float16 | VectorType::BFloat16 => 2,
            }
    }

    /// Decodes a little-endian blob of this field's type into `f32`s; `None` when its
    /// length is not `blob_len()`.
    pub fn decode_blob(&self, blob: &[u8]) -> Option<Vec<f32>> {
        if blob.len() != self.blob_len() {
            return None;
        }
        Some(match self.ty {
            VectorType::Float32 => {
                blob.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            VectorType::Float64 => blob
                .chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            VectorType::Float16 => blob
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            VectorType::BFloat16 => blob
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        })
    }
}

/// Options of one KNN or range search.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    /// HNSW beam width for this query (`EF_RUNTIME`); the field's default when `None`.
    pub ef_runtime: Option<usize>,
    /// HNSW range-search expansion (`EPSILON`); the field's default when `None`.
    pub epsilon: Option<f64>,
}

/// A vector index over dense document ids. Mutated only by the apply thread (`&mut`),
/// searched by many readers at once (`&self`).
pub trait VectorIndex: Send + Sync + std::fmt::Debug {
    /// Inserts or replaces the vector of `id`. `vector.len()` is the field's `dim`.
    fn upsert(&mut self, id: DocId, vector: &[f32]);
    /// Removes `id`; it never appears in results again. No-op when absent.
    fn remove(&mut self, id: DocId);
    /// The `k` nearest documents to `query`, nearest first, with their distances.
    /// With `allowed`, only those ids may be returned, and the index still returns
    /// `min(k, |allowed ∩ indexed|)` results at the recall of an unfiltered search
    /// (brute force over `allowed` when it is small, filtered traversal otherwise).
    fn knn(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&RoaringBitmap>,
        options: &SearchOptions,
    ) -> Vec<(DocId, f32)>;
    /// Every document within `radius` of `query` (distance <= radius), nearest first.
    fn range(
        &self,
        query: &[f32],
        radius: f32,
        allowed: Option<&RoaringBitmap>,
        options: &SearchOptions,
    ) -> Vec<(DocId, f32)>;
    /// The distance from `query` to `id`'s vector, when it has one.
    fn distance_to(&self, query: &[f32], id: DocId) -> Option<f32>;
    /// Number of vectors indexed.
    fn len(&self) -> usize;
    /// True when nothing is indexed.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes held by the index (vectors and graph), for FT.INFO.
    fn memory_bytes(&self) -> usize;
    /// The whole state (vectors, graph), checksummed, for a snapshot; [`load`] reads it.
    fn save(&self) -> Vec<u8>;
}

/// An index of `params` with the state [`VectorIndex::save`] wrote; `None` when the data
/// is corrupt or was written for other parameters (the caller rebuilds from documents).
pub fn load(params: &VectorParams, data: &[u8]) -> Option<Box<dyn VectorIndex>> {
    match params.algorithm {
        Algorithm::Flat => {
            flat::FlatIndex::load(params, data).map(|i| Box::new(i) as Box<dyn VectorIndex>)
        }
        Algorithm::Hnsw => {
            hnsw::HnswIndex::load(params, data).map(|i| Box::new(i) as Box<dyn VectorIndex>)
        }
    }
}

/// A stable number for `metric` in saved indexes.
fn metric_code(metric: Metric) -> u8 {
    match metric {
        Metric::L2 => 0,
        Metric::InnerProduct => 1,
        Metric::Cosine => 2,
    }
}

/// A new, empty index for `params`.
pub fn new_index(params: &VectorParams) -> Box<dyn VectorIndex> {
    match params.algorithm {
        Algorithm::Flat => Box::new(flat::FlatIndex::new(params)),
        Algorithm::Hnsw => Box::new(hnsw::HnswIndex::new(params)),
    }
}

pub mod distance;
pub mod flat;
pub mod hnsw;
mod quantized;
