//! Issue 7, item 6: the hot paths of a sync, each with a throughput figure in BENCHMARKS.md.
//! `cargo bench -p haul-benches --bench hot_paths`.
//!
//! - parsing one 1,000-key ListObjectsV2 page (`s3::parse_list_objects_v2`);
//! - SigV4 signing of one GET (`s3::sign`, through aws-sigv4);
//! - part planning of a 1 TiB upload and walking its 10,000 parts (`transfer::PartPlan`);
//! - the key-order merge-join of two 1,000,000-entry streams (`sync::diff::Merge`);
//! - tar header encoding: packing 1,000 empty files (headers only) to a sink (`archive::pack`).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::s3::{Credentials, PayloadHash, parse_list_objects_v2, sign};
use engine::sync::diff::{Compare, Decision, Entry, Merge};
use engine::transfer::PartPlan;

fn list_page() -> Vec<u8> {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>registry</Name><Prefix></Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>token</NextContinuationToken>"#,
    );
    for i in 0..1000 {
        let _ = write!(
            xml,
            "<Contents><Key>docker/registry/v2/blobs/sha256/{:02x}/{i:064x}/data</Key>\
             <LastModified>2026-11-25T03:00:00.000Z</LastModified>\
             <ETag>&quot;{i:032x}&quot;</ETag><Size>{}</Size>\
             <StorageClass>STANDARD</StorageClass></Contents>",
            i % 256,
            4096 + i
        );
    }
    xml.push_str("</ListBucketResult>");
    xml.into_bytes()
}

fn parsing(c: &mut Criterion) {
    let page = list_page();
    let mut g = c.benchmark_group("list_page");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("parse_1000_keys", |b| {
        b.iter(|| {
            let p = parse_list_objects_v2(black_box(&page)).expect("parse");
            assert_eq!(p.objects.len(), 1000);
            p
        });
    });
    g.finish();
}

fn signing(c: &mut Criterion) {
    let creds = Credentials::new("haulbenchaccess", "haulbenchsecret0123456789", None);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let mut g = c.benchmark_group("sigv4");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign_get", |b| {
        b.iter(|| {
            let mut req = http::Request::builder()
                .method("GET")
                .uri("http://127.0.0.1:7480/registry/docker/registry/v2/blobs/sha256/ab/data")
                .header("host", "127.0.0.1:7480")
                .header("range", "bytes=0-16777215")
                .body(())
                .expect("request");
            sign(&mut req, &creds, "us-east-1", &PayloadHash::Unsigned, now).expect("sign");
            req
        });
    });
    g.finish();
}

fn planning(c: &mut Criterion) {
    let mut g = c.benchmark_group("part_plan");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("plan_1TiB_walk_10000_parts", |b| {
        b.iter(|| {
            let plan = PartPlan::multipart(black_box(1 << 40), 16 << 20, None).expect("plan");
            plan.parts().map(|p| p.len).sum::<u64>()
        });
    });
    g.finish();
}

fn entries(n: usize, shift: usize) -> Vec<Entry> {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut v: Vec<Entry> = (0..n)
        .map(|i| Entry {
            key: format!(
                "docker/registry/v2/blobs/sha256/{:02x}/{:010}/data",
                i % 256,
                i + shift
            ),
            size: 4096,
            mtime: t,
            etag: None,
            synced_from: None,
        })
        .collect();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    v
}

fn merging(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let (src, dst) = (entries(N, 0), entries(N, 1000));
    let mut g = c.benchmark_group("merge_join");
    g.throughput(Throughput::Elements(2 * N as u64));
    g.sample_size(10);
    g.bench_function("two_1M_streams", |b| {
        b.iter(|| {
            let same = Merge::new(
                src.iter().cloned(),
                dst.iter().cloned(),
                Compare::SizeAndTime,
            )
            .filter(|d| matches!(d, Decision::Same(_)))
            .count();
            black_box(same)
        });
    });
    g.finish();
}

fn tar_headers(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..1000 {
        let p = dir
            .path()
            .join(format!("logs/d{:02}/file-{i:04}.log", i % 20));
        fs_err::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs_err::write(&p, b"").expect("write");
    }
    let mut g = c.benchmark_group("tar");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("pack_1000_empty_files", |b| {
        b.iter(|| {
            engine::archive::pack(
                dir.path(),
                std::io::sink(),
                engine::archive::PackOptions::default(),
                &mut |_| Ok(()),
            )
            .expect("pack")
        });
    });
    g.finish();
}

criterion_group!(benches, parsing, signing, planning, merging, tar_headers);
criterion_main!(benches);
