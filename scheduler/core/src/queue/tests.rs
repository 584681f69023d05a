use super::*;
use crate::catalog::model_by_key;
use crate::ids::GpuIndex;
use crate::planner::{GpuView, HolderRef};
use crate::request::{Request, Size};
use std::time::Duration;

fn gpu(index: u32, smalls: &[(u8, &str)]) -> GpuView {
    let model = model_by_key("a100-40gb").unwrap();
    let p = model.profile("1g.5gb").unwrap();
    GpuView {
        index: GpuIndex(index),
        model,
        usable: true,
        instances: smalls
            .iter()
            .map(|(start, id)| PlacedInstance {
                profile: p,
                start: *start,
                owner: Owner::Holder(HolderRef {
                    id: (*id).into(),
                    namespace: String::new(),
                    priority: Priority(50),
                    preemptible: false,
                    seq: u64::from(*start),
                    over_quota: false,
                    run_time: Duration::ZERO,
                    checkpoint_interval: None,
                }),
            })
            .collect(),
    }
}

/// A waiting request as the node's state file would hold it, reduced to what the rule reads.
#[derive(Debug, Clone)]
struct Ticket {
    id: String,
    namespace: String,
    request: Request,
    seq: u64,
}

impl Queued for Ticket {
    fn id(&self) -> &str {
        &self.id
    }
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn request(&self) -> &Request {
        &self.request
    }
    fn seq(&self) -> u64 {
        self.seq
    }
}

fn ticket(id: &str, profile: &str, priority: i32, seq: u64) -> Ticket {
    let mut request = Request::new(Size::Profile {
        name: profile.into(),
    });
    request.priority = Priority(priority);
    Ticket {
        id: id.into(),
        namespace: "t".into(),
        request,
        seq,
    }
}

fn small(priority: i32) -> PlanRequest {
    PlanRequest {
        size: Size::Profile {
            name: "1g.5gb".into(),
        },
        priority: Priority(priority),
        within_quota: true,
    }
}

#[test]
fn order_is_priority_then_arrival() {
    let q = vec![
        ticket("a", "1g.5gb", 50, 0),
        ticket("b", "1g.5gb", 100, 1),
        ticket("c", "1g.5gb", 50, 2),
        ticket("d", "1g.5gb", 100, 3),
    ];
    let ids: Vec<&str> = ordered(&q).iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["b", "d", "a", "c"]);
    assert!(key(&q[2]) < arrival_key(Priority(50)));
    assert!(arrival_key(Priority(100)) < key(&q[0]));
}

#[test]
fn empty_queue_admits_as_the_planner_decides() {
    let view = NodeView {
        gpus: vec![gpu(0, &[(0, "s0")])],
    };
    let d = planner::plan(&view, &small(50)).unwrap();
    assert_eq!(
        admit::<Ticket>(&view, &[], &small(50), arrival_key(Priority(50))),
        Admission::Admit(d)
    );
}

#[test]
fn a_waiting_full_gpu_request_keeps_small_ones_out_of_its_target() {
    // One GPU with one slice free; a full-GPU request waits.
    let view = NodeView {
        gpus: vec![gpu(
            0,
            &[
                (0, "s0"),
                (1, "s1"),
                (2, "s2"),
                (3, "s3"),
                (4, "s4"),
                (5, "s5"),
            ],
        )],
    };
    let q = vec![ticket("big", "7g.40gb", 50, 0)];
    let a = admit(&view, &q, &small(50), arrival_key(Priority(50)));
    let Admission::Reserved(held) = a else {
        panic!("{a:?}")
    };
    assert_eq!(held[0].id, "big");
    assert_eq!(held[0].blockers.len(), 6);
    // A higher priority request stands ahead of the ticket and is not held back.
    assert!(matches!(
        admit(&view, &q, &small(100), arrival_key(Priority(100))),
        Admission::Admit(_)
    ));
}

#[test]
fn small_requests_backfill_where_the_target_is_not() {
    // GPU 0 is nearly full, GPU 1 has one holder: the full-GPU ticket targets GPU 1, so a
    // small request may take GPU 0's last slice but nothing on GPU 1.
    let view = NodeView {
        gpus: vec![
            gpu(
                0,
                &[
                    (0, "a0"),
                    (1, "a1"),
                    (2, "a2"),
                    (3, "a3"),
                    (4, "a4"),
                    (5, "a5"),
                ],
            ),
            gpu(1, &[(6, "b6")]),
        ],
    };
    let q = vec![ticket("big", "7g.40gb", 50, 0)];
    let Admission::Admit(d) = admit(&view, &q, &small(50), arrival_key(Priority(50))) else {
        panic!("a backfill was refused")
    };
    assert_eq!((d.gpu, d.start), (GpuIndex(0), 6));
    let (_, held) = reserved_view(&view, &q, arrival_key(Priority(50)));
    assert_eq!(
        (held[0].gpu, held[0].blockers.clone()),
        (GpuIndex(1), vec!["b6".into()])
    );
}

