//! The request parser (annotations plus env): never panics, and every refusal is one line (it
//! becomes `OCI runtime create failed: ...`, which must not be split or forged).
//!
//! Input: UTF-8 text, one entry per line. `KEY=VALUE` lines whose key starts with `DYNAMIG_` are
//! env entries, every other `KEY=VALUE` line is an annotation.
#![no_main]

use dynamig_core::request::{parse, Size};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut annotations = BTreeMap::new();
    let mut env = Vec::new();
    for line in text.split('\n') {
        if line.starts_with("DYNAMIG_") {
            env.push(line.to_string());
        } else if let Some((k, v)) = line.split_once('=') {
            annotations.insert(k.to_string(), v.to_string());
        }
    }
    match parse(&annotations, &env) {
        Ok(Some(req)) => {
            if let Size::Memory { bytes, .. } = req.size {
                assert!(bytes > 0);
            }
            assert!(req.grace_period <= dynamig_core::duration::MAX);
        }
        Ok(None) => {}
        Err(e) => {
            let line = e.to_string();
            assert!(
                !line.contains('\n') && !line.contains('\r'),
                "refusal is not one line: {line:?}"
            );
        }
    }
});
