//! The queued replay's mechanics on hand-made workloads whose answers are worked out by hand.

use super::layouts::{combinations, shape_slots, Layout};
use super::queued::lost_work;
use super::workload::synthetic;
use super::*;
use dynamig_core::priority::Priority;
use dynamig_core::request::Size;

const MIB_5GB: u64 = 4864;
const MIB_20GB: u64 = 20096;
const MIB_40GB: u64 = 40320;

fn job(id: u64, arrival: f64, duration: f64, mib: u64, priority: i32, preemptible: bool) -> Job {
    Job {
        id,
        arrival,
        duration,
        size: Size::Memory {
            bytes: mib * 1024 * 1024,
            text: format!("{mib}MiB"),
        },
        priority: Priority(priority),
        preemptible,
    }
}

fn run(
    spec: &str,
    jobs: Vec<Job>,
    policy: &dyn Policy,
    checkpoint: f64,
) -> (JctStats, Vec<JobResult>) {
    let gpus = parse_node(spec).unwrap();
    let wl = Workload {
        name: "hand".into(),
        jobs,
    };
    replay_queued(
        &Replay {
            gpus: &gpus,
            node_name: spec.into(),
        },
        &wl,
        policy,
        QueueSettings {
            checkpoint,
            max_reservations: usize::MAX,
        },
    )
}

fn completions(r: &[JobResult]) -> Vec<Option<f64>> {
    r.iter().map(|j| j.completion).collect()
}

/// One A100-40GB. A (whole GPU, not preemptible) runs 0..10. B (20GB, training) arrives at 1,
/// C (20GB, interactive) at 2, D (5GB, training) at 3; nothing fits before A ends. At 10 the
/// queue is served in its order: C (priority 100) first, then B (first come among priority
/// 50): two 3g.20gb take all eight memory slices, so D, though it arrived before C was served,
/// waits until both end at 15 and runs 15..16.
#[test]
fn a_queued_request_is_served_when_room_frees_in_the_queue_order() {
    let jobs = vec![
        job(0, 0.0, 10.0, MIB_40GB, 50, false),
        job(1, 1.0, 5.0, MIB_20GB, 50, true),
        job(2, 2.0, 5.0, MIB_20GB, 100, false),
        job(3, 3.0, 1.0, MIB_5GB, 50, true),
    ];
    for p in ["dynamig", "first-fit", "best-fit"] {
        let (s, r) = run(
            "a100-40gb:1",
            jobs.clone(),
            policy_by_name(p).unwrap().as_ref(),
            1.0,
        );
        assert_eq!(s.invalid, 0, "{p}: {:?}", s.first_invalid);
        assert_eq!(
            completions(&r),
            [Some(10.0), Some(15.0), Some(15.0), Some(16.0)],
            "{p}"
        );
        let waits: Vec<f64> = r.iter().map(|j| j.waited).collect();
        assert_eq!(waits, [0.0, 9.0, 8.0, 12.0], "{p}");
        // JCT = completion − arrival: 10, 14, 13, 13.
        assert_eq!(s.jct_mean, 12.5, "{p}");
        assert_eq!(s.jct_p95, 14.0, "{p}");
        assert_eq!(s.wait_mean, 29.0 / 4.0, "{p}");
        assert_eq!(s.makespan, 16.0, "{p}");
        assert_eq!((s.evictions, s.lost_gpu_time), (0, 0.0), "{p}");
        // Held: 8 slices 0..10, 8 slices 10..15, 1 slice 15..16, of 8 × 16.
        assert_eq!(s.utilization, (80.0 + 40.0 + 1.0) / 128.0, "{p}");
    }
}

