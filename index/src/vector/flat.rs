//! FLAT: the exact brute-force index, and the bounded top-k heap both indexes share.
//!
//! Vectors live in one contiguous `Vec<f32>` (slot-major, `dim` floats per slot) so a
//! scan streams memory; removal swap-moves the last slot into the hole to keep the
//! storage dense. Doc ids are dense and reused, so the id -> slot map is a plain
//! vector. Equal distances order by the smaller doc id, so results are deterministic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use roaring::RoaringBitmap;

use super::distance::{self, DistanceFn};
use super::{metric_code, Metric, SearchOptions, VectorIndex, VectorParams};
use crate::codec::{Reader, Writer};
use crate::DocId;

/// Tags a saved FLAT index (and its format version).
const MAGIC: &[u8] = b"engram-flat-1";

/// Marks "no slot" in an id -> slot map.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// A distance paired with an id, ordered by distance and then id (both ascending).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    pub dist: f32,
    pub id: u32,
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then(self.id.cmp(&other.id))
    }
}

/// The `k` smallest `Scored` seen so far (a max-heap holding at most `k`).
#[derive(Debug)]
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k.min(4096) + 1) }
    }

    #[inline]
    pub fn push(&mut self, dist: f32, id: u32) {
        let item = Scored { dist, id };
        if self.heap.len() < self.k {
            self.heap.push(item);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if item < *top {
                *top = item;
            }
        }
    }

    /// Nearest first, as `(id, distance)`.
    pub fn into_sorted(self) -> Vec<(DocId, f32)> {
        self.heap.into_sorted_vec().into_iter().map(|s| (s.id, s.dist)).collect()
    }
}

/// Exact brute-force index.
#[derive(Debug)]
pub struct FlatIndex {
    metric: Metric,
    dim: usize,
    distance: DistanceFn,
    /// `dim` floats per slot, slots `0..slot_ids.len()` all live.
    vectors: Vec<f32>,
    slot_ids: Vec<DocId>,
    /// Indexed by doc id; `NO_SLOT` when the id has no vector.
    id_slots: Vec<u32>,
}

impl FlatIndex {
    /// An empty index.
    pub fn new(params: &VectorParams) -> Self {
        let cap = params.initial_cap.min(1 << 20);
        Self {
            metric: params.metric,
            dim: params.dim,
            distance: distance::distance_fn(params.metric),
            vectors: Vec::with_capacity(cap * params.dim),
            slot_ids: Vec::with_capacity(cap),
            id_slots: Vec::new(),
        }
    }

    /// The index [`VectorIndex::save`] wrote, if `data` is intact and matches `params`.
    pub fn load(params: &VectorParams, data: &[u8]) -> Option<Self> {
        let mut r = Reader::open(data, MAGIC)?;
        let mut index = Self::new(&VectorParams { initial_cap: 0, ..params.clone() });
        if r.u64()? as usize != index.dim || r.u8()? != metric_code(index.metric) {
            return None;
        }
        index.vectors = r.f32s()?;
        index.slot_ids = r.u32s()?;
        index.id_slots = r.u32s()?;
        let consistent = r.at_end() && index.vectors.len() == index.slot_ids.len() * index.dim;
        consistent.then_some(index)
    }

    fn slot_of(&self, id: DocId) -> Option<usize> {
        match self.id_slots.get(id as usize) {
            Some(&s) if s != NO_SLOT => Some(s as usize),
            _ => None,
        }
    }

    fn vector(&self, slot: usize) -> &[f32] {
        &self.vectors[slot * self.dim..(slot + 1) * self.dim]
    }

    fn dist(&self, query: &[f32], slot: usize) -> f32 {
        distance::sanitize((self.distance)(query, self.vector(slot)))
    }

    /// Calls `visit(id, distance)` for every indexed vector that `allowed` admits.
    fn scan(
        &self,
        query: &[f32],
        allowed: Option<&RoaringBitmap>,
        mut visit: impl FnMut(DocId, f32),
    ) {
        match allowed {
            Some(allowed) => {
                for id in allowed.iter() {
                    if let Some(slot) = self.slot_of(id) {
                        visit(id, self.dist(query, slot));
                    }
                }
            }
            None => {
                for (slot, &id) in self.slot_ids.iter().enumerate() {
                    visit(id, self.dist(query, slot));
                }
            }
        }
    }
}

