//! The CEL selectors of packaging/kubernetes/dra (DeviceClasses, ResourceClaimTemplates),
//! evaluated with a CEL interpreter against the devices a node publishes, built from the
//! catalog with the attribute and capacity names every dynamig DRA crate uses: each class and
//! template selects the devices it is meant to, on every catalog model.
//!
//! Kubernetes' CEL environment for DRA has a `quantity` type (`quantity("10G")`, `compareTo`)
//! that the interpreter lacks; the test adds both over integers (bytes), which is exact for the
//! whole quantities used here (`"<mib>Mi"` capacities, `"10G"` requests). Selection is emulated
//! as the scheduler's allocator does it: the class's selectors, then the request's, all must be
//! true; for `firstAvailable`, the first subrequest with a matching device wins.

use cel::extractors::This;
use cel::{Context, Program, Value};
use dynamig_core::catalog::{models, GpuModel};
use dynamig_core::planner::candidate_profiles;
use dynamig_core::request::Size;
use serde_json::Value as Json;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

const DOMAIN: &str = "mig.dynamig.io";

fn manifest(name: &str) -> Vec<Json> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../packaging/kubernetes/dra")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_saphyr::from_multiple::<Json>(&text)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn named<'a>(docs: &'a [Json], kind: &str, name: &str) -> &'a Json {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// A compiled CEL selector and its text (for messages).
struct Selector {
    text: String,
    program: Program,
}

