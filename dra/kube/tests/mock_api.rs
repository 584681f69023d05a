//! The kube client against a mock API server (tests/support): the request paths, query strings
//! and JSON bodies it sends to publish ResourceSlices, and what it makes of the ResourceClaims
//! it reads.

mod support;

use dynamig_dra_api::claim::{AllocatedDevice, ClaimError, ClaimRef, ClaimSource};
use dynamig_dra_api::DRIVER_NAME;
use dynamig_dra_kube::{KubeClaimSource, KubeError, Publisher};
use k8s_openapi::api::resource::v1::ResourceSlice;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use support::{ClaimReply, MockApi, SLICES};

const NODE: &str = "node-a";
const NODE_UID: &str = "4f1c2e8a-node-a";

/// What `dra/slices` would build: a counter slice and a device slice, in that order of
/// building reversed (devices first) so the test sees the publisher put counters first.
fn build(generation: i64, devices: &[&str]) -> Vec<ResourceSlice> {
    let devices: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({"name": d, "attributes": {"type": {"string": "mig"}},
                   "capacity": {"memory": {"value": "10240Mi"}}})
        })
        .collect();
    let common = |extra: Value| {
        let mut spec = json!({
            "driver": DRIVER_NAME,
            "nodeName": NODE,
            "pool": {"name": NODE, "generation": generation, "resourceSliceCount": 2},
        });
        for (k, v) in extra.as_object().expect("object") {
            spec[k] = v.clone();
        }
        serde_json::from_value::<ResourceSlice>(json!({"metadata": {}, "spec": spec}))
            .expect("a ResourceSlice")
    };
    vec![
        common(json!({"devices": devices})),
        common(
            json!({"devices": [], "sharedCounters": [{"name": "gpu-0-counters",
            "counters": {"memorySlices": {"value": "8"}, "computeSlices": {"value": "7"}}}]}),
        ),
    ]
}

fn slice_json(name: &str, node: &str, driver: &str, generation: i64) -> Value {
    json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
           "metadata": {"name": name},
           "spec": {"driver": driver, "nodeName": node,
                    "pool": {"name": node, "generation": generation, "resourceSliceCount": 3},
                    "devices": [{"name": "gpu-0"}]}})
}

async fn mock() -> MockApi {
    let api = MockApi::start().await;
    api.add_node(NODE, NODE_UID);
    api
}

fn methods(api: &MockApi) -> Vec<(String, String)> {
    api.requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

#[tokio::test]
async fn first_sync_lists_by_node_and_driver_and_creates_generation_one() {
    let api = mock().await;
    let publisher = Publisher::new(api.client(), NODE);
    let done = publisher
        .sync(|g| build(g, &["gpu-0", "gpu-0-mig-1g5gb-0"]))
        .await
        .expect("sync");
    assert_eq!(
        (done.generation, done.created, done.replaced, done.deleted),
        (1, 2, 0, 0)
    );

    let reqs = api.requests();
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, SLICES);
    // kube writes `?&fieldSelector=...`: compare the parameters, not the spelling.
    let params: Vec<&str> = reqs[0]
        .query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    assert_eq!(
        params,
        ["fieldSelector=spec.nodeName=node-a,spec.driver=mig.dynamig.io"]
    );
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("GET", "/api/v1/nodes/node-a")
    );
    let posts: Vec<&Value> = reqs[2..]
        .iter()
        .map(|r| {
            assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", SLICES));
            r.body.as_ref().expect("body")
        })
        .collect();
    assert_eq!(posts.len(), 2);
    // Counter sets are written before the devices that consume them.
    assert_eq!(posts[0]["metadata"]["name"], "node-a-mig.dynamig.io-1");
    assert!(posts[0]["spec"]["sharedCounters"].is_array());
    assert_eq!(posts[1]["metadata"]["name"], "node-a-mig.dynamig.io-0");
    assert_eq!(posts[1]["spec"]["devices"][1]["name"], "gpu-0-mig-1g5gb-0");
    for p in &posts {
        assert_eq!(p["apiVersion"], "resource.k8s.io/v1");
        assert_eq!(p["kind"], "ResourceSlice");
        assert_eq!(
            p["spec"]["pool"],
            json!({"name": NODE, "generation": 1, "resourceSliceCount": 2})
        );
        assert_eq!(p["spec"]["nodeName"], NODE);
        assert_eq!(p["spec"]["driver"], DRIVER_NAME);
        assert_eq!(
            p["metadata"]["ownerReferences"],
            json!([{"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": NODE_UID, "controller": true}])
        );
        assert!(p["metadata"].get("resourceVersion").is_none());
    }
    assert_eq!(api.slices().len(), 2);
}