impl VectorIndex for FlatIndex {
    fn upsert(&mut self, id: DocId, vector: &[f32]) {
        if vector.len() != self.dim {
            return;
        }
        let prepared = distance::prepare(self.metric, vector);
        if let Some(slot) = self.slot_of(id) {
            let dim = self.dim;
            self.vectors[slot * dim..(slot + 1) * dim].copy_from_slice(&prepared);
            return;
        }
        if self.id_slots.len() <= id as usize {
            self.id_slots.resize(id as usize + 1, NO_SLOT);
        }
        self.id_slots[id as usize] = self.slot_ids.len() as u32;
        self.slot_ids.push(id);
        self.vectors.extend_from_slice(&prepared);
    }

    fn remove(&mut self, id: DocId) {
        let Some(slot) = self.slot_of(id) else { return };
        let last = self.slot_ids.len() - 1;
        let dim = self.dim;
        if slot != last {
            self.vectors.copy_within(last * dim..(last + 1) * dim, slot * dim);
            let moved = self.slot_ids[last];
            self.slot_ids[slot] = moved;
            self.id_slots[moved as usize] = slot as u32;
        }
        self.vectors.truncate(last * dim);
        self.slot_ids.truncate(last);
        self.id_slots[id as usize] = NO_SLOT;
    }

    fn knn(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&RoaringBitmap>,
        _options: &SearchOptions,
    ) -> Vec<(DocId, f32)> {
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let query = distance::prepare(self.metric, query);
        let mut top = TopK::new(k.min(self.slot_ids.len()));
        self.scan(&query, allowed, |id, d| top.push(d, id));
        top.into_sorted()
    }

    fn range(
        &self,
        query: &[f32],
        radius: f32,
        allowed: Option<&RoaringBitmap>,
        _options: &SearchOptions,
    ) -> Vec<(DocId, f32)> {
        if query.len() != self.dim {
            return Vec::new();
        }
        let query = distance::prepare(self.metric, query);
        let mut found = Vec::new();
        self.scan(&query, allowed, |id, d| {
            if d <= radius {
                found.push(Scored { dist: d, id });
            }
        });
        found.sort_unstable();
        found.into_iter().map(|s| (s.id, s.dist)).collect()
    }

    fn distance_to(&self, query: &[f32], id: DocId) -> Option<f32> {
        if query.len() != self.dim {
            return None;
        }
        let slot = self.slot_of(id)?;
        Some(self.dist(&distance::prepare(self.metric, query), slot))
    }

    fn len(&self) -> usize {
        self.slot_ids.len()
    }

    fn memory_bytes(&self) -> usize {
        self.vectors.capacity() * 4 + self.slot_ids.capacity() * 4 + self.id_slots.capacity() * 4
    }

