//! The verdict algebra: valid < unknown < invalid.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

impl Verdict {
    /// Merges two verdicts: invalid beats unknown beats valid.
    pub fn merge(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
        }
    }

    /// The process exit code for this verdict: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Merges any number of verdicts; an empty list is valid.
pub fn merge_all(vs: impl IntoIterator<Item = Verdict>) -> Verdict {
    vs.into_iter().fold(Verdict::Valid, Verdict::merge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_priority() {
        use Verdict::*;
        assert_eq!(Valid.merge(Unknown), Unknown);
        assert_eq!(Unknown.merge(Invalid), Invalid);
        assert_eq!(Invalid.merge(Valid), Invalid);
        assert_eq!(merge_all([Valid, Valid]), Valid);
        assert_eq!(merge_all([Valid, Unknown, Valid]), Unknown);
        assert_eq!(merge_all([]), Valid);
        assert_eq!(Invalid.exit_code(), 1);
        assert_eq!(Unknown.exit_code(), 2);
    }
}
