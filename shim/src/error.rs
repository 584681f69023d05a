//! The shim's errors, and the ttrpc status each one reaches containerd as (containerd maps the
//! code to its own error kinds: `NotFound`, `FailedPrecondition`, ...).

use containerd_shim::protos::ttrpc::{self, Code};
use dynamig_hook::lifecycle::{ErrorKind, LifecycleError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ShimError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unimplemented(String),
    /// A request dynamig refused (bad annotation, no room, policy, lock timeout): the line a
    /// user sees in `ctr`/`kubectl` output, with the code of its [`ErrorKind`].
    #[error("dynamig: {0}")]
    Lifecycle(#[from] LifecycleError),
    /// runc failed: `runc <verb> failed: <runc's own last error line>`.
    #[error("{0}")]
    Runc(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, ShimError>;

impl ShimError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShimError {
        let context = context.into();
        move |source| ShimError::Io { context, source }
    }

    pub fn code(&self) -> Code {
        match self {
            ShimError::NotFound(_) => Code::NOT_FOUND,
            ShimError::AlreadyExists(_) => Code::ALREADY_EXISTS,
            ShimError::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
            ShimError::InvalidArgument(_) => Code::INVALID_ARGUMENT,
            ShimError::Unimplemented(_) => Code::UNIMPLEMENTED,
            ShimError::Lifecycle(e) => kind_code(e.kind()),
            ShimError::Runc { .. } | ShimError::Io { .. } => Code::UNKNOWN,
            ShimError::Other(_) => Code::UNKNOWN,
        }
    }
}

/// The ttrpc code of a dynamig failure, by its kind: what containerd, and through the CRI the
/// kubelet, goes by (a bad annotation is not retried like "no room" or a busy node).
pub fn kind_code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::BadInput => Code::INVALID_ARGUMENT,
        ErrorKind::NoRoom => Code::RESOURCE_EXHAUSTED,
        ErrorKind::Busy => Code::UNAVAILABLE,
        ErrorKind::FailedPrecondition => Code::FAILED_PRECONDITION,
        ErrorKind::Internal => Code::INTERNAL,
    }
}

impl From<ShimError> for ttrpc::Error {
    fn from(e: ShimError) -> Self {
        ttrpc::Error::RpcStatus(ttrpc::get_status(e.code(), e.to_string()))
    }
}

impl From<containerd_shim::Error> for ShimError {
    fn from(e: containerd_shim::Error) -> Self {
        ShimError::Other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_code() {
        let codes = [
            (ErrorKind::BadInput, Code::INVALID_ARGUMENT),
            (ErrorKind::NoRoom, Code::RESOURCE_EXHAUSTED),
            (ErrorKind::Busy, Code::UNAVAILABLE),
            (ErrorKind::FailedPrecondition, Code::FAILED_PRECONDITION),
            (ErrorKind::Internal, Code::INTERNAL),
        ];
        for (kind, code) in codes {
            assert_eq!(kind_code(kind), code, "{kind:?}");
        }
    }

    #[test]
    fn a_lifecycle_error_keeps_its_one_line() {
        let e = ShimError::Lifecycle(LifecycleError::NoHook("/usr/bin/x".into()));
        let ttrpc::Error::RpcStatus(s) = ttrpc::Error::from(e) else {
            panic!("not a status");
        };
        assert_eq!(s.code(), Code::FAILED_PRECONDITION);
        assert_eq!(
            s.message,
            "dynamig: cannot find the dynamig-hook binary next to /usr/bin/x; set DYNAMIG_HOOK"
        );
    }
}
