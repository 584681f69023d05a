//! `plan` on an 8-GPU H100-80GB node with 56 holders (seven 1g.10gb per GPU), with and without
//! eviction. Target: under 20 µs median. Results go in RESULTS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dynamig_core::catalog::model_by_key;
use dynamig_core::planner::{
    plan, GpuView, HolderRef, NodeView, Owner, PlacedInstance, PlanRequest,
};
use dynamig_core::priority::Priority;
use dynamig_core::request::Size;
use std::time::Duration;

/// 8 H100-80GB GPUs with seven 1g.10gb holders each (56). With `leave_room`, GPU 7 has one slot
/// free (55 holders plus the request makes 56), so the request needs no eviction.
fn node(leave_room: bool) -> NodeView {
    let m = model_by_key("h100-80gb").unwrap();
    let g1 = m.profile("1g.10gb").unwrap();
    let mut seq = 0;
    let gpus = (0..8)
        .map(|gi| {
            let instances = (0..7u8)
                .filter(|s| !(leave_room && gi == 7 && *s == 6))
                .map(|s| {
                    seq += 1;
                    PlacedInstance {
                        profile: g1,
                        start: s,
                        owner: Owner::Holder(HolderRef {
                            id: format!("job-{gi}-{s}"),
                            namespace: String::new(),
                            priority: Priority(50 + (seq % 3) as i32),
                            preemptible: true,
                            seq,
                            over_quota: false,
                            run_time: Duration::ZERO,
                            checkpoint_interval: None,
                        }),
                    }
                })
                .collect();
            GpuView {
                index: dynamig_core::ids::GpuIndex(gi),
                model: m,
                usable: true,
                instances,
            }
        })
        .collect();
    NodeView { gpus }
}

fn bench(c: &mut Criterion) {
    let free = node(true);
    let full = node(false);
    let small = PlanRequest {
        size: Size::Profile {
            name: "1g.10gb".into(),
        },
        priority: Priority(100),
        within_quota: true,
    };
    let big = PlanRequest {
        size: Size::Profile {
            name: "3g.40gb".into(),
        },
        priority: Priority(100),
        within_quota: true,
    };
    assert!(plan(&free, &small).unwrap().victims.is_empty());
    assert_eq!(plan(&full, &big).unwrap().victims.len(), 3);
    c.bench_function("plan/h100x8/56-holders/no-eviction", |b| {
        b.iter(|| plan(black_box(&free), black_box(&small)))
    });
    c.bench_function("plan/h100x8/56-holders/eviction-3g.40gb", |b| {
        b.iter(|| plan(black_box(&full), black_box(&big)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
