//! The node policy (`DYNAMIG_POLICY`) on the runtime path: a tenant that claims `interactive`
//! to evict another is refused with one line and evicts nothing; a namespace that may not
//! evict cannot preempt; a forged Kubernetes namespace gains nothing; an allowed request
//! preempts as before; a malformed policy fails creation, never silently ignored.

mod support;
use dynamig_core::request::Size;
use std::os::unix::fs::PermissionsExt;
use support::SimBox;

const POLICY: &str = r#"
# Kubernetes pods (containerd namespace k8s.io) may go up to interactive and evict...
[namespace."k8s.io"]
max_priority = "interactive"
may_evict = true

# ...a tenant with its own containerd namespace may not.
[namespace."tenant"]
max_priority = "training"
may_evict = false

[kubernetes."team-a"]
max_priority = "training"
may_evict = false

[kubernetes."team-b"]
max_priority = "interactive"
may_evict = true

[kubernetes."team-c"]
max_priority = "interactive"
may_evict = false
"#;

fn setup() -> (SimBox, String) {
    let node = SimBox::new(&["a100-40gb"]);
    // The seed's three 10 GB training holders.
    for (id, size) in [
        (
            "t1",
            Size::Memory {
                bytes: 10_000_000_000,
                text: "10GB".into(),
            },
        ),
        (
            "t2",
            Size::Profile {
                name: "2g.10gb".into(),
            },
        ),
        (
            "t3",
            Size::Profile {
                name: "2g.10gb".into(),
            },
        ),
    ] {
        node.resident(id, size, 50);
    }
    let p = node.tmp.path().join("policy.toml");
    std::fs::write(&p, POLICY).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    (node, p.display().to_string())
}

fn interactive_20gb(node: &SimBox, k8s_ns: Option<&str>) -> std::path::PathBuf {
    let mut a = serde_json::json!({
        "dynamig.io/gpu-memory": "20GB",
        "dynamig.io/priority": "interactive",
    });
    if let Some(ns) = k8s_ns {
        a["io.kubernetes.cri.sandbox-namespace"] = ns.into();
    }
    node.bundle(&a, &[])
}

fn all_active(node: &SimBox) {
    for (id, st) in node.holders() {
        assert_eq!(st, "active", "{id} was disturbed");
    }
}

#[test]
fn tenant_claiming_interactive_is_refused_and_evicts_nothing() {
    let (node, policy) = setup();
    let env = [("DYNAMIG_POLICY", policy.as_str())];
    for (ns, k8s, who) in [
        ("k8s.io", Some("team-a"), "Kubernetes namespace \"team-a\""),
        // A tenant forging the annotation of a namespace that may use interactive.
        ("tenant", Some("team-b"), "containerd namespace \"tenant\""),
        ("tenant", None, "containerd namespace \"tenant\""),
    ] {
        let before = node.state_bytes();
        let b = interactive_20gb(&node, k8s);
        let (o, log) = node.create(ns, "intruder", &b, "/nonexistent/runc", &env);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains(who)
                && err.contains("at most training (50)")
                && err.contains("interactive (100)")
                && err.contains(&policy),
            "{err}"
        );
        assert!(log.contains("at most training"), "{log}");
        assert_eq!(node.state_bytes(), before, "{ns} {k8s:?}");
        all_active(&node);
    }
}

#[test]
fn a_namespace_that_may_not_evict_cannot_preempt() {
    let (node, policy) = setup();
    let before = node.state_bytes();
    let b = interactive_20gb(&node, Some("team-c"));
    let (o, _) = node.create(
        "k8s.io",
        "no-evict",
        &b,
        "/nonexistent/runc",
        &[("DYNAMIG_POLICY", &policy)],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("may not evict") && err.contains("Kubernetes namespace \"team-c\""),
        "{err}"
    );
    assert_eq!(node.state_bytes(), before);
    all_active(&node);
}

#[test]
fn an_allowed_namespace_preempts_exactly_one() {
    let (node, policy) = setup();
    let b = interactive_20gb(&node, Some("team-b"));
    let (o, _) = node.create(
        "k8s.io",
        "allowed",
        &b,
        "/bin/true",
        &[("DYNAMIG_POLICY", &policy)],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h = node.holders();
    let preempted: Vec<_> = h.iter().filter(|(_, s)| s == "preempted").collect();
    assert_eq!(preempted.len(), 1, "{h:?}");
    assert!(
        h.contains(&("allowed".to_string(), "active".to_string())),
        "{h:?}"
    );
    let spec = std::fs::read_to_string(b.join("config.json")).unwrap();
    assert!(spec.contains("NVIDIA_VISIBLE_DEVICES=MIG-"), "{spec}");
}

#[test]
fn a_malformed_policy_fails_creation() {
    let (node, _) = setup();
    let bad = node.tmp.path().join("bad.toml");
    std::fs::write(&bad, "[namespace.\"k8s.io\"]\nmax_priority = \"urgent\"\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = node.tmp.path().join("missing.toml");
    let open = node.tmp.path().join("open.toml");
    std::fs::write(&open, POLICY).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    for (p, needle) in [
        (&bad, "urgent"),
        (&missing, "No such file"),
        (&open, "writable by group or others"),
    ] {
        let before = node.state_bytes();
        let b = node.bundle(&serde_json::json!({"dynamig.io/gpu-memory": "5GB"}), &[]);
        let (o, _) = node.create(
            "k8s.io",
            "x",
            &b,
            "/nonexistent/runc",
            &[("DYNAMIG_POLICY", p.to_str().unwrap())],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("policy file") && err.contains(needle), "{err}");
        assert_eq!(node.state_bytes(), before);
    }
}
