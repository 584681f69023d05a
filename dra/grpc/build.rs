//! Generates the kubelet's gRPC APIs from the kubelet's own `.proto` files, which are not in this
//! repository: Debian's `golang-github-kubernetes-kubelet-dev` ships them
//! (`tests/e2e/lib/kubelet-protos.sh` fetches and checks the pinned package and prints the
//! directory to give as `DYNAMIG_KUBELET_PROTOS`; an installed package is found at
//! `/usr/share/gocode/src/k8s.io/kubelet/pkg/apis`).
//!
//! Three rewrites, each required to match exactly (docs/dra-grpc.md says what was compared):
//! - the gogoproto import and options go (they steer Go code generation only, never the wire;
//!   upstream dropped them in kubelet 1.35 and its files are then these ones);
//! - `dra/v1` is made from `dra/v1beta1` (Debian's 1.32 has no v1): the package and go_package
//!   renamed, and `Device` given the field 1.35 added, `optional string share_id = 5`.
//!
//! Compiled with protox (a protobuf compiler in Rust), so no `protoc` has to be installed.

use std::path::{Path, PathBuf};
use std::{env, fs};

const DEFAULT_DIR: &str = "/usr/share/gocode/src/k8s.io/kubelet/pkg/apis";

fn main() {
    println!("cargo:rerun-if-env-changed=DYNAMIG_KUBELET_PROTOS");
    let dir = env::var_os("DYNAMIG_KUBELET_PROTOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let registration = dir.join("pluginregistration/v1/api.proto");
    let v1beta1 = dir.join("dra/v1beta1/api.proto");
    if !registration.is_file() || !v1beta1.is_file() {
        fail(&format!(
            "the kubelet's .proto files are not in {}: run `export DYNAMIG_KUBELET_PROTOS=$(bash tests/e2e/lib/kubelet-protos.sh)` first",
            dir.display()
        ));
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let src = out.join("kubelet-protos");

    let reg_text = strip_gogo(&read(&registration), &registration);
    let beta_text = strip_gogo(&read(&v1beta1), &v1beta1);
    let v1_text = v1_from_v1beta1(&beta_text, &v1beta1);
    write(&src.join("pluginregistration/v1/api.proto"), &reg_text);
    write(&src.join("dra/v1beta1/api.proto"), &beta_text);
    write(&src.join("dra/v1/api.proto"), &v1_text);

    let files = [
        "pluginregistration/v1/api.proto",
        "dra/v1beta1/api.proto",
        "dra/v1/api.proto",
    ];
    let fds = protox::compile(files, [&src]).unwrap_or_else(|e| fail(&format!("protox: {e}")));
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(fds)
        .unwrap_or_else(|e| fail(&format!("tonic-prost-build: {e}")));
}

fn fail(msg: &str) -> ! {
    eprintln!("error: dynamig-dra-grpc: {msg}");
    std::process::exit(1);
}

fn read(p: &Path) -> String {
    println!("cargo:rerun-if-changed={}", p.display());
    fs::read_to_string(p).unwrap_or_else(|e| fail(&format!("{}: {e}", p.display())))
}

fn write(p: &Path, text: &str) {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| fail(&format!("{}: {e}", parent.display())));
    }
    fs::write(p, text).unwrap_or_else(|e| fail(&format!("{}: {e}", p.display())));
}

/// Drops the gogoproto import, the `option (gogoproto.…)` lines and the
/// `[(gogoproto.customname) = "…"]` field options; fails when the file has no gogoproto import
/// (another version of the file than the one these rewrites were checked against).
fn strip_gogo(text: &str, path: &Path) -> String {
    const IMPORT: &str = "import \"github.com/gogo/protobuf/gogoproto/gogo.proto\";";
    if !text.lines().any(|l| l.trim() == IMPORT) {
        fail(&format!(
            "{}: no gogoproto import: not the kubelet 1.32 file this build rewrites",
            path.display()
        ));
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim();
        if t == IMPORT || t.starts_with("option (gogoproto.") {
            continue;
        }
        let line = match (line.find(" [(gogoproto."), line.rfind("];")) {
            (Some(start), Some(end)) if end > start => {
                format!("{}{}", &line[..start], &line[end + 1..])
            }
            _ => line.to_string(),
        };
        if line.contains("gogoproto") {
            fail(&format!(
                "{}: a gogoproto use this build does not know: {line}",
                path.display()
            ));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The v1 API from the v1beta1 one (see the module's comment).
fn v1_from_v1beta1(beta: &str, path: &Path) -> String {
    let rewrites = [
        (
            "package k8s.io.kubelet.pkg.apis.dra.v1beta1;",
            "package k8s.io.kubelet.pkg.apis.dra.v1;",
        ),
        (
            "option go_package = \"k8s.io/kubelet/pkg/apis/dra/v1beta1\";",
            "option go_package = \"k8s.io/kubelet/pkg/apis/dra/v1\";",
        ),
        (
            "repeated string cdi_device_ids = 4;",
            "repeated string cdi_device_ids = 4;\n\n    // The share ID of device.\n    // Optional.\n    optional string share_id = 5;",
        ),
    ];
    let mut out = beta.to_string();
    for (from, to) in rewrites {
        if out.matches(from).count() != 1 {
            fail(&format!(
                "{}: expected exactly one `{from}` to make dra/v1 from",
                path.display()
            ));
        }
        out = out.replace(from, to);
    }
    out
}