/// A small request may not backfill into a waiting whole-GPU ticket's target.
/// Two 5GB jobs run 0..4 and 0..8; the whole-GPU job W arrives at 1 and waits; a 5GB job S
/// arrives at 5, after the first small one left: there is room, but it is W's, so S waits too.
/// At 8 W runs (8..9), then S (9..10).
#[test]
fn a_newcomer_does_not_take_a_waiting_tickets_room() {
    let jobs = vec![
        job(0, 0.0, 4.0, MIB_5GB, 50, false),
        job(1, 0.0, 8.0, MIB_5GB, 50, false),
        job(2, 1.0, 1.0, MIB_40GB, 50, false),
        job(3, 5.0, 1.0, MIB_5GB, 50, false),
    ];
    let (s, r) = run("a100-40gb:1", jobs, &Dynamig, 1.0);
    assert_eq!(s.invalid, 0);
    assert_eq!(
        completions(&r),
        [Some(4.0), Some(8.0), Some(9.0), Some(10.0)]
    );
    assert_eq!(r[3].waited, 4.0);
}

/// One A100-40GB, checkpoints every 4. T (whole GPU, training) runs from 0; I (whole GPU,
/// interactive) arrives at 6 and evicts it. T ran 6, saved its checkpoint at 4 and loses 2
/// (6 mod 4); it waits while I runs 6..8, then does its 10 − 4 = 6 left: 8..14.
#[test]
fn a_preempted_job_loses_the_work_since_its_last_checkpoint() {
    let jobs = vec![
        job(0, 0.0, 10.0, MIB_40GB, 50, true),
        job(1, 6.0, 2.0, MIB_40GB, 100, false),
    ];
    let (s, r) = run("a100-40gb:1", jobs.clone(), &Dynamig, 4.0);
    assert_eq!(s.invalid, 0);
    assert_eq!(completions(&r), [Some(14.0), Some(8.0)]);
    assert_eq!((r[0].evictions, r[0].lost, r[0].waited), (1, 2.0, 2.0));
    assert_eq!((s.evictions, s.lost_gpu_time), (1, 2.0));
    assert_eq!(s.jct_mean, (14.0 + 2.0) / 2.0);

    // Without checkpoints the whole run is lost: 8..18.
    let (s, r) = run("a100-40gb:1", jobs.clone(), &Dynamig, f64::INFINITY);
    assert_eq!(completions(&r), [Some(18.0), Some(8.0)]);
    assert_eq!(s.lost_gpu_time, 6.0);

    // A job that holds half the GPU loses half as much GPU time: a 20GB training job evicted
    // by two interactive 20GB jobs (the second needs its half) at 3, checkpointing every 2.
    let jobs = vec![
        job(0, 0.0, 10.0, MIB_20GB, 50, true),
        job(1, 0.0, 10.0, MIB_20GB, 100, false),
        job(2, 3.0, 1.0, MIB_20GB, 100, false),
    ];
    let (s, r) = run("a100-40gb:1", jobs, &Dynamig, 2.0);
    assert_eq!(s.invalid, 0);
    assert_eq!(r[0].lost, 1.0);
    assert_eq!(s.lost_gpu_time, 0.5);
    // Back at 4 with 10 − 2 left.
    assert_eq!(r[0].completion, Some(12.0));

    assert_eq!(lost_work(6.0, 4.0), 2.0);
    assert_eq!(lost_work(3.0, 4.0), 3.0);
    assert_eq!(lost_work(6.0, 0.0), 0.0);
}

