//! A container's GPU request, read from OCI / Kubernetes annotations or, for Docker 20.10 which
//! has no annotations, from environment variables. Exactly one of memory or profile; anything
//! malformed, contradictory or unknown is refused with one line that names the key, the value and
//! what is accepted. A container that names none of the keys makes no request.

use crate::duration::{self, parse_duration, parse_interval};
use crate::excerpt::quoted;
use crate::priority::{self, Priority};
use crate::quantity::{self, parse_bytes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use thiserror::Error;

mod hint;
mod origin;
pub use origin::{Flags, Origin};

pub const PREFIX: &str = "dynamig.io/";

/// One request key in both of its spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub annotation: &'static str,
    pub env: &'static str,
    pub accepted: &'static str,
}

pub const GPU_MEMORY: Key = Key {
    annotation: "dynamig.io/gpu-memory",
    env: "DYNAMIG_GPU_MEMORY",
    accepted: quantity::ACCEPTED,
};
pub const MIG_PROFILE: Key = Key {
    annotation: "dynamig.io/mig-profile",
    env: "DYNAMIG_MIG_PROFILE",
    accepted: "a MIG profile name such as 1g.5gb, 2g.10gb or 1g.5gb+me (see `dynamigctl profiles`)",
};
pub const PRIORITY: Key = Key {
    annotation: "dynamig.io/priority",
    env: "DYNAMIG_PRIORITY",
    accepted: priority::ACCEPTED,
};
pub const PREEMPTIBLE: Key = Key {
    annotation: "dynamig.io/preemptible",
    env: "DYNAMIG_PREEMPTIBLE",
    accepted: "true or false",
};
pub const GRACE_PERIOD: Key = Key {
    annotation: "dynamig.io/grace-period",
    env: "DYNAMIG_GRACE_PERIOD",
    accepted: duration::ACCEPTED,
};
pub const WAIT: Key = Key {
    annotation: "dynamig.io/wait",
    env: "DYNAMIG_WAIT",
    accepted: duration::ACCEPTED,
};

/// How often the job checkpoints: an eviction loses at most this much of its run. The planner
/// prefers victims that lose the least (docs/eviction.md, "Who is evicted").
pub const CHECKPOINT_INTERVAL: Key = Key {
    annotation: "dynamig.io/checkpoint-interval",
    env: "DYNAMIG_CHECKPOINT_INTERVAL",
    accepted: duration::INTERVAL_ACCEPTED,
};

pub const KEYS: [Key; 7] = [
    GPU_MEMORY,
    MIG_PROFILE,
    PRIORITY,
    PREEMPTIBLE,
    GRACE_PERIOD,
    WAIT,
    CHECKPOINT_INTERVAL,
];

/// The annotation containerd's CRI plugin sets to the pod's Kubernetes namespace; the admission
/// policy reads it (see `policy`).
pub const K8S_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";

/// The annotations containerd's CRI plugin sets to the pod sandbox's id and the container's
/// name in the pod: together they name one Kubernetes container across the kubelet's retries.
pub const K8S_SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
pub const K8S_CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";

/// Annotations dynamig writes itself into a spec; they are not requests.
pub const OUTPUT_PREFIX: &str = "dynamig.io/injected";

pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// What size of slice is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    /// At least this many bytes; the smallest profile that fits.
    Memory { bytes: u64, text: String },
    /// Exactly this profile.
    Profile { name: String },
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Memory { text, .. } => write!(f, "gpu-memory {text}"),
            Size::Profile { name } => write!(f, "mig-profile {name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub size: Size,
    pub priority: Priority,
    pub preemptible: bool,
    #[serde(with = "millis")]
    pub grace_period: Duration,
    #[serde(with = "millis")]
    pub wait: Duration,
    /// How often the job checkpoints (`dynamig.io/checkpoint-interval`), when declared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_millis"
    )]
    pub checkpoint_interval: Option<Duration>,
    /// The pod's Kubernetes namespace (`io.kubernetes.cri.sandbox-namespace`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_namespace: Option<String>,
    /// The Kubernetes container (`<sandbox id>/<container name>`, from the CRI annotations),
    /// when given: a retry of its create takes over an eviction in flight (docs/eviction.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_container: Option<String>,
}