/// The CEL expressions of a `selectors` list, compiled.
fn expressions(selectors: &Json) -> Vec<Selector> {
    selectors
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let text = s["cel"]["expression"]
                        .as_str()
                        .expect("a cel selector")
                        .to_string();
                    let program =
                        Program::compile(&text).unwrap_or_else(|err| panic!("{text}: {err:?}"));
                    Selector { text, program }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A Kubernetes quantity as bytes (whole values only: what these manifests use).
fn quantity_bytes(s: &str) -> Option<i64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let m: i64 = match unit {
        "" => 1,
        "k" => 1000,
        "M" => 1000_i64.pow(2),
        "G" => 1000_i64.pow(3),
        "T" => 1000_i64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(m)
}

/// One published device, as CEL sees it.
#[derive(Clone)]
struct Device {
    name: String,
    /// `None` for the whole GPU.
    profile: Option<&'static str>,
    value: Value,
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let m: HashMap<String, Value> = entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    m.into()
}

fn device_value(attributes: Vec<(&str, Value)>, memory_mib: u64, sms: u16) -> Value {
    let memory = quantity_bytes(&format!("{memory_mib}Mi")).expect("capacity quantity");
    map(vec![
        ("driver", DOMAIN.into()),
        ("attributes", map(vec![(DOMAIN, map(attributes))])),
        (
            "capacity",
            map(vec![(
                DOMAIN,
                map(vec![
                    ("memory", Value::Int(memory)),
                    ("multiprocessors", Value::Int(i64::from(sms))),
                ]),
            )]),
        ),
    ])
}

/// Every device of one GPU of `model`: the whole GPU and every profile at every placement.
fn devices(model: &'static GpuModel) -> Vec<Device> {
    let uuid = "GPU-00000000-0000-0000-0000-000000000000";
    let int = |v: u8| Value::Int(i64::from(v));
    let full_sms = model.profiles.iter().map(|p| p.sms).max().unwrap_or(0);
    let mut out = vec![Device {
        name: "gpu-0".into(),
        profile: None,
        value: device_value(
            vec![
                ("type", "gpu".into()),
                ("uuid", uuid.into()),
                ("model", model.name.into()),
                ("index", Value::Int(0)),
                ("computeSlices", int(model.compute_slices)),
                ("memorySlices", int(model.memory_slices)),
            ],
            model.memory_mib,
            full_sms,
        ),
    }];
    for p in model.profiles {
        for &start in p.starts {
            out.push(Device {
                name: format!("gpu-0-mig-{}-{start}", p.name),
                profile: Some(p.name),
                value: device_value(
                    vec![
                        ("type", "mig".into()),
                        ("profile", p.name.into()),
                        ("placementStart", int(start)),
                        ("placementSize", int(p.memory_slices)),
                        ("parentUUID", uuid.into()),
                        ("model", model.name.into()),
                        ("index", Value::Int(0)),
                        ("computeSlices", int(p.compute_slices)),
                        ("memorySlices", int(p.memory_slices)),
                    ],
                    p.memory_mib,
                    p.sms,
                ),
            });
        }
    }
    out
}

fn quantity(s: Arc<String>) -> Result<i64, cel::ExecutionError> {
    quantity_bytes(&s).ok_or_else(|| cel::ExecutionError::function_error("quantity", s.as_str()))
}

fn compare_to(This(this): This<i64>, other: i64) -> i64 {
    match this.cmp(&other) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// Whether every expression is true for `device`; an expression that does not evaluate to a
/// bool is a test failure (the manifests must not rely on errors to exclude devices).
fn selects(exprs: &[Selector], device: &Device) -> bool {
    let mut ctx = Context::default();
    ctx.add_function("quantity", quantity).expect("quantity");
    ctx.add_function("compareTo", compare_to)
        .expect("compareTo");
    ctx.add_variable_from_value("device", device.value.clone());
    exprs.iter().all(|e| match e.program.execute(&ctx) {
        Ok(Value::Bool(b)) => b,
        other => panic!("{} on {}: {other:?}", e.text, device.name),
    })
}

fn class_selectors(name: &str) -> Vec<Selector> {
    let classes = manifest("deviceclasses.yaml");
    expressions(&named(&classes, "DeviceClass", name)["spec"]["selectors"])
}

fn template_request(name: &str) -> Json {
    let templates = manifest("claim-templates.yaml");
    let t = named(&templates, "ResourceClaimTemplate", name);
    let requests = t["spec"]["spec"]["devices"]["requests"]
        .as_array()
        .expect("requests");
    assert_eq!(requests.len(), 1, "{name}: one request");
    requests[0].clone()
}

/// For a `firstAvailable` request: the profiles each subrequest selects, in order, skipping
/// subrequests that select nothing on this model.
fn first_available(name: &str, devices: &[Device]) -> Vec<(String, BTreeSet<&'static str>)> {
    first_available_of(&subrequests(name), devices)
}

/// A `firstAvailable` request's subrequests: name and selectors (the class's, then its own).
fn subrequests(name: &str) -> Vec<(String, Vec<Selector>)> {
    let request = template_request(name);
    let subs = request["firstAvailable"]
        .as_array()
        .expect("firstAvailable");
    assert!(
        subs.len() <= 8,
        "{name}: at most 8 subrequests (the API's limit)"
    );
    subs.iter()
        .map(|s| {
            let class = s["deviceClassName"].as_str().expect("deviceClassName");
            let mut exprs = class_selectors(class);
            exprs.extend(expressions(&s["selectors"]));
            (s["name"].as_str().expect("name").to_string(), exprs)
        })
        .collect()
}

fn first_available_of(
    subs: &[(String, Vec<Selector>)],
    devices: &[Device],
) -> Vec<(String, BTreeSet<&'static str>)> {
    subs.iter()
        .map(|(name, exprs)| {
            let picked = devices
                .iter()
                .filter(|d| selects(exprs, d))
                .map(|d| d.profile.expect("a MIG device"))
                .collect();
            (name.clone(), picked)
        })
        .filter(|(_, p): &(String, BTreeSet<&str>)| !p.is_empty())
        .collect()
}

fn a100_40gb() -> &'static GpuModel {
    dynamig_core::catalog::model_by_key("a100-40gb").expect("a100-40gb")
}

#[test]
fn the_mig_class_selects_every_mig_device_and_the_gpu_class_the_whole_gpu() {
    let mig = class_selectors("mig.dynamig.io");
    let gpu = class_selectors("gpu.dynamig.io");
    for model in models() {
        for d in devices(model) {
            assert_eq!(
                selects(&mig, &d),
                d.profile.is_some(),
                "{} {}",
                model.key,
                d.name
            );
            assert_eq!(
                selects(&gpu, &d),
                d.profile.is_none(),
                "{} {}",
                model.key,
                d.name
            );
        }
    }
}

#[test]
fn ten_gb_on_an_a100_40gb_is_1g10gb_first_then_ascending() {
    let order: Vec<Vec<&str>> = first_available("mig-10gb", &devices(a100_40gb()))
        .into_iter()
        .map(|(_, p)| p.into_iter().collect())
        .collect();
    assert_eq!(
        order,
        [
            vec!["1g.10gb"],
            vec!["2g.10gb"],
            vec!["3g.20gb"],
            vec!["4g.20gb"],
            vec!["7g.40gb"],
            // any-fitting: the last resort, every profile with 10 GB or more
            vec!["1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"],
        ]
    );
}

#[test]
fn twenty_g_on_an_a100_40gb_is_3g20gb_first() {
    let order: Vec<Vec<&str>> = first_available("mig-20g", &devices(a100_40gb()))
        .into_iter()
        .map(|(_, p)| p.into_iter().collect())
        .collect();
    assert_eq!(
        order,
        [
            vec!["3g.20gb"],
            vec!["4g.20gb"],
            vec!["7g.40gb"],
            vec!["3g.20gb", "4g.20gb", "7g.40gb"],
        ]
    );
}

#[test]
fn the_2g10gb_template_selects_exactly_that_profile_at_each_placement() {
    let request = template_request("mig-2g10gb");
    let exactly = &request["exactly"];
    let mut exprs = class_selectors(exactly["deviceClassName"].as_str().expect("class"));
    exprs.extend(expressions(&exactly["selectors"]));
    for model in models() {
        let picked: Vec<String> = devices(model)
            .into_iter()
            .filter(|d| selects(&exprs, d))
            .map(|d| d.name)
            .collect();
        let want: Vec<String> = model
            .profile("2g.10gb")
            .map(|p| {
                p.starts
                    .iter()
                    .map(|s| format!("gpu-0-mig-2g.10gb-{s}"))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(picked, want, "{}", model.key);
    }
    assert_eq!(
        devices(a100_40gb())
            .iter()
            .filter(|d| selects(&exprs, d))
            .count(),
        3,
        "2g.10gb starts at 0, 2 and 4 on an A100-40GB"
    );
}

/// On every catalog model, what the first matching subrequest may be given is one of the
/// profiles dynamig's own planner would choose for the same memory request (the smallest that
/// fits), so a pod gets on Kubernetes what the same annotation gets on a standalone node.
#[test]
fn memory_templates_agree_with_the_planner_on_every_model() {
    for (template, bytes, text) in [
        ("mig-10gb", 10_000_000_000u64, "10GB"),
        ("mig-20g", 20_000_000_000, "20G"),
    ] {
        let subs = subrequests(template);
        for model in models() {
            let size = Size::Memory {
                bytes,
                text: text.into(),
            };
            let planner: BTreeSet<&str> = candidate_profiles(model, &size)
                .iter()
                .map(|p| p.name)
                .collect();
            let order = first_available_of(&subs, &devices(model));
            match order.first() {
                None => assert!(planner.is_empty(), "{template} on {}: nothing selected, planner {planner:?}", model.key),
                Some((sub, first)) => assert!(
                    first.is_subset(&planner),
                    "{template} on {}: subrequest {sub} selects {first:?}, the planner takes {planner:?}",
                    model.key
                ),
            }
        }
    }
}

#[test]
fn quantities_are_kubernetes_quantities() {
    assert_eq!(quantity_bytes("10G"), Some(10_000_000_000));
    assert_eq!(quantity_bytes("9984Mi"), Some(9984 << 20));
    assert_eq!(quantity_bytes("10GB"), None, "not a Kubernetes suffix");
}
