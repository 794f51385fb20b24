//! engram-benches: criterion benchmarks; see `benches/` and the side-by-side scripts.