#[tokio::test]
async fn an_unchanged_pool_is_only_listed() {
    let api = mock().await;
    let publisher = Publisher::new(api.client(), NODE);
    publisher
        .sync(|g| build(g, &["gpu-0"]))
        .await
        .expect("first sync");
    api.clear_requests();
    let done = publisher
        .sync(|g| build(g, &["gpu-0"]))
        .await
        .expect("second sync");
    assert!(done.unchanged());
    assert_eq!(done.generation, 1);
    assert_eq!(methods(&api), [("GET".to_string(), SLICES.to_string())]);
}

#[tokio::test]
async fn a_change_bumps_the_generation_and_deletes_the_old_slices_last() {
    let api = mock().await;
    api.put_slice(slice_json("node-a-mig.dynamig.io-0", NODE, DRIVER_NAME, 4));
    api.put_slice(slice_json("node-a-mig.dynamig.io-1", NODE, DRIVER_NAME, 4));
    api.put_slice(slice_json("node-a-mig.dynamig.io-2", NODE, DRIVER_NAME, 4));
    // Neither another node's slices nor another driver's on this node are ours to touch.
    api.put_slice(slice_json(
        "node-b-mig.dynamig.io-0",
        "node-b",
        DRIVER_NAME,
        9,
    ));
    api.put_slice(slice_json(
        "node-a-gpu.nvidia.com-0",
        NODE,
        "gpu.nvidia.com",
        9,
    ));
    let before = api.slices();

    let publisher = Publisher::new(api.client(), NODE);
    let done = publisher
        .sync(|g| {
            assert_eq!(g, 5, "the generation above the published 4");
            build(g, &["gpu-0", "gpu-0-mig-3g20gb-4"])
        })
        .await
        .expect("sync");
    assert_eq!(
        (done.generation, done.created, done.replaced, done.deleted),
        (5, 0, 2, 1)
    );

    let reqs = api.requests();
    let writes: Vec<_> = reqs.iter().filter(|r| r.method != "GET").collect();
    let order: Vec<(&str, &str)> = writes
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.rsplit('/').next().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("PUT", "node-a-mig.dynamig.io-1"),
            ("PUT", "node-a-mig.dynamig.io-0"),
            ("DELETE", "node-a-mig.dynamig.io-2"),
        ]
    );
    for put in &writes[..2] {
        let body = put.body.as_ref().expect("PUT body");
        let name = body["metadata"]["name"].as_str().expect("name");
        // Replaced over the version listed: a concurrent change would be a 409, not lost.
        assert_eq!(
            body["metadata"]["resourceVersion"],
            before[name]["metadata"]["resourceVersion"]
        );
        assert_eq!(body["spec"]["pool"]["generation"], 5);
        assert_eq!(body["spec"]["pool"]["resourceSliceCount"], 2);
    }

    let after = api.slices();
    assert_eq!(
        after["node-b-mig.dynamig.io-0"],
        before["node-b-mig.dynamig.io-0"]
    );
    assert_eq!(
        after["node-a-gpu.nvidia.com-0"],
        before["node-a-gpu.nvidia.com-0"]
    );
    let ours: Vec<&Value> = after
        .values()
        .filter(|s| s["spec"]["nodeName"] == NODE && s["spec"]["driver"] == DRIVER_NAME)
        .collect();
    assert_eq!(ours.len(), 2);
    assert!(ours.iter().all(|s| s["spec"]["pool"]["generation"] == 5));
}

#[tokio::test]
async fn a_racing_writer_is_a_retryable_conflict_and_the_next_sync_converges() {
    let api = mock().await;
    let publisher = Publisher::new(api.client(), NODE);
    publisher
        .sync(|g| build(g, &["gpu-0"]))
        .await
        .expect("first sync");
    api.conflict_next_put();
    let err = publisher
        .sync(|g| build(g, &["gpu-0", "gpu-0-mig-7g40gb-0"]))
        .await
        .expect_err("a 409 on the PUT");
    assert!(matches!(err, KubeError::Api { code: 409, .. }), "{err}");
    assert!(err.is_retryable());
    let done = publisher
        .sync(|g| build(g, &["gpu-0", "gpu-0-mig-7g40gb-0"]))
        .await
        .expect("retry");
    assert_eq!(done.generation, 2);
    assert!(api
        .slices()
        .values()
        .all(|s| s["spec"]["pool"]["generation"] == 2));
}

