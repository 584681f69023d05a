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

const QUOTAS: &str = r#"
[namespace."k8s.io"]
max_priority = "interactive"
may_evict = true
gpu_quota = 4
over_quota = true

[namespace."team-a"]
max_priority = "interactive"
may_evict = true
gpu_quota = 2
over_quota = true

[namespace."strict"]
max_priority = "interactive"
gpu_quota = 0.5

[kubernetes."team-b"]
max_priority = "interactive"
may_evict = true
gpu_quota = 1.5
over_quota = true

[kubernetes."no-borrow"]
max_priority = "interactive"
may_evict = true
gpu_quota = 8
"#;

fn quotas() -> Policy {
    let mut p = Policy::parse(QUOTAS).unwrap();
    p.path = Some("/etc/dynamig/policy.toml".into());
    p
}

fn a100_40() -> &'static crate::catalog::GpuModel {
    crate::catalog::model_by_key("a100-40gb").unwrap()
}

fn ask(model: &'static crate::catalog::GpuModel, profile: &str) -> Ask {
    Ask {
        share: GpuShare::of(model, model.profile(profile).unwrap()),
        what: profile.into(),
    }
}

fn preemptible(p: bool) -> Request {
    let mut r = req(TRAINING);
    r.preemptible = p;
    r
}

#[test]
fn a_quota_counts_memory_slices_of_any_model() {
    let m = a100_40();
    let share = |profile: &str| GpuShare::of(m, m.profile(profile).unwrap());
    assert_eq!(share("7g.40gb"), GpuShare::gpus(1));
    assert_eq!(share("3g.20gb"), GpuShare(500));
    assert_eq!(share("4g.20gb"), GpuShare(500));
    assert_eq!(share("2g.10gb"), GpuShare(250));
    assert_eq!(share("1g.5gb"), GpuShare(125));
    // Eight 2g.10gb (the seed's slice) are 2 GPUs, as two whole GPUs are.
    let eight: GpuShare = (0..8).map(|_| share("2g.10gb")).sum();
    assert_eq!(eight, GpuShare::gpus(2));
    // An A30 has 4 memory slices: its smallest slice is a quarter GPU.
    let a30 = crate::catalog::model_by_key("a30-24gb").unwrap();
    assert_eq!(
        GpuShare::of(a30, a30.profile("1g.6gb").unwrap()),
        GpuShare(250)
    );
    // The RTX PRO 6000 keeps the driver's 12-unit grid: its 1g.24gb is a quarter GPU too.
    let rtx = crate::catalog::model_by_key("rtx-pro-6000-bse").unwrap();
    assert_eq!(
        GpuShare::of(rtx, rtx.profile("1g.24gb").unwrap()),
        GpuShare(250)
    );
    assert_eq!(
        GpuShare::of(rtx, rtx.profile("4g.96gb").unwrap()),
        GpuShare::gpus(1)
    );
    let h100 = crate::catalog::model_by_key("h100-80gb").unwrap();
    assert_eq!(
        GpuShare::of(h100, h100.profile("7g.80gb").unwrap()),
        GpuShare::gpus(1)
    );
    assert_eq!(GpuShare::gpus(2).to_string(), "2 GPUs");
    assert_eq!(GpuShare(1000).to_string(), "1 GPU");
    assert_eq!(GpuShare(250).to_string(), "0.25 GPU");
    assert_eq!(GpuShare(1750).to_string(), "1.75 GPUs");
    assert_eq!(GpuShare(125).to_string(), "0.125 GPU");
    assert_eq!(GpuShare::from_gpus(1.5), Some(GpuShare(1500)));
    assert_eq!(GpuShare::from_gpus(0.0001), None);
    assert_eq!(GpuShare::from_gpus(-1.0), None);
}

