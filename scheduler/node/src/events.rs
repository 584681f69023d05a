//! The event log: one JSON object per line in `<state dir>/events.jsonl`, appended under the node
//! lock. When it passes 4 MiB it is rotated to `events.jsonl.1` (one generation kept).

use crate::phases::Phases;
use crate::state::HolderKey;
use dynamig_core::ids::GpuIndex;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

const ROTATE_AT: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix time in milliseconds.
    pub time_ms: u64,
    /// `allocated`, `preempted`, `released`, `refused`, `reclaimed`, `lost`, `error`, `warm`,
    /// `warm-hit`, `warm-expired` (and the others docs/contract.md lists).
    pub kind: String,
    pub holder: Option<String>,
    /// The holder's namespace (absent from events written before holders were namespaced).
    pub namespace: Option<String>,
    pub gpu: Option<GpuIndex>,
    pub profile: Option<String>,
    pub start: Option<u8>,
    pub uuid: Option<String>,
    pub message: String,
    /// Where an `allocated` or `released` event's time went ([`Phases`]); absent on other
    /// kinds and on events written before phases were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
}

impl Event {
    pub fn new(kind: &str, message: impl Into<String>) -> Event {
        Event {
            time_ms: now_ms(),
            kind: kind.into(),
            holder: None,
            namespace: None,
            gpu: None,
            profile: None,
            start: None,
            uuid: None,
            message: message.into(),
            phases: None,
        }
    }

    pub fn holder(mut self, key: &HolderKey) -> Event {
        self.holder = Some(key.id.clone());
        self.namespace = Some(key.namespace.clone());
        self
    }

    /// `namespace/id` of the holder, or its id alone for an event from before namespaces.
    pub fn holder_name(&self) -> Option<String> {
        let id = self.holder.as_deref()?;
        Some(match self.namespace.as_deref() {
            Some(ns) => format!("{ns}/{id}"),
            None => id.to_string(),
        })
    }

    pub fn phases(mut self, p: Phases) -> Event {
        self.phases = Some(p);
        self
    }

    pub fn at(mut self, gpu: GpuIndex, profile: &str, start: u8, uuid: Option<&str>) -> Event {
        self.gpu = Some(gpu);
        self.profile = Some(profile.into());
        self.start = Some(start);
        self.uuid = uuid.map(str::to_string);
        self
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(dynamig_core::duration::millis)
        .unwrap_or(0)
}

/// Appends events; errors are logged, never fatal (the state file is the record that matters).
pub fn append(path: &Path, events: &[Event]) {
    if events.is_empty() {
        return;
    }
    // symlink_metadata: a link is never followed (and never rotated into place; the open
    // below refuses it)
    if std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_file() && m.len() > ROTATE_AT)
        .unwrap_or(false)
    {
        let _ = std::fs::rename(path, path.with_extension("jsonl.1"));
    }
    let mut buf = Vec::new();
    for e in events {
        if let Ok(line) = serde_json::to_string(e) {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
    }
    let r = crate::state::regular::open_append(path).and_then(|mut f| f.write_all(&buf));
    if let Err(e) = r {
        tracing::error!(path = %path.display(), error = %e, "cannot append to the event log");
    }
}

/// Reads events newer than `since_ms` (the rotated generation first).
pub fn read(path: &Path, since_ms: u64) -> Vec<Event> {
    let mut out = Vec::new();
    for p in [path.with_extension("jsonl.1"), path.to_path_buf()] {
        let f = match crate::state::regular::open_read(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "cannot read the event log");
                continue;
            }
        };
        for line in BufReader::new(f).lines().map_while(Result::ok) {
            if let Ok(e) = serde_json::from_str::<Event>(&line) {
                if e.time_ms >= since_ms {
                    out.push(e);
                }
            }
        }
    }
    out
}