#[tokio::test]
async fn an_unknown_node_writes_nothing() {
    let api = MockApi::start().await;
    let publisher = Publisher::new(api.client(), NODE);
    let err = publisher
        .sync(|g| build(g, &["gpu-0"]))
        .await
        .expect_err("no Node");
    assert!(matches!(err, KubeError::Api { code: 404, .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(api.requests().iter().all(|r| r.method == "GET"));
    assert!(api.slices().is_empty());
}

#[tokio::test]
async fn slices_for_another_node_are_refused_before_any_write() {
    let api = mock().await;
    let publisher = Publisher::new(api.client(), "node-b");
    let err = publisher
        .sync(|g| build(g, &["gpu-0"]))
        .await
        .expect_err("node-a's slices");
    assert!(matches!(err, KubeError::Invalid(_)), "{err}");
    assert!(api.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn withdraw_deletes_only_this_nodes_slices() {
    let api = mock().await;
    api.put_slice(slice_json(
        "node-b-mig.dynamig.io-0",
        "node-b",
        DRIVER_NAME,
        1,
    ));
    let publisher = Publisher::new(api.client(), NODE);
    publisher
        .sync(|g| build(g, &["gpu-0"]))
        .await
        .expect("sync");
    assert_eq!(publisher.withdraw().await.expect("withdraw"), 2);
    assert_eq!(
        api.slices().keys().collect::<Vec<_>>(),
        ["node-b-mig.dynamig.io-0"]
    );
}

/// A device slice whose devices consume the counter set, one of them tainted (its GPU's MIG
/// mode is pending), and the counter slice: what dra/slices publishes on 1.35 and later.
fn build_partitioned(generation: i64) -> Vec<ResourceSlice> {
    let spec = |extra: Value| {
        let mut spec = json!({
            "driver": DRIVER_NAME,
            "nodeName": NODE,
            "pool": {"name": NODE, "generation": generation, "resourceSliceCount": 2},
        });
        for (k, v) in extra.as_object().expect("object") {
            spec[k] = v.clone();
        }
        serde_json::from_value::<ResourceSlice>(json!({"metadata": {}, "spec": spec}))
            .expect("a ResourceSlice")
    };
    let consumes = json!([{"counterSet": "gpu-0-counters",
                           "counters": {"memorySlices": {"value": "1"}}}]);
    vec![
        spec(json!({"sharedCounters": [{"name": "gpu-0-counters",
            "counters": {"memorySlices": {"value": "8"}}}]})),
        spec(json!({"devices": [
            {"name": "gpu-0-mig-1g5gb-0", "consumesCounters": consumes},
            {"name": "gpu-0-mig-1g5gb-1", "consumesCounters": consumes,
             "taints": [{"key": "mig.dynamig.io/mig-pending", "effect": "NoSchedule"}]},
        ]})),
    ]
}

#[tokio::test]
async fn counters_and_taints_are_kept_by_a_server_with_the_gates_on() {
    let api = mock().await;
    let publisher = Publisher::new(api.client(), NODE);
    publisher.sync(build_partitioned).await.expect("sync");
    let slices = api.slices();
    let devices = &slices["node-a-mig.dynamig.io-1"]["spec"]["devices"];
    assert_eq!(devices[1]["taints"][0]["key"], "mig.dynamig.io/mig-pending");
    assert_eq!(
        devices[0]["consumesCounters"][0]["counterSet"],
        "gpu-0-counters"
    );
}

#[tokio::test]
async fn a_server_that_drops_counters_gets_no_slices_and_says_which_gate() {
    let api = mock().await;
    api.gates_off();
    let publisher = Publisher::new(api.client(), NODE);
    let err = publisher
        .sync(build_partitioned)
        .await
        .expect_err("dropped fields");
    let text = err.to_string();
    assert!(matches!(err, KubeError::FieldsDropped { .. }), "{text}");
    assert!(!err.is_retryable());
    assert!(
        text.contains("spec.sharedCounters (feature gate DRAPartitionableDevices)"),
        "{text}"
    );
    // The counter slice went first and was refused at once: its withdrawal left nothing.
    assert!(api.slices().is_empty(), "{:?}", api.slices().keys());
    // A server that keeps the counters but drops the taints is named as such.
    let sent = build_partitioned(1).remove(1);
    let mut kept: Value = serde_json::to_value(&sent).expect("json");
    kept["spec"]["devices"][1]
        .as_object_mut()
        .expect("device")
        .remove("taints");
    let kept: ResourceSlice = serde_json::from_value(kept).expect("slice");
    let dropped = dynamig_dra_kube::dropped::dropped_fields(&sent, &kept);
    assert_eq!(
        dropped.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["spec.devices[].taints (feature gate DRADeviceTaints)"]
    );
}

// --- claims -------------------------------------------------------------------------------

fn claim_ref(name: &str, uid: &str) -> ClaimRef {
    ClaimRef {
        namespace: "team-a".into(),
        name: name.into(),
        uid: uid.into(),
    }
}

fn claim_json(name: &str, uid: &str, results: Option<Value>) -> Value {
    let mut c = json!({
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "team-a", "uid": uid},
        "spec": {"devices": {"requests": [{"name": "mig",
            "exactly": {"deviceClassName": "mig.dynamig.io"}}]}},
    });
    if let Some(results) = results {
        c["status"] = json!({"allocation": {"devices": {"results": results}},
                             "reservedFor": [{"resource": "pods", "name": "p", "uid": "pod-uid"}]});
    }
    c
}

/// The claim sources' sync calls, as the preparer makes them: on a blocking thread.
async fn allocation(
    source: &Arc<KubeClaimSource>,
    claim: ClaimRef,
) -> Result<Option<dynamig_dra_api::claim::ClaimAllocation>, ClaimError> {
    let source = source.clone();
    tokio::task::spawn_blocking(move || source.allocation(&claim))
        .await
        .expect("blocking task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_read_with_their_uid_and_allocated_devices() {
    let api = mock().await;
    api.add_claim(
        "team-a",
        "c1",
        ClaimReply::Object(claim_json(
            "c1",
            "uid-c1",
            Some(json!([
                {"request": "mig/1g10gb", "driver": DRIVER_NAME, "pool": NODE, "device": "gpu-0-mig-1g10gb-2"},
                {"request": "nic", "driver": "net.example.com", "pool": NODE, "device": "eth1"},
            ])),
        )),
    );
    api.add_claim(
        "team-a",
        "pending",
        ClaimReply::Object(claim_json("pending", "uid-p", None)),
    );
    api.add_claim("team-a", "broken", ClaimReply::Status(500));
    let source = Arc::new(KubeClaimSource::new(
        api.client(),
        tokio::runtime::Handle::current(),
    ));

    let got = allocation(&source, claim_ref("c1", "uid-c1"))
        .await
        .expect("c1")
        .expect("c1 exists");
    assert_eq!(got.uid, "uid-c1");
    assert_eq!(
        got.devices,
        [
            AllocatedDevice {
                request: "mig/1g10gb".into(),
                driver: DRIVER_NAME.into(),
                pool: NODE.into(),
                device: "gpu-0-mig-1g10gb-2".into(),
            },
            AllocatedDevice {
                request: "nic".into(),
                driver: "net.example.com".into(),
                pool: NODE.into(),
                device: "eth1".into(),
            },
        ]
    );

    let pending = allocation(&source, claim_ref("pending", "uid-p"))
        .await
        .expect("pending");
    assert_eq!(
        pending.map(|a| (a.uid, a.devices.len())),
        Some(("uid-p".into(), 0))
    );

    assert_eq!(allocation(&source, claim_ref("nope", "u")).await, Ok(None));

    match allocation(&source, claim_ref("broken", "u")).await {
        Err(ClaimError::Retryable(m)) => assert!(m.contains("team-a/broken"), "{m}"),
        other => panic!("a 500 is retryable, got {other:?}"),
    }

    let paths: Vec<String> = api
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        [
            "GET /apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/c1",
            "GET /apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/pending",
            "GET /apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/nope",
            "GET /apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/broken",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_api_server_is_retryable_after_the_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let client =
        kube::Client::try_from(kube::Config::new(url.parse().expect("url"))).expect("client");
    let source = Arc::new(
        KubeClaimSource::new(client, tokio::runtime::Handle::current())
            .with_timeout(Duration::from_millis(300)),
    );
    match allocation(&source, claim_ref("c1", "u")).await {
        Err(ClaimError::Retryable(m)) => assert!(m.contains("no answer"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_claim_reads_as_none_and_a_recreated_one_under_its_new_uid() {
    // What the plugin's start (dra/claims, reconcile.rs) calls stale: no claim, or another uid.
    let api = mock().await;
    api.add_claim(
        "team-a",
        "recreated",
        ClaimReply::Object(claim_json("recreated", "u-new", None)),
    );
    let source = Arc::new(KubeClaimSource::new(
        api.client(),
        tokio::runtime::Handle::current(),
    ));
    match allocation(&source, claim_ref("recreated", "u-old")).await {
        Ok(Some(a)) => assert_eq!(a.uid, "u-new"),
        other => panic!("{other:?}"),
    }
    match allocation(&source, claim_ref("gone", "u-gone")).await {
        Ok(None) => {}
        other => panic!("{other:?}"),
    }
}