/// Static layouts: a slot of more memory serves a smaller request; a request no slot holds is
/// never served, and the others still finish.
#[test]
fn static_layouts_serve_from_their_slots_only() {
    let a100 = dynamig_core::catalog::model_by_key("a100-40gb").unwrap();
    let names = |shape| -> Vec<&str> {
        shape_slots(a100, shape)
            .iter()
            .map(|(p, _)| p.name)
            .collect()
    };
    assert_eq!(names("all-1g"), ["1g.5gb"; 7]);
    assert_eq!(names("all-2g"), ["2g.10gb"; 3]);
    assert_eq!(names("all-3g"), ["3g.20gb"; 2]);
    assert_eq!(names("no-partition"), ["7g.40gb"]);
    assert_eq!(combinations(2).len(), 15);

    let gpus = parse_node("a100-40gb:1").unwrap();
    let all3 = Layout::new(&gpus, &["all-3g"]);
    // Three 5GB jobs on two 3g.20gb slots: the third waits for the first to end.
    let jobs = vec![
        job(0, 0.0, 2.0, MIB_5GB, 50, false),
        job(1, 0.0, 3.0, MIB_5GB, 50, false),
        job(2, 0.0, 1.0, MIB_5GB, 50, false),
        job(3, 0.0, 1.0, MIB_40GB, 50, false),
    ];
    let (s, r) = run("a100-40gb:1", jobs, &all3, 1.0);
    assert_eq!(s.invalid, 0, "{:?}", s.first_invalid);
    assert_eq!(completions(&r), [Some(2.0), Some(3.0), Some(3.0), None]);
    assert_eq!(s.never_served, 1);
    assert_eq!(s.policy, "all-3g");
}

#[test]
fn queued_replays_finish_every_job_validly_and_reproducibly() {
    let spec = "a100-40gb:2";
    let gpus = parse_node(spec).unwrap();
    let node = Replay {
        gpus: &gpus,
        node_name: spec.into(),
    };
    let mut policies: Vec<Box<dyn Policy>> = ["first-fit", "best-fit", "dynamig"]
        .iter()
        .filter_map(|p| policy_by_name(p))
        .collect();
    policies.push(Box::new(Layout::new(
        &gpus,
        &["no-partition", "no-partition"],
    )));
    for mix in [Mix::Uniform, Mix::Seed] {
        let wl = synthetic(mix, &gpus, 200, 5, 0.8);
        for p in &policies {
            let settings = QueueSettings {
                checkpoint: 0.5,
                max_reservations: usize::MAX,
            };
            let (a, ra) = replay_queued(&node, &wl, p.as_ref(), settings);
            assert_eq!(
                a.invalid,
                0,
                "{} {}: {:?}",
                wl.name,
                p.label(),
                a.first_invalid
            );
            assert_eq!(
                (a.jobs, a.never_served),
                (200, 0),
                "{} {}",
                wl.name,
                p.label()
            );
            for (r, j) in ra.iter().zip(&wl.jobs) {
                let c = r.completion.unwrap();
                // A job cannot finish before it has waited and done all its work once.
                assert!(c - j.arrival >= j.duration + r.waited - 1e-9, "{r:?} {j:?}");
            }
            let (b, rb) = replay_queued(&node, &wl, p.as_ref(), settings);
            assert_eq!(ra, rb);
            assert_eq!(a.utilization, b.utilization);
        }
    }
}

/// Victims by work at risk (the planner's rule with declared checkpoint intervals): T0 (20GB,
/// training) runs from 0, T1 from 3; at 5 an interactive 20GB request needs one half. With
/// checkpoints every 4 the planner evicts T0, which checkpointed at 4 (loses 1), not the
/// younger T1, which ran 2 and has no checkpoint yet (would lose 2). Never checkpointing, each
/// would lose its whole run: the younger T1 goes (loses 2, not 5).
#[test]
fn the_planner_evicts_the_job_with_less_work_at_risk() {
    let jobs = vec![
        job(0, 0.0, 100.0, MIB_20GB, 50, true),
        job(1, 3.0, 100.0, MIB_20GB, 50, true),
        job(2, 5.0, 1.0, MIB_20GB, 100, false),
    ];
    let lost = |checkpoint| {
        let (s, r) = run("a100-40gb:1", jobs.clone(), &Dynamig, checkpoint);
        assert_eq!(s.invalid, 0);
        (r[0].lost, r[1].lost, s.lost_gpu_time)
    };
    assert_eq!(lost(4.0), (1.0, 0.0, 0.5));
    assert_eq!(lost(f64::INFINITY), (0.0, 2.0, 1.0));
}
