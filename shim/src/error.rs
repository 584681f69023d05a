//! The shim's errors, and the ttrpc status each one reaches containerd as (containerd maps the
//! code to its own error kinds: `NotFound`, `FailedPrecondition`, ...).

use containerd_shim::protos::ttrpc::{self, Code};
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
    /// user sees in `ctr`/`kubectl` output.
    #[error("dynamig: {0}")]
    Dynamig(String),
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

    fn code(&self) -> Code {
        match self {
            ShimError::NotFound(_) => Code::NOT_FOUND,
            ShimError::AlreadyExists(_) => Code::ALREADY_EXISTS,
            ShimError::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
            ShimError::InvalidArgument(_) => Code::INVALID_ARGUMENT,
            ShimError::Unimplemented(_) => Code::UNIMPLEMENTED,
            ShimError::Dynamig(_) | ShimError::Runc { .. } | ShimError::Io { .. } => Code::UNKNOWN,
            ShimError::Other(_) => Code::UNKNOWN,
        }
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
