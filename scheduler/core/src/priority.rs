//! Priority classes. Higher numbers outrank lower ones. The named classes follow the values that
//! Run:ai's dynamic MIG uses, so its users see the same order: `training` (50, preemptible by
//! default), `interactive` (100, non-preemptible), `inference` (125, non-preemptible).

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

pub const TRAINING: i32 = 50;
pub const INTERACTIVE: i32 = 100;
pub const INFERENCE: i32 = 125;
/// Integers outside this range are refused as absurd.
pub const MIN: i32 = -1000;
pub const MAX: i32 = 1000;

pub const ACCEPTED: &str = "interactive, inference, training, or an integer from -1000 to 1000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
pub struct Priority(pub i32);

/// Why a priority was refused (the text follows the key and value in a request's refusal).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PriorityError {
    #[error("is not a priority class")]
    NotAClass,
    /// An integer above [`MAX`].
    #[error("exceeds the maximum of {MAX}")]
    TooHigh,
    /// An integer below [`MIN`].
    #[error("is below the minimum of {MIN}")]
    TooLow,
}

impl Priority {
    pub fn parse(s: &str) -> Result<Priority, PriorityError> {
        match s {
            "training" => Ok(Priority(TRAINING)),
            "interactive" => Ok(Priority(INTERACTIVE)),
            "inference" => Ok(Priority(INFERENCE)),
            _ => {
                let ok_chars = !s.is_empty()
                    && s.strip_prefix('-')
                        .unwrap_or(s)
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                    && s != "-";
                if !ok_chars {
                    return Err(PriorityError::NotAClass);
                }
                let out_of_range = if s.starts_with('-') {
                    PriorityError::TooLow
                } else {
                    PriorityError::TooHigh
                };
                let n: i32 = s.parse().map_err(|_| out_of_range)?;
                if n > MAX {
                    return Err(PriorityError::TooHigh);
                }
                if n < MIN {
                    return Err(PriorityError::TooLow);
                }
                Ok(Priority(n))
            }
        }
    }

    /// The default for `preemptible` when the request does not say: only work below the
    /// interactive class may be preempted.
    pub fn default_preemptible(self) -> bool {
        self.0 < INTERACTIVE
    }

    pub fn class_name(self) -> Option<&'static str> {
        match self.0 {
            TRAINING => Some("training"),
            INTERACTIVE => Some("interactive"),
            INFERENCE => Some("inference"),
            _ => None,
        }
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority(TRAINING)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_integers() {
        assert_eq!(Priority::parse("training"), Ok(Priority(50)));
        assert_eq!(Priority::parse("interactive"), Ok(Priority(100)));
        assert_eq!(Priority::parse("inference"), Ok(Priority(125)));
        assert_eq!(Priority::parse("7"), Ok(Priority(7)));
        assert_eq!(Priority::parse("-20"), Ok(Priority(-20)));
        assert!(Priority(100) > Priority(50));
        assert!(Priority::parse("training").unwrap().default_preemptible());
        assert!(!Priority::parse("interactive")
            .unwrap()
            .default_preemptible());
    }

    #[test]
    fn refuses_garbage() {
        for s in [
            "",
            "-",
            "Interactive",
            " 5",
            "5 ",
            "+5",
            "1.5",
            "\u{0665}",
            "high",
        ] {
            assert_eq!(Priority::parse(s), Err(PriorityError::NotAClass), "{s:?}");
        }
        // Integers out of range say which bound (issue #18).
        for s in ["1001", "2000", "99999999999999999999"] {
            assert_eq!(Priority::parse(s), Err(PriorityError::TooHigh), "{s:?}");
        }
        for s in ["-1001", "-99999999999999999999"] {
            assert_eq!(Priority::parse(s), Err(PriorityError::TooLow), "{s:?}");
        }
        assert_eq!(
            PriorityError::TooHigh.to_string(),
            "exceeds the maximum of 1000"
        );
    }
}
