//! Benchmarks of the offline places index: loading the built-in data, and a 10 km query in
//! dense places (central London, central Tokyo).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use herd_places::offline::{OfflineIndex, OfflineProvider};
use herd_places::NearbyQuery;

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("offline");
    group.sample_size(10);
    group.bench_function("load_builtin", |b| {
        b.iter(|| OfflineIndex::load_builtin().expect("built-in data loads"))
    });
    group.finish();
}

fn query(c: &mut Criterion) {
    let provider = OfflineProvider::builtin().expect("built-in data loads");
    let index = provider.index().clone();
    c.bench_function("offline/near_london_10km", |b| {
        b.iter(|| index.near(black_box(51.5074), black_box(-0.1278), 10_000.0, 20))
    });
    c.bench_function("offline/near_tokyo_10km", |b| {
        b.iter(|| index.near(black_box(35.6812), black_box(139.7671), 10_000.0, 20))
    });
    c.bench_function("offline/answer_json_tokyo_10km", |b| {
        b.iter(|| {
            provider.answer(NearbyQuery {
                lat: black_box(35.6812),
                lng: 139.7671,
                radius_m: 10_000.0,
                bound: 20,
            })
        })
    });
}

criterion_group!(benches, load, query);
criterion_main!(benches);
