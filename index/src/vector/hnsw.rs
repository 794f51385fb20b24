//! HNSW: our own hierarchical navigable small world graph (Malkov & Yashunin, 2016),
//! with real deletion, filtered and range search.
//!
//! Layout (everything addressed by a dense internal *slot*, reused after deletion):
//!
//! ```text
//!   vectors   [slot * dim .. +dim]            prepared f32 (unit length for COSINE)
//!   links0    [slot * (1+M0)] = count, n1..nM0 layer-0 out-links, fixed stride
//!   upper     [slot] -> [(layer-1) * (1+M)] = count, n1..nM   layers 1..=level
//!   in_links  [slot][layer] -> slots linking to it (every in-edge, kept exact)
//! ```
//!
//! Invariants:
//! - A node's level is a pure function of its doc id (a hash), and the free-slot list
//!   is LIFO, so replaying the same upserts and removals rebuilds the same graph.
//! - No link ever points at a free slot: every link change goes through `set_links`,
//!   which keeps `in_links` exact, and removal rewires every in-neighbour (choosing
//!   from its own links and the removed node's links, the neighbours' neighbours)
//!   before the slot is freed. Deleted vectors therefore never come back.
//! - Searches take `&self` and may run concurrently; their per-search visited set is a
//!   generation-stamped array in a thread-local, so no allocation per visited node.
//!
//! KNN walks the graph on SQ8 codes ([`super::quantized`]: an `i8` copy of each
//! vector, a quarter of the bytes and an integer kernel), keeps `ef` candidates, and
//! re-ranks the best `max(2k, 20)` of them with the exact `f32` distances, which are the
//! ones reported. Inserts,
//! removals and range searches measure exactly: graph quality is built from exact
//! distances.
//!
//! Filtered KNN plans by cardinality: a small allow-list is scanned exactly, a large
//! one is walked with only allowed nodes counting as results (the walk still crosses
//! the others), and a walk that finds too few falls back to the scan, so the answer
//! always has `min(k, |allowed ∩ indexed|)` entries. The search loop software-prefetches
//! the codes (or vectors) of a node's unvisited neighbours before measuring them, and
//! the link row of the node it will most likely expand next.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

use roaring::RoaringBitmap;

use super::distance::{self, DistanceFn};
use super::flat::{Scored, TopK, NO_SLOT};
use super::quantized::{Sq8Query, Sq8Store};
use super::{metric_code, Metric, SearchOptions, VectorIndex, VectorParams};
use crate::codec::{Reader, Writer};
use crate::DocId;

/// Tags a saved HNSW graph (and its format version).
const MAGIC: &[u8] = b"engram-hnsw-1";

/// `levels[slot]` of a free slot.
const FREE: u8 = u8::MAX;
/// Cap on a node's level (at M=16 level 16 needs ~16^16 nodes; the cap only guards
/// against degenerate M).
const MAX_LEVEL: usize = 16;
/// Below this many allowed ids a filtered KNN always scans them exactly: a scan of a
/// thousand vectors costs less than any useful graph walk.
const BRUTE_FORCE_FLOOR: u64 = 1024;
/// Fewest SQ8 candidates a KNN re-ranks exactly (it re-ranks `max(2k, this)`).
const RERANK_FLOOR: usize = 20;

/// How many vectors ahead an exact-scan keeps its prefetches.
const SCAN_AHEAD: usize = 8;
/// Salt of the level hash, so levels are not trivially correlated with small ids.
const LEVEL_SALT: u64 = 0x9E37_79B9_7F4A_7C15;

/// Generation-stamped visited set: clearing is one increment.
struct Visited {
    stamps: Vec<u16>,
    generation: u16,
}

impl Visited {
    /// Starts a new search over `slots` slots.
    fn start(&mut self, slots: usize) {
        if self.stamps.len() < slots {
            self.stamps.resize(slots, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamps.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `slot`; true when it was not yet visited in this search.
    #[inline]
    fn insert(&mut self, slot: u32) -> bool {
        let stamp = &mut self.stamps[slot as usize];
        if *stamp == self.generation {
            false
        } else {
            *stamp = self.generation;
            true
        }
    }
}

/// How a walk measures its query's distance to a slot, and warms the caches for it.
trait Probe {
    fn distance(&self, slot: u32) -> f32;
    /// Starts loading the first cache line of `slot`'s data: issued for a whole batch
    /// of neighbours at once, the misses overlap instead of queueing.
    fn prefetch_head(&self, slot: u32);
    /// Loads the rest of `slot`'s data ahead of its distance computation.
    fn prefetch_rest(&self, slot: u32);
}

/// Exact `f32` distances (construction, range search, re-ranking).
struct ExactProbe<'a> {
    index: &'a HnswIndex,
    query: &'a [f32],
}

impl Probe for ExactProbe<'_> {
    #[inline]
    fn distance(&self, slot: u32) -> f32 {
        self.index.dist(self.query, slot)
    }

    #[inline]
    fn prefetch_head(&self, slot: u32) {
        if let Some(head) = self.index.vectors.get(slot as usize * self.index.dim) {
            mem_prefetch::prefetch_read_data::<f32, 3>(head);
        }
    }

    #[inline]
    fn prefetch_rest(&self, slot: u32) {
        let start = slot as usize * self.index.dim;
        for line in (start + 16..start + self.index.dim).step_by(16) {
            if let Some(x) = self.index.vectors.get(line) {
                mem_prefetch::prefetch_read_data::<f32, 3>(x);
            }
        }
    }
}

/// Estimated distances on the SQ8 codes (the KNN walk).
struct CodedProbe<'a> {
    codes: &'a Sq8Store,
    query: Sq8Query,
    dim: usize,
}

