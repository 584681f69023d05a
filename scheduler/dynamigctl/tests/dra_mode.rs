//! A DRA-managed node through `dynamigctl` (docs/dra-node.md): `status` and `doctor` say the
//! mode, the standalone `allocate` is refused with one line and evicts nobody, and
//! `dynamigctl dra standalone` ends the mode, refused while a claim is prepared.

mod common;
use common::*;
use dynamig_node::config::NodeConfig;
use dynamig_node::node::Node;
use dynamig_node::state::dra::{ClaimPhase, ClaimRecord};
use dynamig_node::state::StateDir;

/// What the DRA plugin's start does to the node state (the plugin is `dra/claims`).
fn make_dra_managed(c: &Ctl, with_claim: bool) {
    let dir = StateDir::open(&c.state_dir()).unwrap();
    let mut cfg = NodeConfig::at(&c.state_dir());
    cfg.backend = Ok(dynamig_node::backend::BackendChoice::Sim);
    Node::session(&cfg, &dir, |n| {
        n.set_dra_managed("boot-1")?;
        if with_claim {
            n.state.dra.as_mut().unwrap().claims.push(ClaimRecord {
                namespace: "default".into(),
                name: "c".into(),
                uid: "uid-c".into(),
                phase: ClaimPhase::Prepared,
                devices: Vec::new(),
            });
            n.write_claims()?;
        }
        Ok::<_, dynamig_node::node::NodeError>(())
    })
    .unwrap();
}

fn doctor_mode_line(c: &Ctl) -> String {
    let o = c.run(&["doctor"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("mode:")).collect();
    assert_eq!(lines.len(), 1, "{out}");
    lines[0].to_string()
}

#[test]
fn status_doctor_allocate_and_standalone_say_and_follow_the_mode() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    assert_eq!(c.status()["mode"], "standalone");
    assert!(c.ok(&["status"]).contains("Mode: standalone"));
    assert!(doctor_mode_line(&c).contains("standalone"));
    // A preemptible holder the standalone path made before the plugin came.
    c.ok(&[
        "allocate",
        "old",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "training",
    ]);
    c.ok(&["release", "old"]);

    make_dra_managed(&c, true);
    assert_eq!(c.status()["mode"], "dra-managed");
    assert!(c.ok(&["status"]).contains("Mode: dra-managed"));
    let line = doctor_mode_line(&c);
    assert!(
        line.contains("DRA-managed") && line.contains("1 claim(s)"),
        "{line}"
    );

    let o = c.run(&[
        "allocate",
        "x",
        "--mig-profile",
        "1g.5gb",
        "--priority",
        "inference",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("DRA-managed") && err.contains("ResourceClaim"),
        "{err}"
    );
    assert!(instances(&c.status()).is_empty(), "nothing allocated");

    let o = c.run(&["dra", "standalone"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("1 DRA claim(s) prepared"), "{err}");
    assert_eq!(c.status()["mode"], "dra-managed");

    // The claim gone (the plugin unprepared it), the node is made standalone.
    let mut st: dynamig_node::state::NodeState = dynamig_node::state::file::read(&c.state_file())
        .unwrap()
        .unwrap();
    st.dra.as_mut().unwrap().claims.clear();
    dynamig_node::state::file::write(&c.state_file(), &st).unwrap();
    assert!(c.ok(&["dra", "standalone"]).contains("standalone"));
    assert_eq!(c.status()["mode"], "standalone");
    c.ok(&["allocate", "x", "--mig-profile", "1g.5gb"]);
    assert!(c.ok(&["dra", "standalone"]).contains("already standalone"));
}