#[test]
fn reservations_stack_in_serving_order() {
    // Two free slices; two small tickets ahead take both, so a third small request waits, and
    // the second ticket itself is admitted.
    let view = NodeView {
        gpus: vec![gpu(
            0,
            &[(0, "s0"), (1, "s1"), (2, "s2"), (3, "s3"), (4, "s4")],
        )],
    };
    let q = vec![ticket("t1", "1g.5gb", 50, 0), ticket("t2", "1g.5gb", 50, 1)];
    assert!(matches!(
        admit(&view, &q, &small(50), arrival_key(Priority(50))),
        Admission::Reserved(h) if h.len() == 2
    ));
    assert!(matches!(
        admit(&view, &q, &small(50), key(&q[1])),
        Admission::Admit(_)
    ));
    assert!(matches!(
        admit(&view, &q, &small(50), key(&q[0])),
        Admission::Admit(_)
    ));
}

#[test]
fn a_full_node_is_no_room_not_a_reservation() {
    let view = NodeView {
        gpus: vec![gpu(
            0,
            &[
                (0, "s0"),
                (1, "s1"),
                (2, "s2"),
                (3, "s3"),
                (4, "s4"),
                (5, "s5"),
                (6, "s6"),
            ],
        )],
    };
    let q = vec![ticket("t1", "1g.5gb", 50, 0)];
    assert!(matches!(
        admit(&view, &q, &small(50), arrival_key(Priority(50))),
        Admission::NoRoom(_)
    ));
}

#[test]
fn a_ticket_blocked_by_foreign_instances_reserves_nothing() {
    let mut g = gpu(0, &[]);
    let p = g.model.profile("1g.5gb").unwrap();
    g.instances.push(PlacedInstance {
        profile: p,
        start: 0,
        owner: Owner::Foreign,
    });
    let view = NodeView { gpus: vec![g] };
    let q = vec![ticket("big", "7g.40gb", 50, 0)];
    let (_, held) = reserved_view(&view, &q, arrival_key(Priority(50)));
    assert!(held.is_empty());
    assert!(matches!(
        admit(&view, &q, &small(50), arrival_key(Priority(50))),
        Admission::Admit(_)
    ));
}

/// `first_admitted` answers as asking `admit` about each ticket in serving order would.
#[test]
fn first_admitted_is_admit_asked_in_serving_order() {
    let full_ish = gpu(
        0,
        &[
            (0, "a0"),
            (1, "a1"),
            (2, "a2"),
            (3, "a3"),
            (4, "a4"),
            (5, "a5"),
        ],
    );
    let views = [
        NodeView {
            gpus: vec![full_ish.clone(), gpu(1, &[(6, "b6")])],
        },
        NodeView {
            gpus: vec![full_ish.clone()],
        },
        NodeView {
            gpus: vec![gpu(0, &[(0, "c0")]), gpu(1, &[])],
        },
    ];
    let queues = [
        vec![
            ticket("big", "7g.40gb", 50, 0),
            ticket("s1", "1g.5gb", 50, 1),
            ticket("s2", "1g.5gb", 50, 2),
        ],
        vec![
            ticket("s1", "1g.5gb", 40, 0),
            ticket("big", "7g.40gb", 60, 1),
            ticket("h", "3g.20gb", 50, 2),
        ],
        vec![ticket("big", "7g.40gb", 50, 0)],
    ];
    let mut admitted = 0;
    for view in &views {
        for q in &queues {
            let expected = ordered(q).into_iter().find_map(|t| {
                let req = PlanRequest {
                    size: t.request.size.clone(),
                    priority: t.request.priority,
                    within_quota: true,
                };
                match admit(view, q, &req, key(t)) {
                    Admission::Admit(d) => Some((t.id.clone(), d)),
                    _ => None,
                }
            });
            let got = first_admitted(view, q, &mut planner::plan).map(|(t, d)| (t.id.clone(), d));
            assert_eq!(got, expected);
            admitted += usize::from(got.is_some());
        }
    }
    // The cases cover both answers.
    assert!(
        admitted > 0 && admitted < views.len() * queues.len(),
        "{admitted}"
    );
}

