//! Why a policy cannot be built: a key that is not one, a regex that does not compile.

/// Why a policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A key that is not a PEM public key of a supported algorithm.
    #[error("public key {name}: {detail}")]
    Key {
        /// The key's file or Secret entry name.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// A regex that does not compile.
    #[error("invalid {field} regex {regex:?}: {detail}")]
    Regex {
        /// `issuer` or `subject`.
        field: &'static str,
        /// The regex as given.
        regex: String,
        /// The compiler's message.
        detail: String,
    },
}
