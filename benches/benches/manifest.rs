//! Issue 5: hashing files of 1 KiB, 1 MiB and 1 GiB (`manifest::hash_file`: read below
//! 16 KiB, memory-mapped and hashed on rayon above), and the streaming diff of two manifests'
//! worth of 1,000,000 entries. `cargo bench -p haul-benches --bench manifest`; the figures
//! and the machine are in BENCHMARKS.md, next to `b3sum` on the same files.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine::manifest::{Entry, diff, hash_file};

/// Deterministic incompressible bytes.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn hashing(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("hash_file");
    for (name, len) in [("1KiB", 1usize << 10), ("1MiB", 1 << 20), ("1GiB", 1 << 30)] {
        let path = dir.path().join(name);
        fs_err::write(&path, noise(len)).expect("write");
        g.throughput(Throughput::Bytes(len as u64));
        if len >= 1 << 30 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::from_parameter(name), &path, |b, p| {
            b.iter(|| hash_file(black_box(p)).expect("hash"));
        });
    }
    g.finish();
}

fn entries(n: usize, changed_every: usize) -> Vec<Entry> {
    (0..n)
        .map(|i| {
            let key = format!(
                "docker/registry/v2/blobs/sha256/{:02x}/{i:010}/data",
                i % 256
            );
            let content = if changed_every > 0 && i % changed_every == 0 {
                i as u64 + 1
            } else {
                i as u64
            };
            Entry {
                key,
                size: 4096,
                mtime_ns: 1_700_000_000_000_000_000,
                mode: Some(0o100_644),
                hash: blake3::hash(&content.to_le_bytes()),
                etag: None,
            }
        })
        .collect()
}

fn diffing(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let mut a = entries(N, 0);
    let mut b = entries(N, 1000);
    a.sort_by(|x, y| x.key.cmp(&y.key));
    b.sort_by(|x, y| x.key.cmp(&y.key));
    let mut g = c.benchmark_group("manifest_diff");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("1M_entries_0.1pct_changed", |bench| {
        bench.iter(|| {
            let changes = diff(a.iter().cloned().map(Ok), b.iter().cloned().map(Ok))
                .flatten()
                .count();
            assert_eq!(changes, N / 1000);
            black_box(changes)
        });
    });
    g.finish();
}

criterion_group!(benches, hashing, diffing);
criterion_main!(benches);