impl Probe for CodedProbe<'_> {
    #[inline]
    fn distance(&self, slot: u32) -> f32 {
        self.codes.distance(&self.query, slot)
    }

    #[inline]
    fn prefetch_head(&self, slot: u32) {
        if let Some(head) = self.codes.code_at(slot as usize * self.dim) {
            mem_prefetch::prefetch_read_data::<i8, 3>(head);
        }
    }

    #[inline]
    fn prefetch_rest(&self, slot: u32) {
        let start = slot as usize * self.dim;
        for line in (start + 64..start + self.dim).step_by(64) {
            if let Some(x) = self.codes.code_at(line) {
                mem_prefetch::prefetch_read_data::<i8, 3>(x);
            }
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { stamps: Vec::new(), generation: 0 }) };
}

/// Approximate graph index.
pub struct HnswIndex {
    metric: Metric,
    dim: usize,
    distance: DistanceFn,
    m: usize,
    m0: usize,
    ef_construction: usize,
    ef_runtime: usize,
    epsilon: f64,
    level_mult: f64,
    vectors: Vec<f32>,
    /// SQ8 codes of `vectors`, slot for slot (derived: rebuilt on load, not saved).
    codes: Sq8Store,
    links0: Vec<u32>,
    upper: Vec<Vec<u32>>,
    in_links: Vec<Vec<Vec<u32>>>,
    levels: Vec<u8>,
    slot_ids: Vec<DocId>,
    /// Indexed by doc id; `NO_SLOT` when the id has no vector.
    id_slots: Vec<u32>,
    free_slots: Vec<u32>,
    entry: u32,
    max_level: usize,
    live: usize,
}

impl fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HnswIndex")
            .field("metric", &self.metric)
            .field("dim", &self.dim)
            .field("m", &self.m)
            .field("ef_construction", &self.ef_construction)
            .field("ef_runtime", &self.ef_runtime)
            .field("len", &self.live)
            .field("max_level", &self.max_level)
            .field("mean_degree0", &self.mean_degree0())
            .finish()
    }
}

impl HnswIndex {
    /// An empty index.
    pub fn new(params: &VectorParams) -> Self {
        let m = params.m.max(2);
        let cap = params.initial_cap.min(1 << 20);
        Self {
            metric: params.metric,
            dim: params.dim,
            distance: distance::distance_fn(params.metric),
            m,
            m0: 2 * m,
            ef_construction: params.ef_construction.max(m),
            ef_runtime: params.ef_runtime.max(1),
            epsilon: params.epsilon,
            level_mult: 1.0 / (m as f64).ln(),
            vectors: Vec::with_capacity(cap * params.dim),
            codes: Sq8Store::new(params.dim, cap),
            links0: Vec::with_capacity(cap * (1 + 2 * m)),
            upper: Vec::with_capacity(cap),
            in_links: Vec::with_capacity(cap),
            levels: Vec::with_capacity(cap),
            slot_ids: Vec::with_capacity(cap),
            id_slots: Vec::new(),
            free_slots: Vec::new(),
            entry: NO_SLOT,
            max_level: 0,
            live: 0,
        }
    }

    /// The index [`VectorIndex::save`] wrote, if `data` is intact and matches `params`.
    pub fn load(params: &VectorParams, data: &[u8]) -> Option<Self> {
        let mut r = Reader::open(data, MAGIC)?;
        let mut index = Self::new(&VectorParams { initial_cap: 0, ..params.clone() });
        let (dim, m, metric) = (r.u64()? as usize, r.u64()? as usize, r.u8()?);
        if dim != index.dim || m != index.m || metric != metric_code(index.metric) {
            return None;
        }
        index.vectors = r.f32s()?;
        index.codes = Sq8Store::encode_all(dim, &index.vectors);
        index.links0 = r.u32s()?;
        let upper = r.u64()? as usize;
        index.upper = (0..upper).map(|_| r.u32s()).collect::<Option<_>>()?;
        let nodes = r.u64()? as usize;
        let mut in_links = Vec::with_capacity(nodes.min(data.len()));
        for _ in 0..nodes {
            let levels = r.u64()? as usize;
            in_links.push((0..levels).map(|_| r.u32s()).collect::<Option<Vec<_>>>()?);
        }
        index.in_links = in_links;
        index.levels = r.bytes()?.to_vec();
        index.slot_ids = r.u32s()?;
        index.id_slots = r.u32s()?;
        index.free_slots = r.u32s()?;
        index.entry = r.u32()?;
        index.max_level = r.u64()? as usize;
        index.live = r.u64()? as usize;
        let slots = index.levels.len();
        let consistent = r.at_end()
            && index.vectors.len() == slots * dim
            && index.slot_ids.len() == slots
            && index.upper.len() == slots
            && index.in_links.len() == slots
            && index.links0.len() == slots * (1 + index.m0);
        consistent.then_some(index)
    }

    /// Mean number of layer-0 links of live nodes (a graph-quality figure for Debug).
    fn mean_degree0(&self) -> f64 {
        let total: usize = (0..self.levels.len() as u32)
            .filter(|&s| self.levels[s as usize] != FREE)
            .map(|s| self.links(s, 0).len())
            .sum();
        total as f64 / self.live.max(1) as f64
    }

