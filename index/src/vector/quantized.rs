//! SQ8: an `i8` copy of every stored vector, which the HNSW search walks the graph on
//! before re-ranking its candidates with the exact `f32` vectors.
//!
//! Each vector is scaled on its own (`step = max |x_i| / 127`, codes `round(x_i / step)`
//! in `-127..=127`), so no data-wide range has to be tracked, a vector larger than all
//! before it never forces a re-encoding, and the query gets its own step the same way.
//! Every metric is then estimated from one `i8` dot product:
//!
//! ```text
//!   a·b       ≈ dot_i8(codes_a, codes_b) * step_a * step_b
//!   IP, COSINE: 1 - a·b                  (COSINE vectors are unit length already)
//!   L2:         |a|² + |b|² - 2 a·b      (|a|², |b|² kept per slot)
//! ```
//!
//! The squared norms are those of the decoded vectors (`codes * step`), not of the
//! originals: then every estimate is the exact distance between two decoded vectors,
//! so a vector's estimated L2 distance to itself is 0 and the errors of near pairs
//! partly cancel.
//!
//! These estimates only steer the walk: every distance a search reports is recomputed
//! from the `f32` vectors. The codes are derived data: never saved, rebuilt on load.

use super::distance;
use super::Metric;

/// Codes span `-LEVELS..=LEVELS` (symmetric, so `-128` never occurs and negation is
/// exact).
const LEVELS: f32 = 127.0;
/// [`LEVELS`] as an integer code.
const LEVELS_I: i32 = 127;

/// The encoded copy of an index's vectors, addressed by the same slots.
#[derive(Debug, Clone)]
pub(crate) struct Sq8Store {
    dim: usize,
    /// `dim` codes per slot.
    codes: Vec<i8>,
    /// Per slot: the value of one code step.
    steps: Vec<f32>,
    /// Per slot: the squared norm of the decoded vector (for the L2 estimate).
    sq_norms: Vec<f32>,
}

/// A query encoded for [`Sq8Store::distance`].
#[derive(Debug, Clone)]
pub(crate) struct Sq8Query {
    l2: bool,
    codes: Vec<i8>,
    step: f32,
    sq_norm: f32,
}

/// Encodes `v` into `out` and returns its step (0 for a zero or non-finite vector, whose
/// codes are all 0: its estimated dot with anything is 0).
fn encode(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().filter(|x| x.is_finite()).fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        out.fill(0);
        return 0.0;
    }
    let inverse = LEVELS / max;
    for (code, &x) in out.iter_mut().zip(v) {
        // Rounds half away from zero by adding ±0.5 and truncating: `f32::round` is a
        // libm call per element here (a tenth of a restart's time re-encoding vectors),
        // this vectorizes. `as` saturates and maps NaN to 0; the clamp keeps ±inf off
        // -128.
        let scaled = x * inverse;
        *code = ((scaled + 0.5f32.copysign(scaled)) as i32).clamp(-LEVELS_I, LEVELS_I) as i8;
    }
    max / LEVELS
}

/// Squared norm of the vector `codes * step` decodes to (in f64: the square of a large
/// step overflows f32).
fn decoded_sq_norm(codes: &[i8], step: f32) -> f32 {
    let step = f64::from(step);
    codes.iter().map(|&c| f64::from(c) * step).map(|x| x * x).sum::<f64>() as f32
}

impl Sq8Store {
    /// An empty store for vectors of `dim` elements, room reserved for `cap`.
    pub fn new(dim: usize, cap: usize) -> Self {
        Self {
            dim,
            codes: Vec::with_capacity(cap * dim),
            steps: Vec::with_capacity(cap),
            sq_norms: Vec::with_capacity(cap),
        }
    }

    /// The store for slot-major `vectors` (`dim` per slot), as after `set` of each.
    pub fn encode_all(dim: usize, vectors: &[f32]) -> Self {
        let slots = vectors.len().checked_div(dim).unwrap_or(0);
        let mut store = Self::new(dim, slots);
        for slot in 0..slots {
            store.set(slot, &vectors[slot * dim..(slot + 1) * dim]);
        }
        store
    }

