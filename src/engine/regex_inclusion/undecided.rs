//! Why a regex inclusion could not be decided (a leaf: the automata and the search use it).

/// Why a decision could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Undecided {
    /// A size or work bound was hit.
    #[error("could not decide: {0}")]
    Bound(String),
    /// A regex cannot be read faithfully (Go and Rust disagree on it, or the automaton cannot
    /// represent it, e.g. a Unicode `\b`).
    #[error("could not decide: regex {pattern:?}: {why}")]
    Unsupported {
        /// The regex.
        pattern: String,
        /// Why.
        why: String,
    },
}
