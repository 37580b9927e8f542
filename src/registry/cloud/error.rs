//! The providers and the one error of cloud credentials.

use std::fmt;

/// A cloud whose registry identity Flux's `spec.provider` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Amazon ECR.
    Aws,
    /// Azure Container Registry.
    Azure,
    /// Google Artifact Registry / Container Registry.
    Gcp,
}

impl Provider {
    /// `aws`, `azure`, `gcp` → the provider; `generic` (or anything else) → `None`.
    pub fn from_flux(s: &str) -> Option<Provider> {
        match s {
            "aws" => Some(Provider::Aws),
            "azure" => Some(Provider::Azure),
            "gcp" => Some(Provider::Gcp),
            _ => None,
        }
    }

    /// Flux's name of it.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Azure => "azure",
            Provider::Gcp => "gcp",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why no registry credential could be had from the cloud identity. Never names a token or a
/// credential, never quotes a cloud endpoint's answer beyond a bounded error code.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The registry host is not one of the provider's registries: no credential is sent to it.
    #[error("provider {provider}: {host} is not a {provider} registry host, so no {provider} credentials are sent to it")]
    NotProviderRegistry {
        /// The provider.
        provider: Provider,
        /// The host (bounded, DNS characters only).
        host: String,
    },
    /// A case the provider supports that this auditor does not.
    #[error("provider {provider}: {what} is not supported")]
    Unsupported {
        /// The provider.
        provider: Provider,
        /// What.
        what: String,
    },
    /// The controller has no identity of this cloud (the environment names none).
    #[error("provider {provider}: no {provider} identity for the controller: {detail}")]
    NoIdentity {
        /// The provider.
        provider: Provider,
        /// What is missing.
        detail: String,
    },
    /// A token or credentials file could not be read.
    #[error("provider {provider}: reading the {what} {path}: {source}")]
    File {
        /// The provider.
        provider: Provider,
        /// Which file.
        what: &'static str,
        /// Its path (the controller's own configuration).
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A cloud endpoint could not be reached or timed out.
    #[error("provider {provider}: {service} unreachable: {detail}")]
    Unreachable {
        /// The provider.
        provider: Provider,
        /// `STS`, `ECR`, `metadata server`, …
        service: &'static str,
        /// What failed (no credential).
        detail: String,
    },
    /// A cloud endpoint refused: its HTTP status and, when it gave one, its error code.
    #[error("provider {provider}: {service} refused the request (HTTP {status}{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Refused {
        /// The provider.
        provider: Provider,
        /// The service.
        service: &'static str,
        /// The HTTP status.
        status: u16,
        /// The error code it named (`AccessDenied`, `invalid_grant`, …), bounded.
        code: Option<String>,
    },
    /// A cloud endpoint answered 2xx with something that is not what the protocol says.
    #[error("provider {provider}: {service} answered with {detail}")]
    BadResponse {
        /// The provider.
        provider: Provider,
        /// The service.
        service: &'static str,
        /// What is wrong (never the body).
        detail: String,
    },
    /// The controller's own configuration is unusable (an endpoints file, a credentials file).
    #[error("provider {provider}: {detail}")]
    Config {
        /// The provider.
        provider: Provider,
        /// What is wrong.
        detail: String,
    },
}