    /// Stores the encoding of `v` at `slot`, which is an existing slot or the next one.
    pub fn set(&mut self, slot: usize, v: &[f32]) {
        if slot == self.steps.len() {
            self.codes.resize(self.codes.len() + self.dim, 0);
            self.steps.push(0.0);
            self.sq_norms.push(0.0);
        }
        let start = slot * self.dim;
        let codes = &mut self.codes[start..start + self.dim];
        let step = encode(v, codes);
        self.steps[slot] = step;
        self.sq_norms[slot] = decoded_sq_norm(codes, step);
    }

    /// Encodes `query` (already prepared for `metric`) for [`Self::distance`].
    pub fn query(&self, metric: Metric, query: &[f32]) -> Sq8Query {
        let mut codes = vec![0i8; query.len()];
        let step = encode(query, &mut codes);
        let sq_norm = decoded_sq_norm(&codes, step);
        Sq8Query { l2: metric == Metric::L2, codes, step, sq_norm }
    }

    /// The codes of `slot`.
    #[inline]
    pub fn codes(&self, slot: u32) -> &[i8] {
        let start = slot as usize * self.dim;
        &self.codes[start..start + self.dim]
    }

    /// The code at `index` of the slot-major array, for prefetching.
    #[inline]
    pub fn code_at(&self, index: usize) -> Option<&i8> {
        self.codes.get(index)
    }

    /// The estimated distance from `query` to `slot`'s vector, in the metric's units.
    #[inline]
    pub fn distance(&self, query: &Sq8Query, slot: u32) -> f32 {
        let s = slot as usize;
        let dot =
            distance::dot_i8(&query.codes, self.codes(slot)) as f32 * (query.step * self.steps[s]);
        let d = if query.l2 { query.sq_norm + self.sq_norms[s] - 2.0 * dot } else { 1.0 - dot };
        distance::sanitize(d)
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.codes.capacity() + (self.steps.capacity() + self.sq_norms.capacity()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..dim)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn store_of(vectors: &[Vec<f32>]) -> Sq8Store {
        let dim = vectors[0].len();
        Sq8Store::encode_all(dim, &vectors.concat())
    }

    #[test]
    fn estimates_are_close_to_the_exact_distances() {
        let dim = 384;
        let vectors: Vec<Vec<f32>> = (0..50).map(|i| sample(dim, i)).collect();
        let query = sample(dim, 999);
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let stored: Vec<Vec<f32>> =
                vectors.iter().map(|v| distance::prepare(metric, v)).collect();
            let store = store_of(&stored);
            let prepared = distance::prepare(metric, &query);
            let encoded = store.query(metric, &prepared);
            for (slot, v) in vectors.iter().enumerate() {
                let v = distance::prepare(metric, v);
                let exact = distance::distance_fn(metric)(&prepared, &v);
                let estimate = store.distance(&encoded, slot as u32);
                // Relative to the magnitude of the dot product being estimated.
                let scale =
                    distance::dot(&prepared, &prepared).sqrt() * distance::dot(&v, &v).sqrt();
                assert!(
                    (estimate - exact).abs() <= 0.02 * scale,
                    "{metric:?}: {estimate} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn large_vectors_do_not_disturb_small_ones() {
        let small = sample(16, 1);
        let store = store_of(&[small.clone(), small.iter().map(|x| x * 1e6).collect()]);
        let encoded = store.query(Metric::L2, &small);
        assert!(store.distance(&encoded, 0).abs() < 1e-5);
        let exact =
            distance::l2_squared(&small, &small.iter().map(|x| x * 1e6).collect::<Vec<_>>());
        let estimate = store.distance(&encoded, 1);
        assert!((estimate - exact).abs() <= 0.01 * exact, "{estimate} vs {exact}");
    }

    #[test]
    fn zero_and_non_finite_vectors_encode_safely() {
        let mut store = Sq8Store::new(3, 0);
        store.set(0, &[0.0, 0.0, 0.0]);
        store.set(1, &[f32::NAN, 1.0, f32::INFINITY]);
        let q = store.query(Metric::InnerProduct, &[1.0, 0.0, 0.0]);
        assert_eq!(store.distance(&q, 0), 1.0);
        assert_eq!(store.codes(1), &[0, 127, 127]);
        let q = store.query(Metric::L2, &[1.0, 0.0, 0.0]);
        assert_eq!(store.distance(&q, 0), 1.0);
        assert!(store.distance(&q, 1).is_finite());
    }
}