impl Request {
    /// A request with the defaults for everything but the size.
    pub fn new(size: Size) -> Request {
        let priority = Priority::default();
        Request {
            size,
            priority,
            preemptible: priority.default_preemptible(),
            grace_period: DEFAULT_GRACE,
            wait: Duration::ZERO,
            checkpoint_interval: None,
            k8s_namespace: None,
            k8s_container: None,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// An optional duration as whole milliseconds; absent is `None` (files and tickets written
/// before the key existed read as before).
mod optional_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&crate::duration::millis(*d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// Why a request was refused. Displays as one line.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("{}", bad_value_text(*.origin, .key, .value, .problem, .accepted, .hint.as_deref()))]
    BadValue {
        origin: Origin,
        /// The name as the user wrote it: the annotation, env variable or flag.
        key: &'static str,
        value: String,
        problem: String,
        accepted: &'static str,
        /// The nearest accepted spelling, when there is one (`10gb`: `10GB`).
        hint: Option<Box<str>>,
    },
    #[error("annotation {} is not a dynamig key; known keys: {known}", quoted(.key))]
    UnknownKey { key: String, known: String },
    #[error("both {memory} and {profile} are set; give exactly one")]
    BothSizes { memory: String, profile: String },
    #[error("{given} is set without {memory} or {profile}; give exactly one of them")]
    NoSize {
        given: String,
        memory: &'static str,
        profile: &'static str,
    },
    #[error(
        "{} and env {env}={} disagree; set one, or both the same",
        origin.describe(annotation, a),
        quoted(.e)
    )]
    Disagree {
        /// Where the first value came from: the annotation, or the flag that stands for it.
        origin: Origin,
        /// Its name as the user wrote it.
        annotation: &'static str,
        env: &'static str,
        a: String,
        e: String,
    },
    #[error(
        "env {env} is set twice, to {} and to {}; set it once",
        quoted(.first),
        quoted(.second)
    )]
    EnvTwice {
        env: &'static str,
        first: String,
        second: String,
    },
    #[error("{0}")]
    Other(String),
}

/// `annotation K="V" problem; accepted: …`, or `--flag "V" problem; …`, with the nearest
/// accepted spelling last when there is one.
fn bad_value_text(
    origin: Origin,
    key: &str,
    value: &str,
    problem: &str,
    accepted: &str,
    hint: Option<&str>,
) -> String {
    let hint = hint.map_or_else(String::new, |h| format!("; did you mean {h}?"));
    format!(
        "{} {problem}; accepted: {accepted}{hint}",
        origin.describe(key, value)
    )
}

/// Where each key's value came from.
struct Found {
    key: Key,
    value: String,
    origin: Origin,
}

impl Found {
    fn bad(&self, problem: impl fmt::Display) -> RequestError {
        self.bad_hinted(problem, None)
    }

    fn bad_hinted(&self, problem: impl fmt::Display, hint: Option<String>) -> RequestError {
        RequestError::BadValue {
            origin: self.origin,
            key: self.name(),
            value: self.value.clone(),
            problem: problem.to_string(),
            accepted: self.key.accepted,
            hint: hint.map(String::into_boxed_str),
        }
    }

    fn name(&self) -> &'static str {
        self.origin.name(self.key)
    }
}

/// Reads a request from annotations and `KEY=VALUE` environment entries. `Ok(None)` when neither
/// names any dynamig key.
pub fn parse(
    annotations: &BTreeMap<String, String>,
    env: &[String],
) -> Result<Option<Request>, RequestError> {
    parse_flagged(annotations, env, &Flags::default())
}

