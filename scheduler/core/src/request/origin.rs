//! Where a request's value came from, so that its refusal names what the user wrote: the
//! annotation a runtime passed (`dynamig.io/gpu-memory="1.5GB"`), the env entry
//! (`DYNAMIG_GPU_MEMORY="1.5GB"`), or a command-line flag (`--gpu-memory "1.5GB"`) that
//! `dynamigctl` reads through the same parser as the annotation it stands for.

use super::{quoted, Key};
use std::collections::{BTreeMap, BTreeSet};

/// The origin of one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Annotation,
    Env,
    /// A command-line flag, e.g. `--gpu-memory`.
    Flag(&'static str),
}

impl Origin {
    /// The name the user wrote for `key` here: the annotation, the env variable or the flag.
    pub fn name(self, key: Key) -> &'static str {
        match self {
            Origin::Annotation => key.annotation,
            Origin::Env => key.env,
            Origin::Flag(flag) => flag,
        }
    }

    /// `annotation dynamig.io/gpu-memory="1.5GB"`, `env DYNAMIG_GPU_MEMORY="1.5GB"` or
    /// `--gpu-memory "1.5GB"`: the value as given, `name` being what [`Origin::name`] gives.
    pub fn describe(self, name: &str, value: &str) -> String {
        match self {
            Origin::Annotation => format!("annotation {name}={}", quoted(value)),
            Origin::Env => format!("env {name}={}", quoted(value)),
            Origin::Flag(_) => format!("{name} {}", quoted(value)),
        }
    }
}

/// The flags a command line has for request keys, and which of them it was given. The given
/// ones' values arrive among the annotations (one parser serves both); a refusal of one names
/// the flag, and a missing size is asked for by its flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    names: BTreeMap<&'static str, &'static str>,
    given: BTreeSet<&'static str>,
}

impl Flags {
    /// A command line whose flag for each key is the one listed.
    pub fn new(flags: &[(Key, &'static str)]) -> Flags {
        Flags {
            names: flags.iter().map(|(k, f)| (k.annotation, *f)).collect(),
            given: BTreeSet::new(),
        }
    }

    /// Says that `key`'s annotation value came from its flag.
    pub fn given(&mut self, key: Key) {
        self.given.insert(key.annotation);
    }

    /// Where `key`'s value came from, given that it was among the annotations.
    pub(super) fn origin_of_annotation(&self, key: Key) -> Origin {
        match self.names.get(key.annotation) {
            Some(flag) if self.given.contains(key.annotation) => Origin::Flag(flag),
            _ => Origin::Annotation,
        }
    }

    /// How the user gives `key`: its flag, when the command line has one, else its annotation.
    pub(super) fn name_for_missing(&self, key: Key) -> &'static str {
        self.names
            .get(key.annotation)
            .copied()
            .unwrap_or(key.annotation)
    }
}