/// With every ticket reserving (the node's rule) two waiting full-GPU tickets hold both GPUs
/// and a small ticket behind them waits; with only the head reserving, it backfills the GPU
/// the second one would have held.
#[test]
fn fewer_reservations_let_more_backfill() {
    let view = NodeView {
        gpus: vec![gpu(0, &[(0, "a0")]), gpu(1, &[(0, "b0")])],
    };
    let q = vec![
        ticket("big1", "7g.40gb", 50, 0),
        ticket("big2", "7g.40gb", 50, 1),
        ticket("s", "1g.5gb", 50, 2),
    ];
    assert!(first_admitted(&view, &q, &mut planner::plan).is_none());
    let (t, d) = first_admitted_reserving(&view, &q, &mut planner::plan, 1).unwrap();
    let (_, held) = reserved_view(&view, &q[..1], arrival_key(Priority(50)));
    assert_eq!(t.id, "s");
    assert_ne!(d.gpu, held[0].gpu);
}

/// A ticket as the node's state file keeps one, with its standing against its quota.
#[derive(Debug, Clone)]
struct QuotaTicket {
    inner: Ticket,
    over_quota: bool,
}

impl Queued for QuotaTicket {
    fn id(&self) -> &str {
        &self.inner.id
    }
    fn namespace(&self) -> &str {
        &self.inner.namespace
    }
    fn request(&self) -> &Request {
        &self.inner.request
    }
    fn seq(&self) -> u64 {
        self.inner.seq
    }
    fn over_quota(&self) -> bool {
        self.over_quota
    }
}

#[test]
fn within_quota_is_served_before_over_quota_of_the_same_priority() {
    let t = |id: &str, priority, seq, over_quota| QuotaTicket {
        inner: ticket(id, "1g.5gb", priority, seq),
        over_quota,
    };
    let q = vec![
        t("over-old", 50, 0, true),
        t("within-new", 50, 1, false),
        t("over-high", 100, 2, true),
        t("within-low", 10, 3, false),
    ];
    let ids: Vec<&str> = ordered(&q).iter().map(|t| t.inner.id.as_str()).collect();
    // Priority first (an over-quota ticket of a higher priority still goes first), then within
    // quota before over, then arrival.
    assert_eq!(ids, ["over-high", "within-new", "over-old", "within-low"]);
    // A new request within quota stands ahead of the older over-quota ticket of its priority,
    // behind the within-quota one; a new over-quota request behind both.
    assert!(arrival_key(Priority(50)) < key(&q[0]));
    assert!(key(&q[1]) < arrival_key(Priority(50)));
    assert!(key(&q[0]) < arrival_key_at(Priority(50), true));
    // Without quotas (no ticket over quota) the order is priority then arrival, as before.
    let plain: Vec<QuotaTicket> = q
        .iter()
        .cloned()
        .map(|mut t| {
            t.over_quota = false;
            t
        })
        .collect();
    let ids: Vec<&str> = ordered(&plain)
        .iter()
        .map(|t| t.inner.id.as_str())
        .collect();
    assert_eq!(ids, ["over-high", "over-old", "within-new", "within-low"]);
}

#[test]
fn an_over_quota_ticket_reserves_nothing_against_a_within_quota_request() {
    // One GPU with one slice free; a full-GPU request over quota waits: a within-quota small
    // request of the same priority is not held back by it, an over-quota one is.
    let view = NodeView {
        gpus: vec![gpu(
            0,
            &[
                (0, "s0"),
                (1, "s1"),
                (2, "s2"),
                (3, "s3"),
                (4, "s4"),
                (5, "s5"),
            ],
        )],
    };
    let q = vec![QuotaTicket {
        inner: ticket("big", "7g.40gb", 50, 0),
        over_quota: true,
    }];
    assert!(matches!(
        admit(&view, &q, &small(50), arrival_key(Priority(50))),
        Admission::Admit(_)
    ));
    assert!(matches!(
        admit(&view, &q, &small(50), arrival_key_at(Priority(50), true)),
        Admission::Reserved(_)
    ));
}

#[test]
fn a_warm_instance_in_a_tickets_target_is_held_for_it() {
    // Six slices held, the seventh warm: a small request would take the warm one as it is, but
    // a full-GPU ticket ahead targets the GPU, warm room included.
    let mut g = gpu(
        0,
        &[
            (0, "s0"),
            (1, "s1"),
            (2, "s2"),
            (3, "s3"),
            (4, "s4"),
            (5, "s5"),
        ],
    );
    g.instances.push(PlacedInstance {
        profile: g.model.profile("1g.5gb").unwrap(),
        start: 6,
        owner: Owner::Warm,
    });
    let view = NodeView { gpus: vec![g] };
    let Admission::Admit(d) = admit::<Ticket>(&view, &[], &small(50), arrival_key(Priority(50)))
    else {
        panic!("no queue: the warm instance is taken")
    };
    assert!(d.reuse && d.start == 6, "{d:?}");
    let q = vec![ticket("big", "7g.40gb", 50, 0)];
    let a = admit(&view, &q, &small(50), arrival_key(Priority(50)));
    let Admission::Reserved(held) = a else {
        panic!("{a:?}")
    };
    assert_eq!(held[0].id, "big");
}