    fn level_for(&self, id: DocId) -> usize {
        // splitmix64 of the id: deterministic, well mixed.
        let mut z = (id as u64).wrapping_add(LEVEL_SALT);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64; // (0, 1]
        ((-unit.ln() * self.level_mult) as usize).min(MAX_LEVEL)
    }

    fn slot_of(&self, id: DocId) -> Option<u32> {
        match self.id_slots.get(id as usize) {
            Some(&s) if s != NO_SLOT => Some(s),
            _ => None,
        }
    }

    #[inline]
    fn vector(&self, slot: u32) -> &[f32] {
        let start = slot as usize * self.dim;
        &self.vectors[start..start + self.dim]
    }

    #[inline]
    fn dist(&self, query: &[f32], slot: u32) -> f32 {
        distance::sanitize((self.distance)(query, self.vector(slot)))
    }

    fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            self.m0
        } else {
            self.m
        }
    }

    /// Starts loading `slot`'s link row on `layer` (layer 0: the count and the first
    /// links; the rest of the row follows in the next line).
    #[inline]
    fn prefetch_links(&self, slot: u32, layer: usize) {
        if layer == 0 {
            let base = slot as usize * (1 + self.m0);
            for at in [base, base + 16] {
                if let Some(x) = self.links0.get(at) {
                    mem_prefetch::prefetch_read_data::<u32, 3>(x);
                }
            }
        }
    }

    #[inline]
    fn links(&self, slot: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let base = slot as usize * (1 + self.m0);
            let count = self.links0[base] as usize;
            &self.links0[base + 1..base + 1 + count]
        } else {
            let base = (layer - 1) * (1 + self.m);
            let node = &self.upper[slot as usize];
            let count = node[base] as usize;
            &node[base + 1..base + 1 + count]
        }
    }

    /// Replaces `slot`'s out-links on `layer`, keeping the in-link lists exact.
    fn set_links(&mut self, slot: u32, layer: usize, new: &[u32]) {
        let old = self.links(slot, layer).to_vec();
        for &gone in old.iter().filter(|n| !new.contains(n)) {
            let list = &mut self.in_links[gone as usize][layer];
            if let Some(pos) = list.iter().position(|&s| s == slot) {
                list.swap_remove(pos);
            }
        }
        for &added in new.iter().filter(|n| !old.contains(n)) {
            self.in_links[added as usize][layer].push(slot);
        }
        let (storage, base) = if layer == 0 {
            (&mut self.links0, slot as usize * (1 + self.m0))
        } else {
            (&mut self.upper[slot as usize], (layer - 1) * (1 + self.m))
        };
        storage[base] = new.len() as u32;
        storage[base + 1..base + 1 + new.len()].copy_from_slice(new);
    }

    /// A slot for a new node (a freed one when available), with empty links.
    fn allocate_slot(&mut self, id: DocId, level: usize, vector: &[f32]) -> u32 {
        let upper = vec![0u32; level * (1 + self.m)];
        let in_links = vec![Vec::new(); level + 1];
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                let s = slot as usize;
                self.vectors[s * self.dim..(s + 1) * self.dim].copy_from_slice(vector);
                self.codes.set(s, vector);
                self.links0[s * (1 + self.m0)] = 0;
                self.upper[s] = upper;
                self.in_links[s] = in_links;
                self.levels[s] = level as u8;
                self.slot_ids[s] = id;
                slot
            }
            None => {
                let slot = self.levels.len() as u32;
                self.vectors.extend_from_slice(vector);
                self.codes.set(slot as usize, vector);
                self.links0.resize(self.links0.len() + 1 + self.m0, 0);
                self.upper.push(upper);
                self.in_links.push(in_links);
                self.levels.push(level as u8);
                self.slot_ids.push(id);
                slot
            }
        };
        if self.id_slots.len() <= id as usize {
            self.id_slots.resize(id as usize + 1, NO_SLOT);
        }
        self.id_slots[id as usize] = slot;
        self.live += 1;
        slot
    }

    /// Greedy walk (beam 1) from the entry point down to layer `stop`.
    fn descend(&self, probe: &impl Probe, stop: usize) -> Scored {
        let mut best = Scored { dist: probe.distance(self.entry), id: self.entry };
        for layer in (stop + 1..=self.max_level).rev() {
            let mut moved = true;
            while moved {
                moved = false;
                for &n in self.links(best.id, layer) {
                    let d = probe.distance(n);
                    if d < best.dist {
                        best = Scored { dist: d, id: n };
                        moved = true;
                    }
                }
            }
        }
        best
    }

    /// Beam search of width `ef` on one layer; only slots `admit` accepts become
    /// results, but the walk goes through every node. Unsorted.
    fn search_layer(
        &self,
        probe: &impl Probe,
        entry: &[Scored],
        ef: usize,
        layer: usize,
        visited: &mut Visited,
        admit: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let mut candidates: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(ef * 2);
        let mut results: BinaryHeap<Scored> = BinaryHeap::with_capacity(ef + 1);
        for &e in entry {
            if visited.insert(e.id) {
                candidates.push(Reverse(e));
                if admit(e.id) {
                    results.push(e);
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        let mut worst = if results.len() >= ef {
            results.peek().map_or(f32::INFINITY, |s| s.dist)
        } else {
            f32::INFINITY
        };
        let mut batch: Vec<u32> = Vec::with_capacity(self.m0);
        while let Some(Reverse(current)) = candidates.pop() {
            if current.dist > worst {
                break;
            }
            // Most likely the next node to expand: its link row loads while this
            // one's neighbours are measured.
            if let Some(Reverse(next)) = candidates.peek() {
                self.prefetch_links(next.id, layer);
            }
            batch.clear();
            for &n in self.links(current.id, layer) {
                if visited.insert(n) {
                    batch.push(n);
                    probe.prefetch_head(n);
                }
            }
            for (i, &n) in batch.iter().enumerate() {
                if let Some(&ahead) = batch.get(i + 1) {
                    probe.prefetch_rest(ahead);
                }
                let d = probe.distance(n);
                if d < worst {
                    let item = Scored { dist: d, id: n };
                    candidates.push(Reverse(item));
                    if admit(n) {
                        results.push(item);
                        if results.len() > ef {
                            results.pop();
                        }
                        if results.len() >= ef {
                            worst = results.peek().map_or(f32::INFINITY, |s| s.dist);
                        }
                    }
                }
            }
        }
        results.into_vec()
    }

    /// The heuristic of the paper (algorithm 4): walking `sorted` nearest first, keep a
    /// candidate only when it is closer to the base than to every neighbour kept so
    /// far, which spreads links across directions instead of one dense cluster.
    fn select_neighbors(&self, sorted: &[Scored], m: usize) -> Vec<u32> {
        if sorted.len() <= m {
            return sorted.iter().map(|s| s.id).collect();
        }
        let mut kept: Vec<u32> = Vec::with_capacity(m);
        for c in sorted {
            if kept.len() >= m {
                break;
            }
            let v = self.vector(c.id);
            if kept.iter().all(|&k| self.dist(v, k) >= c.dist) {
                kept.push(c.id);
            }
        }
        kept
    }

    /// Adds `new` to `slot`'s links on `layer`, re-selecting when the list is full.
    fn add_link(&mut self, slot: u32, new: u32, layer: usize) {
        let current = self.links(slot, layer);
        if current.contains(&new) {
            return;
        }
        let mut list = current.to_vec();
        if list.len() < self.max_links(layer) {
            list.push(new);
            self.set_links(slot, layer, &list);
            return;
        }
        list.push(new);
        let base = self.vector(slot);
        let mut scored: Vec<Scored> =
            list.iter().map(|&n| Scored { dist: self.dist(base, n), id: n }).collect();
        scored.sort_unstable();
        let kept = self.select_neighbors(&scored, self.max_links(layer));
        self.set_links(slot, layer, &kept);
    }

    fn insert_slot(&mut self, slot: u32, level: usize, visited: &mut Visited) {
        if self.entry == NO_SLOT {
            self.entry = slot;
            self.max_level = level;
            return;
        }
        let query = self.vector(slot).to_vec();
        let probe = ExactProbe { index: self, query: &query };
        let mut entry = vec![self.descend(&probe, level)];
        for layer in (0..=level.min(self.max_level)).rev() {
            visited.start(self.levels.len());
            let probe = ExactProbe { index: self, query: &query };
            let mut found =
                self.search_layer(&probe, &entry, self.ef_construction, layer, visited, |_| true);
            found.sort_unstable();
            let chosen = self.select_neighbors(&found, self.m);
            self.set_links(slot, layer, &chosen);
            for &n in &chosen {
                self.add_link(n, slot, layer);
            }
            entry = found;
        }
        if level > self.max_level {
            self.max_level = level;
            self.entry = slot;
        }
    }

    fn remove_slot(&mut self, slot: u32) {
        let level = self.levels[slot as usize] as usize;
        for layer in 0..=level {
            let outs = self.links(slot, layer).to_vec();
            let ins = self.in_links[slot as usize][layer].clone();
            for &a in &ins {
                let mut pool: Vec<u32> = self.links(a, layer).to_vec();
                for &o in &outs {
                    if !pool.contains(&o) {
                        pool.push(o);
                    }
                }
                pool.retain(|&n| n != slot && n != a);
                let base = self.vector(a);
                let mut scored: Vec<Scored> =
                    pool.iter().map(|&n| Scored { dist: self.dist(base, n), id: n }).collect();
                scored.sort_unstable();
                let mut kept = self.select_neighbors(&scored, self.max_links(layer));
                // The heuristic may keep fewer links than the node had; topping up
                // with the nearest pruned candidates keeps the degree (and recall)
                // from eroding under repeated deletes.
                for c in &scored {
                    if kept.len() >= self.m {
                        break;
                    }
                    if !kept.contains(&c.id) {
                        kept.push(c.id);
                    }
                }
                self.set_links(a, layer, &kept);
            }
            self.set_links(slot, layer, &[]);
        }
        let id = self.slot_ids[slot as usize];
        self.id_slots[id as usize] = NO_SLOT;
        self.levels[slot as usize] = FREE;
        self.upper[slot as usize] = Vec::new();
        self.in_links[slot as usize] = Vec::new();
        self.free_slots.push(slot);
        self.live -= 1;
        if self.entry == slot {
            self.pick_new_entry();
        }
    }

    /// After the entry point left: the lowest slot among the highest-level nodes.
    fn pick_new_entry(&mut self) {
        self.entry = NO_SLOT;
        self.max_level = 0;
        let mut best_level = -1i32;
        for (slot, &level) in self.levels.iter().enumerate() {
            if level != FREE && level as i32 > best_level {
                best_level = level as i32;
                self.entry = slot as u32;
            }
        }
        self.max_level = best_level.max(0) as usize;
    }

    /// Exact scan over `allowed` (or everything), `k` nearest.
    fn brute_force(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&RoaringBitmap>,
    ) -> Vec<(DocId, f32)> {
        let mut top = TopK::new(k.min(self.live));
        match allowed {
            Some(allowed) => {
                // The scan ranks on the SQ8 codes (a quarter of the bytes, the VNNI
                // kernel) and re-ranks a generous shortlist exactly: scanning 10k
                // allowed vectors in f32 was slower than the reference's filtered walk.
                let probe = self.codes.query(self.metric, query);
                let shortlist = (4 * k).max(2 * RERANK_FLOOR);
                let mut coarse = TopK::new(shortlist);
                // The allowed vectors are scattered through the code array: resolve the
                // slots first, then keep the codes a few vectors ahead in flight (the
                // scan was bound by cache misses, not by the dot products).
                let slots: Vec<u32> = allowed.iter().filter_map(|id| self.slot_of(id)).collect();
                let coded = CodedProbe { codes: &self.codes, query: probe, dim: self.dim };
                for &slot in slots.iter().take(SCAN_AHEAD) {
                    coded.prefetch_head(slot);
                    coded.prefetch_rest(slot);
                }
                for (i, &slot) in slots.iter().enumerate() {
                    if let Some(&ahead) = slots.get(i + SCAN_AHEAD) {
                        coded.prefetch_head(ahead);
                        coded.prefetch_rest(ahead);
                    }
                    coarse.push(coded.distance(slot), slot);
                }
                let found: Vec<Scored> = coarse
                    .into_sorted()
                    .into_iter()
                    .map(|(slot, dist)| Scored { dist, id: slot })
                    .collect();
                return self.rerank_exact(query, found, k);
            }
            None => {
                for (slot, &level) in self.levels.iter().enumerate() {
                    if level != FREE {
                        top.push(self.dist(query, slot as u32), self.slot_ids[slot]);
                    }
                }
            }
        }
        top.into_sorted()
    }

    /// Whether scanning `allowed` beats a filtered graph walk. A walk at beam `ef` costs
    /// about `ef * M0` distances unfiltered, and `1 / selectivity` times that filtered;
    /// a scan costs `count`. So scan when `count^2 < ef * M0 * len`.
    fn prefer_scan(&self, count: u64, ef: usize) -> bool {
        let count = count.min(self.live as u64);
        count <= BRUTE_FORCE_FLOOR
            || (count as f64) * (count as f64) < (ef * self.m0) as f64 * self.live as f64
    }

    /// The `k` nearest admitted slots: a beam-`ef` walk on the SQ8 estimates, its
    /// candidates re-ranked by exact distance.
    fn graph_knn(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        admit: impl Fn(u32) -> bool,
    ) -> Vec<(DocId, f32)> {
        let probe = CodedProbe {
            codes: &self.codes,
            query: self.codes.query(self.metric, query),
            dim: self.dim,
        };
        let mut found = VISITED.with(|cell| {
            let mut visited = cell.borrow_mut();
            visited.start(self.levels.len());
            let entry = self.descend(&probe, 0);
            self.search_layer(&probe, &[entry], ef, 0, &mut visited, admit)
        });
        // SQ8 ranks well enough that the exact top k lies within the first `rerank`
        // estimates (measured on MiniLM embeddings: re-ranking all `ef` gains no recall);
        // each exact distance reads a cold f32 vector, the dearest step of the search.
        let rerank = (2 * k).max(RERANK_FLOOR);
        if found.len() > rerank {
            found.select_nth_unstable(rerank);
            found.truncate(rerank);
        }
        self.rerank_exact(query, found, k)
    }

    /// Exact distances for `found` (slots with estimates), then the nearest `k` as doc ids.
    fn rerank_exact(&self, query: &[f32], mut found: Vec<Scored>, k: usize) -> Vec<(DocId, f32)> {
        // The f32 vectors are cold (four times the bytes of the codes): start every
        // candidate's first line at once, the rest of each one vector ahead.
        let exact = ExactProbe { index: self, query };
        for s in &found {
            exact.prefetch_head(s.id);
        }
        for i in 0..found.len() {
            if let Some(next) = found.get(i + 1) {
                exact.prefetch_rest(next.id);
            }
            found[i].dist = exact.distance(found[i].id);
        }
        self.finish(found, k)
    }

    /// Slots to doc ids, nearest first with ties by the smaller doc id, at most `k`.
    fn finish(&self, found: Vec<Scored>, k: usize) -> Vec<(DocId, f32)> {
        let mut out: Vec<Scored> = found
            .into_iter()
            .map(|s| Scored { dist: s.dist, id: self.slot_ids[s.id as usize] })
            .collect();
        out.sort_unstable();
        out.truncate(k);
        out.into_iter().map(|s| (s.id, s.dist)).collect()
    }
}

impl VectorIndex for HnswIndex {
    fn upsert(&mut self, id: DocId, vector: &[f32]) {
        if vector.len() != self.dim {
            return;
        }
        let prepared = distance::prepare(self.metric, vector);
        if let Some(slot) = self.slot_of(id) {
            if self.vector(slot) == prepared.as_slice() {
                return;
            }
            self.remove_slot(slot);
        }
        let level = self.level_for(id);
        let slot = self.allocate_slot(id, level, &prepared);
        VISITED.with(|cell| self.insert_slot(slot, level, &mut cell.borrow_mut()));
    }

    fn remove(&mut self, id: DocId) {
        if let Some(slot) = self.slot_of(id) {
            self.remove_slot(slot);
        }
    }

    fn knn(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&RoaringBitmap>,
        options: &SearchOptions,
    ) -> Vec<(DocId, f32)> {
        if k == 0 || self.live == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let query = distance::prepare(self.metric, query);
        // A beam wider than the graph finds nothing more; the cap also keeps a client's
        // `KNN 1000000000` or huge EF_RUNTIME from sizing buffers by it.
        let k = k.min(self.live);
        let ef = options.ef_runtime.unwrap_or(self.ef_runtime).max(k).min(self.live.max(1));
        let wanted = k.min(self.live);
        match allowed {
            None => {
                let found = self.graph_knn(&query, k, ef, |_| true);
                if found.len() >= wanted {
                    return found;
                }
                self.brute_force(&query, k, None)
            }
            Some(allowed) => {
                let count = allowed.len();
                if count == 0 {
                    return Vec::new();
                }
                if self.prefer_scan(count, ef) {
                    return self.brute_force(&query, k, Some(allowed));
                }
                let found = self.graph_knn(&query, k, ef, |slot| {
                    allowed.contains(self.slot_ids[slot as usize])
                });
                if found.len() >= wanted.min(count as usize) {
                    return found;
                }
                // The walk could not reach enough allowed nodes: the contract is
                // min(k, |allowed ∩ indexed|) results, so answer exactly.
                self.brute_force(&query, k, Some(allowed))
            }
        }
    }

    fn range(
        &self,
        query: &[f32],
        radius: f32,
        allowed: Option<&RoaringBitmap>,
        options: &SearchOptions,
    ) -> Vec<(DocId, f32)> {
        if self.live == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let query = distance::prepare(self.metric, query);
        let epsilon = options.epsilon.unwrap_or(self.epsilon).max(0.0) as f32;
        let ef = options.ef_runtime.unwrap_or(self.ef_runtime).max(10).min(self.live.max(10));
        if let Some(allowed) = allowed.filter(|a| self.prefer_scan(a.len(), ef)) {
            let mut within: Vec<Scored> = allowed
                .iter()
                .filter_map(|id| {
                    self.slot_of(id).map(|slot| Scored { dist: self.dist(&query, slot), id })
                })
                .filter(|s| s.dist <= radius)
                .collect();
            within.sort_unstable();
            return within.into_iter().map(|s| (s.id, s.dist)).collect();
        }
        let admit = |slot: u32| allowed.is_none_or(|a| a.contains(self.slot_ids[slot as usize]));
        let expand = |d: f32| d + d.abs() * epsilon;
        let found = VISITED.with(|cell| {
            let mut visited = cell.borrow_mut();
            // A beam search finds the region nearest the query; from there a
            // best-first flood collects everything inside the radius, crossing gaps
            // up to `epsilon` (relative) beyond it.
            visited.start(self.levels.len());
            let probe = ExactProbe { index: self, query: &query };
            let entry = self.descend(&probe, 0);
            let seeds = self.search_layer(&probe, &[entry], ef, 0, &mut visited, |_| true);
            visited.start(self.levels.len());
            let mut boundary =
                seeds.iter().map(|s| s.dist).fold(f32::INFINITY, f32::min).max(radius);
            let mut candidates: BinaryHeap<Reverse<Scored>> = BinaryHeap::new();
            let mut within = Vec::new();
            for s in seeds {
                visited.insert(s.id);
                if s.dist <= radius && admit(s.id) {
                    within.push(s);
                }
                candidates.push(Reverse(s));
            }
            while let Some(Reverse(current)) = candidates.pop() {
                if current.dist > expand(boundary) {
                    break;
                }
                for &n in self.links(current.id, 0) {
                    if !visited.insert(n) {
                        continue;
                    }
                    let d = self.dist(&query, n);
                    if d <= radius && admit(n) {
                        within.push(Scored { dist: d, id: n });
                    }
                    if d < boundary {
                        boundary = d.max(radius);
                    }
                    if d <= expand(boundary) {
                        candidates.push(Reverse(Scored { dist: d, id: n }));
                    }
                }
            }
            within
        });
        self.finish(found, usize::MAX)
    }

    fn distance_to(&self, query: &[f32], id: DocId) -> Option<f32> {
        if query.len() != self.dim {
            return None;
        }
        let slot = self.slot_of(id)?;
        Some(self.dist(&distance::prepare(self.metric, query), slot))
    }

    fn len(&self) -> usize {
        self.live
    }

    fn memory_bytes(&self) -> usize {
        let upper: usize = self.upper.iter().map(|u| u.capacity() * 4 + 24).sum();
        let in_links: usize = self
            .in_links
            .iter()
            .map(|l| 24 + l.iter().map(|v| v.capacity() * 4 + 24).sum::<usize>())
            .sum();
        self.vectors.capacity() * 4
            + self.codes.memory_bytes()
            + self.links0.capacity() * 4
            + upper
            + in_links
            + self.levels.capacity()
            + (self.slot_ids.capacity() + self.id_slots.capacity() + self.free_slots.capacity()) * 4
    }

    fn save(&self) -> Vec<u8> {
        let mut w = Writer::new(MAGIC);
        w.u64(self.dim as u64);
        w.u64(self.m as u64);
        w.u8(metric_code(self.metric));
        w.f32s(&self.vectors);
        w.u32s(&self.links0);
        w.u64(self.upper.len() as u64);
        for links in &self.upper {
            w.u32s(links);
        }
        w.u64(self.in_links.len() as u64);
        for per_level in &self.in_links {
            w.u64(per_level.len() as u64);
            for links in per_level {
                w.u32s(links);
            }
        }
        w.bytes(&self.levels);
        w.u32s(&self.slot_ids);
        w.u32s(&self.id_slots);
        w.u32s(&self.free_slots);
        w.u32(self.entry);
        w.u64(self.max_level as u64);
        w.u64(self.live as u64);
        w.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::vector::{Algorithm, VectorType};

    fn params(metric: Metric, dim: usize) -> VectorParams {
        VectorParams::new(Algorithm::Hnsw, VectorType::Float32, dim, metric)
    }

    fn grid(ix: &mut HnswIndex, n: u32) {
        for id in 0..n {
            ix.upsert(id, &[(id % 10) as f32, (id / 10) as f32]);
        }
    }

    /// Every link points at a live slot and in_links mirrors the out-links exactly.
    fn assert_graph_consistent(ix: &HnswIndex) {
        for slot in 0..ix.levels.len() as u32 {
            let level = ix.levels[slot as usize];
            if level == FREE {
                continue;
            }
            for layer in 0..=level as usize {
                for &n in ix.links(slot, layer) {
                    assert_ne!(ix.levels[n as usize], FREE, "link to a free slot");
                    assert!(ix.levels[n as usize] as usize >= layer);
                    assert!(ix.in_links[n as usize][layer].contains(&slot));
                }
                for &a in &ix.in_links[slot as usize][layer] {
                    assert!(ix.links(a, layer).contains(&slot));
                }
            }
        }
    }

    #[test]
    fn exact_on_a_small_grid() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 100);
        let got = ix.knn(&[3.0, 4.0], 5, None, &SearchOptions::default());
        assert_eq!(got[0], (43, 0.0));
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![43, 33, 42, 44, 53]);
        assert_graph_consistent(&ix);
    }

    #[test]
    fn removed_ids_never_come_back_and_slots_are_reused() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 200);
        for id in (0..200).step_by(3) {
            ix.remove(id);
        }
        assert_graph_consistent(&ix);
        let slots_before = ix.levels.len();
        for id in 200..250 {
            ix.upsert(id, &[(id % 7) as f32, 0.5]);
        }
        assert_eq!(ix.levels.len(), slots_before, "freed slots reused");
        assert_graph_consistent(&ix);
        let all = ix.knn(&[0.0, 0.0], 1000, None, &SearchOptions::default());
        assert_eq!(all.len(), ix.len());
        assert!(all.iter().all(|(id, _)| *id >= 200 || id % 3 != 0));
    }

    #[test]
    fn removing_everything_empties_the_index() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 50);
        for id in 0..50 {
            ix.remove(id);
        }
        assert!(ix.is_empty());
        assert!(ix.knn(&[0.0, 0.0], 3, None, &SearchOptions::default()).is_empty());
        ix.upsert(7, &[1.0, 1.0]);
        assert_eq!(ix.knn(&[0.0, 0.0], 3, None, &SearchOptions::default()), vec![(7, 2.0)]);
    }

    #[test]
    fn same_upserts_build_the_same_graph() {
        let build = || {
            let mut ix = HnswIndex::new(&params(Metric::L2, 2));
            grid(&mut ix, 300);
            for id in (0..300).step_by(7) {
                ix.remove(id);
            }
            ix
        };
        let (a, b) = (build(), build());
        assert_eq!(a.links0, b.links0);
        assert_eq!(a.upper, b.upper);
        assert_eq!(a.entry, b.entry);
    }

    #[test]
    fn a_saved_graph_loads_identical_and_corruption_is_refused() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 300);
        ix.remove(17);
        let data = ix.save();
        let loaded = HnswIndex::load(&params(Metric::L2, 2), &data).unwrap();
        assert_eq!(loaded.links0, ix.links0);
        assert_eq!(loaded.len(), ix.len());
        let options = SearchOptions::default();
        for q in [[0.5f32, 0.5], [7.0, 3.0], [100.0, 2.0]] {
            assert_eq!(loaded.knn(&q, 5, None, &options), ix.knn(&q, 5, None, &options));
        }
        assert_graph_consistent(&loaded);
        let mut bad = data.clone();
        bad[40] ^= 0x10;
        assert!(HnswIndex::load(&params(Metric::L2, 2), &bad).is_none());
        assert!(HnswIndex::load(&params(Metric::L2, 3), &data).is_none());
    }

    #[test]
    fn upsert_with_the_same_vector_is_a_no_op() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 100);
        let before = ix.links0.clone();
        ix.upsert(42, &[2.0, 4.0]);
        assert_eq!(ix.links0, before);
        ix.upsert(42, &[100.0, 100.0]);
        assert_eq!(ix.distance_to(&[100.0, 100.0], 42), Some(0.0));
        assert_eq!(ix.len(), 100);
        assert_graph_consistent(&ix);
    }

    #[test]
    fn filtered_knn_returns_min_of_k_and_allowed() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 400);
        let allowed: RoaringBitmap = [5u32, 17, 399, 1000].into_iter().collect();
        let got = ix.knn(&[0.0, 0.0], 10, Some(&allowed), &SearchOptions::default());
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![5, 17, 399]);
    }

    #[test]
    fn k_beyond_len_returns_everything() {
        let mut ix = HnswIndex::new(&params(Metric::InnerProduct, 2));
        grid(&mut ix, 30);
        assert_eq!(ix.knn(&[1.0, 1.0], 100, None, &SearchOptions::default()).len(), 30);
    }

    #[test]
    fn range_finds_everything_within_the_radius() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 400);
        let got = ix.range(&[5.0, 5.0], 2.0, None, &SearchOptions::default());
        let ids: Vec<_> = got.iter().map(|r| r.0).collect();
        // (5,5) itself, 4 at distance 1, 4 at distance 2.
        assert_eq!(ids, vec![55, 45, 54, 56, 65, 44, 46, 64, 66]);
    }

    #[test]
    fn filtered_graph_walk_finds_the_allowed_neighbours() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 8));
        let mut seed = 0x1234_5678u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        for id in 0..3000 {
            let v: Vec<f32> = (0..8).map(|_| next()).collect();
            ix.upsert(id, &v);
        }
        let allowed: RoaringBitmap = (0..3000).filter(|id| id % 5 == 2).collect();
        assert!(!ix.prefer_scan(allowed.len(), 10) || allowed.len() <= BRUTE_FORCE_FLOOR);
        let (mut hits, mut total) = (0, 0);
        for _ in 0..20 {
            let q: Vec<f32> = (0..8).map(|_| next()).collect();
            let truth = ix.brute_force(&q, 10, Some(&allowed));
            let got = ix.graph_knn(&q, 10, 64, |slot| allowed.contains(ix.slot_ids[slot as usize]));
            assert_eq!(got.len(), 10);
            assert!(got.iter().all(|(id, _)| allowed.contains(*id)));
            hits += got.iter().filter(|r| truth.contains(r)).count();
            total += truth.len();
        }
        assert!(hits as f64 / total as f64 >= 0.95, "{hits}/{total}");
    }

    #[test]
    fn filtered_range_scans_small_allow_lists_exactly() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 400);
        let allowed: RoaringBitmap = [0u32, 1, 10, 55, 399].into_iter().collect();
        let got = ix.range(&[0.0, 0.0], 2.0, Some(&allowed), &SearchOptions::default());
        assert_eq!(got, vec![(0, 0.0), (1, 1.0), (10, 1.0)]);
    }

    #[test]
    fn random_churn_keeps_the_graph_consistent() {
        let mut ix = HnswIndex::new(&params(Metric::Cosine, 4));
        let mut seed = 0xDEAD_BEEFu64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut present = std::collections::BTreeSet::new();
        for _ in 0..3000 {
            let id = (next() % 300) as u32;
            if next() % 3 == 0 {
                ix.remove(id);
                present.remove(&id);
            } else {
                let v: Vec<f32> = (0..4).map(|_| (next() % 100) as f32 - 50.0).collect();
                ix.upsert(id, &v);
                present.insert(id);
            }
        }
        assert_graph_consistent(&ix);
        assert_eq!(ix.len(), present.len());
        let all = ix.knn(&[1.0, 0.0, 0.0, 0.0], 1000, None, &SearchOptions::default());
        let got: std::collections::BTreeSet<u32> = all.iter().map(|r| r.0).collect();
        assert_eq!(got, present);
    }

    fn random_index(metric: Metric, n: u32, dim: usize, seed: u64) -> (HnswIndex, Vec<Vec<f32>>) {
        let mut seed = seed;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut ix = HnswIndex::new(&params(metric, dim));
        for id in 0..n {
            let v: Vec<f32> = (0..dim).map(|_| next()).collect();
            ix.upsert(id, &v);
        }
        let queries = (0..30).map(|_| (0..dim).map(|_| next()).collect()).collect();
        (ix, queries)
    }

    #[test]
    fn quantized_walk_keeps_recall_and_reports_exact_distances() {
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let (ix, queries) = random_index(metric, 2000, 48, 0xC0FFEE);
            let options = SearchOptions { ef_runtime: Some(64), epsilon: None };
            let (mut hits, mut total) = (0, 0);
            for q in &queries {
                let truth = ix.brute_force(&distance::prepare(metric, q), 10, None);
                let got = ix.knn(q, 10, None, &options);
                assert_eq!(got.len(), 10);
                for &(id, d) in &got {
                    // Bit for bit the f32 distance, not the SQ8 estimate.
                    assert_eq!(Some(d), ix.distance_to(q, id), "{metric:?}");
                }
                assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "{metric:?}: sorted");
                hits += got.iter().filter(|r| truth.contains(r)).count();
                total += truth.len();
            }
            assert!(hits as f64 / total as f64 >= 0.95, "{metric:?}: {hits}/{total}");
        }
    }

    #[test]
    fn codes_follow_updates_and_reused_slots() {
        let mut ix = HnswIndex::new(&params(Metric::L2, 2));
        grid(&mut ix, 100);
        ix.upsert(42, &[100.0, 100.0]);
        ix.remove(7);
        ix.upsert(500, &[-50.0, 3.0]); // takes a freed slot
        let options = SearchOptions::default();
        assert_eq!(ix.knn(&[100.0, 99.0], 1, None, &options), vec![(42, 1.0)]);
        assert_eq!(ix.knn(&[-50.0, 3.0], 1, None, &options), vec![(500, 0.0)]);
        let loaded = HnswIndex::load(&params(Metric::L2, 2), &ix.save()).unwrap();
        assert_eq!(loaded.codes.codes(3), ix.codes.codes(3));
        assert_eq!(loaded.knn(&[-50.0, 3.0], 1, None, &options), vec![(500, 0.0)]);
    }

    #[test]
    fn levels_follow_the_id_only() {
        let ix = HnswIndex::new(&params(Metric::L2, 2));
        let levels: Vec<_> = (0..10_000).map(|id| ix.level_for(id)).collect();
        let upper = levels.iter().filter(|&&l| l > 0).count();
        // P(level > 0) = 1/M = 1/16.
        assert!((400..900).contains(&upper), "{upper}");
        assert_eq!(levels, (0..10_000).map(|id| ix.level_for(id)).collect::<Vec<_>>());
    }
}