#[test]
fn within_quota_as_before_beyond_only_preemptible_where_allowed() {
    let p = quotas();
    let m = a100_40();
    let a = p.allowance("team-a", None);
    let used = |g: u32| move |_: &Scope| GpuShare(g);
    // Within: 1.5 GPUs used, 0.5 asked, quota 2.
    assert_eq!(
        a.admit_quota(&preemptible(false), &ask(m, "3g.20gb"), used(1500)),
        Ok(Standing::Within)
    );
    // Beyond and preemptible: over quota.
    assert_eq!(
        a.admit_quota(&preemptible(true), &ask(m, "3g.20gb"), used(1750)),
        Ok(Standing::Over)
    );
    // Beyond and not preemptible: one line with the quota, the use and the ask.
    let e = a
        .admit_quota(&preemptible(false), &ask(m, "3g.20gb"), used(1750))
        .unwrap_err();
    assert!(!e.is_bad_input());
    let line = e.to_string();
    assert!(
        line.contains("containerd namespace \"team-a\" has a quota of 2 GPUs")
            && line.contains("uses 1.75 GPUs")
            && line.contains("asks for 0.5 GPU (3g.20gb)")
            && line.contains("preemptible")
            && !line.contains('\n'),
        "{line}"
    );
    // A rule without over_quota: beyond is refused even when preemptible.
    let s = p.allowance("strict", None);
    let e = s
        .admit_quota(&preemptible(true), &ask(m, "7g.40gb"), used(0))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("quota of 0.5 GPU") && e.contains("may not run beyond its quota"),
        "{e}"
    );
    // No quota (no file, or a rule without gpu_quota): always within.
    let open = Policy::open().allowance("x", Some("y"));
    assert_eq!(
        open.admit_quota(&preemptible(false), &ask(m, "7g.40gb"), used(1_000_000)),
        Ok(Standing::Within)
    );
    assert!(policy()
        .allowance("k8s.io", Some("team-a"))
        .quotas()
        .is_empty());
}

#[test]
fn kubernetes_quota_applies_with_the_containerd_one() {
    let p = quotas();
    let m = a100_40();
    let a = p.allowance("k8s.io", Some("team-b"));
    assert_eq!(a.quotas().len(), 2);
    // The Kubernetes namespace uses 1.25 of its 1.5, the containerd one 1.25 of its 4: a
    // 2g.10gb fits both, a 3g.20gb only the containerd one.
    let used = |s: &Scope| match s {
        Scope::Containerd(_) => GpuShare(1250),
        Scope::Kubernetes(_) => GpuShare(1250),
    };
    assert_eq!(
        a.admit_quota(&preemptible(false), &ask(m, "2g.10gb"), used),
        Ok(Standing::Within)
    );
    let e = a
        .admit_quota(&preemptible(false), &ask(m, "3g.20gb"), used)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Kubernetes namespace \"team-b\" has a quota of 1.5 GPUs"),
        "{e}"
    );
    // Over quota is allowed only where both namespaces allow it.
    let b = p.allowance("k8s.io", Some("no-borrow"));
    assert!(!b.over_quota.value);
    assert_eq!(b.over_quota.scope, Scope::Kubernetes("no-borrow".into()));
    let full = |s: &Scope| match s {
        Scope::Containerd(_) => GpuShare::gpus(4),
        Scope::Kubernetes(_) => GpuShare::ZERO,
    };
    let e = b
        .admit_quota(&preemptible(true), &ask(m, "1g.5gb"), full)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("containerd namespace \"k8s.io\" has a quota of 4 GPUs")
            && e.contains("Kubernetes namespace \"no-borrow\" may not run beyond"),
        "{e}"
    );
}

#[test]
fn malformed_quotas_are_one_line_errors() {
    for (text, needle) in [
        ("[namespace.x]\ngpu_quota = -1\n", "gpu_quota = -1"),
        (
            "[namespace.x]\ngpu_quota = 0.0001\n",
            "not a number of GPUs",
        ),
        ("[namespace.x]\ngpu_quota = \"2\"\n", "line 2"),
        ("[namespace.x]\nover_quota = \"yes\"\n", "line 2"),
        ("[namespace.x]\ngpu_quotas = 2\n", "gpu_quotas"),
    ] {
        let e = Policy::parse(text).unwrap_err();
        assert!(e.contains(needle), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{e:?}");
    }
}
