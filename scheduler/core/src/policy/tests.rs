use super::*;
use crate::priority::{Priority, INFERENCE, INTERACTIVE, TRAINING};
use crate::request::{Request, Size};

const FILE: &str = r#"
[namespace."k8s.io"]
max_priority = "inference"
may_evict = true

[namespace."tenant"]
max_priority = "training"
may_evict = false

[namespace."*"]
max_priority = 60
may_evict = true

[kubernetes."team-a"]
max_priority = "training"
may_evict = false

[kubernetes."prod"]
max_priority = "interactive"
may_evict = true
"#;

fn policy() -> Policy {
    let mut p = Policy::parse(FILE).unwrap();
    p.path = Some("/etc/dynamig/policy.toml".into());
    p
}

fn req(priority: i32) -> Request {
    let mut r = Request::new(Size::Profile {
        name: "1g.5gb".into(),
    });
    r.priority = Priority(priority);
    r
}

#[test]
fn no_file_allows_everything() {
    let a = Policy::open().allowance("anything", Some("whatever"));
    assert!(a.admit(&req(INFERENCE)).is_ok());
    assert!(a.admit(&req(crate::priority::MAX)).is_ok());
    assert!(a.admit_victims(&["x".into()]).is_ok());
}

#[test]
fn containerd_namespace_rules_and_wildcard() {
    let p = policy();
    let a = p.allowance("k8s.io", None);
    assert!(a.admit(&req(INFERENCE)).is_ok());
    assert!(a.admit(&req(INFERENCE + 1)).is_err());
    let t = p.allowance("tenant", None);
    let e = t.admit(&req(INTERACTIVE)).unwrap_err();
    assert!(e.is_bad_input());
    let line = e.to_string();
    assert!(
        line.contains("containerd namespace \"tenant\"")
            && line.contains("at most training (50)")
            && line.contains("interactive (100)")
            && line.contains("/etc/dynamig/policy.toml"),
        "{line}"
    );
    assert!(t.admit(&req(TRAINING)).is_ok());
    let e = t.admit_victims(&["v1".into(), "v2".into()]).unwrap_err();
    assert!(!e.is_bad_input());
    assert!(e.to_string().contains("may not evict") && e.to_string().contains("v1, v2"));
    assert!(t.admit_victims(&[]).is_ok());
    let other = p.allowance("moby", None);
    assert_eq!(other.max_priority.value, Priority(60));
    assert!(other.may_evict.value);
}

#[test]
fn kubernetes_namespace_only_narrows() {
    let p = policy();
    // team-a inside k8s.io: the stricter of inference and training, and no eviction.
    let a = p.allowance("k8s.io", Some("team-a"));
    assert_eq!(a.max_priority.value, Priority(TRAINING));
    assert_eq!(a.max_priority.scope, Scope::Kubernetes("team-a".into()));
    assert!(!a.may_evict.value);
    assert!(a
        .admit(&req(INTERACTIVE))
        .unwrap_err()
        .to_string()
        .contains("Kubernetes namespace \"team-a\""));
    // k8s.io allows up to inference (125), prod up to interactive (100): prod's is stricter.
    let a = p.allowance("k8s.io", Some("prod"));
    assert_eq!(a.max_priority.value, Priority(INTERACTIVE));
    // A tenant that forges a privileged Kubernetes namespace gains nothing.
    let a = p.allowance("tenant", Some("prod"));
    assert_eq!(a.max_priority.value, Priority(TRAINING));
    assert_eq!(a.max_priority.scope, Scope::Containerd("tenant".into()));
    assert!(!a.may_evict.value);
    // An unlisted Kubernetes namespace with no "*" entry is restricted.
    let a = p.allowance("k8s.io", Some("unknown-team"));
    assert_eq!(a.max_priority.value, Priority(TRAINING));
    assert!(!a.may_evict.value);
}

#[test]
fn unlisted_without_wildcard_is_restricted() {
    let mut p = Policy::parse("[namespace.\"k8s.io\"]\nmax_priority = \"interactive\"\n").unwrap();
    p.path = Some("/p".into());
    let a = p.allowance("other", None);
    assert_eq!(a.max_priority.value, Priority(TRAINING));
    assert!(!a.may_evict.value);
    // Omitted fields are the restricted ones.
    let a = p.allowance("k8s.io", None);
    assert_eq!(a.max_priority.value, Priority(INTERACTIVE));
    assert!(!a.may_evict.value);
}

#[test]
fn malformed_files_are_one_line_errors() {
    for (text, needle) in [
        ("[namespace.x]\nmax_priority = \"urgent\"\n", "urgent"),
        ("[namespace.x]\nmax_priority = 5000\n", "5000"),
        ("[namespace.x]\nmay_evict = \"yes\"\n", "line 2"),
        ("[namespace.x]\nmax_prio = \"training\"\n", "max_prio"),
        ("[tenants.x]\n", "tenants"),
        ("[namespace.x\n", "line 1"),
        ("[namespace.\"\"]\n", "empty name"),
        ("namespace = 3\n", "line 1"),
    ] {
        let e = Policy::parse(text).unwrap_err();
        assert!(e.contains(needle), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{e:?}");
    }
}

#[test]
fn a_file_without_rules_restricts_nothing() {
    // The packaged /etc/dynamig/policy.toml is comments only: installing must not restrict.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../packaging/etc/policy.toml"
    ))
    .unwrap();
    let mut p = Policy::parse(&text).unwrap();
    p.path = Some("/etc/dynamig/policy.toml".into());
    assert_eq!(
        p.allowance("default", None).max_priority.value,
        Priority(crate::priority::MAX)
    );
    assert!(p.allowance("default", Some("team-a")).may_evict.value);
    // one rule, and unlisted namespaces are restricted
    let mut q = Policy::parse("[namespace.\"k8s.io\"]\nmax_priority = \"interactive\"\n").unwrap();
    q.path = Some("/etc/dynamig/policy.toml".into());
    assert!(!q.allowance("default", None).may_evict.value);
}
