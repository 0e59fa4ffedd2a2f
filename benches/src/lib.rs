//! Criterion benchmarks of haul live in `benches/`; this library is empty on purpose.
