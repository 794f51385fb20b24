//! FLAT index (placeholder: being written).
use roaring::RoaringBitmap;

use super::{SearchOptions, VectorIndex, VectorParams};
use crate::DocId;

/// Exact brute-force index.
#[derive(Debug)]
pub struct FlatIndex;

impl FlatIndex {
    /// An empty index.
    pub fn new(_params: &VectorParams) -> Self {
        Self
    }
}

impl VectorIndex for FlatIndex {
    fn upsert(&mut self, _id: DocId, _vector: &[f32]) {}
    fn remove(&mut self, _id: DocId) {}
    fn knn(
        &self,
        _q: &[f32],
        _k: usize,
        _a: Option<&RoaringBitmap>,
        _o: &SearchOptions,
    ) -> Vec<(DocId, f32)> {
        Vec::new()
    }
    fn range(
        &self,
        _q: &[f32],
        _r: f32,
        _a: Option<&RoaringBitmap>,
        _o: &SearchOptions,
    ) -> Vec<(DocId, f32)> {
        Vec::new()
    }
    fn distance_to(&self, _q: &[f32], _id: DocId) -> Option<f32> {
        None
    }
    fn len(&self) -> usize {
        0
    }
    fn memory_bytes(&self) -> usize {
        0
    }
}
