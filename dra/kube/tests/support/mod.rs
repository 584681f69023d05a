//! A mock Kubernetes API server: a real HTTP/1.1 server on 127.0.0.1 that the kube client talks
//! to without TLS. It records every request (method, path, query, JSON body) and keeps just
//! enough state to be an honest counterpart: ResourceSlices (list by field selector, create,
//! replace with resourceVersion checks, delete), one Node, and ResourceClaims as canned answers.

#![allow(dead_code)] // each test file uses its own part of it

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

pub const SLICES: &str = "/apis/resource.k8s.io/v1/resourceslices";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Percent-decoded query string.
    pub query: Option<String>,
    pub body: Option<Value>,
}

/// A canned answer for a claim GET.
#[derive(Debug, Clone)]
pub enum ClaimReply {
    Object(Value),
    Status(u16),
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    slices: BTreeMap<String, Value>,
    next_rv: u64,
    nodes: HashMap<String, String>,
    claims: HashMap<(String, String), ClaimReply>,
    /// Answer the next PUT with 409 Conflict, as when another writer got there first.
    conflict_next_put: bool,
    /// Drop the feature-gated fields of written slices, as an API server of 1.34 or 1.35 does
    /// with DRAPartitionableDevices and DRADeviceTaints off.
    gates_off: bool,
}

pub struct MockApi {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl MockApi {
    pub async fn start() -> MockApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(State {
            next_rv: 100,
            ..State::default()
        }));
        let served = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = served.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        MockApi { url, state }
    }

    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().expect("mock url"));
        kube::Client::try_from(config).expect("kube client for the mock")
    }

    pub fn add_node(&self, name: &str, uid: &str) {
        self.state().nodes.insert(name.into(), uid.into());
    }

    pub fn add_claim(&self, namespace: &str, name: &str, reply: ClaimReply) {
        self.state()
            .claims
            .insert((namespace.into(), name.into()), reply);
    }

    /// Stores a slice as if someone had created it (it gets a resourceVersion).
    pub fn put_slice(&self, mut slice: Value) {
        let mut st = self.state();
        let name = slice["metadata"]["name"]
            .as_str()
            .expect("slice name")
            .to_string();
        st.next_rv += 1;
        slice["metadata"]["resourceVersion"] = json!(st.next_rv.to_string());
        st.slices.insert(name, slice);
    }

    pub fn slices(&self) -> BTreeMap<String, Value> {
        self.state().slices.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    pub fn gates_off(&self) {
        self.state().gates_off = true;
    }

    pub fn conflict_next_put(&self) {
        self.state().conflict_next_put = true;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("mock state")
    }
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// `%2C` and friends back to characters (the kube client percent-encodes the field selector).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 query")
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(percent_decode);
    let bytes = req.into_body().collect().await?.to_bytes();
    let body =
        (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).expect("JSON request body"));
    let recorded = Recorded {
        method,
        path,
        query,
        body,
    };
    let (code, answer) = {
        let mut st = state.lock().expect("mock state");
        st.requests.push(recorded.clone());
        route(&mut st, &recorded)
    };
    let mut resp = Response::new(Full::new(Bytes::from(answer.to_string())));
    *resp.status_mut() = StatusCode::from_u16(code).expect("status code");
    resp.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    Ok(resp)
}

/// What every API server does to a written object: quantities in canonical form (here: a whole
/// number of GiB written in Mi comes back in Gi, `10240Mi` as `10Gi`), empty lists omitted.
fn canonicalize(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, x| !matches!(x, Value::Array(a) if a.is_empty()));
            for (k, x) in o.iter_mut() {
                if k == "value" {
                    if let Some(mi) = x.as_str().and_then(|s| s.strip_suffix("Mi")) {
                        if let Ok(n) = mi.parse::<u64>() {
                            if n % 1024 == 0 {
                                *x = json!(format!("{}Gi", n / 1024));
                            }
                        }
                    }
                }
                canonicalize(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(canonicalize),
        _ => {}
    }
}

/// What an API server with the DRA partitionable-devices and device-taints gates off keeps.
fn drop_gated(slice: &mut Value) {
    if let Some(spec) = slice["spec"].as_object_mut() {
        spec.remove("sharedCounters");
    }
    if let Some(devices) = slice["spec"]["devices"].as_array_mut() {
        for d in devices {
            if let Some(d) = d.as_object_mut() {
                d.remove("consumesCounters");
                d.remove("taints");
            }
        }
    }
}

