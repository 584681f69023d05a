//! NodePrepareResources / NodeUnprepareResources through the test kubelet, in both versions.

mod common;

use common::{claim, device, serve, Behaviour, FakePreparer};
use dynamig_dra_api::claim::ClaimError;
use dynamig_dra_grpc::test_kubelet::{RegisteredPlugin, TestKubelet, KUBELET_CALL_TIMEOUT};
use dynamig_dra_grpc::Version;
use std::sync::Arc;
use std::time::Duration;

async fn registered(preparer: Arc<FakePreparer>) -> (common::Plugin, RegisteredPlugin) {
    let p = serve(preparer).await;
    let plugin = TestKubelet::default()
        .register(&p.cfg.registry_dir, Duration::from_secs(10))
        .await
        .unwrap();
    (p, plugin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_and_several_claims_in_both_versions() {
    let fake = FakePreparer::with(&[
        (
            "u1",
            Behaviour::Devices(vec![device("u1", "gpu-0-mig-2g10gb-4")]),
        ),
        (
            "u2",
            Behaviour::Devices(vec![
                device("u2", "gpu-0-mig-1g5gb-0"),
                device("u2", "gpu-1"),
            ]),
        ),
        ("u3", Behaviour::Devices(vec![])),
    ]);
    let (p, plugin) = registered(Arc::clone(&fake)).await;
    for version in Version::ALL {
        let kubelet = plugin.with_version(version);
        let one = kubelet
            .prepare(&[claim("u1")], KUBELET_CALL_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            one["u1"],
            Ok(vec![device("u1", "gpu-0-mig-2g10gb-4")]),
            "{version}"
        );

        let several = kubelet
            .prepare(
                &[claim("u1"), claim("u2"), claim("u3")],
                KUBELET_CALL_TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(several.len(), 3);
        assert_eq!(several["u1"], one["u1"]);
        assert_eq!(
            several["u2"],
            Ok(vec![
                device("u2", "gpu-0-mig-1g5gb-0"),
                device("u2", "gpu-1")
            ])
        );
        assert_eq!(several["u3"], Ok(vec![]));

        let gone = kubelet
            .unprepare(
                &[claim("u1"), claim("u2"), claim("u3")],
                KUBELET_CALL_TIMEOUT,
            )
            .await
            .unwrap();
        assert!(gone.values().all(Result::is_ok), "{gone:?}");
        assert!(!fake.is_prepared("u1") && !fake.is_prepared("u2"));
    }
    p.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_claim_gets_its_own_error_with_its_kind() {
    let fake = FakePreparer::with(&[
        ("ok", Behaviour::Devices(vec![device("ok", "gpu-0")])),
        (
            "busy",
            Behaviour::Fail(ClaimError::Retryable("GPU instance 3 still in use".into())),
        ),
        (
            "foreign",
            Behaviour::Fail(ClaimError::Invalid(
                "device gpu-0 of pool node-2 is another node's".into(),
            )),
        ),
        (
            "nvml",
            Behaviour::Fail(ClaimError::Internal("NVML: GPU is lost".into())),
        ),
    ]);
    let (p, plugin) = registered(fake).await;
    for version in Version::ALL {
        let claims = [
            claim("ok"),
            claim("busy"),
            claim("foreign"),
            claim("nvml"),
            claim("unknown"),
        ];
        let got = plugin
            .with_version(version)
            .prepare(&claims, KUBELET_CALL_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(got["ok"], Ok(vec![device("ok", "gpu-0")]));
        assert_eq!(
            got["busy"],
            Err(ClaimError::Retryable("GPU instance 3 still in use".into()))
        );
        assert_eq!(
            got["foreign"],
            Err(ClaimError::Invalid(
                "device gpu-0 of pool node-2 is another node's".into()
            ))
        );
        assert_eq!(
            got["nvml"],
            Err(ClaimError::Internal("NVML: GPU is lost".into()))
        );
        assert_eq!(
            got["unknown"],
            Err(ClaimError::Invalid("no claim unknown".into()))
        );
    }
    p.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_prepare_gets_the_same_answer_and_unknown_unprepare_succeeds() {
    let fake = FakePreparer::with(&[(
        "u1",
        Behaviour::Devices(vec![device("u1", "gpu-0-mig-3g20gb-4")]),
    )]);
    let (p, plugin) = registered(Arc::clone(&fake)).await;
    let first = plugin
        .prepare(&[claim("u1")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    let second = plugin
        .prepare(&[claim("u1")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(
        fake.calls("prepare", "u1"),
        2,
        "each prepare reaches the preparer"
    );

    let unknown = plugin
        .unprepare(&[claim("never-prepared")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(unknown["never-prepared"], Ok(()));
    p.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_past_the_deadline_is_retryable_and_the_server_goes_on() {
    let slow = vec![device("slow", "gpu-0-mig-7g40gb-0")];
    let fake = FakePreparer::with(&[
        ("slow", Behaviour::Block(slow.clone())),
        ("fast", Behaviour::Devices(vec![device("fast", "gpu-1")])),
    ]);
    let _release = fake.release_on_drop();
    let (p, plugin) = registered(Arc::clone(&fake)).await;
    let deadline = Duration::from_secs(1);
    let got = plugin
        .prepare(&[claim("slow"), claim("fast")], deadline)
        .await
        .unwrap();
    assert_eq!(
        got["fast"],
        Ok(vec![device("fast", "gpu-1")]),
        "the other claim is answered"
    );
    let Err(ClaimError::Retryable(why)) = &got["slow"] else {
        panic!("expected a retryable error, got {:?}", got["slow"]);
    };
    assert!(why.contains("still running"), "{why}");

    // The kubelet retries while the first run still blocks: the retry joins it, the preparer
    // is not called a second time, and the answer is again retryable, in time.
    for version in Version::ALL {
        let again = plugin
            .with_version(version)
            .prepare(&[claim("slow")], deadline)
            .await
            .unwrap();
        assert!(
            matches!(again["slow"], Err(ClaimError::Retryable(_))),
            "{again:?}"
        );
    }
    assert_eq!(fake.calls("prepare", "slow"), 1);

    // The server still serves other claims meanwhile.
    let other = plugin
        .prepare(&[claim("fast")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(other["fast"], Ok(vec![device("fast", "gpu-1")]));

    // Once the preparer is done, the retry gets its devices.
    fake.release();
    let done = plugin
        .prepare(&[claim("slow")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(done["slow"], Ok(slow));
    p.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unprepare_waits_for_the_claims_prepare_still_running() {
    let fake = FakePreparer::with(&[("slow", Behaviour::Block(vec![device("slow", "gpu-0")]))]);
    let _release = fake.release_on_drop();
    let (p, plugin) = registered(Arc::clone(&fake)).await;
    let first = plugin
        .prepare(&[claim("slow")], Duration::from_secs(1))
        .await
        .unwrap();
    assert!(matches!(first["slow"], Err(ClaimError::Retryable(_))));
    // The pod is deleted before the prepare ended: the unprepare must not run before it.
    let early = plugin
        .unprepare(&[claim("slow")], Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        matches!(early["slow"], Err(ClaimError::Retryable(_))),
        "{early:?}"
    );
    assert_eq!(fake.calls("unprepare", "slow"), 0);
    fake.release();
    let late = plugin
        .unprepare(&[claim("slow")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(late["slow"], Ok(()));
    assert!(
        !fake.is_prepared("slow"),
        "the unprepare ran after the prepare"
    );
    p.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_preparer_fails_its_claim_not_the_server() {
    let fake = FakePreparer::with(&[
        ("boom", Behaviour::Panic("index out of bounds in the fake")),
        ("fine", Behaviour::Devices(vec![device("fine", "gpu-0")])),
    ]);
    let (p, plugin) = registered(fake).await;
    let got = plugin
        .prepare(&[claim("boom"), claim("fine")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        got["boom"],
        Err(ClaimError::Internal(
            "the prepare panicked: index out of bounds in the fake".into()
        ))
    );
    assert_eq!(got["fine"], Ok(vec![device("fine", "gpu-0")]));
    let after = plugin
        .prepare(&[claim("fine")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(after["fine"], Ok(vec![device("fine", "gpu-0")]));
    p.server.shutdown().await.unwrap();
}
