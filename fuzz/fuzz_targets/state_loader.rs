//! The state loader: any bytes in `state.json` (or `sim.json`) are either refused with an error
//! or decode to a value that encodes and decodes back to itself. Never a panic.
//!
//! The input is tried twice: as the whole file (header checks: version, checksum, length), and
//! as a body behind a correct header, so that the JSON decoding of the state is fuzzed too
//! (a fuzzer rarely forges a matching CRC32 on its own).
#![no_main]

use dynamig_node::backend::sim::SimNode;
use dynamig_node::state::file::{self, Versioned};
use dynamig_node::state::NodeState;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn check(bytes: &[u8]) {
    let path = Path::new("state.json");
    if let Ok(state) = file::decode::<NodeState>(path, bytes) {
        let again: NodeState = file::decode(path, &file::encode(&state)).expect("re-decode");
        assert_eq!(state, again);
    }
    if let Ok(sim) = file::decode::<SimNode>(path, bytes) {
        let again: SimNode = file::decode(path, &file::encode(&sim)).expect("re-decode");
        assert_eq!(sim, again);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let body = match data.iter().position(|&b| b == b'\n') {
        Some(nl) if data.starts_with(b"dynamig-state ") => &data[nl + 1..],
        _ => data,
    };
    // every version some file is read in: the current state, the sim file's and state version 1
    // (upgraded as it is read)
    for version in [NodeState::VERSION, SimNode::VERSION, 1] {
        let mut framed = format!(
            "dynamig-state v{version} crc32={:08x} len={}\n",
            crc32fast_hash(body),
            body.len()
        )
        .into_bytes();
        framed.extend_from_slice(body);
        check(&framed);
    }
});

/// CRC-32 (IEEE), bitwise: the fuzz crate does not need its own dependency for it.
fn crc32fast_hash(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