    fn save(&self) -> Vec<u8> {
        let mut w = Writer::new(MAGIC);
        w.u64(self.dim as u64);
        w.u8(metric_code(self.metric));
        w.f32s(&self.vectors);
        w.u32s(&self.slot_ids);
        w.u32s(&self.id_slots);
        w.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::vector::{Algorithm, VectorType};

    fn index(metric: Metric, dim: usize) -> FlatIndex {
        FlatIndex::new(&VectorParams::new(Algorithm::Flat, VectorType::Float32, dim, metric))
    }

    fn opts() -> SearchOptions {
        SearchOptions::default()
    }

    #[test]
    fn a_saved_index_loads_identical() {
        let mut ix = index(Metric::Cosine, 2);
        for id in 0..50u32 {
            ix.upsert(id, &[id as f32, 1.0]);
        }
        ix.remove(3);
        let params = VectorParams::new(Algorithm::Flat, VectorType::Float32, 2, Metric::Cosine);
        let loaded = FlatIndex::load(&params, &ix.save()).unwrap();
        let options = SearchOptions::default();
        assert_eq!(
            loaded.knn(&[3.0, 1.0], 4, None, &options),
            ix.knn(&[3.0, 1.0], 4, None, &options)
        );
        assert_eq!(loaded.len(), 49);
        let l2 = VectorParams::new(Algorithm::Flat, VectorType::Float32, 2, Metric::L2);
        assert!(FlatIndex::load(&l2, &ix.save()).is_none());
    }

    #[test]
    fn knn_returns_nearest_first_with_squared_l2() {
        let mut ix = index(Metric::L2, 2);
        ix.upsert(0, &[0.0, 0.0]);
        ix.upsert(1, &[1.0, 0.0]);
        ix.upsert(2, &[3.0, 0.0]);
        let got = ix.knn(&[0.9, 0.0], 2, None, &opts());
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 0]);
        assert!((got[0].1 - 0.01).abs() < 1e-6 && (got[1].1 - 0.81).abs() < 1e-6);
    }

    #[test]
    fn equal_distances_order_by_smaller_id() {
        let mut ix = index(Metric::L2, 1);
        for id in [5, 3, 9, 1] {
            ix.upsert(id, &[1.0]);
        }
        let ids: Vec<_> = ix.knn(&[0.0], 3, None, &opts()).into_iter().map(|r| r.0).collect();
        assert_eq!(ids, vec![1, 3, 5]);
    }

    #[test]
    fn removal_swaps_the_last_slot_and_forgets_the_id() {
        let mut ix = index(Metric::L2, 1);
        for id in 0..5 {
            ix.upsert(id, &[id as f32]);
        }
        ix.remove(1);
        ix.remove(1);
        assert_eq!(ix.len(), 4);
        assert_eq!(ix.distance_to(&[0.0], 1), None);
        assert_eq!(ix.distance_to(&[0.0], 4), Some(16.0));
        let ids: Vec<_> = ix.knn(&[0.0], 10, None, &opts()).into_iter().map(|r| r.0).collect();
        assert_eq!(ids, vec![0, 2, 3, 4]);
    }

    #[test]
    fn upsert_replaces_the_vector() {
        let mut ix = index(Metric::L2, 1);
        ix.upsert(7, &[1.0]);
        ix.upsert(7, &[5.0]);
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.knn(&[0.0], 1, None, &opts()), vec![(7, 25.0)]);
    }

    #[test]
    fn allowed_restricts_knn_and_range() {
        let mut ix = index(Metric::L2, 1);
        for id in 0..100 {
            ix.upsert(id, &[id as f32]);
        }
        let allowed: RoaringBitmap = [10u32, 20, 30, 500].into_iter().collect();
        let got = ix.knn(&[0.0], 10, Some(&allowed), &opts());
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![10, 20, 30]);
        let got = ix.range(&[0.0], 400.0, Some(&allowed), &opts());
        assert_eq!(got, vec![(10, 100.0), (20, 400.0)]);
    }

    #[test]
    fn range_returns_everything_within_radius_nearest_first() {
        let mut ix = index(Metric::L2, 1);
        for id in 0..10 {
            ix.upsert(id, &[id as f32]);
        }
        let got = ix.range(&[4.0], 1.0, None, &opts());
        assert_eq!(got, vec![(4, 0.0), (3, 1.0), (5, 1.0)]);
    }

    #[test]
    fn cosine_ignores_magnitude_and_zero_vectors_sit_at_one() {
        let mut ix = index(Metric::Cosine, 2);
        ix.upsert(0, &[10.0, 0.0]);
        ix.upsert(1, &[0.0, 0.0]);
        ix.upsert(2, &[0.0, 3.0]);
        let got = ix.knn(&[1.0, 0.0], 3, None, &opts());
        assert_eq!(got[0], (0, 0.0));
        assert_eq!(got[1], (1, 1.0));
        assert_eq!(got[2].0, 2);
        assert!((got[2].1 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn inner_product_distance_is_one_minus_dot() {
        let mut ix = index(Metric::InnerProduct, 2);
        ix.upsert(0, &[1.0, 2.0]);
        assert_eq!(ix.distance_to(&[3.0, 4.0], 0), Some(-10.0));
    }

    #[test]
    fn k_zero_and_wrong_dimension_return_nothing() {
        let mut ix = index(Metric::L2, 2);
        ix.upsert(0, &[1.0, 2.0]);
        assert!(ix.knn(&[0.0, 0.0], 0, None, &opts()).is_empty());
        assert!(ix.knn(&[0.0], 1, None, &opts()).is_empty());
    }
}