fn route(st: &mut State, r: &Recorded) -> (u16, Value) {
    let segs: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    match (r.method.as_str(), segs.as_slice()) {
        ("GET", ["api", "v1", "nodes", name]) => match st.nodes.get(*name) {
            Some(uid) => (
                200,
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": uid}}),
            ),
            None => status(404, "NotFound", &format!("nodes \"{name}\" not found")),
        },
        ("GET", ["apis", "resource.k8s.io", "v1", "resourceslices"]) => {
            let selector = r
                .query
                .as_deref()
                .unwrap_or_default()
                .split('&')
                .find_map(|kv| kv.strip_prefix("fieldSelector="))
                .unwrap_or_default()
                .to_string();
            let items: Vec<Value> = st
                .slices
                .values()
                .filter(|s| {
                    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
                        let (field, want) = term.split_once('=').expect("field=value");
                        let got = match field {
                            "spec.nodeName" => &s["spec"]["nodeName"],
                            "spec.driver" => &s["spec"]["driver"],
                            other => panic!("the mock does not index field {other}"),
                        };
                        got.as_str() == Some(want)
                    })
                })
                .cloned()
                .collect();
            (
                200,
                json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSliceList",
                       "metadata": {"resourceVersion": st.next_rv.to_string()}, "items": items}),
            )
        }
        ("POST", ["apis", "resource.k8s.io", "v1", "resourceslices"]) => {
            let mut s = r.body.clone().expect("POST body");
            let name = s["metadata"]["name"].as_str().expect("name").to_string();
            if st.slices.contains_key(&name) {
                return status(
                    409,
                    "AlreadyExists",
                    &format!("resourceslices \"{name}\" already exists"),
                );
            }
            if st.gates_off {
                drop_gated(&mut s);
            }
            canonicalize(&mut s);
            st.next_rv += 1;
            s["metadata"]["resourceVersion"] = json!(st.next_rv.to_string());
            s["metadata"]["uid"] = json!(format!("uid-{name}"));
            st.slices.insert(name, s.clone());
            (201, s)
        }
        ("PUT", ["apis", "resource.k8s.io", "v1", "resourceslices", name]) => {
            let mut s = r.body.clone().expect("PUT body");
            let Some(old) = st.slices.get(*name) else {
                return status(
                    404,
                    "NotFound",
                    &format!("resourceslices \"{name}\" not found"),
                );
            };
            if std::mem::take(&mut st.conflict_next_put)
                || s["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]
            {
                return status(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again");
            }
            if st.gates_off {
                drop_gated(&mut s);
            }
            canonicalize(&mut s);
            st.next_rv += 1;
            s["metadata"]["resourceVersion"] = json!(st.next_rv.to_string());
            st.slices.insert((*name).to_string(), s.clone());
            (200, s)
        }
        ("DELETE", ["apis", "resource.k8s.io", "v1", "resourceslices", name]) => {
            match st.slices.remove(*name) {
                Some(s) => (200, s),
                None => status(
                    404,
                    "NotFound",
                    &format!("resourceslices \"{name}\" not found"),
                ),
            }
        }
        ("GET", ["apis", "resource.k8s.io", "v1", "namespaces", ns, "resourceclaims", name]) => {
            match st.claims.get(&((*ns).to_string(), (*name).to_string())) {
                Some(ClaimReply::Object(v)) => (200, v.clone()),
                Some(ClaimReply::Status(500)) => {
                    status(500, "InternalError", "etcdserver: request timed out")
                }
                // A 404 as the API server writes it (kube's get_opt reads the reason).
                Some(ClaimReply::Status(404)) => status(
                    404,
                    "NotFound",
                    &format!("resourceclaims.resource.k8s.io \"{name}\" not found"),
                ),
                Some(ClaimReply::Status(code)) => status(*code, "Unknown", "canned error"),
                None => status(
                    404,
                    "NotFound",
                    &format!("resourceclaims.resource.k8s.io \"{name}\" not found"),
                ),
            }
        }
        _ => status(
            404,
            "NotFound",
            &format!("the mock has no route for {} {}", r.method, r.path),
        ),
    }
}
