//! The error a command ends with, and the exit status it maps to: 1 when a request cannot be
//! met (or the node's own error says so), 2 on bad input.

use dynamig_core::request::RequestError;
use dynamig_node::node::NodeError;

/// An error with the exit status it maps to.
pub struct Failure {
    pub code: u8,
    pub err: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        let code = match err.downcast_ref::<NodeError>() {
            Some(e) => u8::try_from(e.exit_code()).unwrap_or(1),
            None if err.downcast_ref::<RequestError>().is_some() => 2,
            None => 1,
        };
        Failure { code, err }
    }
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        Failure::from(anyhow::Error::new(e))
    }
}

/// Bad input: exit status 2.
pub fn bad_input(err: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        err: err.into(),
    }
}

/// A refusal: exit status 1.
pub fn refused(err: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 1,
        err: err.into(),
    }
}

/// The reason of an exit status that the command has already printed (on stdout): `main`
/// prints no `dynamigctl:` line for it.
#[derive(Debug, thiserror::Error)]
#[error("already reported on stdout")]
pub struct AlreadySaid;

/// Exit with `code`, the reason having been printed already.
pub fn already_said(code: u8) -> Failure {
    Failure {
        code,
        err: AlreadySaid.into(),
    }
}
