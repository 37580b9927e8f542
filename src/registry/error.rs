//! The one error type of the registry module, shaped so callers can tell "could not check"
//! apart from "checked and found nothing" (which is never an error).

/// Why a registry operation failed. Display strings name the registry and the problem but never
/// contain credentials, tokens or response bodies from token endpoints.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or did not answer usefully: connection error, reset or
    /// short body, timeout or stall, 5xx, 429, or a status the protocol does not allow there.
    #[error("registry {registry} unavailable: {detail}")]
    Unavailable {
        /// The registry host.
        registry: String,
        /// What went wrong (bounded; never a credential).
        detail: String,
    },
    /// Credentials were missing or rejected (401/403 after the auth dance) or the token endpoint
    /// refused to issue a token.
    #[error("authentication to registry {registry} failed: {detail}")]
    Authentication {
        /// The registry host.
        registry: String,
        /// What went wrong (bounded; never a credential).
        detail: String,
    },
    /// The registry answered completely, but with content that cannot be trusted or used:
    /// unparseable listings (indexes, `.sig` manifests), content whose digest does not match the
    /// digest it was asked for or announced. Like `Unavailable`, it says nothing about the
    /// artifact: a registry serving wrong bytes is a broken or hostile store, not a bad signature.
    #[error("invalid response from registry {registry}: {detail}")]
    InvalidResponse {
        /// The registry host.
        registry: String,
        /// What went wrong (bounded; never a credential).
        detail: String,
    },
    /// One of our own limits stopped a read: an object over the size limit, the discovery's byte
    /// budget, or its deadline. Says nothing about the artifact either.
    #[error("registry {registry}: {detail}")]
    Limit {
        /// The registry host.
        registry: String,
        /// What went wrong (bounded; never a credential).
        detail: String,
    },
    /// The artifact itself does not exist (only used when resolving the artifact, never for
    /// signature places, where "absent" is a normal answer).
    #[error("{what} not found in registry {registry}")]
    NotFound {
        /// The registry host.
        registry: String,
        /// What was looked for.
        what: String,
    },
    /// Nothing was sent: the registry host is paused, because it asked us to back off (a `429`,
    /// or a `503` with `Retry-After`, see `throttle`), or because a re-check would pass its
    /// request budget. Says nothing about the artifact.
    #[error("registry {registry} paused: {detail}")]
    Paused {
        /// The registry host.
        registry: String,
        /// Why and until when (stable for one pause, so a status that quotes it is not
        /// rewritten on every retry).
        detail: String,
        /// When requests may be sent again.
        until: std::time::SystemTime,
        /// What paused it.
        cause: PauseCause,
    },
    /// Bad options, a bad docker config, a bad CA bundle or a bad argument.
    #[error("registry configuration error: {0}")]
    Config(String),
}

/// What paused a registry host ([`RegistryError::Paused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseCause {
    /// The registry asked us to back off (`429`, or `503` with `Retry-After`).
    BackOff,
    /// A re-check would pass the host's request budget (`--registry-budget`).
    Budget,
}

impl RegistryError {
    /// A short, bounded label for metrics and event reasons (never derived from error text).
    pub fn category(&self) -> &'static str {
        match self {
            RegistryError::Unavailable { .. } => "unavailable",
            RegistryError::Authentication { .. } => "authentication",
            RegistryError::InvalidResponse { .. } => "invalid-response",
            RegistryError::Limit { .. } => "limit",
            RegistryError::NotFound { .. } => "not-found",
            RegistryError::Paused { .. } => "paused",
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

    pub(crate) fn limit(registry: &str, detail: impl Into<String>) -> Self {
        RegistryError::Limit {
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
