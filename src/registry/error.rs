//! The one error type of the registry module, shaped so callers can tell "could not check"
//! apart from "checked and found nothing" (which is never an error).

/// Why a registry operation failed. Display strings name the registry and the problem but never
/// contain credentials, tokens or response bodies from token endpoints.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or did not answer usefully: connection error, timeout,
    /// 5xx, 429, or a status the protocol does not allow at that point.
    #[error("registry {registry} unavailable: {detail}")]
    Unavailable { registry: String, detail: String },
    /// Credentials were missing or rejected (401/403 after the auth dance) or the token endpoint
    /// refused to issue a token.
    #[error("authentication to registry {registry} failed: {detail}")]
    Authentication { registry: String, detail: String },
    /// The registry answered, but with content that cannot be trusted or used: truncated or
    /// oversized bodies, unparseable manifests or indexes, content whose digest does not match.
    #[error("invalid response from registry {registry}: {detail}")]
    InvalidResponse { registry: String, detail: String },
    /// The artifact itself does not exist (only used when resolving the artifact, never for
    /// signature places, where "absent" is a normal answer).
    #[error("{what} not found in registry {registry}")]
    NotFound { registry: String, what: String },
    /// Bad options, a bad docker config, a bad CA bundle or a bad argument.
    #[error("registry configuration error: {0}")]
    Config(String),
}

impl RegistryError {
    /// A short, bounded label for metrics and event reasons (never derived from error text).
    pub fn category(&self) -> &'static str {
        match self {
            RegistryError::Unavailable { .. } => "unavailable",
            RegistryError::Authentication { .. } => "authentication",
            RegistryError::InvalidResponse { .. } => "invalid-response",
            RegistryError::NotFound { .. } => "not-found",
            RegistryError::Config(_) => "config",
        }
    }

    pub(crate) fn unavailable(registry: &str, detail: impl Into<String>) -> Self {
        RegistryError::Unavailable {
            registry: registry.to_string(),
            detail: detail.into(),
        }
    }

    pub(crate) fn auth(registry: &str, detail: impl Into<String>) -> Self {
        RegistryError::Authentication {
            registry: registry.to_string(),
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(registry: &str, detail: impl Into<String>) -> Self {
        RegistryError::InvalidResponse {
            registry: registry.to_string(),
            detail: detail.into(),
        }
    }
}