/// [`parse`] for a command line whose `flags` gave some of the annotations: their refusals
/// name the flag (`--gpu-memory "1.5GB" …`) instead of the annotation.
pub fn parse_flagged(
    annotations: &BTreeMap<String, String>,
    env: &[String],
    flags: &Flags,
) -> Result<Option<Request>, RequestError> {
    for k in annotations.keys() {
        if k.starts_with(PREFIX)
            && !k.starts_with(OUTPUT_PREFIX)
            && !KEYS.iter().any(|key| key.annotation == k)
        {
            return Err(RequestError::UnknownKey {
                key: k.clone(),
                known: KEYS
                    .iter()
                    .map(|k| k.annotation)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let env_map = env_entries(env)?;
    let mut found: BTreeMap<&'static str, Found> = BTreeMap::new();
    for key in KEYS {
        let a = annotations.get(key.annotation);
        let e = env_map.get(key.env);
        let f = match (a, e) {
            (Some(a), Some(e)) if a != e => {
                let origin = flags.origin_of_annotation(key);
                return Err(RequestError::Disagree {
                    origin,
                    annotation: origin.name(key),
                    env: key.env,
                    a: a.clone(),
                    e: e.to_string(),
                });
            }
            (Some(a), _) => Found {
                key,
                value: a.clone(),
                origin: flags.origin_of_annotation(key),
            },
            (None, Some(e)) => Found {
                key,
                value: e.to_string(),
                origin: Origin::Env,
            },
            (None, None) => continue,
        };
        found.insert(key.annotation, f);
    }
    if found.is_empty() {
        return Ok(None);
    }
    let name = |f: &Found| f.name().to_string();
    let size = match (
        found.get(GPU_MEMORY.annotation),
        found.get(MIG_PROFILE.annotation),
    ) {
        (Some(m), Some(p)) => {
            return Err(RequestError::BothSizes {
                memory: name(m),
                profile: name(p),
            })
        }
        (Some(m), None) => Size::Memory {
            bytes: parse_bytes(&m.value).map_err(|e| m.bad_hinted(e, hint::memory(&m.value)))?,
            text: m.value.clone(),
        },
        (None, Some(p)) => {
            if !is_profile_name(&p.value) {
                return Err(p.bad_hinted("is not a MIG profile name", hint::profile(&p.value)));
            }
            Size::Profile {
                name: p.value.clone(),
            }
        }
        (None, None) => {
            let given = found.values().map(name).collect::<Vec<_>>().join(", ");
            return Err(RequestError::NoSize {
                given,
                memory: flags.name_for_missing(GPU_MEMORY),
                profile: flags.name_for_missing(MIG_PROFILE),
            });
        }
    };
    let mut req = Request::new(size);
    if let Some(p) = found.get(PRIORITY.annotation) {
        req.priority = Priority::parse(&p.value).map_err(|e| p.bad(e))?;
        req.preemptible = req.priority.default_preemptible();
    }
    if let Some(p) = found.get(PREEMPTIBLE.annotation) {
        req.preemptible = match p.value.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(p.bad("is not a boolean")),
        };
    }
    if let Some(g) = found.get(GRACE_PERIOD.annotation) {
        req.grace_period = parse_duration(&g.value).map_err(|e| g.bad(e))?;
    }
    if let Some(w) = found.get(WAIT.annotation) {
        req.wait = parse_duration(&w.value).map_err(|e| w.bad(e))?;
    }
    if let Some(c) = found.get(CHECKPOINT_INTERVAL.annotation) {
        req.checkpoint_interval = Some(parse_interval(&c.value).map_err(|e| c.bad(e))?);
    }
    if let Some(ns) = annotations.get(K8S_NAMESPACE) {
        if !is_k8s_namespace(ns) {
            return Err(RequestError::BadValue {
                origin: Origin::Annotation,
                key: K8S_NAMESPACE,
                value: ns.clone(),
                problem: "is not a Kubernetes namespace name".into(),
                accepted: "1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
                hint: None,
            });
        }
        req.k8s_namespace = Some(ns.clone());
    }
    req.k8s_container = k8s_container(annotations);
    Ok(Some(req))
}

/// `<sandbox id>/<container name>` when both CRI annotations are there and printable; a name
/// that is not is ignored (it only ever enables a takeover).
fn k8s_container(annotations: &BTreeMap<String, String>) -> Option<String> {
    let sandbox = annotations.get(K8S_SANDBOX_ID)?;
    let name = annotations.get(K8S_CONTAINER_NAME)?;
    let ok = |s: &str| !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_graphic());
    (ok(sandbox) && ok(name)).then(|| format!("{sandbox}/{name}"))
}

/// `KEY=VALUE` entries as a map. A dynamig key given twice with two values is contradictory and
/// refused (the runtime would otherwise silently take the last); twice the same value is one
/// request. Other keys: the last one counts, as in the container.
fn env_entries(env: &[String]) -> Result<BTreeMap<&str, &str>, RequestError> {
    let mut map: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in env.iter().filter_map(|e| e.split_once('=')) {
        if let Some(key) = KEYS.iter().find(|key| key.env == k) {
            if let Some(first) = map.get(k).filter(|first| **first != v) {
                return Err(RequestError::EnvTwice {
                    env: key.env,
                    first: first.to_string(),
                    second: v.to_string(),
                });
            }
        }
        map.insert(k, v);
    }
    Ok(map)
}

/// A Kubernetes namespace name (an RFC 1123 DNS label).
pub fn is_k8s_namespace(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// The shape of a profile name: `<N>g.<M>gb` with an optional suffix (see
/// [`profile_suffix`]); whether the GPU model has it is the planner's question.
pub fn is_profile_name(s: &str) -> bool {
    let (core, _) = profile_suffix(s);
    let Some((g, m)) = core.split_once("g.") else {
        return false;
    };
    let Some(m) = m.strip_suffix("gb") else {
        return false;
    };
    let digits = |x: &str| !x.is_empty() && x.len() <= 3 && x.bytes().all(|b| b.is_ascii_digit());
    digits(g) && digits(m)
}

/// The engine variant a profile name's suffix selects (NVML's `*_REV1`, `*_ALL_ME`, `*_NO_ME`
/// and `*_GFX` profile indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileSuffix {
    /// No suffix: the profile's share of the media engines.
    Plain,
    /// `+me`: a media extension (the decoders, JPEG and OFA a small profile lacks); one per GPU.
    MediaExtension,
    /// `+me.all`: every media engine of the GPU; while it exists only `-me` profiles fit beside.
    AllMediaEngines,
    /// `-me`: no media engines at all.
    NoMediaEngines,
    /// `+gfx`: graphics-capable (Blackwell RTX PRO).
    Graphics,
}

/// Suffixes in the order they are tried: `+me.all` before `+me`.
const SUFFIXES: [(&str, ProfileSuffix); 4] = [
    ("+me.all", ProfileSuffix::AllMediaEngines),
    ("+me", ProfileSuffix::MediaExtension),
    ("-me", ProfileSuffix::NoMediaEngines),
    ("+gfx", ProfileSuffix::Graphics),
];

/// A profile name split into its `<N>g.<M>gb` core and its suffix: `1g.24gb+me.all` is
/// (`1g.24gb`, `AllMediaEngines`); a name without a known suffix is all core.
pub fn profile_suffix(name: &str) -> (&str, ProfileSuffix) {
    SUFFIXES
        .iter()
        .find_map(|(text, kind)| name.strip_suffix(text).map(|core| (core, *kind)))
        .unwrap_or((name, ProfileSuffix::Plain))
}

#[cfg(test)]
mod tests;
