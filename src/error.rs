//! The crate's error for work that reaches the Kubernetes API, and its `Result` alias: the
//! verifier and the controller fail with it, and the controller retries with backoff.
//!
//! Imports nothing from the crate: every layer may use it.

/// Why a source's audit (or another piece of cluster work) could not be done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A bug or an impossible input.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// A bounded label for `provenance_reconcile_errors_total{reason}`.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubernetesAPI",
            Error::Internal(_) => "Internal",
        }
    }
}

/// A result whose error is the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
