//! Distance kernels on `f32` slices: squared L2, dot product, and the per-metric
//! distance the indexes order by.
//!
//! The hot kernels go through `simsimd`, whose runtime dispatch picks AVX-512 / AVX2
//! code on the machine it runs on; a binary built for baseline x86-64 would otherwise
//! only get SSE2 from the auto-vectorizer (the workspace forbids `unsafe`, so no
//! `target_feature` dispatch of our own). The portable chunked loops stay as the
//! fallback (when simsimd declines, e.g. on mismatched lengths) and as the reference
//! the tests and the kernel bench compare against.
//!
//! COSINE is computed as `1 - dot` on vectors normalized once on the way in
//! ([`prepare`]): a zero vector stays zero, so its distance to anything is exactly 1,
//! never NaN.

use simsimd::SpatialSimilarity;

use super::Metric;

/// Independent accumulators per chunk: enough to hide the add latency and let LLVM
/// keep several SIMD registers busy.
const LANES: usize = 16;

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    match f32::l2sq(a, b) {
        Some(d) => d as f32,
        None => l2_squared_portable(a, b),
    }
}

/// Dot product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    match f32::dot(a, b) {
        Some(d) => d as f32,
        None => dot_portable(a, b),
    }
}

/// Dot product of two `i8` code vectors (the SQ8 walk of the HNSW search), exact in
/// `i32`. simsimd widens to `i16` and uses the AVX-512 VNNI `dpwssd` where the CPU has
/// it (Ice Lake and later, Zen 4 and later).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    match i8::dot(a, b) {
        // Exact: an i32 sum of i8 products is far inside f64's 53-bit mantissa.
        Some(d) => d as i32,
        None => dot_i8_portable(a, b),
    }
}

/// Dot product of `i8` vectors in plain Rust.
pub fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
}

/// Squared Euclidean distance in plain Rust (16 accumulators, auto-vectorized).
pub fn l2_squared_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// Dot product in plain Rust (16 accumulators, auto-vectorized).
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Scales `v` to unit length in place; a zero (or non-finite-norm) vector is left as is.
pub fn normalize(v: &mut [f32]) {
    // In f64: the squared norm of large f32 components overflows f32.
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

/// The vector an index stores (and a query is compared as) for `metric`: normalized
/// for COSINE, unchanged otherwise.
pub fn prepare(metric: Metric, v: &[f32]) -> Vec<f32> {
    let mut out = v.to_vec();
    if metric == Metric::Cosine {
        normalize(&mut out);
    }
    out
}

/// The distance between two [`prepare`]d vectors under `metric`, as RediSearch
/// reports it.
pub type DistanceFn = fn(&[f32], &[f32]) -> f32;

fn inner_product_distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot(a, b)
}

/// The kernel for `metric` on prepared vectors (COSINE vectors are unit length, so it
/// is the inner-product distance).
pub fn distance_fn(metric: Metric) -> DistanceFn {
    match metric {
        Metric::L2 => l2_squared,
        Metric::InnerProduct | Metric::Cosine => inner_product_distance,
    }
}

/// Maps NaN (from NaN/inf inputs) to +inf so a poisoned vector sorts last instead of
/// breaking the heap order.
#[inline]
pub fn sanitize(d: f32) -> f32 {
    if d.is_nan() {
        f32::INFINITY
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_l2(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    fn naive_dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn sample(dim: usize, seed: u32) -> Vec<f32> {
        (0..dim)
            .map(|i| {
                (((i as u32 + 1).wrapping_mul(2654435761u32) ^ seed) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn cosine_survives_components_whose_squares_overflow_f32() {
        let huge = prepare(Metric::Cosine, &[2.6e20, 2.6e20]);
        let unit = prepare(Metric::Cosine, &[1.0, 0.0]);
        let d = distance_fn(Metric::Cosine)(&huge, &unit);
        assert!((d - 0.292_893_23).abs() < 1e-6, "{d}");
    }

    #[test]
    fn kernels_agree_with_the_naive_loop_at_odd_dimensions() {
        for dim in [1, 3, 15, 16, 17, 64, 100, 128, 384, 1000] {
            let (a, b) = (sample(dim, 7), sample(dim, 99));
            let tol = 1e-4 * (dim as f32);
            assert!((l2_squared(&a, &b) - naive_l2(&a, &b)).abs() < tol, "l2 dim {dim}");
            assert!((l2_squared_portable(&a, &b) - naive_l2(&a, &b)).abs() < tol);
            assert!((dot(&a, &b) - naive_dot(&a, &b)).abs() < tol, "dot dim {dim}");
            assert!((dot_portable(&a, &b) - naive_dot(&a, &b)).abs() < tol);
        }
    }

    #[test]
    fn i8_dot_agrees_with_the_naive_loop() {
        for dim in [1usize, 3, 31, 32, 33, 100, 384, 1000] {
            let a: Vec<i8> =
                (0..dim).map(|i| ((i * 37 + 11) % 255) as i32 - 127).map(|x| x as i8).collect();
            let b: Vec<i8> =
                (0..dim).map(|i| ((i * 91 + 5) % 255) as i32 - 127).map(|x| x as i8).collect();
            let naive: i32 = a.iter().zip(&b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
            assert_eq!(dot_i8(&a, &b), naive, "dim {dim}");
            assert_eq!(dot_i8_portable(&a, &b), naive);
        }
        assert_eq!(dot_i8(&[-127; 1000], &[-127; 1000]), 127 * 127 * 1000);
    }

    #[test]
    fn cosine_of_a_zero_vector_is_distance_one() {
        let zero = prepare(Metric::Cosine, &[0.0; 8]);
        let other = prepare(Metric::Cosine, &sample(8, 3));
        let d = distance_fn(Metric::Cosine)(&zero, &other);
        assert_eq!(d, 1.0);
        assert_eq!(distance_fn(Metric::Cosine)(&zero, &zero), 1.0);
    }

    #[test]
    fn cosine_of_parallel_vectors_is_zero() {
        let a = prepare(Metric::Cosine, &[1.0, 2.0, 3.0]);
        let b = prepare(Metric::Cosine, &[2.0, 4.0, 6.0]);
        assert!(distance_fn(Metric::Cosine)(&a, &b).abs() < 1e-6);
    }

    #[test]
    fn inner_product_distance_is_one_minus_dot() {
        let d = distance_fn(Metric::InnerProduct)(&[1.0, 2.0], &[3.0, 4.0]);
        assert_eq!(d, 1.0 - 11.0);
    }

    #[test]
    fn nan_distances_sort_last() {
        assert_eq!(sanitize(f32::NAN), f32::INFINITY);
        assert_eq!(sanitize(0.5), 0.5);
    }
}
