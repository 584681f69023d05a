use super::*;

fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn no_keys_is_no_request() {
    let a = ann(&[("io.kubernetes.cri.container-type", "container")]);
    assert_eq!(parse(&a, &["PATH=/bin".into()]), Ok(None));
}

#[test]
fn memory_and_profile_forms() {
    let r = parse(&ann(&[(GPU_MEMORY.annotation, "10GB")]), &[])
        .unwrap()
        .unwrap();
    assert_eq!(
        r.size,
        Size::Memory {
            bytes: 10_000_000_000,
            text: "10GB".into()
        }
    );
    assert_eq!(r.priority, Priority(priority::TRAINING));
    assert!(r.preemptible);
    assert_eq!(r.grace_period, DEFAULT_GRACE);
    let r = parse(
        &BTreeMap::new(),
        &[
            "DYNAMIG_MIG_PROFILE=2g.10gb".into(),
            "DYNAMIG_PRIORITY=interactive".into(),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        r.size,
        Size::Profile {
            name: "2g.10gb".into()
        }
    );
    assert!(!r.preemptible);
}

#[test]
fn preemptible_overrides_class_default() {
    let r = parse(
        &ann(&[
            (GPU_MEMORY.annotation, "5GB"),
            (PRIORITY.annotation, "interactive"),
            (PREEMPTIBLE.annotation, "true"),
        ]),
        &[],
    )
    .unwrap()
    .unwrap();
    assert!(r.preemptible);
}

#[test]
fn refusals_name_key_value_and_what_is_accepted() {
    let e = parse(&ann(&[(GPU_MEMORY.annotation, "10XB")]), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("dynamig.io/gpu-memory=\"10XB\""), "{e}");
    assert!(e.contains("accepted:"), "{e}");
    assert!(!e.contains('\n'));
    let e = parse(
        &ann(&[
            (GPU_MEMORY.annotation, "10GB"),
            (MIG_PROFILE.annotation, "2g.10gb"),
        ]),
        &[],
    )
    .unwrap_err();
    assert!(matches!(e, RequestError::BothSizes { .. }));
    let e = parse(&ann(&[(PRIORITY.annotation, "interactive")]), &[]).unwrap_err();
    assert!(matches!(e, RequestError::NoSize { .. }));
    let e = parse(&ann(&[("dynamig.io/gpu-memroy", "10GB")]), &[]).unwrap_err();
    assert!(matches!(e, RequestError::UnknownKey { .. }));
    let e = parse(
        &ann(&[(GPU_MEMORY.annotation, "10GB")]),
        &["DYNAMIG_GPU_MEMORY=20GB".into()],
    )
    .unwrap_err();
    assert!(matches!(e, RequestError::Disagree { .. }));
    let e = parse(&ann(&[(MIG_PROFILE.annotation, "big")]), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a MIG profile name"), "{e}");
    let e = parse(
        &ann(&[
            (GPU_MEMORY.annotation, "1GB"),
            (PREEMPTIBLE.annotation, "yes"),
        ]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("true or false"));
    let e = parse(
        &ann(&[
            (GPU_MEMORY.annotation, "1GB"),
            (GRACE_PERIOD.annotation, "-1s"),
        ]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("dynamig.io/grace-period"));
}

#[test]
fn env_and_annotation_agreeing_is_fine() {
    let r = parse(
        &ann(&[(GPU_MEMORY.annotation, "10GB")]),
        &["DYNAMIG_GPU_MEMORY=10GB".into()],
    )
    .unwrap();
    assert!(r.is_some());
}

#[test]
fn profile_name_shape() {
    for ok in ["1g.5gb", "2g.10gb", "1g.5gb+me", "7g.141gb"] {
        assert!(is_profile_name(ok), "{ok}");
    }
    for bad in [
        "",
        "1g",
        "g.5gb",
        "1g.5GB",
        "1g.5gb+ME",
        "1g.5gb ",
        "1g..5gb",
        "１g.5gb",
    ] {
        assert!(!is_profile_name(bad), "{bad}");
    }
}

/// Found by `cargo fuzz run annotations`: an unknown key with a carriage return or newline in
/// it printed raw, so the refusal (which becomes containerd's error line) spanned two lines.
#[test]
fn unknown_key_with_control_characters_stays_one_line() {
    for key in [
        "dynamig.io/mig-pr\rofile",
        "dynamig.io/x\nlevel=error msg=forged",
    ] {
        let e = parse(&ann(&[(key, "1g.5gb")]), &[])
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n') && !e.contains('\r'), "{e:?}");
        assert!(e.contains("is not a dynamig key"), "{e}");
    }
}

/// A 1 MiB value or a 200 KB key is not echoed whole into the create error (which containerd
/// shows and the runtime log keeps): its first 64 characters and its length.
#[test]
fn huge_values_and_keys_are_cut_in_refusals() {
    let value = format!("1{}", "X".repeat(1 << 20));
    for (a, env) in [
        (ann(&[(GPU_MEMORY.annotation, value.as_str())]), vec![]),
        (ann(&[]), vec![format!("DYNAMIG_GPU_MEMORY={value}")]),
        (ann(&[(MIG_PROFILE.annotation, value.as_str())]), vec![]),
        (
            ann(&[
                (GPU_MEMORY.annotation, "1GB"),
                (WAIT.annotation, value.as_str()),
            ]),
            vec![],
        ),
        (
            ann(&[(GPU_MEMORY.annotation, "1GB")]),
            vec![format!("DYNAMIG_GPU_MEMORY={value}")],
        ),
    ] {
        let e = parse(&a, &env).unwrap_err().to_string();
        assert!(e.len() < 700, "{} bytes: {}", e.len(), &e[..200]);
        assert!(e.contains(&format!("… ({} bytes)", value.len())), "{e}");
        assert!(e.contains(&format!("1{}", "X".repeat(63))), "{e}");
        assert!(!e.contains(&"X".repeat(65)), "{e}");
    }
    let key = format!("dynamig.io/{}", "k".repeat(200_000));
    let e = parse(&ann(&[(key.as_str(), "1GB")]), &[])
        .unwrap_err()
        .to_string();
    assert!(e.len() < 400, "{} bytes", e.len());
    assert!(
        e.contains(&format!("… ({} bytes) is not a dynamig key", key.len())),
        "{e}"
    );
}

/// `DYNAMIG_GPU_MEMORY` twice in one process env with two values: contradictory, refused (the
/// last one would otherwise win silently). The same value twice is one request.
#[test]
fn a_dynamig_env_key_twice_must_agree() {
    let e = parse(
        &ann(&[]),
        &[
            "DYNAMIG_GPU_MEMORY=10GB".into(),
            "DYNAMIG_GPU_MEMORY=40GB".into(),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            RequestError::EnvTwice {
                env: "DYNAMIG_GPU_MEMORY",
                ..
            }
        ),
        "{e}"
    );
    let e = e.to_string();
    assert!(
        e.contains("DYNAMIG_GPU_MEMORY is set twice, to \"10GB\" and to \"40GB\""),
        "{e}"
    );
    let r = parse(
        &ann(&[]),
        &[
            "DYNAMIG_GPU_MEMORY=10GB".into(),
            "DYNAMIG_GPU_MEMORY=10GB".into(),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.size.to_string(), "gpu-memory 10GB");
    // other variables may repeat, as they may in any container
    assert!(parse(&ann(&[]), &["PATH=/a".into(), "PATH=/b".into()])
        .unwrap()
        .is_none());
}

#[test]
fn the_cri_sandbox_and_container_name_name_the_kubernetes_container() {
    let base = [("dynamig.io/mig-profile", "1g.5gb")];
    let r = parse(&ann(&base), &[]).unwrap().unwrap();
    assert_eq!(r.k8s_container, None);
    let mut full = base.to_vec();
    full.push((K8S_SANDBOX_ID, "5f1e"));
    full.push((K8S_CONTAINER_NAME, "trainer"));
    let r = parse(&ann(&full), &[]).unwrap().unwrap();
    assert_eq!(r.k8s_container.as_deref(), Some("5f1e/trainer"));
    // only the sandbox: no container name, no key (and never a refusal)
    let mut half = base.to_vec();
    half.push((K8S_SANDBOX_ID, "5f1e"));
    assert_eq!(
        parse(&ann(&half), &[]).unwrap().unwrap().k8s_container,
        None
    );
    let mut odd = base.to_vec();
    odd.push((K8S_SANDBOX_ID, "5f1e"));
    odd.push((K8S_CONTAINER_NAME, "has space"));
    assert_eq!(parse(&ann(&odd), &[]).unwrap().unwrap().k8s_container, None);
}

/// Issue #18: the same value refused through a flag names the flag, through an annotation the
/// annotation, through env the variable; each with the same problem and the same hint.
#[test]
fn refusals_name_where_the_value_came_from() {
    let mut flags = Flags::new(&[(GPU_MEMORY, "--gpu-memory"), (MIG_PROFILE, "--mig-profile")]);
    flags.given(GPU_MEMORY);
    let a = ann(&[(GPU_MEMORY.annotation, "1.5GB")]);
    let e = parse_flagged(&a, &[], &flags).unwrap_err().to_string();
    assert!(
        e.starts_with("--gpu-memory \"1.5GB\" must be a whole, positive number"),
        "{e}"
    );
    assert!(e.ends_with("; did you mean 1500MB?"), "{e}");
    assert!(!e.contains("dynamig.io/"), "{e}");
    let e = parse(&a, &[]).unwrap_err().to_string();
    assert!(
        e.starts_with("annotation dynamig.io/gpu-memory=\"1.5GB\" must be a whole"),
        "{e}"
    );
    assert!(e.ends_with("; did you mean 1500MB?"), "{e}");
    let e = parse(&BTreeMap::new(), &["DYNAMIG_GPU_MEMORY=1.5GB".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("env DYNAMIG_GPU_MEMORY=\"1.5GB\" must"),
        "{e}"
    );
    // A key the flags declare but the command line gave as --annotation names the annotation.
    let flags = Flags::new(&[(GPU_MEMORY, "--gpu-memory")]);
    let e = parse_flagged(&a, &[], &flags).unwrap_err().to_string();
    assert!(e.starts_with("annotation dynamig.io/gpu-memory="), "{e}");
}

#[test]
fn near_miss_spellings_are_refused_with_the_accepted_one() {
    let e = parse(&ann(&[(GPU_MEMORY.annotation, "10gb")]), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("has unknown unit `gb`"), "{e}");
    assert!(e.ends_with("; did you mean 10GB?"), "{e}");
    let e = parse(&ann(&[(MIG_PROFILE.annotation, "2g.10GB")]), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a MIG profile name"), "{e}");
    assert!(e.ends_with("; did you mean 2g.10gb?"), "{e}");
    // Nothing near: no guess.
    let e = parse(&ann(&[(GPU_MEMORY.annotation, "10XB")]), &[])
        .unwrap_err()
        .to_string();
    assert!(!e.contains("did you mean"), "{e}");
}

#[test]
fn out_of_range_values_say_which_bound() {
    for (key, value, says) in [
        (GRACE_PERIOD, "2h", "exceeds the maximum of 1h"),
        (WAIT, "90m", "exceeds the maximum of 1h"),
        (PRIORITY, "2000", "exceeds the maximum of 1000"),
        (PRIORITY, "-2000", "is below the minimum of -1000"),
        (GPU_MEMORY, "0", "is zero"),
    ] {
        let mut a = ann(&[(key.annotation, value)]);
        if key != GPU_MEMORY {
            a.insert(GPU_MEMORY.annotation.into(), "1GB".into());
        }
        let e = parse(&a, &[]).unwrap_err().to_string();
        assert!(e.contains(&format!("=\"{value}\" {says};")), "{e}");
    }
}

#[test]
fn a_missing_size_is_asked_for_by_the_flags_there_are() {
    let flags = Flags::new(&[(GPU_MEMORY, "--gpu-memory"), (MIG_PROFILE, "--mig-profile")]);
    let e = parse_flagged(&ann(&[(PRIORITY.annotation, "training")]), &[], &flags)
        .unwrap_err()
        .to_string();
    assert!(e.contains("without --gpu-memory or --mig-profile"), "{e}");
}

#[test]
fn the_checkpoint_interval_is_read_from_the_annotation_or_env() {
    let r = parse(&ann(&[(MIG_PROFILE.annotation, "1g.5gb")]), &[])
        .unwrap()
        .unwrap();
    assert_eq!(r.checkpoint_interval, None, "undeclared");
    for (value, want) in [
        ("30m", 1800),
        ("1800s", 1800),
        ("2h", 7200),
        ("24h", 86_400),
    ] {
        let a = ann(&[
            (MIG_PROFILE.annotation, "1g.5gb"),
            (CHECKPOINT_INTERVAL.annotation, value),
        ]);
        let r = parse(&a, &[]).unwrap().unwrap();
        assert_eq!(
            r.checkpoint_interval,
            Some(Duration::from_secs(want)),
            "{value}"
        );
    }
    let r = parse(
        &BTreeMap::new(),
        &[
            "DYNAMIG_GPU_MEMORY=5GB".into(),
            "DYNAMIG_CHECKPOINT_INTERVAL=10m".into(),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.checkpoint_interval, Some(Duration::from_secs(600)));
    // Alone it is no request: a size is still asked for.
    let e = parse(&ann(&[(CHECKPOINT_INTERVAL.annotation, "30m")]), &[]).unwrap_err();
    assert!(matches!(e, RequestError::NoSize { .. }), "{e}");
}

#[test]
fn a_bad_checkpoint_interval_is_refused_in_one_line() {
    for (value, says) in [
        ("30", "is not a duration"),
        ("1.5h", "is not a duration"),
        ("30min", "is not a duration"),
        ("0s", "is zero; an interval is at least 1ms"),
        ("25h", "exceeds the maximum of 24h"),
    ] {
        let a = ann(&[
            (GPU_MEMORY.annotation, "1GB"),
            (CHECKPOINT_INTERVAL.annotation, value),
        ]);
        let e = parse(&a, &[]).unwrap_err();
        assert!(matches!(e, RequestError::BadValue { .. }), "{e}");
        let e = e.to_string();
        assert_eq!(
            e,
            format!(
                "annotation dynamig.io/checkpoint-interval=\"{value}\" {says}; accepted: {}",
                crate::duration::INTERVAL_ACCEPTED
            )
        );
        assert!(!e.contains('\n'), "{e}");
    }
    let e = parse(
        &BTreeMap::new(),
        &[
            "DYNAMIG_GPU_MEMORY=1GB".into(),
            "DYNAMIG_CHECKPOINT_INTERVAL=soon".into(),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("env DYNAMIG_CHECKPOINT_INTERVAL=\"soon\" is not a duration; accepted:"),
        "{e}"
    );
}

/// A request written before the key existed (a wait ticket in an old state file) reads as one
/// without an interval, and one with it reads back the same.
#[test]
fn the_checkpoint_interval_is_optional_in_stored_requests() {
    let old = r#"{"size":{"profile":{"name":"1g.5gb"}},"priority":50,"preemptible":true,"grace_period":10000,"wait":0}"#;
    let r: Request = serde_json::from_str(old).unwrap();
    assert_eq!(r.checkpoint_interval, None);
    assert_eq!(serde_json::to_string(&r).unwrap(), old);
    let mut with = r;
    with.checkpoint_interval = Some(Duration::from_secs(1800));
    let text = serde_json::to_string(&with).unwrap();
    assert!(text.contains(r#""checkpoint_interval":1800000"#), "{text}");
    assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), with);
}
